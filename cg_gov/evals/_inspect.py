"""Inspect AI logs (``.eval`` and ``.json``), read with ``inspect_ai.log.read_eval_log``.

- The text the model saw is ``sample.input``: a string, or of a chat the
  text of the user turns (joined by blank lines). A solver's prompt
  template is not part of it.
- The score comes from ``sample.scores[scorer].value``. With several
  scorers the spec's ``metric`` names one (a scorer that returns a mapping
  is read as ``scorer/key``); with one, it is used. Values map to [0, 1]:
  ``"C"`` (correct) = 1, ``"I"`` (incorrect) = 0, ``"P"`` (partial) = 0.5,
  ``"N"`` (no answer) = 0, as Inspect's own ``value_to_float`` does;
  numbers and numeric strings as they are, booleans as 1/0. Anything else,
  or a number outside [0, 1], is an error.
- A log holds one sample per (id, epoch). By default (``epochs: mean``) an
  item's score is the mean over its epochs; an integer ``epochs`` reads
  that epoch only (Inspect numbers epochs from 1). The response is the
  output of the first epoch read.
- A log whose run did not finish (status other than ``success``), or a
  sample without the chosen score (an errored sample), is an error: a
  partial log would silently drop items.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cg_gov.errors import CgGovError, EvalLogError, MissingDependencyError, SpecError

from cg_gov.io import read_limit

from ._common import chat_text, check_file, score_value
from ._item import Item
from ._options import ReadOptions

__all__ = ["GRADE_VALUES", "read_inspect"]

#: Inspect's letter grades as scores.
GRADE_VALUES: dict[str, float] = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}


def _log_file(path: Path) -> Path:
    if path.is_dir():
        found = sorted(list(path.glob("*.eval")) + list(path.glob("*.json")))
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise EvalLogError(f"expected one .eval or .json log in the folder, found {names}", file=str(path),
                               hint="point log at one Inspect log file")
        return found[0]
    check_file(path)
    return path


#: Most members an ``.eval`` archive may hold.
MAX_ZIP_MEMBERS = 1_000_000


def _check_zip(path: Path) -> None:
    """Refuse an ``.eval`` archive that declares more than the log cap once unpacked (a zip bomb).

    Python's zipfile never inflates a member past its declared size (it stops, and the CRC check
    fails), so the declared sizes bound what reading the archive costs."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return
    limit = read_limit("log")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise EvalLogError(f"cannot read the Inspect log: {str(exc)[:200]}", file=str(path),
                           hint="the file may be truncated or not an Inspect log") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise EvalLogError(f"the archive holds {len(infos):,} members, more than {MAX_ZIP_MEMBERS:,}",
                           file=str(path), hint="the file is not an Inspect log as Inspect writes it")
    total = sum(max(0, info.file_size) for info in infos)
    if total > limit:
        largest = max(infos, key=lambda info: info.file_size)
        raise EvalLogError(f"the archive unpacks to {total:,} bytes (member {largest.filename[:80]!r}: "
                           f"{largest.file_size:,}), over the limit of {limit:,}", file=str(path),
                           hint="raise $CG_GOV_MAX_LOG_BYTES if the log is genuine")


def _read(path: Path) -> Any:
    # the file is checked (kind, size, declared unpacked size) before inspect-ai is even imported
    if check_file(path) == 0:
        raise EvalLogError("the eval log is empty", file=str(path), hint="re-run the evaluation that writes it")
    _check_zip(path)
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise MissingDependencyError("reading Inspect AI logs needs the inspect-ai package",
                                     file=str(path), hint="pip install inspect-ai") from None
    try:
        return read_eval_log(str(path), resolve_attachments="core", exclude_fields={"events", "store"})
    except CgGovError:
        raise
    except UnicodeDecodeError as exc:
        raise EvalLogError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from None
    except Exception as exc:  # inspect raises many kinds (JSON, zip, validation); all mean "unreadable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvalLogError(f"cannot read the Inspect log: {first[:300]}", file=str(path),
                           hint="the file may be truncated or not an Inspect log") from None


def _value(value: Any, *, file: str, key: str) -> float | None:
    if isinstance(value, str) and value.strip().upper() in GRADE_VALUES:
        return GRADE_VALUES[value.strip().upper()]
    if isinstance(value, float) and math.isnan(value):
        raise EvalLogError("score is NaN", file=file, key=key, hint="fix the scorer, or re-score the log")
    if isinstance(value, (list, dict)):
        raise EvalLogError(f"score value {value!r} is not a single number or grade", file=file, key=key,
                           hint="name one key of a mapping score as metric: scorer/key")
    return score_value(value, file=file, line=None, key=key)


def _scorer_names(samples: list[Any]) -> list[str]:
    names: list[str] = []
    for sample in samples:
        for name, score in (sample.scores or {}).items():
            if isinstance(score.value, dict):
                keys = [f"{name}/{k}" for k in score.value]
            else:
                keys = [name]
            names += [k for k in keys if k not in names]
    return sorted(names)


def _choose_scorer(samples: list[Any], wanted: str | None, file: str) -> tuple[str, str | None]:
    """(scorer, key inside a mapping value or None)."""
    names = _scorer_names(samples)
    if not names:
        raise EvalLogError("no sample has a score", file=file, hint="score the log first (inspect score)")
    if wanted is None:
        if len(names) > 1:
            raise SpecError(f"the log has several scorers: {', '.join(names)}; choose one", file=file, key="metric",
                            hint="set metric: in the benchmark spec")
        wanted = names[0]
    scorers = {name for sample in samples for name in (sample.scores or {})}
    if wanted in scorers:
        return wanted, None
    if "/" in wanted:
        scorer, key = wanted.rsplit("/", 1)
        if scorer in scorers:
            return scorer, key
    raise SpecError(f"scorer {wanted!r} is not in the log; present: {', '.join(names)}", file=file,
                    key="metric", hint="set metric to one of them")


def _target_text(target: Any) -> str | None:
    if target is None:
        return None
    if isinstance(target, str):
        return target
    return " | ".join(str(t) for t in target)


def read_inspect(options: ReadOptions) -> list[Item]:
    """Read an Inspect AI log into items (see the module docstring)."""
    path = _log_file(options.log)
    file = str(path)
    log = _read(path)
    if log.status != "success":
        reason = f": {log.error.message}" if getattr(log, "error", None) is not None else ""
        raise EvalLogError(f"the run did not finish (status {log.status}){reason}", file=file,
                           hint="complete it (inspect eval-retry) before auditing")
    samples = list(log.samples or [])
    if not samples:
        raise EvalLogError("the log has no samples", file=file, hint="was it written with --no-log-samples?")
    scorer, sub_key = _choose_scorer(samples, options.metric, file)
    by_id: dict[str, dict[int, Any]] = {}
    order: list[str] = []
    for sample in samples:
        item_id = str(sample.id)
        epochs = by_id.setdefault(item_id, {})
        if not epochs:
            order.append(item_id)
        if sample.epoch in epochs:
            raise EvalLogError(f"duplicate sample {item_id!r} at epoch {sample.epoch}", file=file,
                               key=f"samples[id={item_id}, epoch={sample.epoch}]",
                               hint="each (id, epoch) must appear once")
        epochs[sample.epoch] = sample
    items: list[Item] = []
    for item_id in order:
        epochs = by_id[item_id]
        if options.epochs is None or options.epochs == "mean":
            chosen = [epochs[e] for e in sorted(epochs)]
        else:
            if options.epochs not in epochs:
                raise SpecError(f"sample {item_id!r} has no epoch {options.epochs}; epochs present: "
                                f"{', '.join(str(e) for e in sorted(epochs))}", file=file, key="epochs",
                                hint="Inspect numbers epochs from 1; use 'mean' to average them")
            chosen = [epochs[options.epochs]]
        values: list[float] = []
        for sample in chosen:
            key = f"samples[id={item_id}, epoch={sample.epoch}].scores.{scorer}"
            score = (sample.scores or {}).get(scorer)
            if score is None:
                why = f" (sample error: {sample.error.message.splitlines()[0]})" if sample.error else ""
                raise EvalLogError(f"sample has no '{scorer}' score{why}", file=file, key=key,
                                   hint="re-run or re-score the failed samples")
            value = score.value
            if sub_key is not None:
                if not isinstance(value, dict) or sub_key not in value:
                    raise EvalLogError(f"score has no key '{sub_key}'", file=file, key=key)
                value, key = value[sub_key], f"{key}/{sub_key}"
            number = _value(value, file=file, key=key)
            if number is None:
                raise EvalLogError("score is null", file=file, key=key, hint="re-score the sample")
            values.append(number)
        first = chosen[0]
        if isinstance(first.input, str):
            text = first.input
        else:
            text = chat_text(first.input)
            if text is None:
                raise EvalLogError("the sample's input has no user turn with text", file=file,
                                   key=f"samples[id={item_id}, epoch={first.epoch}].input")
        metadata: dict[str, Any] = dict(first.metadata or {})
        metadata.update({"scorer": f"{scorer}/{sub_key}" if sub_key else scorer,
                         "epochs": [s.epoch for s in chosen]})
        if len(values) > 1:
            metadata["epoch_scores"] = values
        answer = (first.scores or {}).get(scorer)
        if answer is not None and answer.answer is not None:
            metadata["answer"] = answer.answer
        if not isinstance(first.target, str) and len(first.target) > 1:
            metadata["targets"] = list(first.target)
        response = first.output.completion if first.output is not None else None
        items.append(Item(id=item_id, benchmark=options.name, input=text, response=response,
                          target=_target_text(first.target), score=sum(values) / len(values), metadata=metadata))
    return items
