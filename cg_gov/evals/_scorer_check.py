"""How well a rule scorer agrees with human verdicts on a labelled sample of its items.

A scorer check is a CSV of human verdicts, ``item_id,verdict[,note]``, one row per item, verdict
0 or 1 with the scorer's meaning (see ``data/demo/scorer_checks/GUIDE.md``).
:func:`read_scorer_check` reads one (bounded, every bad row located by file, line and key);
:func:`scorer_agreement` compares it with the scorer's per-item scores: the share of items where
they agree with a Wilson interval, and Cohen's kappa with a percentile bootstrap interval.
"""
from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import numpy as np

from cg_gov.errors import CgGovError
from cg_gov.io import read_bytes_limited

__all__ = ["read_scorer_check", "scorer_agreement", "wilson_interval"]

#: The columns a scorer-check file must have (others, such as ``note``, are allowed and ignored).
REQUIRED_COLUMNS = ("item_id", "verdict")
_HINT = "a scorer check is a CSV with the columns item_id,verdict[,note] and verdict 0 or 1"


def read_scorer_check(path: str | os.PathLike) -> dict[str, int]:
    """Human verdicts ``{item_id: 0 or 1}`` from a scorer-check CSV.

    The file is read with the spec size cap (``$CG_GOV_MAX_SPEC_BYTES``). Raises
    :class:`CgGovError` naming the file, the line and the key for: a missing or non-regular file,
    bytes that are not UTF-8, a missing ``item_id`` or ``verdict`` column, an empty item id, a
    verdict other than 0 or 1, an item id given twice (naming the first line too), or no rows.
    Blank lines are skipped; a UTF-8 byte-order mark is allowed.
    """
    file = str(path)
    data = read_bytes_limited(path, "scorer-check file", kind="spec", hint=_HINT)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CgGovError(f"byte {data[exc.start]:#04x} is not valid UTF-8", file=file, line=line,
                         hint="save the file as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CgGovError(f"the header has no {missing[0]!r} column (it has: {', '.join(header) or 'nothing'})",
                         file=file, line=1, key=missing[0], hint=_HINT)
    verdicts: dict[str, int] = {}
    first_line: dict[str, int] = {}
    start = 2
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if all(not (v or "").strip() for k, v in row.items() if k is not None):
                continue
            item_id = (row.get("item_id") or "").strip()
            if not item_id:
                raise CgGovError("the item id is empty", file=file, line=line, key="item_id", hint=_HINT)
            raw = (row.get("verdict") or "").strip()
            if raw not in ("0", "1"):
                raise CgGovError(f"verdict of {item_id!r} is {raw[:40]!r}, not 0 or 1", file=file, line=line,
                                 key="verdict", hint="1 = the scorer's good outcome, 0 = not")
            if item_id in verdicts:
                raise CgGovError(f"item {item_id!r} is given twice (first on line {first_line[item_id]})",
                                 file=file, line=line, key="item_id", hint="keep one verdict per item")
            verdicts[item_id] = int(raw)
            first_line[item_id] = line
    except csv.Error as exc:
        raise CgGovError(f"not a valid CSV row: {exc}", file=file, line=reader.line_num, hint=_HINT) from None
    if not verdicts:
        raise CgGovError("the file has no verdicts", file=file, hint=_HINT)
    return verdicts


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (n > 0)."""
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _kappa(h: np.ndarray, s: np.ndarray) -> float | None:
    """Cohen's kappa of two 0/1 vectors; None when chance agreement is 1 (both constant and equal)."""
    observed = float(np.mean(h == s))
    ph, ps = float(h.mean()), float(s.mean())
    expected = ph * ps + (1 - ph) * (1 - ps)
    if expected >= 1.0 - 1e-12:
        return None
    return (observed - expected) / (1.0 - expected)


def _binary(item_id: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    raise CgGovError(f"the score of {item_id!r} is {value!r}, not 0 or 1", key=str(item_id),
                     hint="a scorer check compares binary scores")


def scorer_agreement(human: Mapping[str, int], scores: Mapping[str, Any], *, resamples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Agreement of a scorer's 0/1 ``scores`` with ``human`` verdicts on the items both have.

    Returns ``agreement`` (share of items where they agree) with its Wilson ``agreement_ci``,
    Cohen's ``kappa`` with ``kappa_ci`` (percentile bootstrap over items, ``resamples`` draws,
    seeded; resamples where kappa is undefined are left out), ``n`` (items compared) and
    ``n_missing`` (human-labelled items with no score). ``kappa`` is None when it is undefined
    (both raters give one and the same verdict to every item), ``kappa_ci`` when fewer than half of
    the resamples define it. Scores for items without a verdict are ignored. Raises
    :class:`CgGovError` for a score that is not 0 or 1, or when no labelled item has a score.
    """
    common = [k for k in human if k in scores]
    n_missing = len(human) - len(common)
    if not common:
        raise CgGovError(f"none of the {len(human)} labelled items has a score",
                         hint="the verdicts' item ids must be the log's sample ids")
    h = np.array([_binary(k, human[k]) for k in common], dtype=np.int8)
    s = np.array([_binary(k, scores[k]) for k in common], dtype=np.int8)
    n = len(common)
    agree = int((h == s).sum())
    kappa = _kappa(h, s)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        value = _kappa(h[idx], s[idx])
        if value is not None:
            draws.append(value)
    kappa_ci = None
    if draws and len(draws) >= resamples / 2:
        alpha = (1.0 - level) / 2.0
        lo, hi = np.quantile(np.array(draws), [alpha, 1.0 - alpha])
        kappa_ci = (float(lo), float(hi))
    return {"agreement": agree / n, "agreement_ci": wilson_interval(agree, n, level), "kappa": kappa,
            "kappa_ci": kappa_ci, "n": n, "n_missing": n_missing}
