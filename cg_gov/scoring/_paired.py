"""paired_differences: per family, the difference in performance between two models on the same items.

Every candidate of a vendor audit answered the same items, so the family mass m_F(x) (from the
suite's activations, shared by all models) is the same for each and only the scores differ. For
models a and b and family F, over the items scored for both:

    diff_F(a, b) = perf_F(a) - perf_F(b),   perf_F(m) = sum_x m_F(x) s_m(x) / sum_x m_F(x)

Its interval and p-value come from a **paired** bootstrap: each resample draws items (within
benchmark strata, by :func:`cg_gov.scoring._resample.bootstrap_weights`, the scoring engine's own
draws and seed stream) and both models are scored on the *same* resampled items. The interval and
p-value follow ``lift_p_method`` as a lift's do (normal: estimate -/+ z SE with p = 2 Phi(-|d|/SE);
bootstrap: percentile interval and bootstrap p-value). q is Benjamini-Hochberg across every
(family, pair). A difference is NaN unless at least ``n_min`` common scored items have
m_F > epsilon, the rule of a family's performance.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from cg_gov.errors import CgGovError
from cg_gov.scoring._families import _weight_matrix
from cg_gov.scoring._inputs import build_design, check_options
from cg_gov.scoring._resample import batch_size, bootstrap_weights
from cg_gov.scoring._settings import ScoringSettings, resolve_options
from cg_gov.scoring._stats import benjamini_hochberg, lift_interval, lift_p_values, safe_divide

__all__ = ["paired_differences"]


def paired_differences(abar, scores: Mapping[str, Sequence[float] | np.ndarray], benchmarks,
                       weights: Mapping[str, Mapping[int, float]], *, settings: ScoringSettings | None = None,
                       n_min: int | None = None, n_bootstrap: int | None = None, alpha: float | None = None,
                       seed: int | None = None, epsilon: float | None = None,
                       lift_p_method: str | None = None) -> pd.DataFrame:
    """One row per (family, model_a, model_b), for every two models in the order given (a before b).

    ``scores`` maps each model name to its per-item scores (NaN: unscored), aligned with the rows
    of ``abar`` and ``benchmarks``. Columns: ``perf_a``, ``perf_b`` (each model's performance on the
    common scored items), ``difference`` (a - b), ``ci_low``, ``ci_high``, ``p``, ``q`` (BH over all
    rows), ``significant`` (q < alpha and the interval excludes 0), ``n_items`` (common scored items
    with m_F > epsilon).
    """
    o = resolve_options(settings, n_min=n_min, n_bootstrap=n_bootstrap, alpha=alpha, seed=seed,
                        epsilon=epsilon, lift_p_method=lift_p_method)
    n_min, n_bootstrap, alpha = o["n_min"], o["n_bootstrap"], o["alpha"]
    seed, epsilon, lift_p_method = o["seed"], o["epsilon"], o["lift_p_method"]
    check_options(n_min=n_min, n_bootstrap=n_bootstrap, alpha=alpha, epsilon=epsilon,
                  lift_p_method=lift_p_method)
    names = list(scores)
    if len(names) < 2:
        raise CgGovError("paired differences need at least two models", key="scores")
    mat = np.column_stack([np.asarray(scores[m], dtype=np.float64) for m in names])
    common = np.isfinite(mat).all(axis=1)
    first = np.where(common, mat[:, 0], np.nan)
    design = build_design(abar, first, benchmarks, epsilon=epsilon)
    fams, wmat = _weight_matrix(weights, design.n_concepts)
    cols = ["family", "model_a", "model_b", "perf_a", "perf_b", "difference", "ci_low", "ci_high", "p", "q",
            "significant", "n_items"]
    if not fams:
        return pd.DataFrame(columns=cols)
    scored = design.scored.astype(np.float64)
    mass = np.asarray((design.abar @ wmat).toarray()) * scored[:, None]  # (n x F), 0 off the common items
    n_items = ((mass > epsilon) & design.scored[:, None]).sum(axis=0)
    enough = n_items >= n_min
    s = np.where(np.isfinite(mat), mat, 0.0) * scored[:, None]  # (n x M)
    # numerators per model: (F x n) @ (n x M) on the original items
    den = mass.sum(axis=0)
    num = mass.T @ s  # (F x M)
    perf = safe_divide(num, den[:, None])
    pairs = list(combinations(range(len(names)), 2))
    point = np.stack([perf[:, a] - perf[:, b] for a, b in pairs])  # (P x F)
    samples = np.full((len(pairs), len(fams), n_bootstrap), np.nan)
    if n_bootstrap > 0:
        batch = batch_size(design.n_items, n_bootstrap)
        for start, w in bootstrap_weights(design, seed, n_bootstrap, batch, np.float64):
            b = w[0].shape[1]
            full = np.zeros((design.n_items, b))
            for st, counts in zip(design.strata, w):
                full[st.items] = counts
            den_b = mass.T @ full  # (F x b)
            for k, (a, c) in enumerate(pairs):
                diff_num = (mass * (s[:, a] - s[:, c])[:, None]).T @ full
                samples[k, :, start:start + b] = safe_divide(diff_num, den_b)
    rows = []
    flat_p, flat_lo, flat_hi = [], [], []
    for k, (a, b) in enumerate(pairs):
        est = np.where(enough, point[k], np.nan)
        lo, hi = lift_interval(est, samples[k], alpha, lift_p_method)
        p = (lift_p_values(est, samples[k], n_bootstrap, lift_p_method) if n_bootstrap > 0
             else np.full(len(fams), np.nan))
        lo, hi, p = (np.where(enough, x, np.nan) for x in (lo, hi, p))
        flat_p.append(p)
        flat_lo.append(lo)
        flat_hi.append(hi)
        for j, fam in enumerate(fams):
            rows.append({"family": fam, "model_a": names[a], "model_b": names[b],
                         "perf_a": perf[j, a] if enough[j] else np.nan,
                         "perf_b": perf[j, b] if enough[j] else np.nan, "difference": est[j],
                         "ci_low": lo[j], "ci_high": hi[j], "p": p[j], "n_items": int(n_items[j])})
    q = benjamini_hochberg(np.concatenate(flat_p))
    lo_all, hi_all = np.concatenate(flat_lo), np.concatenate(flat_hi)
    for row, qv, lo, hi in zip(rows, q, lo_all, hi_all):
        row["q"] = qv
        row["significant"] = bool(np.isfinite(qv) and qv < alpha and (lo > 0 or hi < 0))
    return pd.DataFrame(rows, columns=cols)
