"""The one reduction behind every score: weighted per-benchmark sums, then the metrics.

A batch is a set of item weightings (ones for the point estimate, multinomial
counts for bootstrap resamples, 0/1 masks for subsampling and removal), given
per stratum as (n_k x b) arrays. For each benchmark the engine forms, for every
column (concept or family) and weighting at once, with sparse-times-dense
products and no loop over columns:

    den_all(c) = sum_{x in B} w(x) abar_c(x)                (all items)
    den(c)     = sum_{x in B, scored} w(x) abar_c(x)
    num(c)     = sum_{x in B, scored} w(x) abar_c(x) s(x)
    supp(c)    = sum_{x in B, scored} w(x) [abar_c(x) > epsilon]

and folds them into running totals, so memory stays at a few (columns x b)
arrays whatever the number of benchmarks.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from cg_gov.scoring._inputs import Design, Group, Stratum

__all__ = ["ItemBlocks", "Totals", "reduce_batch"]


class ItemBlocks(Protocol):
    n_cols: int

    def values(self, group: Group, dtype: np.dtype): ...

    def indicator(self, group: Group): ...


@dataclass
class Totals:
    """Metrics of one batch, each (columns x b); None when not asked for."""

    chi_model: np.ndarray | None = None
    n_supported: np.ndarray | None = None
    lift: np.ndarray | None = None
    performance: np.ndarray | None = None
    chi_bench: np.ndarray | None = None
    suite_sum: np.ndarray | None = None
    table: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-benchmark (benchmarks x columns) arrays for a batch of one weighting."""


def _stratum_sums(st: Stratum, items: ItemBlocks, w: np.ndarray, dtype: np.dtype,
                  need_support: bool):
    b = w.shape[1]
    den = num = supp = None
    for g in st.groups:
        wg = w if g.positions is None else w[g.positions]
        block = items.values(g, dtype)
        if g.scores is not None:
            y = np.asarray(block @ np.hstack([wg, wg * g.scores[:, None].astype(dtype)]))
            d, nm = y[:, :b], y[:, b:]
        else:
            d = np.asarray(block @ wg)
            nm = None
            if st.scored and g.score != 0.0:
                nm = d * dtype.type(g.score) if g.score != 1.0 else d
        den = d if den is None else den + d
        if st.scored:
            if num is None:
                num = np.zeros_like(den)
            if nm is not None:
                num += nm
        if need_support:
            s = np.asarray(items.indicator(g) @ wg.astype(np.float32, copy=False))
            supp = s if supp is None else supp + s
    return den, num, supp


def reduce_batch(design: Design, items: ItemBlocks, weights: list[np.ndarray], *,
                 dtype: np.dtype, want: Iterable[str], n_min: int = 1, min_benchmarks: int = 1,
                 supported: np.ndarray | None = None, table: bool = False) -> Totals:
    """Metrics of one batch of item weightings.

    ``want`` names the metrics to compute among chi_model, lift, performance,
    chi_bench, suite_sum. ``supported`` (benchmarks x columns, bool) fixes the
    benchmarks over which chi_model(c) is averaged (the bootstrap keeps the point
    estimate's set; a benchmark whose resample leaves c no weight is skipped);
    None recomputes support from the weighted data, as a rerun of the whole method
    does, and then needs ``min_benchmarks`` supported benchmarks. ``table`` also
    returns the per-benchmark sums (a batch of one weighting only).
    """
    dtype = np.dtype(dtype)
    want = set(want)
    n_cols = items.n_cols
    b = weights[0].shape[1]
    nb = design.n_benchmarks
    need_chi = "chi_model" in want
    need_lift = bool(want & {"lift", "performance"})
    need_bench = "chi_bench" in want
    need_suite = "suite_sum" in want
    recompute = supported is None
    need_supp = table or (need_chi and recompute)

    def zeros() -> np.ndarray:
        return np.zeros((n_cols, b), dtype)

    chi_sum = zeros() if need_chi else None
    chi_cnt = np.zeros((n_cols, b), np.int32) if need_chi else None
    lift_num = zeros() if need_lift else None
    pooled_num = zeros() if need_lift else None
    pooled_den = zeros() if need_lift else None
    cb_sum = zeros() if need_bench else None
    cb_cnt = np.zeros(b, np.int64)
    suite_sum = zeros() if need_suite else None
    tab: dict[str, np.ndarray] = {}
    if table:
        if b != 1:
            raise ValueError("table=True needs a batch of one weighting")
        for key in ("den_all", "den", "num", "support", "scored_support"):
            tab[key] = np.zeros((nb, n_cols))
    tmp = zeros() if (need_chi or need_lift) else None

    for bench in range(nb):
        den_all = None
        supp_all = None
        for k in design.strata_of[bench]:
            st = design.strata[k]
            w = weights[k]
            den, num, supp = _stratum_sums(st, items, w, dtype,
                                           need_supp if st.scored else table)
            if st.scored:
                if need_chi:
                    sup = (supp >= n_min) if recompute else supported[bench][:, None]
                    ok = sup & (den > 0)
                    tmp.fill(0)
                    np.divide(num, den, out=tmp, where=ok)
                    chi_sum += tmp
                    chi_cnt += ok
                if need_lift:
                    n_w = w.sum(axis=0, dtype=np.float64)
                    s_w = st.scores @ w.astype(np.float64, copy=False)
                    sbar_w = (s_w / n_w).astype(dtype)
                    np.multiply(den, sbar_w, out=tmp)
                    lift_num += num
                    lift_num -= tmp
                    pooled_num += num
                    pooled_den += den
                if table:
                    tab["den"][bench] = den[:, 0]
                    tab["num"][bench] = num[:, 0]
                    tab["scored_support"][bench] = supp[:, 0]
            den_all = den if den_all is None else den_all + den
            if table:
                supp_all = supp if supp_all is None else supp_all + supp
        if need_bench:
            total = den_all.sum(axis=0, dtype=np.float64)
            scale = np.zeros(b)
            np.divide(n_cols, total, out=scale, where=total > 0)
            cb_sum += den_all * scale.astype(dtype)
            cb_cnt += total > 0
        if need_suite:
            suite_sum += den_all
        if table:
            tab["den_all"][bench] = den_all[:, 0]
            tab["support"][bench] = supp_all[:, 0]

    out = Totals(table=tab)
    if need_chi:
        min_count = min_benchmarks if recompute else 1
        out.chi_model = np.full((n_cols, b), np.nan, dtype)
        np.divide(chi_sum, chi_cnt, out=out.chi_model, where=chi_cnt >= min_count)
        out.n_supported = chi_cnt
    if need_lift:
        defined = pooled_den > 0
        out.lift = np.full((n_cols, b), np.nan, dtype)
        np.divide(lift_num, pooled_den, out=out.lift, where=defined)
        out.performance = np.full((n_cols, b), np.nan, dtype)
        np.divide(pooled_num, pooled_den, out=out.performance, where=defined)
    if need_bench:
        out.chi_bench = np.full((n_cols, b), np.nan, dtype)
        np.divide(cb_sum, cb_cnt.astype(dtype), out=out.chi_bench, where=cb_cnt > 0)
    if need_suite:
        out.suite_sum = suite_sum
    return out
