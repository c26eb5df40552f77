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

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator
from typing import Any

from cg_gov.errors import EvalLogError

from ._audit import AuditInputs, check_audit_file, read_audit
from ._item import Item
from ._review import REVIEW_SAMPLE, read_labels, review_sample, sheet_csv, sheet_html
from ._options import DEFAULT_FIELDS, ReadOptions, read_options
from ._registry import READERS, Reader, ReaderRegistry
from ._scorer_check import read_scorer_check, scorer_agreement

__all__ = [
    "cached_reads",
    "REVIEW_SAMPLE", "read_labels", "review_sample", "sheet_csv", "sheet_html",
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
    "read_scorer_check",
    "scorer_agreement",
]


#: Characters that show nothing: white space aside, an item made only of these is empty.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)


#: Smallest ``$CG_GOV_MAX_ITEM_CHARS`` accepted: below it items lose their meaning.
MIN_ITEM_CHARS = 200


def max_item_chars() -> int:
    """Longest item text kept (input and response each): ``$CG_GOV_MAX_ITEM_CHARS``, default 20,000.

    Items are cut to ``extraction.max_tokens`` tokens anyway; cutting the text first keeps one huge
    item from costing gigabytes in the tokenizer."""
    raw = os.environ.get("CG_GOV_MAX_ITEM_CHARS", "").strip()
    try:
        value = int(raw) if raw else 20_000
    except ValueError:
        raise EvalLogError(f"$CG_GOV_MAX_ITEM_CHARS must be a whole number, got {raw[:40]!r}",
                           key="CG_GOV_MAX_ITEM_CHARS") from None
    if value < MIN_ITEM_CHARS:  # 0 cut every item to one character, and the audit measured nothing
        raise EvalLogError(f"$CG_GOV_MAX_ITEM_CHARS must be at least {MIN_ITEM_CHARS}, got {value}",
                           key="CG_GOV_MAX_ITEM_CHARS", hint="unset it for the default of 20,000")
    return value


def _warn(message: str) -> None:
    from cg_gov.text import safe_terminal

    print(f"warning: {safe_terminal(message)}", file=sys.stderr, flush=True)


def _checked(items: list[Item], options: ReadOptions) -> list[Item]:
    """Items with overlong texts cut (counted in a warning); empty items counted in a warning."""
    cap = max_item_chars()
    cut = 0
    out = []
    for item in items:
        update = {}
        if len(item.input) > cap:
            update["input"] = item.input[:cap]
        if item.response is not None and len(item.response) > cap:
            update["response"] = item.response[:cap]
        if update:
            cut += 1
            item = item.model_copy(update=update)
        out.append(item)
    if cut:
        _warn(f"{options.log}: {cut} item{'s' if cut != 1 else ''} of benchmark {options.name!r} cut to "
              f"{cap:,} characters before tokenising (raise $CG_GOV_MAX_ITEM_CHARS to keep more)")
    empty = [item.id for item in out if not item.input.translate(_INVISIBLE).strip()]
    if empty:
        shown = ", ".join(repr(i[:40]) for i in empty[:5]) + (", ..." if len(empty) > 5 else "")
        _warn(f"{options.log}: {len(empty)} item{'s' if len(empty) != 1 else ''} of benchmark "
              f"{options.name!r} {'are' if len(empty) != 1 else 'is'} empty, white space or invisible "
              f"characters only (ids {shown}); they count toward no concept")
    return out


_CACHING: contextvars.ContextVar[list | None] = contextvars.ContextVar("cg_gov_cache_reads", default=None)


@contextlib.contextmanager
def cached_reads() -> Iterator[None]:
    """Within this block, eval logs are read through the cache of read logs (``cg_gov.evals._cache``):
    an audit run uses it; ``cg-gov validate`` and library calls outside it write nothing. New entries
    are written when the block ends without an error, so a run that fails on one log leaves no trace."""
    pending: list = []
    token = _CACHING.set(pending)
    try:
        yield
    finally:
        _CACHING.reset(token)
    for cache, key, items in pending:
        try:
            cache.store(key, items)
        except (OSError, TypeError, ValueError):
            pass


def _cached_read(reader: Any, options: ReadOptions) -> list[Item]:
    """The reader's items, from the cache of read logs when the log's bytes were read before with the
    same options (inside :func:`cached_reads`); ``$CG_GOV_EVAL_CACHE=0`` turns it off."""
    pending = _CACHING.get()
    if pending is None or os.environ.get("CG_GOV_EVAL_CACHE", "1") == "0":
        return reader(options)
    try:
        from cg_gov.evals._cache import ItemCache, log_sha256
        from cg_gov.io import check_regular_file, read_limit

        log = options.log
        if not log.is_dir():
            check_regular_file(log, "eval log", kind="log")
            if log.stat().st_size > read_limit("log"):
                return reader(options)
        cache = ItemCache()
        key = cache.key(options, log_sha256(log))
        cached = cache.load(key)
    except Exception:  # the cache is an optimisation: any problem means an ordinary read
        return reader(options)
    if cached is not None:
        return cached
    items = reader(options)
    pending.append((cache, key, items))
    return items


def _read(options: ReadOptions) -> list[Item]:
    reader = READERS.get(options.format)
    items = _cached_read(reader, options)
    if not items:
        raise EvalLogError("the log holds no items", file=str(options.log))
    return _checked(items, options)


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
