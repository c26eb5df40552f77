"""Eval logs in, items out: the benchmark stage of cg_gov.

A benchmark spec names an eval log and its format; :func:`read_benchmark`
picks the reader from :data:`READERS` and returns the benchmark's
:class:`Item` list (the text the model saw, its response and target, and
the per-item score in [0, 1]). Formats:

- ``jsonl``: one JSON object per line (:mod:`cg_gov.evals._jsonl`);
- ``lm-eval``: lm-evaluation-harness ``samples_*.jsonl`` (:mod:`cg_gov.evals._lm_eval`);
- ``inspect``: Inspect AI ``.eval``/``.json`` logs (:mod:`cg_gov.evals._inspect`),
  which needs the ``inspect-ai`` package.

A log that cannot be read as items raises :class:`cg_gov.errors.EvalLogError`
naming the file, the line (for JSONL) and the key; a spec that leaves a
choice open (several filters, metrics or scorers) raises
:class:`cg_gov.errors.SpecError` listing the choices.
"""
from __future__ import annotations

import os
from typing import Any

from cg_gov.errors import EvalLogError

from ._audit import AuditInputs, check_audit_file, read_audit
from ._item import Item
from ._options import DEFAULT_FIELDS, ReadOptions, read_options
from ._registry import READERS, Reader, ReaderRegistry

__all__ = [
    "AuditInputs",
    "DEFAULT_FIELDS",
    "READERS",
    "Item",
    "ReadOptions",
    "Reader",
    "ReaderRegistry",
    "check_audit_file",
    "read_audit",
    "read_benchmark",
    "read_options",
    "read_reference",
]


def _read(options: ReadOptions) -> list[Item]:
    reader = READERS.get(options.format)
    items = reader(options)
    if not items:
        raise EvalLogError("the log holds no items", file=str(options.log))
    return items


def read_benchmark(spec: Any = None, base_dir: str | os.PathLike | None = None, **kwargs: Any) -> list[Item]:
    """Read one benchmark's eval log into items.

    ``spec`` is a :class:`cg_gov.spec.BenchmarkSpec`, a mapping with its keys
    (``name``, ``log``, ``format``, optional ``fields``, ``filter``,
    ``metric``, ``epochs``), or None with those keys as keyword arguments
    (which also override the spec's). A relative ``log`` is resolved against
    ``base_dir``, the folder of the spec file. Every record must carry a score
    key; null scores everywhere make a coverage-only benchmark.
    """
    return _read(read_options(spec, base_dir, scores_required=True, **kwargs))


def read_reference(spec: Any = None, base_dir: str | os.PathLike | None = None, **kwargs: Any) -> list[Item]:
    """Read a workload sample (a :class:`cg_gov.spec.ReferenceSpec`): like
    :func:`read_benchmark`, but scores may be absent."""
    return _read(read_options(spec, base_dir, scores_required=False, **kwargs))
