"""Family items: the suite items that exercise a family, counted, and the model's score on them.

A family's verdict is computed on a set of items one can count (``shared/method.md``, "Family
items"), not on a soft concept mass spread over every item:

- **membership**: an item is a family item when its detector score is above the family's
  operating point (or when its log declares it; the caller builds the boolean matrix);
- **coverage**: the number of family items and their share of the suite (Wilson interval), per
  benchmark, and the same share in a workload sample when one is given;
- **performance**: the mean score over the family items of the benchmarks whose score measures
  the behaviour the family expects (``evidence``), with a bootstrap interval (items resampled
  within each benchmark, as the concept engine does);
- **lift**: the mean over those items of (score - the benchmark's mean score), leaving out
  benchmarks whose score is the same on every item (they say how the model did, not where it did
  worse); interval estimate +- z SE and p = 2 Phi(-|lift| / SE) from the bootstrap standard error,
  Benjamini-Hochberg q across the families.

``tests/reference_scoring.py`` computes the same point estimates item by item, for the tests.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri  # norm.sf and norm.ppf, without importing scipy.stats

from cg_gov.scoring._stats import benjamini_hochberg

__all__ = ["FamilyItemScores", "score_family_items", "wilson_interval"]


def wilson_interval(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None when ``n`` is 0."""
    if not n > 0:
        return None
    z = float(ndtri(1 - alpha / 2))
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at p = 0 (p = 1) the bound is exactly 0 (1); the subtraction would leave a rounding residue
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class FamilyItemScores:
    """What the suite's items say about one family (see the module docstring)."""

    family: str
    detected: int
    """Suite items counted as the family's."""
    by_benchmark: dict[str, int]
    """Family items per benchmark (every benchmark of the suite, 0 included)."""
    share: float
    """detected / suite items."""
    share_ci: tuple[float, float] | None
    evidence_benchmarks: list[str]
    """Benchmarks whose items count for the score (they measure what the family expects)."""
    n_scored: int
    """Scored family items of those benchmarks: the n behind the score."""
    score: float | None
    score_ci: tuple[float, float] | None
    lift: float | None
    lift_ci: tuple[float, float] | None
    lift_p: float | None
    lift_q: float | None = None
    constant_benchmarks: dict[str, float] = field(default_factory=dict)
    """Evidence benchmarks whose scores are all equal: in the score, out of the lift (name -> the constant)."""
    items: list[int] = field(default_factory=list)
    """Indices of the family items, in suite order."""


def _constant_benchmarks(scores: np.ndarray, bench: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    out = {}
    for b in names:
        s = scores[(bench == b) & np.isfinite(scores)]
        if len(s) >= 2 and np.all(s == s[0]):
            out[str(b)] = float(s[0])
    return out


def score_family_items(member: np.ndarray, scores: np.ndarray, benchmarks: Sequence[str] | np.ndarray,
                       families: Sequence[str], evidence: Mapping[str, Sequence[str] | None], *,
                       n_bootstrap: int = 1000, alpha: float = 0.05, seed: int = 0) -> list[FamilyItemScores]:
    """Score each family on its items.

    ``member`` (n_items, n_families) bool: which suite items are each family's. ``scores`` (n_items,)
    with NaN for unscored items. ``evidence[family]``: the benchmarks whose scores count for the
    family (None: every benchmark). Resampling: the suite's items are resampled with replacement
    within each benchmark (``n_bootstrap`` times, one seeded stream), so a benchmark's mean moves
    with its family items.
    """
    member = np.asarray(member, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    bench = np.asarray(benchmarks).astype(str)
    n_items = len(scores)
    if member.shape != (n_items, len(families)):
        raise ValueError(f"member has shape {member.shape}, expected ({n_items}, {len(families)})")
    names = list(dict.fromkeys(bench.tolist()))
    scored = np.isfinite(scores)
    s0 = np.where(scored, scores, 0.0)
    constant = _constant_benchmarks(scores, bench, names)
    n_fam = len(families)

    # evidence masks: family items of the evidence benchmarks that are scored (score), and of those
    # whose scores vary (lift)
    ev = np.zeros((n_items, n_fam), dtype=bool)
    ev_lift = np.zeros((n_items, n_fam), dtype=bool)
    ev_names: list[list[str]] = []
    for j, fam in enumerate(families):
        allowed = evidence.get(fam)
        keep = [b for b in names if (allowed is None or b in set(allowed)) and scored[bench == b].any()]
        ev_names.append(keep)
        in_ev = np.isin(bench, keep)
        ev[:, j] = member[:, j] & in_ev & scored
        ev_lift[:, j] = ev[:, j] & ~np.isin(bench, list(constant))

    bmean = {b: (s0[(bench == b) & scored].sum() / max(1, ((bench == b) & scored).sum())) for b in names}
    sbar = np.array([bmean[b] for b in bench])

    n_ev = ev.sum(axis=0)
    n_lift = ev_lift.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_ev > 0, (ev * s0[:, None]).sum(axis=0) / np.maximum(n_ev, 1), np.nan)
        lift = np.where(n_lift > 0, (ev_lift * (s0 - sbar)[:, None]).sum(axis=0) / np.maximum(n_lift, 1), np.nan)

    score_lo = np.full(n_fam, np.nan)
    score_hi = np.full(n_fam, np.nan)
    lift_lo = np.full(n_fam, np.nan)
    lift_hi = np.full(n_fam, np.nan)
    lift_p = np.full(n_fam, np.nan)
    if n_bootstrap > 0 and n_fam:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
        counts = np.zeros((n_bootstrap, n_items), dtype=np.float64)
        for b in names:
            idx = np.flatnonzero(bench == b)
            draws = rng.integers(0, len(idx), size=(n_bootstrap, len(idx)))
            c = np.zeros((n_bootstrap, len(idx)))
            np.add.at(c, (np.arange(n_bootstrap)[:, None], draws), 1.0)
            counts[:, idx] = c
        ev_f, ev_l = ev.astype(np.float64), ev_lift.astype(np.float64)
        den = counts @ ev_f
        num = counts @ (ev_f * s0[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            perf_s = num / den
        # the lift's benchmark means move with the resample too
        lift_num = counts @ (ev_l * s0[:, None])
        for b in names:
            rows = (bench == b)
            cnt_b = counts[:, rows]
            sc_b = scored[rows].astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_b = (cnt_b @ (s0[rows] * sc_b)) / (cnt_b @ sc_b)
            mean_b = np.nan_to_num(mean_b)
            lift_num -= mean_b[:, None] * (cnt_b @ ev_l[rows])
        lift_den = counts @ ev_l
        with np.errstate(invalid="ignore", divide="ignore"):
            lift_s = lift_num / lift_den
        z = float(ndtri(1 - alpha / 2))
        for j in range(n_fam):
            ps = perf_s[:, j][np.isfinite(perf_s[:, j])]
            if n_ev[j] > 0 and len(ps):
                score_lo[j], score_hi[j] = np.quantile(ps, [alpha / 2, 1 - alpha / 2])
            ls = lift_s[:, j][np.isfinite(lift_s[:, j])]
            if n_lift[j] > 0 and len(ls) >= 2:
                se = float(np.std(ls, ddof=1))
                lift_lo[j], lift_hi[j] = lift[j] - z * se, lift[j] + z * se
                lift_p[j] = (2 * ndtr(-(abs(lift[j]) / se)) if se > 0 else (0.0 if lift[j] != 0 else 1.0))
    q = benjamini_hochberg(lift_p)

    def num_or_none(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    def pair(lo: float, hi: float) -> tuple[float, float] | None:
        return (float(lo), float(hi)) if np.isfinite(lo) and np.isfinite(hi) else None

    out = []
    for j, fam in enumerate(families):
        detected = int(member[:, j].sum())
        out.append(FamilyItemScores(
            family=fam, detected=detected,
            by_benchmark={b: int((member[:, j] & (bench == b)).sum()) for b in names},
            share=detected / n_items if n_items else 0.0, share_ci=wilson_interval(detected, n_items, alpha),
            evidence_benchmarks=ev_names[j], n_scored=int(n_ev[j]),
            score=num_or_none(score[j]), score_ci=pair(score_lo[j], score_hi[j]),
            lift=num_or_none(lift[j]), lift_ci=pair(lift_lo[j], lift_hi[j]),
            lift_p=num_or_none(lift_p[j]), lift_q=num_or_none(q[j]),
            constant_benchmarks={b: v for b, v in constant.items()
                                 if b in ev_names[j] and (member[:, j] & (bench == b)).any()},
            items=[int(i) for i in np.flatnonzero(member[:, j])]))
    return out
