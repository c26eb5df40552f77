"""What a reader needs to know about one log, whatever the caller passed.

:func:`read_options` accepts a :class:`cg_gov.spec.BenchmarkSpec` (or any
:class:`cg_gov.spec.EvalLogSpec`), a plain mapping with the same keys, or
keyword arguments, and returns a :class:`ReadOptions` with the log path
resolved against the spec's folder.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cg_gov.errors import SpecError

__all__ = ["DEFAULT_FIELDS", "ReadOptions", "read_options"]

#: Record keys of the plain JSONL format when a spec names none.
DEFAULT_FIELDS: dict[str, str | None] = {
    "id": "id", "input": "input", "score": "score", "response": None, "target": None,
}

_KNOWN = {"name", "log", "format", "fields", "filter", "metric", "epochs", "description"}


@dataclass(frozen=True)
class ReadOptions:
    """One log to read, and how."""

    name: str
    """Benchmark name, copied into every item."""
    log: Path
    """The log file or folder, resolved."""
    format: str
    """Registry name of the reader."""
    fields: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    """JSONL record keys: id, input, score, response, target (dotted paths reach nested keys)."""
    filter: str | None = None
    """lm-eval filter to read."""
    metric: str | None = None
    """lm-eval metric or Inspect scorer to read as the score."""
    epochs: str | int | None = None
    """Inspect epochs: None or 'mean' averages them, an integer reads that epoch only."""
    scores_required: bool = True
    """A benchmark must carry a score key on every record (null is allowed); a reference need not."""


def _get(spec: Any, key: str) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(key)
    return getattr(spec, key, None)


def _fields(raw: Any) -> dict[str, str | None]:
    fields = dict(DEFAULT_FIELDS)
    if raw is None:
        return fields
    if not isinstance(raw, Mapping):
        raw = raw.model_dump() if hasattr(raw, "model_dump") else vars(raw)
    for key, value in raw.items():
        if key not in DEFAULT_FIELDS:
            raise SpecError(f"unknown field '{key}'", key=f"fields.{key}",
                            hint="allowed: " + ", ".join(DEFAULT_FIELDS))
        fields[key] = value
    return fields


def read_options(spec: Any = None, base_dir: str | os.PathLike | None = None,
                 *, scores_required: bool = True, **kwargs: Any) -> ReadOptions:
    """Normalise a spec object, a mapping or keyword arguments into :class:`ReadOptions`.

    Keyword arguments override the spec's values. A relative ``log`` is taken
    relative to ``base_dir`` (the spec file's folder; the working folder when
    None). ``scores_required``: True for a benchmark, False for a reference
    sample whose records need no score key.
    """
    unknown = set(kwargs) - _KNOWN
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    values = {key: kwargs[key] if key in kwargs else _get(spec, key) for key in _KNOWN}
    for key in ("name", "log", "format"):
        if not values[key]:
            raise SpecError(f"required key '{key}' is missing", key=key)
    log = Path(os.path.expanduser(os.fspath(values["log"])))
    if not log.is_absolute():
        log = Path(base_dir or ".") / log
    epochs = values["epochs"]
    if epochs is not None and epochs != "mean" and (isinstance(epochs, bool) or not isinstance(epochs, int)):
        raise SpecError(f"must be 'mean' or an epoch number (got {epochs!r})", key="epochs")
    return ReadOptions(name=str(values["name"]), log=Path(os.path.normpath(log)), format=str(values["format"]),
                       fields=_fields(values["fields"]), filter=values["filter"], metric=values["metric"],
                       epochs=epochs, scores_required=bool(scores_required))
