"""Text helpers shared by every room.

Text read from files (ids, names, titles, paths) is untrusted: before it reaches a terminal it goes
through :func:`safe_terminal`, and before it reaches HTML or PDF through :func:`visible_invisibles`.
Both come from one table of the characters that can hide or reorder what a reader sees.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["BIDI_CHARS", "ZERO_WIDTH_CHARS", "hidden_characters", "safe_terminal", "truncate",
           "visible_invisibles"]

#: Characters that reorder text (bidirectional embeddings, overrides, isolates and marks).
BIDI_CHARS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Characters that take no width: text holding them looks like text without them.
ZERO_WIDTH_CHARS = frozenset("\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u2060\u2061"
                             "\u2062\u2063\u2064\u3164\ufeff\uffa0")

_HIDDEN = "".join(sorted(BIDI_CHARS | ZERO_WIDTH_CHARS))
#: C0 and C1 controls (ESC, CR, BEL, CSI...), DEL, bidi and zero-width characters.
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f" + re.escape(_HIDDEN) + "\u2028\u2029]")
_INVISIBLE = re.compile("[" + re.escape(_HIDDEN) + "\u2028\u2029]")


def _escape(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_terminal(text: object) -> str:
    """``text`` fit for one terminal line: control characters (escape sequences, carriage returns,
    newlines, bells), bidi and zero-width characters shown as visible escapes (``\\x1b``,
    ``\\u202e``). The one helper every printed line and error message goes through."""
    return _TERMINAL.sub(_escape, str(text))


def visible_invisibles(text: object) -> str:
    """``text`` for HTML and PDF: bidi and zero-width characters shown as ``[U+202E]`` (control
    characters are handled by the report's own pass, :func:`cg_gov.report.render.visible_controls`)."""
    return _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", str(text))


def hidden_characters(text: str) -> list[str]:
    """The control, bidi and zero-width characters of ``text`` (as ``U+XXXX``), in order, once each."""
    seen: list[str] = []
    for ch in str(text):
        if ch in BIDI_CHARS or ch in ZERO_WIDTH_CHARS or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            name = f"U+{ord(ch):04X}"
            if name not in seen:
                seen.append(name)
    return seen


def truncate(text: str, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut to ``limit`` characters, ending with an ellipsis when cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "\u2026"
