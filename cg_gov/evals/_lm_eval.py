"""lm-evaluation-harness logs: the ``samples_<task>_<date>.jsonl`` of ``--log_samples``.

Each line is one document under one filter: ``doc_id``, ``doc``, ``target``,
``arguments`` (``{"gen_args_0": {"arg_0": context, "arg_1": ...}, ...}``),
``resps``, ``filtered_resps``, ``filter``, ``metrics`` (the metric names) and
one top-level key per metric with the document's value.

- The text the model saw is the first request's context (``arg_0``); for
  log-likelihood multiple choice every request shares that context.
- A document is logged once per filter. The spec's ``filter`` picks one;
  with no ``filter`` the log must hold exactly one, else it is an error that
  lists the filters present. Likewise ``metric`` picks the metric, and is
  required when a document carries several.
- The metric's value is the item's score and must lie in [0, 1] (acc,
  exact_match...): a metric on another scale (perplexity, BLEU in 0-100) is
  an error, not something to rescale silently.
- The response is the filtered generation for generation tasks, and the
  continuation with the highest log-likelihood for log-likelihood tasks.
- The item id is ``doc_id``; the document itself goes into the metadata.

``log`` may name the samples file, or a folder holding exactly one
``samples_*.jsonl`` file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cg_gov.errors import EvalLogError, SpecError

from ._common import iter_jsonl, score_value, take_unique
from ._item import Item
from ._options import ReadOptions

__all__ = ["read_lm_eval"]

_ROW_KEYS = ("doc_id", "arguments", "filter", "metrics")


def _samples_file(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("samples_*.jsonl"))
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise EvalLogError(f"expected one samples_*.jsonl file in the folder, found {names}", file=str(path),
                               hint="point log at the samples file of the task")
        return found[0]
    return path


def _requests(arguments: Any, *, file: str, line: int) -> list[list[Any]]:
    """The requests' arguments, in order, from the logged ``gen_args_i.arg_j`` mapping (or a plain list)."""
    if isinstance(arguments, list):
        return [list(a) if isinstance(a, (list, tuple)) else [a] for a in arguments]
    if not isinstance(arguments, dict) or not arguments:
        raise EvalLogError("'arguments' must hold the requests (gen_args_0, ...)", file=file, line=line,
                           key="arguments")
    requests = []
    for i in range(len(arguments)):
        request = arguments.get(f"gen_args_{i}")
        if not isinstance(request, dict):
            raise EvalLogError(f"'arguments' lacks gen_args_{i}", file=file, line=line, key="arguments")
        requests.append([request.get(f"arg_{j}") for j in range(len(request))])
    return requests


def _response(row: dict[str, Any], requests: list[list[Any]]) -> str | None:
    filtered = row.get("filtered_resps")
    if not isinstance(filtered, list) or not filtered:
        return None
    # generation: a single filtered string
    if len(filtered) == 1 and isinstance(filtered[0], str):
        return filtered[0]
    # log-likelihood: one (logprob, is_greedy) pair per request; pick the best continuation
    best, best_ll = None, None
    for request, resp in zip(requests, filtered):
        if not (isinstance(resp, (list, tuple)) and resp and len(request) > 1 and isinstance(request[1], str)):
            return None
        try:
            ll = float(resp[0])
        except (TypeError, ValueError):
            return None
        if best_ll is None or ll > best_ll:
            best, best_ll = request[1], ll
    return best.strip() if isinstance(best, str) else None


def _choose(kind: str, wanted: str | None, present: list[str], *, file: str, hint_key: str) -> str:
    if wanted is not None:
        if wanted not in present:
            raise SpecError(f"{kind} {wanted!r} is not in the log; present: {', '.join(present)}", file=file,
                            key=hint_key, hint=f"set {hint_key} to one of them")
        return wanted
    if len(present) == 1:
        return present[0]
    raise SpecError(f"the log has several {kind}s: {', '.join(present)}; choose one", file=file, key=hint_key,
                    hint=f"set {hint_key}: in the benchmark spec")


def read_lm_eval(options: ReadOptions) -> list[Item]:
    """Read an lm-evaluation-harness samples file into items (see the module docstring)."""
    path = _samples_file(options.log)
    file = str(path)
    if path.name.startswith("results") and path.suffix == ".json":
        raise EvalLogError("this is lm-eval's aggregated results file: it has no per-item scores", file=file,
                           hint="point log at samples_<task>_<date>.jsonl, written with --log_samples")
    rows: list[tuple[int, dict[str, Any]]] = []
    filters: list[str] = []
    for number, row in iter_jsonl(path):
        for key in _ROW_KEYS:
            if key not in row:
                raise EvalLogError(f"required key '{key}' is missing; is this an lm-eval samples file?",
                                   file=file, line=number, key=key)
        if not isinstance(row["filter"], str):
            raise EvalLogError("'filter' must be text", file=file, line=number, key="filter")
        if row["filter"] not in filters:
            filters.append(row["filter"])
        rows.append((number, row))
    chosen_filter = _choose("filter", options.filter, sorted(filters), file=file, hint_key="filter")
    rows = [(n, r) for n, r in rows if r["filter"] == chosen_filter]
    metrics: list[str] = []
    for number, row in rows:
        if not isinstance(row["metrics"], list):
            raise EvalLogError("'metrics' must be a list of metric names", file=file, line=number, key="metrics")
        metrics += [m for m in row["metrics"] if isinstance(m, str) and m not in metrics]
    chosen_metric = _choose("metric", options.metric, sorted(metrics), file=file, hint_key="metric")
    items: list[Item] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        doc_id = row["doc_id"]
        if isinstance(doc_id, bool) or not isinstance(doc_id, (int, str)):
            raise EvalLogError(f"doc_id must be a whole number or text, got {doc_id!r}", file=file, line=number,
                               key="doc_id")
        item_id = str(doc_id)
        take_unique(seen, item_id, number, file=file, line=number, what="doc_id")
        if chosen_metric not in row:
            raise EvalLogError(f"metric '{chosen_metric}' is missing", file=file, line=number, key=chosen_metric,
                               hint="every document must carry the chosen metric")
        score = score_value(row[chosen_metric], file=file, line=number, key=chosen_metric)
        if score is None and options.scores_required:
            raise EvalLogError(f"metric '{chosen_metric}' is null", file=file, line=number, key=chosen_metric)
        requests = _requests(row["arguments"], file=file, line=number)
        context = requests[0][0] if requests and requests[0] else None
        if not isinstance(context, str):
            raise EvalLogError("the first request has no context text (arg_0)", file=file, line=number,
                               key="arguments.gen_args_0.arg_0")
        target = row.get("target")
        metadata = {"doc": row.get("doc"), "filter": chosen_filter, "metric": chosen_metric}
        for key in ("doc_hash", "prompt_hash"):
            if key in row:
                metadata[key] = row[key]
        items.append(Item(id=item_id, benchmark=options.name, input=context, response=_response(row, requests),
                          target=None if target is None else str(target), score=score, metadata=metadata))
    return items
