"""score_concepts: every concept-level metric of method.md, with intervals and checks."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from cg_gov.errors import CgGovError
from cg_gov.scoring._engine import reduce_batch, scatter_weights
from cg_gov.scoring._inputs import SparseItems, as_csr, build_design, check_options
from cg_gov.scoring._point import effective_support, point_estimates
from cg_gov.scoring._settings import ScoringSettings, resolve_options
from cg_gov.scoring._resample import batch_size, bootstrap_weights, reference_weights
from cg_gov.scoring._robustness import run_adversarial, run_subsampling
from cg_gov.scoring._stats import benjamini_hochberg, lift_interval, lift_p_values, percentile_interval

__all__ = ["ConceptScores", "ConceptScoreRow", "BenchmarkScoreRow", "CONCEPT_COLUMNS", "REFERENCE_COLUMNS",
           "BENCHMARK_COLUMNS", "require_columns", "score_concepts", "representation_of", "log_ratio_samples"]

CI_METHOD = "percentile; low = lower order statistic at alpha/2, high = higher at 1-alpha/2"
RESAMPLING = "items resampled with replacement within (benchmark, scored/unscored) strata"


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """Raise :class:`CgGovError` naming the first of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CgGovError(f"{what} has no column {missing[0]!r}" + (f" (nor {missing[1:]})" if missing[1:] else ""),
                         key=f"{what}.{missing[0]}",
                         hint=f"the scoring output must have the declared columns: {', '.join(columns)}")


@dataclass(frozen=True)
class ConceptScoreRow:
    """One concept's suite-level scores: a row of ``ConceptScores.overall``, as findings read it.

    Its fields are the declared columns of that frame (:data:`CONCEPT_COLUMNS`, and with a reference
    sample :data:`REFERENCE_COLUMNS`); values are as scored (NaN where undefined)."""

    concept_id: int
    chi_bench: float
    chi_model: float
    n_supported_benchmarks: int
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    lift_p: float
    lift_q: float
    n_eff: float
    missing: bool
    coverage_ratio: float | None = None
    """With a reference sample only (None without), as are the three fields below."""
    ratio_ci_low: float | None = None
    ratio_ci_high: float | None = None
    representation: str | None = None


@dataclass(frozen=True)
class BenchmarkScoreRow:
    """One benchmark's sizes and mean score: a row of ``ConceptScores.benchmarks``."""

    name: str
    n_items: int
    n_scored: int
    mean_score: float


#: Columns of ``ConceptScores.overall`` always present (the fields of :class:`ConceptScoreRow` without a default).
CONCEPT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ConceptScoreRow)
                                         if f.default is MISSING and f.name != "concept_id")
#: Columns of ``ConceptScores.overall`` present with a reference sample.
REFERENCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ConceptScoreRow) if f.default is not MISSING)
#: Columns of ``ConceptScores.benchmarks`` (the fields of :class:`BenchmarkScoreRow` but its name, the index).
BENCHMARK_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(BenchmarkScoreRow) if f.name != "name")


@dataclass(frozen=True)
class ConceptScores:
    """Result of :func:`score_concepts`. Its frames are checked on construction: a declared column
    (:data:`CONCEPT_COLUMNS`, :data:`REFERENCE_COLUMNS` with a reference, :data:`BENCHMARK_COLUMNS`)
    that is missing raises :class:`CgGovError` naming it. Read rows typed with :meth:`concept` and
    :meth:`benchmark`."""

    per_benchmark: pd.DataFrame
    """Indexed by (benchmark, concept): chi_bench, chi_model (NaN where the concept
    has no activation on the benchmark's scored items, or the benchmark is
    unscored), missing, support (items with abar > epsilon), scored_support,
    supported (scored_support >= n_min)."""
    overall: pd.DataFrame
    """Indexed by concept; see :func:`score_concepts` for the columns."""
    benchmarks: pd.DataFrame
    """Indexed by benchmark: n_items, n_scored, mean_score, total_mass, missing_pct."""
    missing_by_benchmark: pd.Series
    """Percentage of concepts missing in each benchmark."""
    suite_missing: int
    """Number of concepts missing in every benchmark."""
    settings: dict[str, Any]
    """Every parameter of the run, the seed and the sizes."""
    robustness: dict[str, Any] | None
    """{"subsampling": ..., "adversarial": ...} for the checks that ran, or None."""

    def __post_init__(self) -> None:
        require_columns(self.overall, CONCEPT_COLUMNS + (REFERENCE_COLUMNS if self.has_reference else ()),
                        "ConceptScores.overall")
        require_columns(self.benchmarks, BENCHMARK_COLUMNS, "ConceptScores.benchmarks")

    @property
    def has_reference(self) -> bool:
        """True when the scores were taken against a reference sample (coverage ratios exist)."""
        return self.settings.get("n_reference_items") is not None

    def concept(self, concept_id: int) -> ConceptScoreRow:
        """The suite-level scores of one concept, typed."""
        r = self.overall.loc[concept_id]
        ref = {name: r[name] for name in REFERENCE_COLUMNS} if self.has_reference else {}
        return ConceptScoreRow(concept_id=int(concept_id), **{name: r[name] for name in CONCEPT_COLUMNS}, **ref)

    def benchmark(self, name: str) -> BenchmarkScoreRow:
        """The sizes and mean score of one benchmark, typed."""
        r = self.benchmarks.loc[name]
        return BenchmarkScoreRow(name=name, n_items=int(r["n_items"]), n_scored=int(r["n_scored"]),
                            mean_score=float(r["mean_score"]))


def representation_of(ratio: np.ndarray, low: np.ndarray, high: np.ndarray,
                      observed: np.ndarray, ratio_k: float) -> np.ndarray:
    """under / over / neutral / unobserved per column (method.md's rule with k = ratio_k)."""
    with np.errstate(invalid="ignore"):
        under = (ratio <= 1.0 / ratio_k) & (high < 1.0)
        over = (ratio >= ratio_k) & (low > 1.0)
    out = np.full(ratio.shape, "neutral", dtype=object)
    out[under] = "under"
    out[over] = "over"
    out[~observed] = "unobserved"
    return out


def log_ratio_samples(suite_sum: np.ndarray, ref_sum: np.ndarray, n_suite: int,
                      n_ref: int) -> np.ndarray:
    """log(mean over suite / mean over reference) per resample; 0 where both means are 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(suite_sum)
        out -= np.log(ref_sum)
        out += np.log(n_ref / n_suite)
    out[np.isnan(out)] = 0.0  # -inf - -inf: neither side shows the concept
    return out


def score_concepts(abar, scores, benchmarks, *, reference=None, settings: ScoringSettings | None = None,
                   n_min: int | None = None, min_benchmarks: int | None = None, ratio_k: float | None = None,
                   n_bootstrap: int | None = None, alpha: float | None = None, seed: int | None = None,
                   epsilon: float | None = None, subsample_reruns: int | None = None,
                   subsample_fraction: float | None = None, adversarial: bool = False,
                   bootstrap_dtype: str = "float32", lift_p_method: str | None = None) -> ConceptScores:
    """Score every concept of a suite: coverage, performance, lift, intervals, checks.

    Options left out (None) come from ``settings`` (default ``ScoringSettings()``: the method's
    defaults); ``n_bootstrap`` is the settings' ``bootstrap``.

    Args:
        abar: (items x concepts) mean activations, numpy or scipy.sparse, >= 0.
        scores: (items,) scores in [0, 1]; NaN for an unscored item.
        benchmarks: (items,) benchmark name of each item.
        reference: optional (reference items x concepts) activations of a
            reference sample (the dictionary's reference corpus or a workload
            sample); enables coverage_ratio and representation.
        n_min: scored items with abar > epsilon for a concept to be supported
            in a benchmark; also the suite-wide scored support needed for lift.
        min_benchmarks: supported benchmarks needed for a suite-level chi_model.
        ratio_k: a ratio <= 1/k is under-, >= k over-represented (CI permitting).
        n_bootstrap: resamples for every interval and p-value (0: none).
        alpha: 1 - confidence level of the intervals.
        seed: seed of every random draw.
        epsilon: activation at or below which a concept counts as absent.
        subsample_reruns: reruns of the subsampling check (0: skipped).
        subsample_fraction: fraction of each benchmark dropped per rerun.
        adversarial: run the adversarial-removal check (top/bottom 100, 1%).
        bootstrap_dtype: float precision of resample sums ("float32" halves
            the time; point estimates are always float64).
        lift_p_method: "bootstrap" (twice the share of resamples across 0,
            floored at 1/(n_bootstrap+1)) or "normal" (2 Phi(-|lift|/sd_boot)).
            With m tested concepts, BH at level 0.05 can reject on bootstrap
            p-values only when at least m / (0.05 (n_bootstrap + 1)) concepts
            sit at the floor (m/50 at 1,000 resamples); "normal" has no floor.

    The ``overall`` frame has, per concept: chi_bench, chi_model,
    chi_model_ci_low/high, n_supported_benchmarks, lift, lift_ci_low/high,
    lift_p, lift_q, missing, n_eff, support, scored_support, suite_mean; with a
    reference also reference_mean, coverage_ratio, ratio_ci_low/high and
    representation; with subsampling chi_model_subsample_std and
    chi_bench_subsample_std.
    """
    o = resolve_options(settings, n_min=n_min, min_benchmarks=min_benchmarks, ratio_k=ratio_k,
                        n_bootstrap=n_bootstrap, alpha=alpha, seed=seed, epsilon=epsilon,
                        subsample_reruns=subsample_reruns, subsample_fraction=subsample_fraction,
                        lift_p_method=lift_p_method)
    n_min, min_benchmarks, ratio_k, n_bootstrap = o["n_min"], o["min_benchmarks"], o["ratio_k"], o["n_bootstrap"]
    alpha, seed, epsilon, lift_p_method = o["alpha"], o["seed"], o["epsilon"], o["lift_p_method"]
    subsample_reruns, subsample_fraction = o["subsample_reruns"], o["subsample_fraction"]
    check_options(n_min=n_min, min_benchmarks=min_benchmarks, ratio_k=ratio_k,
                  n_bootstrap=n_bootstrap, alpha=alpha, epsilon=epsilon,
                  subsample_reruns=subsample_reruns, subsample_fraction=subsample_fraction,
                  bootstrap_dtype=bootstrap_dtype, lift_p_method=lift_p_method)
    design = build_design(abar, scores, benchmarks, epsilon=epsilon)
    n_cols = design.n_concepts
    ref = None if reference is None else as_csr(reference, key="reference", n_cols=n_cols)
    point = point_estimates(design, design.abar, n_min=n_min, min_benchmarks=min_benchmarks)
    dtype = np.dtype(bootstrap_dtype)

    support = point.support.sum(axis=0)
    missing = support == 0
    ref_mean = None
    if ref is not None:
        ref_mean = np.asarray(ref.sum(axis=0)).ravel() / ref.shape[0]

    chi_low = np.full(n_cols, np.nan)
    chi_high = np.full(n_cols, np.nan)
    lift_low = np.full(n_cols, np.nan)
    lift_high = np.full(n_cols, np.nan)
    lift_p = np.full(n_cols, np.nan)
    ratio_low = np.full(n_cols, np.nan)
    ratio_high = np.full(n_cols, np.nan)
    sel_chi = np.flatnonzero(np.isfinite(point.chi_model))
    sel_lift = np.flatnonzero(np.isfinite(point.lift))
    sel_ratio = (np.flatnonzero((point.suite_mean > 0) | (ref_mean > 0))
                 if ref is not None else np.zeros(0, np.int64))
    # The per-benchmark work (chi_model, lift, the robustness reruns) only concerns
    # the concepts that have a chi_model or a lift; their columns are cut from each group's block.
    rows_cl = np.union1d(sel_chi, sel_lift)
    needs_items = n_bootstrap > 0 or subsample_reruns > 0 or adversarial
    items_cl = (SparseItems(design, columns=rows_cl)
                if rows_cl.size and needs_items else None)
    if n_bootstrap > 0:
        # Suite sums for the coverage ratio come from the same pass for those
        # concepts and from one all-items product for the rest.
        pos_chi = np.searchsorted(rows_cl, sel_chi)
        pos_lift = np.searchsorted(rows_cl, sel_lift)
        in_cl = np.isin(sel_ratio, rows_cl)
        pos_ratio_cl = np.searchsorted(rows_cl, sel_ratio[in_cl])
        rest = sel_ratio[~in_cl]
        supported_cl = point.supported[:, rows_cl]
        rest_t = design.abar[:, rest].T.tocsr().astype(dtype) if rest.size else None
        chi_s = np.empty((sel_chi.size, n_bootstrap), dtype)
        lift_s = np.empty((sel_lift.size, n_bootstrap), dtype)
        ratio_s = np.empty((sel_ratio.size, n_bootstrap), dtype)
        batch = batch_size(max(rows_cl.size, sel_ratio.size, design.n_items), n_bootstrap)
        want = ("chi_model", "lift") + (("suite_sum",) if ref is not None else ())
        ref_iter = None
        ref_t = None
        if ref is not None:
            ref_iter = reference_weights(ref.shape[0], seed, n_bootstrap, batch, dtype)
            ref_t = ref[:, sel_ratio].T.tocsr().astype(dtype)
        for start, weights in bootstrap_weights(design, seed, n_bootstrap, batch, dtype):
            stop = start + weights[0].shape[1]
            t = None
            if items_cl is not None:
                t = reduce_batch(design, items_cl, weights, dtype=dtype, want=want,
                                 n_min=n_min, min_benchmarks=min_benchmarks,
                                 supported=supported_cl)
                chi_s[:, start:stop] = t.chi_model[pos_chi]
                lift_s[:, start:stop] = t.lift[pos_lift]
            if ref is not None:
                suite = np.empty((sel_ratio.size, stop - start), dtype)
                if t is not None:
                    suite[in_cl] = t.suite_sum[pos_ratio_cl]
                if rest_t is not None:
                    suite[~in_cl] = rest_t @ scatter_weights(design, weights)
                ref_sum = np.asarray(ref_t @ next(ref_iter))
                ratio_s[:, start:stop] = log_ratio_samples(suite, ref_sum, design.n_items,
                                                           ref.shape[0])
            del t
        chi_low[sel_chi], chi_high[sel_chi] = percentile_interval(chi_s, alpha)
        del chi_s
        lift_low[sel_lift], lift_high[sel_lift] = lift_interval(point.lift[sel_lift], lift_s, alpha,
                                                                lift_p_method)
        lift_p[sel_lift] = lift_p_values(point.lift[sel_lift], lift_s, n_bootstrap,
                                         lift_p_method)
        del lift_s
        if ref is not None:
            lo, hi = percentile_interval(ratio_s, alpha)
            ratio_low[sel_ratio] = np.exp(lo)
            ratio_high[sel_ratio] = np.exp(hi)
    lift_q = benjamini_hochberg(lift_p)

    cols: dict[str, Any] = {
        "chi_bench": point.chi_bench,
        "chi_model": point.chi_model,
        "chi_model_ci_low": chi_low,
        "chi_model_ci_high": chi_high,
        "n_supported_benchmarks": point.n_supported,
        "lift": point.lift,
        "lift_ci_low": lift_low,
        "lift_ci_high": lift_high,
        "lift_p": lift_p,
        "lift_q": lift_q,
        "missing": missing,
        "n_eff": effective_support(design.abar, design.scored),
        "support": support,
        "scored_support": point.scored_support.sum(axis=0),
        "suite_mean": point.suite_mean,
    }
    if ref is not None:
        observed = (point.suite_mean > 0) | (ref_mean > 0)
        ratio = np.full(n_cols, np.nan)
        ratio[observed & (ref_mean == 0)] = np.inf
        np.divide(point.suite_mean, ref_mean, out=ratio, where=ref_mean > 0)
        cols.update({
            "reference_mean": ref_mean,
            "coverage_ratio": ratio,
            "ratio_ci_low": ratio_low,
            "ratio_ci_high": ratio_high,
            "representation": representation_of(ratio, ratio_low, ratio_high, observed,
                                                ratio_k),
        })

    robustness: dict[str, Any] = {}
    if subsample_reruns > 0:
        summary, std_cm, std_cb = run_subsampling(
            design, items_cl, rows_cl, n_reruns=subsample_reruns, fraction=subsample_fraction,
            n_min=n_min, min_benchmarks=min_benchmarks, seed=seed, dtype=dtype,
            base_chi_model=point.chi_model, missing=missing)
        robustness["subsampling"] = summary
        cols["chi_model_subsample_std"] = std_cm
        cols["chi_bench_subsample_std"] = std_cb
    if adversarial:
        robustness["adversarial"] = run_adversarial(
            design, point, items_cl, rows_cl, n_concepts=100, fraction=0.01, n_min=n_min,
            min_benchmarks=min_benchmarks)

    overall = pd.DataFrame(cols, index=pd.RangeIndex(n_cols, name="concept"))
    names = list(design.names)
    nb = design.n_benchmarks
    index = pd.MultiIndex.from_product([names, np.arange(n_cols)],
                                       names=["benchmark", "concept"])
    per_benchmark = pd.DataFrame({
        "chi_bench": point.chi_bench_b.ravel(),
        "chi_model": point.chi_model_b.ravel(),
        "missing": (point.support == 0).ravel(),
        "support": point.support.ravel(),
        "scored_support": point.scored_support.ravel(),
        "supported": point.supported.ravel(),
    }, index=index)
    missing_pct = 100.0 * (point.support == 0).mean(axis=1)
    missing_by_benchmark = pd.Series(missing_pct, index=pd.Index(names, name="benchmark"),
                                     name="missing_pct")
    bench_frame = pd.DataFrame({
        "n_items": design.bench_sizes(),
        "n_scored": design.scored_sizes(),
        "mean_score": design.mean_scores(),
        "total_mass": point.den_all.sum(axis=1),
        "missing_pct": missing_pct,
    }, index=pd.Index(names, name="benchmark"))
    settings = {
        "n_min": int(n_min), "min_benchmarks": int(min_benchmarks), "ratio_k": float(ratio_k),
        "n_bootstrap": int(n_bootstrap), "alpha": float(alpha), "seed": int(seed),
        "epsilon": float(epsilon), "subsample_reruns": int(subsample_reruns),
        "subsample_fraction": float(subsample_fraction), "adversarial": bool(adversarial),
        "adversarial_n_concepts": 100, "adversarial_fraction": 0.01,
        "bootstrap_dtype": bootstrap_dtype, "lift_p_method": lift_p_method,
        "ci_method": CI_METHOD, "resampling": RESAMPLING,
        "n_items": int(design.n_items), "n_scored_items": int(design.scored.sum()),
        "n_concepts": int(n_cols), "n_benchmarks": int(nb),
        "n_reference_items": None if ref is None else int(ref.shape[0]),
    }
    return ConceptScores(per_benchmark=per_benchmark, overall=overall, benchmarks=bench_frame,
                         missing_by_benchmark=missing_by_benchmark,
                         suite_missing=int(missing.sum()), settings=settings,
                         robustness=robustness or None)
