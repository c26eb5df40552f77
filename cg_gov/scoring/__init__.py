"""The scoring engine of the Competency Gaps method (``shared/method.md``).

Public functions: :func:`score_concepts` (every concept-level metric, with
bootstrap intervals, BH-corrected lift p-values and, on request, the paper's
robustness checks), :func:`score_families` (family coverage, performance and
lift), :func:`subsampling_robustness`, :func:`adversarial_removal` and
:func:`benjamini_hochberg`. Everything is numpy/scipy and no loop runs over
concepts: point estimates are per-benchmark sums from one sparse product;
resamples and reruns are batches of item weightings, and their weighted sums
are sparse-times-dense products (``_engine``). ``tests/reference_scoring.py`` is
a plain, loop-by-loop version of the same definitions that the tests hold this
engine to.

Definitions that method.md leaves open, fixed here:

- **Scored items.** An item is scored when its score is finite. chi_model, lift,
  support for n_min and n_eff use scored items only; chi_bench, missing,
  ``support`` and the coverage ratio use every item. A benchmark with no scored
  item contributes to coverage only.
- **Lift needs support.** lift(c) (and its interval and p-value) is NaN unless
  at least ``n_min`` scored items have abar_c > epsilon across the suite: with
  fewer, the bootstrap cannot see the uncertainty (one item gives a
  zero-width interval and the smallest p-value). The BH correction runs over
  the concepts with a lift p-value. A single-item benchmark adds nothing to a
  lift's numerator (its item is its mean) but adds its activation to the
  denominator, as the formula says.
- **Suite-level chi_model** is NaN when fewer than ``min_benchmarks`` benchmarks
  support the concept. chi_model(c, B) in the per-benchmark table is given
  wherever c has activation on B's scored items, supported or not.
- **Suite-level chi_bench** averages chi_bench(c, B) over the benchmarks with any
  activation at all (a benchmark whose items are all zero has no chi_bench).
- **Coverage ratio** pools the suite's items (not a mean over benchmarks); it is
  +inf when only the suite shows the concept and NaN ("unobserved") when
  neither side does. Under/over-representation needs the bootstrap interval
  of the log ratio to exclude 0, so nothing is flagged with n_bootstrap=0.
- **n_eff** is over scored items, 0 when the concept never fires on one.
- **epsilon** only decides "missing" and support counts; sums use abar as is.
- No division warning leaks: undefined ratios are NaN by construction.

Where the engine goes beyond or departs from method.md:

- **Bootstrap.** Items are resampled with replacement within each
  (benchmark, scored/unscored) stratum, so every resample keeps each
  benchmark's size and its scored count; the reference sample is resampled on
  its own. The set of benchmarks over which chi_model(c) is averaged is the
  point estimate's (the interval is for that estimand); a resample that leaves
  c no weight in one of them skips it. Intervals are percentile intervals taken
  as order statistics (lower at alpha/2, higher at 1 - alpha/2), which need no
  interpolation across infinite log ratios and are the same on the log and the
  ratio scale. In a resample where neither the suite nor the reference shows a
  concept its log ratio counts as 0 (no evidence either way), which can only
  widen the interval towards 1. The lift p-value is twice the fraction of
  resamples on the other side of 0, floored at 1 / (n_bootstrap + 1). That
  floor caps what Benjamini-Hochberg can find over tens of thousands of
  concepts (it needs m / (0.05 (n_bootstrap + 1)) concepts at the floor), so
  ``lift_p_method="normal"`` offers 2 Phi(-|lift| / sd_bootstrap) instead.
- **Precision.** Point estimates are float64; resample sums default to float32
  (``bootstrap_dtype``), which halves the bootstrap time and moves interval
  ends by about 1e-6 relative.
- **Family coverage** is the m_F-based ratio (mean m_F over the suite / over the
  reference), not method.md's w_F-weighted mean of ratio(c): the two coincide
  with weights w_F(c) times the concept's reference rate, and the m_F form has a
  clean interval and is not dominated by concepts that the reference barely
  shows. The literal weighted mean is reported beside it
  (``coverage_weighted_mean``).
- **Subsampling** drops round(0.2 n_B) items of each benchmark per rerun and
  recomputes everything, support included; stds are ddof=1 over the reruns in
  which the value exists, averaged over the concepts with a chi_model (or, for
  chi_bench, that fire somewhere in the suite).
- **Adversarial removal** ranks items by the total weight they carry in the
  chi_model of the top (bottom) 100 concepts and removes the floor(1%) of
  scored items with the largest; see :func:`adversarial_removal`.
"""
from cg_gov.scoring._concepts import (
    BENCHMARK_COLUMNS,
    CONCEPT_COLUMNS,
    REFERENCE_COLUMNS,
    BenchmarkScoreRow,
    ConceptScoreRow,
    ConceptScores,
    score_concepts,
)
from cg_gov.scoring._families import FAMILY_MASS_COLUMNS, FamilyMass, family_mass_rows, score_families
from cg_gov.scoring._family_items import FamilyItemScores, score_family_items, wilson_interval
from cg_gov.scoring._membership import LabelledSample, confirm_membership
from cg_gov.scoring._paired import paired_differences
from cg_gov.scoring._robustness import adversarial_removal, subsampling_robustness
from cg_gov.scoring._settings import ScoringSettings
from cg_gov.scoring._stats import benjamini_hochberg

__all__ = [
    "BENCHMARK_COLUMNS",
    "CONCEPT_COLUMNS",
    "FAMILY_MASS_COLUMNS",
    "REFERENCE_COLUMNS",
    "BenchmarkScoreRow",
    "ConceptScoreRow",
    "ConceptScores",
    "FamilyItemScores",
    "FamilyMass",
    "LabelledSample",
    "ScoringSettings",
    "adversarial_removal",
    "benjamini_hochberg",
    "confirm_membership",
    "family_mass_rows",
    "paired_differences",
    "score_concepts",
    "score_families",
    "score_family_items",
    "subsampling_robustness",
    "wilson_interval",
]
