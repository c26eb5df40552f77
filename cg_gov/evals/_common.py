"""Helpers shared by the readers: JSONL lines, scores, chat text, duplicate ids."""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cg_gov.errors import EvalLogError
from cg_gov.io import check_regular_file, read_limit

__all__ = ["chat_text", "check_file", "iter_jsonl", "max_items", "score_value", "take_unique"]


def check_file(path: Path, what: str = "eval log") -> int:
    """Raise EvalLogError unless ``path`` is a regular file within the log size cap
    (``$CG_GOV_MAX_LOG_BYTES``); checked before it is opened, so a FIFO or a device is never read."""
    return check_regular_file(path, what, kind="log", error=EvalLogError,
                              hint="paths in a spec are relative to the spec file's folder")


def max_items() -> int:
    """Most records one log may hold: ``$CG_GOV_MAX_ITEMS``, default 200,000."""
    raw = os.environ.get("CG_GOV_MAX_ITEMS", "").strip()
    try:
        return max(1, int(raw)) if raw else 200_000
    except ValueError:
        raise EvalLogError(f"$CG_GOV_MAX_ITEMS must be a whole number, got {raw[:40]!r}",
                           key="CG_GOV_MAX_ITEMS") from None


#: Lines between two updates of the progress display of a large log.
_PROGRESS_EVERY = 2000
#: Logs larger than this show a progress bar while they are read.
_PROGRESS_BYTES = 16 << 20


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid score or value")


def _lone_surrogate(record: Any) -> bool:
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


#: Longest line (one record) of a JSONL log: ``$CG_GOV_MAX_RECORD_BYTES``, default 32 MiB. A record
#: parses into Python objects several times its size (a 252 MB one-line array peaked at 1.57 GB).
_RECORD_DEFAULT = 32 << 20


def max_record_bytes() -> int:
    """Longest line of a JSONL log: ``$CG_GOV_MAX_RECORD_BYTES``, default 32 MiB (never above the log cap)."""
    raw = os.environ.get("CG_GOV_MAX_RECORD_BYTES", "").strip()
    if not raw:
        return _RECORD_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        raise EvalLogError(f"$CG_GOV_MAX_RECORD_BYTES must be a whole number of bytes, got {raw[:40]!r}",
                           key="CG_GOV_MAX_RECORD_BYTES") from None
    if value < 1024:
        raise EvalLogError(f"$CG_GOV_MAX_RECORD_BYTES must be at least 1024, got {value}",
                           key="CG_GOV_MAX_RECORD_BYTES")
    return value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a JSON object that names one key twice is refused (JSON parsers
    disagree on which value wins, so two readers of one log could see two scores)."""
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return record


def _lines(fh, limit: int, record_cap: int) -> Iterator[bytes]:
    """The lines of ``fh``, each read with a cap: no line is held whole beyond ``record_cap`` bytes,
    nor the log beyond ``limit`` bytes actually read (a file that claims size 0 and grows is bounded)."""
    read = 0
    while True:
        raw = fh.readline(min(record_cap, limit - read) + 1)
        if not raw:
            return
        read += len(raw)
        yield raw


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` for each non-blank line of a JSONL file, read one line at a time.

    Raises EvalLogError for a missing, empty, non-regular or oversized file (``$CG_GOV_MAX_LOG_BYTES``),
    more records than ``$CG_GOV_MAX_ITEMS``, bytes that are not UTF-8 (naming the line), a line that
    is not JSON or nested too deeply, NaN/Infinity, a lone surrogate escape (``\\ud800``), or a
    line that is not a JSON object. A large log shows its progress on stderr.
    """
    file = str(path)
    size = check_file(path)
    limit, cap = read_limit("log"), max_items()
    record_cap = min(max_record_bytes(), limit)
    records = read = 0
    bar = None
    if size > _PROGRESS_BYTES:
        from tqdm.auto import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {path.name}", file=sys.stderr,
                   mininterval=1.0, dynamic_ncols=True)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        with os.fdopen(fd, "rb") as fh:
            for number, raw in enumerate(_lines(fh, limit, record_cap), start=1):
                read += len(raw)
                if read > limit:
                    raise EvalLogError(f"the eval log is over the limit of {limit:,} bytes", file=file,
                                       line=number, hint="raise $CG_GOV_MAX_LOG_BYTES if the file is genuine")
                if len(raw) > record_cap and not raw.endswith(b"\n"):
                    raise EvalLogError(f"the line is longer than {record_cap:,} bytes", file=file, line=number,
                                       hint="one record per line; raise $CG_GOV_MAX_RECORD_BYTES if it is genuine")
                if bar is not None and number % _PROGRESS_EVERY == 0:
                    bar.update(read - bar.n)
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise EvalLogError(f"byte {raw[exc.start]:#04x} is not valid UTF-8", file=file, line=number,
                                       hint="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                                       ) from None
                if not line.strip():
                    continue
                try:
                    record = json.loads(line, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
                except _DuplicateKey as exc:
                    raise EvalLogError(f"the record names key {str(exc)[:80]!r} twice", file=file, line=number,
                                       key=str(exc)[:80],
                                       hint="JSON readers disagree on which value wins; write each key once"
                                       ) from None
                except RecursionError:
                    raise EvalLogError("the JSON is nested too deeply", file=file, line=number,
                                       hint="an item is a flat JSON object; check what wrote this line") from None
                except ValueError as exc:
                    message = str(exc)
                    if "not a valid score" in message:
                        constant = message.split(" ", 1)[0]
                        raise EvalLogError(f"{constant} is not allowed (NaN and Infinity are not JSON numbers)",
                                           file=file, line=number,
                                           hint="write null for a missing score, or fix the scorer") from None
                    raise EvalLogError(f"invalid JSON: {message}", file=file, line=number,
                                       hint="the line may be truncated; re-run the evaluation") from None
                if not isinstance(record, dict):
                    raise EvalLogError(f"expected a JSON object, got {type(record).__name__}", file=file,
                                       line=number)
                if (b"\\ud" in raw or b"\\uD" in raw) and _lone_surrogate(record):
                    raise EvalLogError("the line holds a lone surrogate escape (e.g. \\ud800), which is not a "
                                       "character", file=file, line=number,
                                       hint="fix what wrote the log: a \\udXXX escape must come in a valid pair")
                records += 1
                if records > cap:
                    raise EvalLogError(f"the eval log holds more than {cap:,} records", file=file, line=number,
                                       hint="raise $CG_GOV_MAX_ITEMS if the log is genuine")
                yield number, record
    except OSError as exc:
        raise EvalLogError(f"cannot read the eval log: {exc.strerror or exc}", file=file,
                           hint="check the file and the disk it is on") from None
    finally:
        if bar is not None:
            bar.update(read - bar.n)
            bar.close()
    if records == 0:
        raise EvalLogError("the eval log is empty", file=file, hint="re-run the evaluation that writes it")


def score_value(value: Any, *, file: str, line: int | None, key: str) -> float | None:
    """A JSON score as a float in [0, 1]: numbers as they are, booleans as 1/0, null as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        try:
            if "_" in value:  # float() reads "0_1" as 1.0
                raise ValueError(value)
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
        raise EvalLogError(f"score {value!r} is outside [0, 1]", file=file, line=line, key=key,
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
