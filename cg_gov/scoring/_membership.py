"""Confirming a family's items on a labelled sample, as audit sampling does.

The detector splits the suite into strata by its score m_F(x) and the family's operating point:

- ``detected``: score above the cut (the family's items as counted);
- ``near``: the highest-scoring undetected items (score > 0), the ones a small change of the cut
  would move: :func:`strata` takes the ``near_size`` best of them;
- ``rest``: every other item.

The owner labels a random sample of each stratum (yes: the item exercises the family), blind to
scores. From it: precision among detected items (Wilson interval), elusion among undetected items,
the estimated number of family items N = sum_h |h| p_h with a stratified interval (finite-population
corrected; p_h shrunk to (y+1)/(n+2) in the variance, so a stratum labelled all-yes or all-no does not
claim zero uncertainty), and the detector's AUROC on the sample, each labelled item weighted by
|h| / n_h so that the sample stands for the suite (percentile interval from resampling within strata).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri  # norm.ppf, without importing scipy.stats

from cg_gov.scoring._family_items import wilson_interval

__all__ = ["STRATA", "LabelledSample", "confirm_membership", "near_size", "strata"]

STRATA: tuple[str, ...] = ("detected", "near", "rest")


def near_size(n_undetected: int) -> int:
    """How many undetected items form the ``near`` stratum: 5% of them, at least 20 (all if fewer)."""
    return min(n_undetected, max(20, int(math.ceil(0.05 * n_undetected))))


def strata(scores: np.ndarray, cut: float) -> np.ndarray:
    """The stratum of every item (an array of ``STRATA`` names), see the module docstring."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(len(scores), "rest", dtype=object)
    detected = scores > cut
    out[detected] = "detected"
    und = np.flatnonzero(~detected & (scores > 0))
    order = und[np.lexsort((und, -scores[und]))]
    out[order[: near_size(int((~detected).sum()))]] = "near"
    return out


@dataclass(frozen=True)
class LabelledSample:
    """What the owner's labels say about one family's detection."""

    n_labelled: int
    n_yes: int
    """Labelled items the owner confirmed as the family's."""
    by_stratum: dict[str, dict[str, int]]
    """Per stratum: size, labelled, yes."""
    precision: float | None
    """Share of labelled detected items that are the family's."""
    precision_ci: tuple[float, float] | None
    elusion: float | None
    """Estimated share of undetected items that are the family's."""
    elusion_ci: tuple[float, float] | None
    estimated: float | None
    """Estimated number of family items in the suite."""
    estimated_ci: tuple[float, float] | None
    auroc: float | None
    """The detector's AUROC on the labelled items, weighted to stand for the suite."""
    auroc_ci: tuple[float, float] | None
    notes: list[str] = field(default_factory=list)
    next_to_label: str | None = None
    """What to label next: the stratum that adds most to the count's uncertainty, and how many more of
    its items would halve its part of the interval (four times the sample: three times as many more)."""


def _weighted_auroc(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> float | None:
    pos, neg = y, ~y
    if not pos.any() or not neg.any():
        return None
    sp, sn, wp, wn = s[pos], s[neg], w[pos], w[neg]
    wins = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
    return float(wp @ wins @ wn / (wp.sum() * wn.sum()))


def confirm_membership(scores: np.ndarray, cut: float, labels: Mapping[int, bool], *, alpha: float = 0.05,
                       resamples: int = 1000, seed: int = 0) -> LabelledSample:
    """Precision, elusion, estimated count and AUROC of one family's detection from labelled items.

    ``scores``: m_F(x) of every suite item; ``cut``: the operating point; ``labels``: item index ->
    True when the owner says the item exercises the family.
    """
    scores = np.asarray(scores, dtype=np.float64)
    st = strata(scores, cut)
    idx = np.array(sorted(labels), dtype=np.int64)
    y = np.array([bool(labels[int(i)]) for i in idx], dtype=bool)
    z = float(ndtri(1 - alpha / 2))
    by: dict[str, dict[str, int]] = {}
    est, var = 0.0, 0.0
    und_est, und_var, und_size = 0.0, 0.0, 0
    complete = True
    weights = np.zeros(len(idx))
    parts: dict[str, tuple[float, int, int]] = {}
    for h in STRATA:
        size = int((st == h).sum())
        in_h = st[idx] == h if len(idx) else np.zeros(0, dtype=bool)
        n_h, y_h = int(in_h.sum()), int(y[in_h].sum())
        by[h] = {"size": size, "labelled": n_h, "yes": y_h}
        if size == 0:
            continue
        if n_h == 0:
            complete = False
            continue
        weights[in_h] = size / n_h
        p = y_h / n_h
        shrunk = (y_h + 1) / (n_h + 2)
        fpc = (size - n_h) / (size - 1) if size > 1 else 0.0
        v = size * size * shrunk * (1 - shrunk) / n_h * fpc
        parts[h] = (v, n_h, size)
        est += size * p
        var += v
        if h != "detected":
            und_est += size * p
            und_var += v
            und_size += size
    notes = []
    estimated = estimated_ci = None
    if complete and len(idx):
        known_yes = int(y.sum())
        known_no = int((~y).sum())
        lo = max(float(known_yes), est - z * math.sqrt(var))
        hi = min(float(len(scores) - known_no), est + z * math.sqrt(var))
        estimated, estimated_ci = est, (lo, max(lo, hi))
    elif len(idx):
        missing = [h for h in STRATA if by[h]["size"] and not by[h]["labelled"]]
        notes.append("no labelled item in stratum " + ", ".join(missing) + ": the count cannot be estimated")
    det = by["detected"]
    precision = det["yes"] / det["labelled"] if det["labelled"] else None
    precision_ci = wilson_interval(det["yes"], det["labelled"], alpha) if det["labelled"] else None
    undetected_labelled = by["near"]["labelled"] + by["rest"]["labelled"]
    elusion = elusion_ci = None
    if und_size and undetected_labelled and all(by[h]["labelled"] or not by[h]["size"] for h in ("near", "rest")):
        elusion = und_est / und_size
        half = z * math.sqrt(und_var) / und_size
        elusion_ci = (max(0.0, elusion - half), min(1.0, elusion + half))
    s = scores[idx] if len(idx) else np.zeros(0)
    value = _weighted_auroc(s, y, weights) if len(idx) else None
    ci = None
    if value is not None and resamples > 0:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
        groups = [np.flatnonzero(st[idx] == h) for h in STRATA]
        values = []
        for _ in range(resamples):
            pick = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups if len(g)])
            v = _weighted_auroc(s[pick], y[pick], weights[pick])
            if v is not None:
                values.append(v)
        if len(values) >= 2:
            lo_a, hi_a = np.quantile(values, [alpha / 2, 1 - alpha / 2])
            ci = (float(lo_a), float(hi_a))
    next_to_label = None
    unlabelled = [h for h in STRATA if by[h]["size"] and not by[h]["labelled"]]
    if unlabelled:
        next_to_label = f"label items of the {unlabelled[0]} stratum (none is labelled yet)"
    elif parts:
        h, (v, n_h, size) = max(parts.items(), key=lambda kv: (kv[1][0], -STRATA.index(kv[0])))
        more = min(3 * n_h, size - n_h)
        if v > 0 and more > 0:
            next_to_label = (f"label {more} more items of the {h} stratum ({n_h} of {size} labelled): it adds most "
                             "to the uncertainty of the count")
    return LabelledSample(n_labelled=len(idx), n_yes=int(y.sum()), by_stratum=by, precision=precision,
                          precision_ci=precision_ci, elusion=elusion, elusion_ci=elusion_ci, estimated=estimated,
                          estimated_ci=estimated_ci, auroc=value, auroc_ci=ci, notes=notes,
                          next_to_label=next_to_label)
