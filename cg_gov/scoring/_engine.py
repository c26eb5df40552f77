"""Weighted sums over items for batches of item weightings, and the metrics they give.

A batch is a set of b item weightings (multinomial counts for bootstrap
resamples, 0/1 masks for subsampling and removal), given per stratum as
(n_k x b) arrays. For each benchmark the engine forms, for every column
(concept or family) and weighting at once, with sparse-times-dense products
and no loop over columns:

    den(c)  = sum_{x in B, scored} w(x) abar_c(x)
    num(c)  = sum_{x in B, scored} w(x) abar_c(x) s(x)
    supp(c) = sum_{x in B, scored} w(x) [abar_c(x) > epsilon]
    den_all(c) = den(c) + the same sum over B's unscored items

and folds them into running totals, so memory stays at a few (columns x b)
arrays whatever the number of benchmarks.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cg_gov.scoring._inputs import Design, Group, Stratum

__all__ = ["ItemBlocks", "Totals", "reduce_batch", "scatter_weights", "chi_bench_batch"]


class ItemBlocks(Protocol):
    n_cols: int

    def values(self, group: Group, dtype: np.dtype): ...

    def indicator(self, group: Group): ...


@dataclass
class Totals:
    """Metrics of one batch, each (columns x b); None when not asked for."""

    chi_model: np.ndarray | None = None
    lift: np.ndarray | None = None
    performance: np.ndarray | None = None
    suite_sum: np.ndarray | None = None


def _stratum_sums(st: Stratum, items: ItemBlocks, w: np.ndarray, dtype: np.dtype,
                  need_support: bool):
    """den, num (None if unscored) and support of one stratum, each (columns x b).

    The returned arrays may alias each other (a stratum whose items all score 1
    has num = den): callers must not modify them in place.
    """
    b = w.shape[1]
    dens, nums, supps = [], [], []
    for g in st.groups:
        wg = w if g.positions is None else w[g.positions]
        block = items.values(g, dtype)
        if g.scores is not None:
            y = np.asarray(block @ np.hstack([wg, wg * g.scores[:, None].astype(dtype)]))
            dens.append(y[:, :b])
            nums.append(y[:, b:])
        else:
            d = np.asarray(block @ wg)
            dens.append(d)
            if st.scored and g.score == 1.0:
                nums.append(d)
            elif st.scored and g.score != 0.0:
                nums.append(d * dtype.type(g.score))
        if need_support:
            supps.append(np.asarray(items.indicator(g) @ wg.astype(np.float32, copy=False)))

    def total(parts: list[np.ndarray]) -> np.ndarray | None:
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        out = parts[0] + parts[1]
        for p in parts[2:]:
            out += p
        return out

    den = total(dens)
    num = total(nums) if st.scored else None
    if st.scored and num is None:
        num = np.zeros_like(den)
    return den, num, total(supps)


def reduce_batch(design: Design, items: ItemBlocks, weights: list[np.ndarray], *,
                 dtype: np.dtype, want: Iterable[str], n_min: int = 1, min_benchmarks: int = 1,
                 supported: np.ndarray | None = None) -> Totals:
    """Metrics of one batch of item weightings.

    ``want`` names the metrics to compute among chi_model, lift, performance and
    suite_sum (sum over all items). ``supported`` (benchmarks x columns, bool)
    fixes the benchmarks over which chi_model(c) is averaged (the bootstrap keeps
    the point estimate's set; a benchmark whose resample leaves c no weight is
    skipped); None recomputes support from the weighted data, as a rerun of the
    whole method does, and then needs ``min_benchmarks`` supported benchmarks.
    """
    dtype = np.dtype(dtype)
    want = set(want)
    n_cols = items.n_cols
    b = weights[0].shape[1]
    need_chi = "chi_model" in want
    need_lift = "lift" in want
    need_perf = "performance" in want
    need_suite = "suite_sum" in want
    recompute = supported is None

    def zeros() -> np.ndarray:
        return np.zeros((n_cols, b), dtype)

    chi_sum = zeros() if need_chi else None
    chi_cnt = np.zeros((n_cols, b), np.int32) if need_chi else None
    lift_num = zeros() if need_lift else None
    pooled_num = zeros() if need_perf else None
    pooled_den = zeros() if (need_lift or need_perf) else None
    suite_sum = zeros() if need_suite else None
    tmp = zeros() if need_lift or (need_chi and recompute) else None

    for bench in range(design.n_benchmarks):
        for k in design.strata_of[bench]:
            st = design.strata[k]
            if not st.scored and not need_suite:
                continue
            w = weights[k]
            den, num, supp = _stratum_sums(st, items, w, dtype,
                                           st.scored and need_chi and recompute)
            if need_suite:
                suite_sum += den
            if not st.scored:
                continue
            if need_chi and recompute:
                ok = (supp >= n_min) & (den > 0)
                tmp.fill(0)
                np.divide(num, den, out=tmp, where=ok)
                chi_sum += tmp
                chi_cnt += ok
            elif need_chi:
                rows = np.flatnonzero(supported[bench])
                d = den[rows]
                ok = d > 0
                q = np.zeros_like(d)
                np.divide(num[rows], d, out=q, where=ok)
                chi_sum[rows] += q
                chi_cnt[rows] += ok
            if need_lift:
                n_w = w.sum(axis=0, dtype=np.float64)
                s_w = w.T @ st.scores.astype(dtype)
                sbar_w = (s_w / n_w).astype(dtype)
                np.multiply(den, sbar_w, out=tmp)
                lift_num += num
                lift_num -= tmp
            if need_perf:
                pooled_num += num
            if need_lift or need_perf:
                pooled_den += den

    out = Totals()
    if need_chi:
        min_count = min_benchmarks if recompute else 1
        out.chi_model = np.full((n_cols, b), np.nan, dtype)
        np.divide(chi_sum, chi_cnt, out=out.chi_model, where=chi_cnt >= min_count)
    if need_lift or need_perf:
        defined = pooled_den > 0
        if need_lift:
            out.lift = np.full((n_cols, b), np.nan, dtype)
            np.divide(lift_num, pooled_den, out=out.lift, where=defined)
        if need_perf:
            out.performance = np.full((n_cols, b), np.nan, dtype)
            np.divide(pooled_num, pooled_den, out=out.performance, where=defined)
    if need_suite:
        out.suite_sum = suite_sum
    return out


def scatter_weights(design: Design, weights: list[np.ndarray]) -> np.ndarray:
    """Per-stratum (n_k x b) weights laid out as one (items x b) array in item order."""
    b = weights[0].shape[1]
    out = np.zeros((design.n_items, b), dtype=weights[0].dtype)
    for st, w in zip(design.strata, weights):
        out[st.items] = w
    return out


def chi_bench_batch(design: Design, abar_t, row_mass: np.ndarray,
                    weights: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Suite-level chi_bench(c) of each weighting, for all columns in one product.

    chi_bench(c) = (1/n) sum_B C * den_all_B(c) / total_B, where n counts the
    benchmarks with total_B > 0, is one weighted sum over items: item x in B gets
    weight w(x) * C / (n * total_B), and total_B = sum_{x in B} w(x) * row_mass(x).
    ``abar_t`` is the (concepts x items) transpose of the whole matrix and
    ``row_mass`` its per-item sums over every concept.
    """
    dtype = np.dtype(dtype)
    n_cols = abar_t.shape[0]
    b = weights[0].shape[1]
    totals = np.zeros((design.n_benchmarks, b))
    for st, w in zip(design.strata, weights):
        totals[st.bench] += row_mass[st.items] @ w.astype(np.float64, copy=False)
    active = totals > 0
    n_active = active.sum(axis=0)
    scale = np.zeros_like(totals)
    np.divide(float(n_cols), totals * np.maximum(n_active, 1), out=scale, where=active)
    scaled = np.zeros((design.n_items, b), dtype=dtype)
    for st, w in zip(design.strata, weights):
        scaled[st.items] = w * scale[st.bench].astype(dtype)
    out = np.asarray(abar_t @ scaled)
    out[:, n_active == 0] = np.nan
    return out
