"""Helpers shared by the readers: JSONL lines, scores, chat text, duplicate ids."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cg_gov.errors import EvalLogError

__all__ = ["chat_text", "check_file", "iter_jsonl", "score_value", "take_unique"]


def check_file(path: Path, what: str = "eval log") -> None:
    """Raise EvalLogError unless ``path`` is an existing file."""
    if not path.exists():
        raise EvalLogError(f"{what} not found", file=str(path),
                           hint="paths in a spec are relative to the spec file's folder")
    if not path.is_file():
        raise EvalLogError(f"{what} is a folder, not a file", file=str(path))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid score or value")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` for each non-blank line of a JSONL file.

    Raises EvalLogError for a missing or empty file, bytes that are not UTF-8
    (naming the line), a line that is not JSON, NaN/Infinity, or a line that
    is not a JSON object.
    """
    check_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EvalLogError(f"byte {data[exc.start]:#04x} is not valid UTF-8", file=str(path), line=line,
                           hint="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    if not text.strip():
        raise EvalLogError("the eval log is empty", file=str(path), hint="re-run the evaluation that writes it")
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_reject_constant)
        except ValueError as exc:
            message = str(exc)
            if "not a valid score" in message:
                constant = message.split(" ", 1)[0]
                raise EvalLogError(f"{constant} is not allowed (NaN and Infinity are not JSON numbers)",
                                   file=str(path), line=number,
                                   hint="write null for a missing score, or fix the scorer") from None
            raise EvalLogError(f"invalid JSON: {message}", file=str(path), line=number,
                               hint="the line may be truncated; re-run the evaluation") from None
        if not isinstance(record, dict):
            raise EvalLogError(f"expected a JSON object, got {type(record).__name__}", file=str(path), line=number)
        yield number, record


def score_value(value: Any, *, file: str, line: int | None, key: str) -> float | None:
    """A JSON score as a float in [0, 1]: numbers as they are, booleans as 1/0, null as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise EvalLogError(f"score {value!r} is not a number", file=file, line=line, key=key,
                               hint="scores are numbers in [0, 1], booleans, or null") from None
    if not isinstance(value, (int, float)):
        raise EvalLogError(f"score {value!r} is not a number", file=file, line=line, key=key,
                           hint="scores are numbers in [0, 1], booleans, or null")
    value = float(value)
    if math.isnan(value):
        raise EvalLogError("score is NaN", file=file, line=line, key=key,
                           hint="write null for a missing score, or fix the scorer")
    if not 0.0 <= value <= 1.0:
        raise EvalLogError(f"score {value:g} is outside [0, 1]", file=file, line=line, key=key,
                           hint="cg_gov reads per-item scores in [0, 1] (1 = correct); rescale the metric "
                                "or choose another one")
    return value


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif getattr(part, "type", None) == "text" and isinstance(getattr(part, "text", None), str):
                parts.append(part.text)
        return "\n".join(parts)
    return ""


def chat_text(messages: list[Any]) -> str | None:
    """The text of the user turns of a chat, joined by blank lines.

    Messages may be mappings ``{"role", "content"}`` or objects with ``role``
    and ``content`` attributes; content may be a string or a list of parts,
    of which the text parts are kept. System and assistant turns are left
    out: the item is what the user asked. Returns None when no user turn has
    text.
    """
    texts = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
        if role == "user":
            text = _content_text(content).strip()
            if text:
                texts.append(text)
    return "\n\n".join(texts) if texts else None


def take_unique(seen: dict[str, Any], item_id: str, where: Any, *, file: str, line: int | None,
                what: str = "id") -> None:
    """Record ``item_id`` at ``where``; raise EvalLogError if it was seen before."""
    if item_id in seen:
        first = seen[item_id]
        first_text = f"line {first}" if isinstance(first, int) else str(first)
        raise EvalLogError(f"duplicate {what} {item_id!r} (first at {first_text})", file=file, line=line,
                           hint="each item must appear once; remove the repeated record")
    seen[item_id] = where
