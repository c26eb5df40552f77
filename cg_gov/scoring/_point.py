"""Point estimates of the metrics (every item weighted once), from per-benchmark sums."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cg_gov.scoring._inputs import Design
from cg_gov.scoring._stats import safe_divide

__all__ = ["PointEstimates", "point_estimates", "effective_support"]


@dataclass(frozen=True)
class PointEstimates:
    """Per-benchmark (benchmarks x columns) and suite-level (columns,) values."""

    den_all: np.ndarray
    den: np.ndarray
    num: np.ndarray
    support: np.ndarray
    scored_support: np.ndarray
    supported: np.ndarray
    chi_bench_b: np.ndarray
    chi_model_b: np.ndarray
    chi_bench: np.ndarray
    chi_model: np.ndarray
    n_supported: np.ndarray
    lift: np.ndarray
    performance: np.ndarray
    suite_mean: np.ndarray


def _selectors(design: Design) -> sp.csr_matrix:
    """(3 benchmarks x items): rows of ones over each benchmark's items, over its
    scored items, and of the scored items' scores."""
    nb, n = design.n_benchmarks, design.n_items
    scored = design.scored
    rows = np.concatenate([design.codes, nb + design.codes[scored],
                           2 * nb + design.codes[scored]])
    cols = np.concatenate([np.arange(n), np.flatnonzero(scored), np.flatnonzero(scored)])
    vals = np.concatenate([np.ones(n), np.ones(int(scored.sum())), design.scores[scored]])
    return sp.csr_matrix((vals, (rows, cols)), shape=(3 * nb, n))


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def point_estimates(design: Design, matrix, *, n_min: int, min_benchmarks: int
                    ) -> PointEstimates:
    """Every metric of method.md on the data as given, in float64.

    ``matrix`` is the (items x columns) matrix to score: the design's own
    activations, or a family mass matrix. ``lift`` and ``performance`` are NaN
    unless at least ``n_min`` scored items support the column across the suite.
    """
    nb = design.n_benchmarks
    sel = _selectors(design)
    sums = _dense(sel @ matrix)
    if sp.issparse(matrix):
        m = matrix.tocsr()  # shares the index arrays: one float64 array more, not a copy of the matrix
        indicator = sp.csr_matrix(((m.data > design.epsilon).astype(np.float64), m.indices, m.indptr),
                                  shape=m.shape, copy=False)
    else:
        indicator = (np.asarray(matrix) > design.epsilon).astype(np.float64)
    counts = np.rint(_dense(sel[: 2 * nb] @ indicator)).astype(np.int64)
    den_all, den, num = sums[:nb], sums[nb:2 * nb], sums[2 * nb:]
    support, scored_support = counts[:nb], counts[nb:]
    n_cols = den_all.shape[1]

    total = den_all.sum(axis=1, keepdims=True)
    chi_bench_b = safe_divide(den_all * n_cols, total)
    active = total[:, 0] > 0
    chi_bench = chi_bench_b[active].mean(axis=0) if active.any() else np.full(n_cols, np.nan)
    chi_model_b = safe_divide(num, den)
    supported = scored_support >= n_min
    n_supported = supported.sum(axis=0)
    chi_sum = np.where(supported, np.nan_to_num(chi_model_b), 0.0).sum(axis=0)
    chi_model = safe_divide(chi_sum, n_supported.astype(np.float64))
    chi_model[n_supported < min_benchmarks] = np.nan

    sbar = design.mean_scores()
    has_scores = np.isfinite(sbar)
    lift_num = (num[has_scores] - sbar[has_scores, None] * den[has_scores]).sum(axis=0)
    pooled_den = den.sum(axis=0)
    enough = scored_support.sum(axis=0) >= n_min
    lift = np.where(enough, safe_divide(lift_num, pooled_den), np.nan)
    performance = np.where(enough, safe_divide(num.sum(axis=0), pooled_den), np.nan)
    return PointEstimates(
        den_all=den_all, den=den, num=num, support=support, scored_support=scored_support,
        supported=supported, chi_bench_b=chi_bench_b, chi_model_b=chi_model_b,
        chi_bench=chi_bench, chi_model=chi_model, n_supported=n_supported, lift=lift,
        performance=performance, suite_mean=den_all.sum(axis=0) / design.n_items)


def effective_support(matrix, scored: np.ndarray) -> np.ndarray:
    """n_eff per column over scored items: (sum abar)^2 / sum abar^2, 0 when the column never fires."""
    weight = scored.astype(np.float64)
    if sp.issparse(matrix):
        m = matrix.tocsr()
        s1 = m.T @ weight
        s2 = sp.csr_matrix((m.data * m.data, m.indices, m.indptr), shape=m.shape, copy=False).T @ weight
    else:
        m = np.asarray(matrix)
        s1 = weight @ m
        s2 = weight @ (m * m)
    out = np.zeros(matrix.shape[1])
    np.divide(s1 * s1, s2, out=out, where=s2 > 0)
    return out
