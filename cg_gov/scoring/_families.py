"""score_families: family coverage, performance and lift through m_F(x) = sum_c w_F(c) abar_c(x)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cg_gov.errors import CgGovError
from cg_gov.scoring._concepts import log_ratio_samples, representation_of, require_columns
from cg_gov.scoring._engine import reduce_batch
from cg_gov.scoring._inputs import DenseItems, as_csr, build_design, check_options
from cg_gov.scoring._point import effective_support, point_estimates
from cg_gov.scoring._resample import batch_size, bootstrap_weights, reference_weights
from cg_gov.scoring._settings import ScoringSettings, resolve_options
from cg_gov.scoring._stats import benjamini_hochberg, lift_interval, lift_p_values, percentile_interval

__all__ = ["FAMILY_MASS_COLUMNS", "FamilyMass", "family_mass_rows", "score_families"]


@dataclass(frozen=True)
class FamilyMass:
    """A family's concept-mass coverage: columns of :func:`score_families`' frame with a reference sample
    (mean m_F over the suite and over the reference, and their ratio), as findings read them."""

    suite_mean: float
    reference_mean: float
    coverage: float


#: Columns of :func:`score_families`' frame that :class:`FamilyMass` reads (present with a reference).
FAMILY_MASS_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FamilyMass))


def family_mass_rows(frame: pd.DataFrame, *, reference: bool) -> dict[str, FamilyMass]:
    """Family id -> :class:`FamilyMass` of a :func:`score_families` frame; empty without a reference
    sample. A declared column that is missing raises :class:`CgGovError` naming it."""
    if not reference:
        return {}
    require_columns(frame, FAMILY_MASS_COLUMNS, "score_families")
    return {str(fam): FamilyMass(**{name: float(frame.at[fam, name]) for name in FAMILY_MASS_COLUMNS})
            for fam in frame.index}


def _weight_matrix(weights: Mapping[str, Mapping[int, float]], n_cols: int
                   ) -> tuple[list[str], sp.csr_matrix]:
    if not isinstance(weights, Mapping):
        raise CgGovError("expected a mapping family -> {concept: weight}", key="weights")
    names = sorted(weights)
    rows, cols, vals = [], [], []
    for j, name in enumerate(names):
        fam = weights[name]
        if not isinstance(name, str) or not isinstance(fam, Mapping):
            raise CgGovError("expected a mapping family name -> {concept: weight}",
                             key=f"weights.{name}")
        for concept, w in fam.items():
            if isinstance(concept, bool) or int(concept) != concept or not 0 <= concept < n_cols:
                raise CgGovError(f"concept {concept!r} is not an index in [0, {n_cols})",
                                 key=f"weights.{name}",
                                 hint="family weights must come from the same dictionary")
            w = float(w)
            if not np.isfinite(w) or w < 0:
                raise CgGovError(f"weight {w!r} of concept {concept} must be finite and >= 0",
                                 key=f"weights.{name}")
            rows.append(int(concept))
            cols.append(j)
            vals.append(w)
    matrix = sp.csr_matrix((np.asarray(vals, dtype=np.float64),
                            (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                           shape=(n_cols, len(names)))
    matrix.sum_duplicates()
    return names, matrix


def _top_items(mass: np.ndarray, n: int) -> list[int]:
    idx = np.flatnonzero(mass > 0)
    return [int(i) for i in idx[np.lexsort((idx, -mass[idx]))][:n]]


def score_families(abar, scores, benchmarks, weights: Mapping[str, Mapping[int, float]],
                   reference=None, *, settings: ScoringSettings | None = None, n_min: int | None = None,
                   ratio_k: float | None = None, n_bootstrap: int | None = None, alpha: float | None = None,
                   seed: int | None = None, epsilon: float | None = None, n_top_items: int = 10,
                   lift_p_method: str | None = None) -> pd.DataFrame:
    """Score concept families (one row per family, sorted by name).

    Options left out (None) come from ``settings``, as in :func:`score_concepts`.

    Each family F is scored through its per-item mass m_F(x) = sum_c w_F(c) abar_c(x):

    - ``coverage`` (primary) = mean m_F over the suite / mean m_F over the
      reference, with a percentile bootstrap interval (``coverage_ci_low/high``,
      suite items resampled within benchmarks, reference items resampled too) and
      ``representation`` by the concept rule. Since it equals
      sum_c w_F(c) mu_R(c) ratio(c) / sum_c w_F(c) mu_R(c), it *is* a weighted mean
      of ratio(c), with method.md's weights w_F(c) multiplied by each concept's
      reference rate: a concept almost absent from the reference, whose ratio is
      noisy or infinite, cannot dominate it, and one resampling gives its interval.
      ``coverage_weighted_mean`` is method.md's literal w_F-weighted mean of
      ratio(c), over the family's concepts with a finite ratio, without interval.
      These columns appear only when a reference is given.
    - ``performance`` = sum_x m_F(x) s(x) / sum_x m_F(x) over scored items.
    - ``lift`` = the lift formula with m_F in place of abar_c, with ``lift_p``
      (by ``lift_p_method``, as in :func:`score_concepts`) and ``lift_q``
      (Benjamini-Hochberg across families).
    - performance and lift (and their intervals) are NaN unless at least
      ``n_min`` scored items have m_F > epsilon.
    - ``n_eff`` (over scored items), ``support``, ``scored_support``,
      ``benchmark_share`` ({benchmark: share of the suite's m_F mass}) and
      ``top_items`` (indices of the items of largest m_F, at most ``n_top_items``).

    Resampling uses the same seed streams as :func:`score_concepts`, so a family
    and its concepts are judged on the same resamples.
    """
    o = resolve_options(settings, n_min=n_min, ratio_k=ratio_k, n_bootstrap=n_bootstrap, alpha=alpha,
                        seed=seed, epsilon=epsilon, lift_p_method=lift_p_method)
    n_min, ratio_k, n_bootstrap, alpha = o["n_min"], o["ratio_k"], o["n_bootstrap"], o["alpha"]
    seed, epsilon, lift_p_method = o["seed"], o["epsilon"], o["lift_p_method"]
    check_options(n_min=n_min, ratio_k=ratio_k, n_bootstrap=n_bootstrap, alpha=alpha,
                  epsilon=epsilon, lift_p_method=lift_p_method)
    design = build_design(abar, scores, benchmarks, epsilon=epsilon)
    n_cols = design.n_concepts
    names, wmat = _weight_matrix(weights, n_cols)
    n_fam = len(names)
    ref = None if reference is None else as_csr(reference, key="reference", n_cols=n_cols)
    mass = np.asarray((design.abar @ wmat).toarray()) if n_fam else np.zeros((design.n_items, 0))
    if n_fam == 0:
        return pd.DataFrame(index=pd.Index([], name="family"))
    items = DenseItems(design, mass)
    point = point_estimates(design, mass, n_min=n_min, min_benchmarks=1)

    ref_mean = None
    coverage = None
    if ref is not None:
        ref_mass = np.asarray((ref @ wmat).toarray())
        ref_mean = ref_mass.mean(axis=0)
        observed = (point.suite_mean > 0) | (ref_mean > 0)
        coverage = np.full(n_fam, np.nan)
        coverage[observed & (ref_mean == 0)] = np.inf
        np.divide(point.suite_mean, ref_mean, out=coverage, where=ref_mean > 0)

    perf_lo = np.full(n_fam, np.nan)
    perf_hi = np.full(n_fam, np.nan)
    lift_lo = np.full(n_fam, np.nan)
    lift_hi = np.full(n_fam, np.nan)
    lift_p = np.full(n_fam, np.nan)
    cov_lo = np.full(n_fam, np.nan)
    cov_hi = np.full(n_fam, np.nan)
    if n_bootstrap > 0:
        perf_s = np.empty((n_fam, n_bootstrap))
        lift_s = np.empty((n_fam, n_bootstrap))
        cov_s = np.empty((n_fam, n_bootstrap))
        batch = batch_size(max(n_fam, design.n_items), n_bootstrap)
        ref_iter = (reference_weights(ref.shape[0], seed, n_bootstrap, batch, np.float64)
                    if ref is not None else None)
        for start, w in bootstrap_weights(design, seed, n_bootstrap, batch, np.float64):
            stop = start + w[0].shape[1]
            t = reduce_batch(design, items, w, dtype=np.float64,
                             want=("lift", "performance", "suite_sum"))
            perf_s[:, start:stop] = t.performance
            lift_s[:, start:stop] = t.lift
            if ref is not None:
                ref_sum = ref_mass.T @ next(ref_iter)
                cov_s[:, start:stop] = log_ratio_samples(t.suite_sum, ref_sum, design.n_items,
                                                         ref.shape[0])
        enough = np.isfinite(point.lift)
        lo, hi = percentile_interval(perf_s, alpha)
        perf_lo[enough], perf_hi[enough] = lo[enough], hi[enough]
        lo, hi = lift_interval(point.lift, lift_s, alpha, lift_p_method)
        lift_lo[enough], lift_hi[enough] = lo[enough], hi[enough]
        lift_p[enough] = lift_p_values(point.lift[enough], lift_s[enough], n_bootstrap,
                                       lift_p_method)
        if ref is not None:
            lo, hi = percentile_interval(cov_s, alpha)
            seen = (point.suite_mean > 0) | (ref_mean > 0)
            cov_lo[seen], cov_hi[seen] = np.exp(lo[seen]), np.exp(hi[seen])

    share = np.full_like(point.den_all, np.nan)
    total = point.den_all.sum(axis=0)
    np.divide(point.den_all, total, out=share, where=total > 0)
    support = point.support.sum(axis=0)
    scored_support = point.scored_support.sum(axis=0)
    wcsc = wmat.tocsc()
    cols: dict[str, Any] = {
        "n_concepts": np.diff(wcsc.indptr),
        "total_weight": np.asarray(wmat.sum(axis=0)).ravel(),
    }
    if ref is not None:
        concept_suite = np.asarray(design.abar.sum(axis=0)).ravel() / design.n_items
        concept_ref = np.asarray(ref.sum(axis=0)).ravel() / ref.shape[0]
        weighted = np.full(n_fam, np.nan)
        for j in range(n_fam):  # a loop over families, vectorised over their concepts
            c = wcsc.indices[wcsc.indptr[j]:wcsc.indptr[j + 1]]
            w = wcsc.data[wcsc.indptr[j]:wcsc.indptr[j + 1]]
            ok = concept_ref[c] > 0
            if ok.any() and w[ok].sum() > 0:
                weighted[j] = float((w[ok] * concept_suite[c][ok] / concept_ref[c][ok]).sum()
                                    / w[ok].sum())
        cols.update({
            "suite_mean": point.suite_mean,
            "reference_mean": ref_mean,
            "coverage": coverage,
            "coverage_ci_low": cov_lo,
            "coverage_ci_high": cov_hi,
            "coverage_weighted_mean": weighted,
            "representation": representation_of(coverage, cov_lo, cov_hi,
                                                (point.suite_mean > 0) | (ref_mean > 0),
                                                ratio_k),
        })
    cols.update({
        "performance": point.performance,
        "performance_ci_low": perf_lo,
        "performance_ci_high": perf_hi,
        "lift": point.lift,
        "lift_ci_low": lift_lo,
        "lift_ci_high": lift_hi,
        "lift_p": lift_p,
        "lift_q": benjamini_hochberg(lift_p),
        "n_eff": effective_support(mass, design.scored),
        "support": support,
        "scored_support": scored_support,
        "benchmark_share": [{b: float(share[i, j]) for i, b in enumerate(design.names)}
                            for j in range(n_fam)],
        "top_items": [_top_items(mass[:, j], n_top_items) for j in range(n_fam)],
    })
    return pd.DataFrame(cols, index=pd.Index(names, name="family"))
