"""Point estimates of the concept metrics (every item weighted once)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cg_gov.scoring._engine import ItemBlocks, reduce_batch
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


def point_estimates(design: Design, items: ItemBlocks, *, n_min: int,
                    min_benchmarks: int) -> PointEstimates:
    """Every metric of method.md on the data as given, in float64.

    ``lift`` and ``performance`` are NaN unless at least ``n_min`` scored items
    support the column across the suite.
    """
    ones = [np.ones((len(st.items), 1)) for st in design.strata]
    t = reduce_batch(design, items, ones, dtype=np.float64,
                     want=("chi_model", "lift", "chi_bench", "suite_sum"),
                     n_min=n_min, min_benchmarks=min_benchmarks, table=True)
    tab = t.table
    n_cols = items.n_cols
    total = tab["den_all"].sum(axis=1, keepdims=True)
    chi_bench_b = safe_divide(tab["den_all"] * n_cols, total)
    chi_model_b = safe_divide(tab["num"], tab["den"])
    scored_support = np.rint(tab["scored_support"]).astype(np.int64)
    support = np.rint(tab["support"]).astype(np.int64)
    supported = scored_support >= n_min
    enough = scored_support.sum(axis=0) >= n_min
    lift = np.where(enough, t.lift[:, 0], np.nan)
    performance = np.where(enough, t.performance[:, 0], np.nan)
    return PointEstimates(
        den_all=tab["den_all"], den=tab["den"], num=tab["num"], support=support,
        scored_support=scored_support, supported=supported, chi_bench_b=chi_bench_b,
        chi_model_b=chi_model_b, chi_bench=t.chi_bench[:, 0], chi_model=t.chi_model[:, 0],
        n_supported=t.n_supported[:, 0].astype(np.int64), lift=lift, performance=performance,
        suite_mean=t.suite_sum[:, 0] / design.n_items)


def effective_support(matrix, scored: np.ndarray) -> np.ndarray:
    """n_eff per column over scored items: (sum abar)^2 / sum abar^2, 0 when the column never fires."""
    if hasattr(matrix, "indptr"):
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        keep = scored[rows]
        data = matrix.data[keep]
        cols = matrix.indices[keep]
        s1 = np.bincount(cols, weights=data, minlength=matrix.shape[1])
        s2 = np.bincount(cols, weights=data * data, minlength=matrix.shape[1])
    else:
        m = np.asarray(matrix)[scored]
        s1 = m.sum(axis=0)
        s2 = (m * m).sum(axis=0)
    out = np.zeros(matrix.shape[1])
    np.divide(s1 * s1, s2, out=out, where=s2 > 0)
    return out
