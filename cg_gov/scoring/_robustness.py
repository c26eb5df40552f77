"""The paper's robustness checks: random subsampling and adversarial removal."""
from __future__ import annotations

from typing import Any

import numpy as np

from cg_gov.errors import CgGovError
from cg_gov.scoring._engine import ItemBlocks, chi_bench_batch, reduce_batch
from cg_gov.scoring._inputs import Design, SparseItems, build_design, check_options
from cg_gov.scoring._point import PointEstimates, point_estimates
from cg_gov.scoring._settings import ScoringSettings, resolve_options
from cg_gov.scoring._resample import batch_size, n_dropped, subsample_weights

__all__ = ["subsampling_robustness", "adversarial_removal", "run_subsampling",
           "run_adversarial"]


def _row_std(x: np.ndarray) -> np.ndarray:
    """Sample standard deviation (ddof=1) of each row over its non-NaN entries; NaN below 2."""
    x = np.asarray(x, dtype=np.float64)
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    filled = np.where(valid, x, 0.0)
    mean = np.zeros(x.shape[0])
    np.divide(filled.sum(axis=1), n, out=mean, where=n > 0)
    dev = np.where(valid, x - mean[:, None], 0.0)
    out = np.full(x.shape[0], np.nan)
    np.divide((dev * dev).sum(axis=1), n - 1, out=out, where=n >= 2)
    return np.sqrt(out)


def _json_ready(d: dict[str, Any]) -> dict[str, Any]:
    """The dict with non-finite floats replaced by None, so that strict JSON accepts it."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            value = _json_ready(value)
        elif isinstance(value, float) and not np.isfinite(value):
            value = None
        out[key] = value
    return out


def _mean_or_nan(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def run_subsampling(design: Design, items: ItemBlocks | None, rows: np.ndarray, *,
                    n_reruns: int, fraction: float, n_min: int, min_benchmarks: int, seed: int,
                    dtype: np.dtype, base_chi_model: np.ndarray, missing: np.ndarray
                    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Rerun the metrics on ``n_reruns`` random subsets (``fraction`` of each benchmark dropped).

    Support is recomputed in each rerun. Dropping items never adds support, so
    chi_model is recomputed only for ``rows`` (``items`` holds their columns), a
    superset of the concepts with a chi_model on the full data. Returns the
    summary and the per-column standard deviations of chi_model and chi_bench.
    """
    n_cols = design.n_concepts
    dtype = np.dtype(dtype)
    abar_t = design.abar.T.tocsr().astype(dtype)
    row_mass = np.asarray(design.abar.sum(axis=1)).ravel()
    cm = np.full((n_cols, n_reruns), np.nan, dtype)
    cb = np.empty((n_cols, n_reruns), dtype)
    batch = batch_size(max(n_cols, design.n_items), n_reruns)
    for start, weights in subsample_weights(design, seed, n_reruns, fraction, batch, dtype):
        stop = start + weights[0].shape[1]
        if items is not None:
            t = reduce_batch(design, items, weights, dtype=dtype, want=("chi_model",),
                             n_min=n_min, min_benchmarks=min_benchmarks)
            cm[rows, start:stop] = t.chi_model
        cb[:, start:stop] = chi_bench_batch(design, abar_t, row_mass, weights, dtype)
    std_cm = _row_std(cm)
    std_cb = _row_std(cb)
    std_cm[~np.isfinite(base_chi_model)] = np.nan
    std_cb[missing] = np.nan
    summary = {
        "n_reruns": int(n_reruns),
        "fraction_dropped": float(fraction),
        "items_dropped_per_benchmark": {name: n_dropped(len(it), fraction)
                                        for name, it in zip(design.names, design.bench_items)},
        "mean_std_chi_model": _mean_or_nan(std_cm),
        "median_std_chi_model": _median(std_cm),
        "n_concepts_chi_model": int(np.isfinite(std_cm).sum()),
        "mean_std_chi_bench": _mean_or_nan(std_cb),
        "median_std_chi_bench": _median(std_cb),
        "n_concepts_chi_bench": int(np.isfinite(std_cb).sum()),
        "seed": int(seed),
    }
    return _json_ready(summary), std_cm, std_cb


def _ranked(chi_model: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n highest and n lowest chi_model columns (ties: lower index first)."""
    idx = np.flatnonzero(np.isfinite(chi_model))
    vals = chi_model[idx]
    top = idx[np.lexsort((idx, -vals))][:n]
    bottom = idx[np.lexsort((idx, vals))][:n]
    return top, bottom


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def run_adversarial(design: Design, point: PointEstimates, items: ItemBlocks | None,
                    rows: np.ndarray, *, n_concepts: int, fraction: float, n_min: int,
                    min_benchmarks: int) -> dict[str, Any]:
    """Remove the items most aligned with the top (then bottom) chi_model concepts; recompute.

    An item's alignment with a concept set is the total weight it carries in the
    set's chi_model values: sum over c in the set, over the benchmarks B where c
    is supported and x belongs, of abar_c(x) / (n_supported(c) * sum_{y in B}
    abar_c(y)). The floor(fraction * scored items) items of highest positive
    alignment are removed (ties: lower index first), support is recomputed, and
    the median chi_model over the concepts that still have one is compared with
    the median before removal. ``items`` holds the columns ``rows``, a superset
    of the concepts with a chi_model (removal never adds support).
    """
    top, bottom = _ranked(point.chi_model, n_concepts)
    n_scored = int(design.scored.sum())
    k = int(np.floor(fraction * n_scored))
    before = _median(point.chi_model)
    keep_cols = []
    removed_counts = []
    for chosen in (top, bottom):
        align = np.zeros(design.n_items)
        if chosen.size:
            sub_den = point.den[:, chosen]
            ok = point.supported[:, chosen] & (sub_den > 0)
            coef = np.zeros_like(sub_den)
            np.divide(1.0, sub_den * point.n_supported[chosen], out=coef, where=ok)
            sub = design.abar[:, chosen]
            for bench, kk in enumerate(design.scored_stratum):
                if kk is not None:
                    its = design.strata[kk].items
                    align[its] = sub[its] @ coef[bench]
        cand = np.flatnonzero(align > 0)
        order = cand[np.lexsort((cand, -align[cand]))][:k]
        keep = np.ones(design.n_items)
        keep[order] = 0.0
        removed_counts.append(int(order.size))
        keep_cols.append(keep)
    keep2 = np.stack(keep_cols, axis=1)
    weights = [np.ascontiguousarray(keep2[st.items]) for st in design.strata]
    after_top = after_bottom = float("nan")
    if items is not None:
        t = reduce_batch(design, items, weights, dtype=np.float64, want=("chi_model",),
                         n_min=n_min, min_benchmarks=min_benchmarks)
        after_top = _median(t.chi_model[:, 0])
        after_bottom = _median(t.chi_model[:, 1])

    def pct(after: float) -> float:
        return float(100.0 * (after - before) / before) if before else float("nan")

    return _json_ready({
        "n_concepts": int(n_concepts),
        "n_top_concepts": int(top.size),
        "n_bottom_concepts": int(bottom.size),
        "fraction": float(fraction),
        "n_scored_items": n_scored,
        "n_removed_top": removed_counts[0],
        "n_removed_bottom": removed_counts[1],
        "median_chi_model": before,
        "median_after_top_removed": after_top,
        "median_after_bottom_removed": after_bottom,
        "change_top": after_top - before,
        "change_top_pct": pct(after_top),
        "change_bottom": after_bottom - before,
        "change_bottom_pct": pct(after_bottom),
        "direction_top_as_paper": bool(after_top < before),
        "direction_bottom_as_paper": bool(after_bottom > before),
    })


def _chi_model_items(design: Design, point: PointEstimates
                     ) -> tuple[SparseItems | None, np.ndarray]:
    rows = np.flatnonzero(np.isfinite(point.chi_model))
    return (SparseItems(design, columns=rows) if rows.size else None), rows


def subsampling_robustness(abar, scores, benchmarks, *, settings: ScoringSettings | None = None,
                           n_reruns: int | None = None, fraction: float | None = None, n_min: int | None = None,
                           min_benchmarks: int | None = None, epsilon: float | None = None,
                           seed: int | None = None, bootstrap_dtype: str = "float32") -> dict[str, Any]:
    """The paper's random-subsampling check.

    Drops ``fraction`` of each benchmark at random (``round(fraction * n_B)`` items),
    recomputes every metric, ``n_reruns`` times, and reports the standard deviation
    (ddof=1, over the reruns where the value exists) of chi_model(c) and
    chi_bench(c), averaged over concepts: for chi_model the concepts that have
    one on the full data, for chi_bench the concepts that fire somewhere in the
    suite. The paper reports 0.014 (chi_model) and 0.025 (chi_bench) for Llama.
    Returns a JSON-ready dict (a value that cannot be computed is None).
    """
    o = resolve_options(settings, subsample_reruns=n_reruns, subsample_fraction=fraction, n_min=n_min,
                        min_benchmarks=min_benchmarks, epsilon=epsilon, seed=seed)
    n_reruns, fraction, n_min = o["subsample_reruns"], o["subsample_fraction"], o["n_min"]
    min_benchmarks, epsilon, seed = o["min_benchmarks"], o["epsilon"], o["seed"]
    check_options(n_min=n_min, min_benchmarks=min_benchmarks, epsilon=epsilon,
                  subsample_reruns=n_reruns, subsample_fraction=fraction,
                  bootstrap_dtype=bootstrap_dtype)
    if n_reruns < 1:
        raise CgGovError(f"must be an integer >= 1, got {n_reruns!r}", key="n_reruns")
    design = build_design(abar, scores, benchmarks, epsilon=epsilon)
    point = point_estimates(design, design.abar, n_min=n_min, min_benchmarks=min_benchmarks)
    items, rows = _chi_model_items(design, point)
    summary, _, _ = run_subsampling(
        design, items, rows, n_reruns=n_reruns, fraction=fraction, n_min=n_min,
        min_benchmarks=min_benchmarks, seed=seed, dtype=np.dtype(bootstrap_dtype),
        base_chi_model=point.chi_model, missing=point.support.sum(axis=0) == 0)
    return summary


def adversarial_removal(abar, scores, benchmarks, *, settings: ScoringSettings | None = None,
                        n_concepts: int = 100, fraction: float = 0.01, n_min: int | None = None,
                        min_benchmarks: int | None = None, epsilon: float | None = None) -> dict[str, Any]:
    """The paper's adversarial-removal check.

    Removes at most ``fraction`` of the scored items, those most aligned with the
    ``n_concepts`` highest chi_model concepts (then, separately, the lowest), and
    recomputes the median chi_model. The paper's direction: removing the best
    concepts' items lowers the median, removing the worst's raises it
    (``direction_*_as_paper``). Returns a JSON-ready dict (a value that cannot be
    computed is None).
    """
    o = resolve_options(settings, n_min=n_min, min_benchmarks=min_benchmarks, epsilon=epsilon)
    n_min, min_benchmarks, epsilon = o["n_min"], o["min_benchmarks"], o["epsilon"]
    check_options(n_min=n_min, min_benchmarks=min_benchmarks, epsilon=epsilon)
    if int(n_concepts) != n_concepts or n_concepts < 1:
        raise CgGovError(f"must be an integer >= 1, got {n_concepts!r}", key="n_concepts")
    if not 0 < fraction < 1:
        raise CgGovError(f"must lie in (0, 1), got {fraction!r}", key="fraction")
    design = build_design(abar, scores, benchmarks, epsilon=epsilon)
    point = point_estimates(design, design.abar, n_min=n_min, min_benchmarks=min_benchmarks)
    items, rows = _chi_model_items(design, point)
    return run_adversarial(design, point, items, rows, n_concepts=n_concepts, fraction=fraction,
                           n_min=n_min, min_benchmarks=min_benchmarks)
