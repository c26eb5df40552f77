"""The findings of an audit: the schema of ``findings.json``.

``findings.json`` is the machine-readable result of an audit and the only input
of the report and of ``cg-gov diff``: compute and render are separated by this
file. Everything here is a pydantic model that refuses unknown keys; its JSON
Schema (``Findings.model_json_schema()``, printed by ``cg-gov schema findings``)
is generated from these classes, and each field's docstring is its description.

Floats are rounded to 6 significant digits when written, and keys are sorted,
so the same audit always writes the same bytes. Files written by an older
cg_gov are upgraded on load (see :data:`SCHEMA_VERSION` and ``_UPGRADES``).

The severity of a family's finding and the gate follow :mod:`cg_gov.findings.verdict`.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError,
                      model_validator)

from cg_gov.errors import EXIT_GATE_FAILED, EXIT_OK, CgGovError
from cg_gov.findings.verdict import (COVERAGE_STATUSES, GATE_FAILING_SEVERITIES, IMPORTANCES, PERFORMANCE_STATUSES,
                                     SEVERITIES, CoverageStatus, GateEffect, Importance, PerformanceStatus,
                                     RequirementStatus, Severity, Verdict, VisibilityStatus, actions_for,
                                     family_gate_failed, family_reasons, gate_effect, reason_kind,
                                     requirement_met, requirement_statuses, severity, severity_rank,
                                     summary_gate, verdict_of)
from cg_gov.io import atomic_write_json, canonical_json, package_version, read_json_limited
from cg_gov.spec import RunSettings

__all__ = [
    "SCHEMA_VERSION", "IMPORTANCES", "SEVERITIES", "COVERAGE_STATUSES", "PERFORMANCE_STATUSES",
    "CAVEAT_IDS", "DEFAULT_CAVEATS", "GATE_FAILING_SEVERITIES",
    "Importance", "Severity", "CoverageStatus", "PerformanceStatus", "ConceptSource",
    "MatchedConcept", "Coverage", "Performance", "Requirement", "Visibility", "FamilyItems", "LabelCheck",
    "rule_fields", "BenchmarkShare", "Evidence",
    "Family", "ProfileRef", "DictionaryRef", "SuiteBenchmark", "AuditInfo", "SeverityCounts",
    "Summary", "ConceptRef", "ConceptRow", "MissingFromSuite", "CoverageDistribution",
    "SuiteFindings", "DriftFamily", "DriftConcept", "Drift", "Caveat", "Findings", "ModelResult", "Comparison",
    "Disagreement",
    "severity", "severity_rank", "family_gate_failed", "describe_family", "build_summary",
    "package_version", "round_floats", "findings_to_dict", "findings_to_json", "dump_findings",
    "load_findings",
    "findings_json_schema",
]

#: Version of the ``findings.json`` shape written by this cg_gov.
SCHEMA_VERSION = 4

#: Gate effects, worst first (the order families are summarised in).
GATE_EFFECT_ORDER: tuple[str, ...] = ("fail", "conditional", "none")

ConceptSource = Literal["detector", "label", "exemplar", "both", "pinned"]  # = cg_gov.matching.MatchSource


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

def _check_interval(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if low > high + 1e-9 * max(1.0, abs(high)):
        raise ValueError(f"interval low {low} is above high {high}")
    return value


#: A confidence interval ``[low, high]``.
Interval = Annotated[tuple[float, float], AfterValidator(_check_interval)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True,
                              allow_inf_nan=False, validate_assignment=True)


class MatchedConcept(_Model):
    """A dictionary concept that the matcher assigned to a family."""

    concept_id: int = Field(ge=0)
    """Index of the concept (SAE latent) in the dictionary."""
    label: str
    """The concept's text label, as stored in the dictionary (automatic, may be noisy)."""
    similarity: float
    """Embedding similarity between the family's text and the concept (cosine, averaged over the concept's
    label, top contexts and top tokens)."""
    margin: float | None = None
    """Opposites guard: similarity to the family's texts minus similarity to their negations (polar words
    swapped for antonyms); negative means the label reads closer to the family's opposite. None when the
    family has no polar word to negate."""
    source: ConceptSource
    """Why the concept matched: the family's detector (fitted on its exemplars against contrast text),
    its label, the family's exemplars, both, or pinned by the profile."""
    weight: NonNegative
    """Weight w_F(c) of the concept in the family's scores (the weights of a family sum to 1)."""
    top_tokens: list[str] = Field(default_factory=list)
    """Word pieces the concept fires on most, from the dictionary (empty when it records none)."""
    example: str | None = None
    """A text the concept fires on most, peak token in [brackets], from the dictionary's corpus (untrusted
    text, shortened); None when the dictionary records none. With ``top_tokens``, what a reviewer checks
    the label against."""
    coverage_ratio: NonNegative | None = None
    """The concept's coverage ratio, suite mean activation over reference mean; None when not measurable."""
    chi_model: Fraction | None = None
    """Saliency-weighted score of the model on the items where the concept fires; None when unsupported."""


class Coverage(_Model):
    """How much the suite exercises a family: a count of its items (see ``Family.items``)."""

    ratio: NonNegative | None
    """The suite's share of family items divided by the workload sample's share (a workload without a
    family item counts as half an item); None without a workload sample (the dictionary's corpus is no
    workload)."""
    ci: Interval | None
    """Interval of ``ratio`` from the suite share's Wilson interval; None with ``ratio``."""
    status: CoverageStatus
    """covered; under-represented (fewer family items than the minimum, or with a workload sample a
    ratio at most 1/k with the suite share's interval below the workload's share); missing (no suite
    item counted as the family: "not covered"); not-visible (the family has no detector)."""
    min_items: int | None = None
    """The minimum number of family items the status was judged against."""
    suite_mean: NonNegative | None = None
    """Mean family activation m_F(x) over the suite's items (the concept mass, for reference)."""
    reference_mean: NonNegative | None = None
    """Mean family activation m_F(x) over the reference sample."""
    mass_ratio: NonNegative | None = None
    """suite_mean / reference_mean: the paper-style soft coverage, shown for reference; it decides nothing."""
    reference: str
    """Name of the reference sample (the dictionary's corpus or a workload)."""


class LabelCheck(_Model):
    """What the owner's labelled sample says about the family's detected items."""

    n_labelled: int = Field(ge=0)
    """Items labelled."""
    n_yes: int = Field(ge=0)
    """Labelled items the owner confirmed as the family's."""
    by_stratum: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Per stratum (detected, near, rest): its size, labelled items and confirmed items."""
    precision: Fraction | None = None
    """Share of labelled detected items that are the family's."""
    precision_ci: Interval | None = None
    """Wilson interval of ``precision``."""
    elusion: Fraction | None = None
    """Estimated share of undetected items that are the family's."""
    elusion_ci: Interval | None = None
    """Stratified interval of ``elusion``."""
    auroc: Fraction | None = None
    """The detector's AUROC on the labelled items, weighted to stand for the suite."""
    auroc_ci: Interval | None = None
    """Interval of ``auroc`` (resampling within strata)."""
    sheets: list[str] = Field(default_factory=list)
    """The label files the labels came from (names)."""
    notes: list[str] = Field(default_factory=list)
    """What the sample could not tell."""
    next_to_label: str | None = None
    """What to label next: the stratum that adds most to the uncertainty of the count, and how many
    more of its items (``cg-gov review`` draws them, leaving out the items already labelled)."""


class FamilyItems(_Model):
    """The suite items that exercise the family: counted, and confirmed where the owner labelled them."""

    detected: int = Field(ge=0)
    """Suite items counted as the family's: detector score above the operating point, or declared."""
    by_benchmark: dict[str, int] = Field(default_factory=dict)
    """Family items per benchmark."""
    share: Fraction
    """detected / suite items."""
    share_ci: Interval | None = None
    """Wilson interval of ``share``."""
    n_suite: int = Field(ge=0)
    """Suite items."""
    workload_detected: int | None = None
    """Family items in the workload sample (same detector), when one is given."""
    workload_share: Fraction | None = None
    """Their share of the workload sample."""
    workload_n: int | None = None
    """Items in the workload sample."""
    estimated: NonNegative | None = None
    """Estimated number of family items in the suite from the owner's labelled sample."""
    estimated_ci: Interval | None = None
    """Stratified interval of ``estimated``."""
    confirmed: int | None = None
    """Labelled items the owner confirmed as the family's; None without labels."""
    tagged: int | None = None
    """Items whose eval log declares the family (members by declaration: the audit's ``family_tags``);
    None when no tag names the family."""
    tagged_recall: Fraction | None = None
    """Share of the declared items the detector counts on its own."""
    tagged_precision: Fraction | None = None
    """Share of the items the detector counts, within the benchmarks the tags speak about, that are declared."""
    threshold: float | None = None
    """The operating point: an item is detected when m_F(x) is above it."""
    cv_recall: Fraction | None = None
    """At the operating point, the share of held-out exemplars detected (cross-validated)."""
    cv_near_miss_rate: Fraction | None = None
    """At the operating point, the share of held-out near misses detected (cross-validated)."""
    labels: LabelCheck | None = None
    """The owner's labelled sample; None without one."""
    review_sheet: str | None = None
    """Where the family's review sheet is written (relative to the report folder)."""


class Performance(_Model):
    """How well the model scores on the items where the family is active."""

    score: Fraction | None
    """performance(F): family-activation-weighted mean item score; None without scored support."""
    score_ci: Interval | None = None
    """Bootstrap confidence interval of ``score``."""
    lift: float | None
    """lift(F): weighted mean of (item score - its benchmark's mean score); negative means worse than
    the other items of the same benchmarks."""
    ci: Interval | None
    """Bootstrap confidence interval of ``lift``, ``[low, high]``."""
    status: PerformanceStatus
    """ok, weak (the lift's interval lies below 0 and its Benjamini-Hochberg q-value is below alpha),
    insufficient-data (fewer than 10 scored family items) or no-evidence (no benchmark of the suite
    measures the behaviour the family expects). A missed ``require.performance`` is reported in
    ``requirement``, not here."""
    expects: list[str] = Field(default_factory=list)
    """The behaviours the family expects (from the profile); empty: every scored benchmark counts."""
    benchmarks: list[str] = Field(default_factory=list)
    """The benchmarks whose family items count for the score (they measure what the family expects)."""
    constant_benchmarks: dict[str, float] = Field(default_factory=dict)
    """Of those, the ones whose scores are all the same: in the score, out of the lift."""
    p: Fraction | None = None
    """Two-sided p-value of the lift (normal approximation from the bootstrap standard error)."""
    q: Fraction | None = None
    """Benjamini-Hochberg adjusted p-value across the profile's families."""
    n_eff: NonNegative | None = None
    """Effective number of scored items behind the score (the number of scored family items)."""
    n_scored: int = Field(default=0, ge=0)
    """Scored family items of the benchmarks in ``benchmarks``: the n behind the score."""
    scorer_flags: list[str] = Field(default_factory=list)
    """Benchmarks behind the score whose scorer agreed with human verdicts below the profile's floor."""


class Requirement(_Model):
    """The thresholds the deployment profile sets for a family, and whether they are met."""

    min_coverage_ratio: NonNegative | None = None
    """Minimum coverage ratio (suite share / workload share) the profile asks for; None when it sets none."""
    min_items: int | None = None
    """Minimum number of family items the profile asks for; None when it sets none."""
    min_performance: Fraction | None = None
    """Minimum performance score the profile asks for; None when it sets none."""
    coverage_status: RequirementStatus | None = None
    """met (observed ratio >= required), not-met, or cannot-tell (no workload sample, or the family is
    not visible); None when no coverage threshold is stated."""
    items_status: RequirementStatus | None = None
    """met (family items, estimated when labelled, >= required), not-met, or cannot-tell (not visible);
    None when no minimum is stated."""
    performance_status: RequirementStatus | None = None
    """met (observed score >= required), not-met, or cannot-tell (no score, or performance
    insufficient-data); None when no performance threshold is stated."""
    met: bool | None = None
    """False when a stated threshold is not-met, True when every stated threshold is met, None when
    none is stated or one cannot be told (and none is not-met)."""


class Visibility(_Model):
    """Whether the family's detected items can be trusted: the detector's AUROC on the owner's labelled
    sample of suite items, or, without labels, against the family's near misses."""

    auroc: Fraction | None
    """The AUROC that decides the status: on the owner's labels (``basis`` owner-labels) or against
    near misses, cross-validated (``basis`` near-misses); None when not measured."""
    ci: Interval | None
    """Bootstrap confidence interval of ``auroc``; None when not measured."""
    n_pos: int = Field(ge=0)
    """Positives behind the AUROC (labelled family items, or the family's exemplars)."""
    n_neg: int = Field(ge=0)
    """Negatives behind the AUROC (labelled other items, or near misses)."""
    status: VisibilityStatus
    """confirmed (labels given, the AUROC's interval low end reaches 0.75 and the precision's reaches 0.5),
    weak (labels given and one does not; or, without labels, a near-miss AUROC under 0.6), unconfirmed (no labels)
    or cannot-tell (no labels and fewer than 8 counter-exemplars, or no detector)."""
    basis: Literal["owner-labels", "near-misses", "none"] = "none"
    """What ``auroc`` was measured on."""
    n_counter: int | None = None
    """The family's counter-exemplars in the profile."""
    precision: Fraction | None = None
    """With the owner's labels: the share of labelled counted items that are the family's."""
    precision_ci: Interval | None = None
    """Wilson interval of ``precision``."""
    exemplar_auroc: Fraction | None = None
    """Cross-validated AUROC of held-out exemplars against near misses and reference windows (the
    profile's own texts: a necessary condition, not evidence about the suite's items)."""


class BenchmarkShare(_Model):
    """A benchmark that carries a family, and its share of the family's activation."""

    name: str
    """Benchmark name, as in the audit's suite."""
    share: Fraction
    """Fraction of the family's total activation mass over the suite that falls in this benchmark."""


class Evidence(_Model):
    """An example suite item on which the family is active."""

    benchmark: str
    """Benchmark the item belongs to."""
    item_id: str
    """Item identifier in the benchmark's eval log."""
    text: str
    """The item's text, already truncated for display; plain text, never markup."""
    response: str | None = None
    """The model's response as the eval log records it, truncated for display; None when the log has none."""
    score: Fraction | None = None
    """The item's score from the benchmark's scorer (1 = pass); None when the benchmark has no scores."""
    activation: NonNegative
    """Family activation m_F(x) on this item."""


class Family(_Model):
    """One concept family of the deployment profile and what the audit found for it."""

    id: str = Field(min_length=1)
    """Family id, as in the deployment profile."""
    description: str = ""
    """The family's description, from the profile."""
    importance: Importance
    """Importance the profile gives the family."""
    severity: Severity
    """Severity of the finding: the worst of the coverage, performance and visibility tables of
    :mod:`cg_gov.findings.verdict`."""
    gate_effect: GateEffect
    """fail, conditional or none, by the rule of :mod:`cg_gov.findings.verdict`."""
    gate_failed: bool = False
    """True exactly when ``gate_effect`` is fail."""
    verdict: Verdict
    """The family's verdict cell: fail, conditional or pass (gate effect none)."""
    reasons: list[str] = Field(min_length=1)
    """Why, in words, in the rule's order (requirement not met, significantly weak, not covered,
    not visible to the dictionary, no evidence, detector not confirmed, cannot tell, under-represented,
    insufficient data; "met" or "no finding" when nothing else applies)."""
    actions: list[str] = Field(default_factory=list)
    """What would change the verdict, one action per kind of reason."""
    visibility: Visibility
    """How well the dictionary sees the family: the family detector's cross-validated AUROC."""
    matched_concepts: list[MatchedConcept] = Field(default_factory=list)
    """Concepts the matcher assigned to the family, highest weight first."""
    coverage: Coverage
    """Coverage of the family by the suite."""
    items: FamilyItems | None = None
    """The suite items that exercise the family: counted, per benchmark, confirmed on the owner's sample."""
    performance: Performance
    """Model performance on the family."""
    requirement: Requirement = Field(default_factory=Requirement)
    """The profile's thresholds for this family and whether they are met."""
    benchmarks: list[BenchmarkShare] = Field(default_factory=list)
    """Benchmarks that carry the family, largest share first."""
    evidence: list[Evidence] = Field(default_factory=list)
    """Example items where the family is most active."""
    caveats: list[str] = Field(default_factory=list)
    """Ids of the caveats (see ``Findings.caveats``) that qualify this family's finding."""


class ProfileRef(_Model):
    """The deployment profile an audit used."""

    id: str
    """Profile id."""
    version: str
    """Profile version, as written in the profile."""
    name: str | None = None
    """Human-readable workflow name."""
    owner: str | None = None
    """Owner of the profile (team or person)."""
    description: str | None = None
    """The workflow the profile describes: the scope and intended use under review."""


class DictionaryRef(_Model):
    """The concept dictionary an audit used."""

    identity: str
    """Content identity of the dictionary (a hash over model, hook, SAE weights and labels)."""
    name: str
    """Human-readable dictionary name."""
    n_concepts: int | None = Field(default=None, ge=0)
    """Number of concepts (SAE latents) in the dictionary."""


class ScorerCheck(_Model):
    """A benchmark scorer checked against human verdicts on a sample of items."""

    agreement: Fraction | None
    """Share of sampled items where the scorer's verdict equals the human one."""
    agreement_ci: Interval | None = None
    """Wilson interval of ``agreement``."""
    kappa: float | None = None
    """Cohen's kappa between scorer and human verdicts."""
    kappa_ci: Interval | None = None
    """Bootstrap interval of ``kappa``."""
    n: int = Field(ge=0)
    """Items with both verdicts."""
    file: str | None = None
    """The verdicts file (name)."""


class SuiteBenchmark(_Model):
    """One benchmark of the audited suite."""

    name: str
    """Benchmark name."""
    n_items: int = Field(ge=0)
    """Number of items read from its eval log."""
    n_scored: int = Field(ge=0)
    """Number of items with a score."""
    mean_score: Fraction | None = None
    """Mean item score; None when the benchmark has no scores."""
    missing_pct: Annotated[float, Field(ge=0.0, le=100.0)]
    """Percentage of the dictionary's concepts that no item of this benchmark activates."""
    scorer: str | None = None
    """The scorer named in the eval log (e.g. ``match``, ``refusal``); None when the log names none."""
    scorer_detail: str | None = None
    """How the scorer decides, in words, where the logs say (e.g. a keyword refusal detector over replies
    of at most 48 tokens; choice by calibrated log-likelihood)."""
    what_1_means: str | None = None
    """What a score of 1 means, from the audit spec's description of the benchmark."""
    constant_score: Fraction | None = None
    """Set when every scored item has this same score: it still counts in the score of the families
    whose behaviour it measures (a constant is evidence), and is left out of their lift."""
    measures: str | None = None
    """The behaviour its score measures (from the audit spec); None: coverage only, and the score of
    families that state no expected behaviour."""
    scorer_kind: str | None = None
    """How its score is decided (exact-match, keyword, classifier, ...), from the audit spec."""
    scorer_check: ScorerCheck | None = None
    """The scorer's agreement with human verdicts on a sample, when the audit gives one."""


class AuditInfo(_Model):
    """What was audited."""

    id: str
    """Audit id, from the audit spec."""
    model: str
    """The model under review."""
    model_sha256: str | None = None
    """sha256 of the model under review, where the eval logs or the spec give one."""
    prompting: str | None = None
    """How the model was asked the items (prompt format, chat template), where the eval logs' summary says."""
    profile: ProfileRef
    """The deployment profile."""
    dictionary: DictionaryRef
    """The concept dictionary."""
    suite: list[SuiteBenchmark] = Field(default_factory=list)
    """The benchmarks of the suite, in the spec's order."""


class SeverityCounts(_Model):
    """Number of families at each severity."""

    critical: int = Field(default=0, ge=0)
    """Families at severity critical."""
    high: int = Field(default=0, ge=0)
    """Families at severity high."""
    medium: int = Field(default=0, ge=0)
    """Families at severity medium."""
    low: int = Field(default=0, ge=0)
    """Families at severity low."""
    none: int = Field(default=0, ge=0)
    """Families with no finding."""


class Summary(_Model):
    """The audit's verdict in a few lines."""

    gate: Literal["pass", "conditional", "fail"]
    """Deployment gate: fail when any family fails it or a suite-level check fails, else conditional
    when any family is conditional, else pass."""
    gate_failures: list[str] = Field(default_factory=list)
    """Why the gate failed, one plain sentence per failing family or suite-level check."""
    conditions: list[str] = Field(default_factory=list)
    """The conditions of a conditional finding, one plain sentence per conditional family."""
    exploratory: list[str] = Field(default_factory=list)
    """Sections that are exploratory because the audit relaxed the method's defaults, one sentence each."""
    counts: SeverityCounts = Field(default_factory=SeverityCounts)
    """Number of families per severity."""
    headline: list[str] = Field(default_factory=list)
    """The most important findings as plain sentences, most severe first."""


class ConceptRef(_Model):
    """A concept by id and label."""

    concept_id: int = Field(ge=0)
    """Concept index in the dictionary."""
    label: str
    """Concept label."""


class ConceptRow(_Model):
    """A concept in a suite-level ranking."""

    concept_id: int = Field(ge=0)
    """Concept index in the dictionary."""
    label: str
    """Concept label."""
    chi_model: Fraction | None = None
    """Cross-benchmark saliency-weighted model score chi_model(c)."""
    lift: float | None = None
    """Difficulty-controlled lift(c)."""
    lift_ci: Interval | None = None
    """Confidence interval of ``lift`` (same method as ``lift_p``)."""
    lift_p: Fraction | None = None
    """Two-sided p-value of the lift."""
    lift_q: Fraction | None = None
    """Benjamini-Hochberg adjusted p-value across the dictionary's concepts."""
    n_eff: NonNegative | None = None
    """Effective support (sum abar)^2 / sum abar^2."""
    n_benchmarks: int = Field(default=0, ge=0)
    """Number of benchmarks where the concept is supported."""
    chi_bench: NonNegative | None = None
    """Cross-benchmark coverage chi_bench(c)."""
    coverage_ratio: NonNegative | None = None
    """Coverage ratio of the concept, suite over reference."""
    coverage_ratio_ci: Interval | None = None
    """Bootstrap confidence interval of ``coverage_ratio``."""


class MissingFromSuite(_Model):
    """Concepts that no item of the whole suite activates."""

    count: int = Field(ge=0)
    """Number of such concepts."""
    pct: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    """Their percentage of the dictionary."""
    examples: list[ConceptRef] = Field(default_factory=list)
    """A few of them, for the reader to judge."""


class CoverageDistribution(_Model):
    """The distribution of chi_bench over all concepts, sampled for a chart."""

    n_concepts: int = Field(ge=0)
    """Number of concepts in the dictionary."""
    n_zero: int = Field(ge=0)
    """Concepts with chi_bench exactly 0 (never active in the suite)."""
    ranks: list[int] = Field(default_factory=list)
    """Ranks (0 = most covered) at which chi_bench is sampled, increasing."""
    chi_bench: list[NonNegative] = Field(default_factory=list)
    """chi_bench at those ranks (descending order of coverage)."""
    top_1pct_share: Fraction | None = None
    """Share of the total chi_bench mass held by the top 1% of concepts."""
    top_10pct_share: Fraction | None = None
    """Share of the total chi_bench mass held by the top 10% of concepts."""

    @model_validator(mode="after")
    def _same_length(self) -> "CoverageDistribution":
        if len(self.ranks) != len(self.chi_bench):
            raise ValueError("ranks and chi_bench must have the same length")
        return self


class SuiteFindings(_Model):
    """What the audit found about the suite as a whole, independent of the profile."""

    over_represented: list[ConceptRow] = Field(default_factory=list)
    """Concepts the suite exercises far more than the reference does (ratio >= k, CI excluding 1)."""
    under_represented: list[ConceptRow] = Field(default_factory=list)
    """Concepts the suite exercises far less than the reference does (ratio <= 1/k, CI excluding 1)."""
    missing_from_suite: MissingFromSuite = Field(default_factory=lambda: MissingFromSuite(count=0))
    """Concepts that no suite item activates."""
    weakest: list[ConceptRow] = Field(default_factory=list)
    """Concepts whose lift lies significantly below 0 (interval below 0, q below alpha), supported in
    at least ``settings.min_benchmarks`` benchmarks, lowest lift first."""
    strongest: list[ConceptRow] = Field(default_factory=list)
    """Concepts whose lift lies significantly above 0, supported as for ``weakest``, highest lift first."""
    robustness: dict[str, float | bool] = Field(default_factory=dict)
    """Robustness checks: e.g. ``subsample_std_chi_model_mean``, ``subsample_std_chi_bench_mean``,
    ``adversarial_top_median_change``, ``adversarial_bottom_median_change``, ``direction_ok``."""
    coverage_distribution: CoverageDistribution | None = None
    """Sampled distribution of chi_bench over all concepts (the suite's skew)."""


class DriftFamily(_Model):
    """A family's coverage by the suite, measured against the deployment's workload."""

    family_id: str
    """Family id."""
    traffic_share: Fraction
    """Share of the workload's family activation that this family takes."""
    coverage_ratio: NonNegative | None
    """Coverage ratio suite / workload for the family."""
    ci: Interval | None = None
    """Bootstrap confidence interval of ``coverage_ratio``."""
    status: CoverageStatus
    """Coverage status against the workload."""


class DriftConcept(_Model):
    """A concept the workload uses that the suite barely tests."""

    concept_id: int = Field(ge=0)
    """Concept index."""
    label: str
    """Concept label."""
    traffic_share: Fraction
    """Share of the workload's activation mass on this concept."""
    coverage_ratio: NonNegative | None = None
    """Coverage ratio suite / workload."""


class Drift(_Model):
    """Workload drift: the suite compared with a sample of the deployment's real traffic."""

    reference: str
    """Name of the workload sample."""
    n_items: int | None = Field(default=None, ge=0)
    """Number of workload items."""
    families: list[DriftFamily] = Field(default_factory=list)
    """Families ranked by workload traffic, largest first."""
    untested_concepts: list[DriftConcept] = Field(default_factory=list)
    """Concepts the workload uses that the suite barely tests, by traffic share."""


class Caveat(_Model):
    """A limit of the method that qualifies findings."""

    id: str
    """Caveat id, referenced by ``Family.caveats``."""
    title: str
    """Short title."""
    text: str
    """What the caveat means for the reader, in full."""


#: The five caveats every report states.
DEFAULT_CAVEATS: tuple[Caveat, ...] = (
    Caveat(id="activation-not-capability", title="Activation is not capability",
           text="A concept firing on an item tells where to look, not whether the model handled it: "
                "the benchmark's own score says that. High coverage means the suite exercises a "
                "concept, not that the model is good at it."),
    Caveat(id="hard-question-confound", title="Hard questions confound performance",
           text="A concept that fires mostly on hard items gets a low score even when the model "
                "handles the concept itself well. The lift compares each item with the other items "
                "of its own benchmark: read the lift, not the raw score, before calling a model gap."),
    Caveat(id="dictionary-coverage", title="The dictionary limits what can be seen",
           text="Only concepts the sparse autoencoder learned can be measured. A need that no "
                "dictionary concept expresses is reported as not visible, never as missing, and "
                "its absence from the findings is no evidence that the suite or the model is fine."),
    Caveat(id="noisy-labels", title="Concept labels are automatic and noisy",
           text="Concept labels are generated automatically and can be wrong or too broad, and "
                "families are matched to concepts through them. Check the matched concepts and the "
                "example items before acting; agreement between two dictionaries is thematic, not "
                "concept by concept."),
    Caveat(id="small-support", title="Small support makes scores unstable",
           text="A score that rests on few items (low effective support n_eff) can move with a "
                "handful of items. Read the confidence intervals: a wide one is a reason to add test "
                "items, not a verdict on the model."),
)
CAVEAT_IDS: tuple[str, ...] = tuple(c.id for c in DEFAULT_CAVEATS)


class ModelResult(_Model):
    """One candidate of a vendor audit: its own verdict, family by family, on the shared suite."""

    name: str = Field(min_length=1)
    """The model's name, from the audit spec's ``models[].name``."""
    sha256: str | None = None
    """sha256 of the model's weights, from the spec or the logs' ``summary.json``."""
    revision: str | None = None
    """The model's version or revision, from the spec."""
    prompting: str | None = None
    """How the model was asked the items, where its eval logs' summary says."""
    summary: Summary
    """The model's gate, conditions and headline, by the same rule as a single-model audit."""
    families: list[Family] = Field(default_factory=list)
    """Each family's finding for this model (coverage is the suite's, shared by every model;
    performance, requirement, severity and verdict are this model's)."""


class Disagreement(_Model):
    """An item on which two candidates' scores differ, with each one's response."""

    benchmark: str
    """Benchmark the item belongs to."""
    item_id: str
    """Item identifier in the benchmark's eval logs (the same for every model)."""
    text: str
    """The item's text (prompt), truncated for display; plain text."""
    activation: NonNegative
    """Family activation m_F(x) on this item."""
    responses: dict[str, str | None]
    """Each model's response, truncated for display (None where the log has none)."""
    scores: dict[str, Fraction]
    """Each model's score on the item."""


class Comparison(_Model):
    """The paired difference in performance between two models on one family."""

    family: str = Field(min_length=1)
    """Family id."""
    model_a: str
    """First model (in the spec's order)."""
    model_b: str
    """Second model."""
    performance_a: Fraction | None
    """Model a's performance on the items scored for both models (None below n_min such items)."""
    performance_b: Fraction | None
    """Model b's performance on the same items."""
    difference: float | None
    """performance_a - performance_b; None below n_min common scored items carrying the family."""
    ci: Interval | None
    """Paired-bootstrap interval of ``difference`` (both models scored on the same resampled items)."""
    p: Fraction | None
    """Two-sided p-value of the difference, by the audit's ``lift_p_method``."""
    q: Fraction | None
    """Benjamini-Hochberg adjusted p-value across every family and pair of models."""
    significant: bool
    """q below alpha and the interval excludes 0."""
    better: str | None
    """The model with the higher performance when the difference is significant, else None."""
    n_items: int = Field(ge=0)
    """Items scored for both models on which the family is active."""
    evidence: list[Disagreement] = Field(default_factory=list)
    """The items where the two models disagree most on this family: largest |score_a - score_b| x m_F(x)."""


class Findings(_Model):
    """The findings of one audit (``findings.json``)."""

    schema_version: int = SCHEMA_VERSION
    """Version of this file's shape; older files are upgraded on load."""
    cg_gov_version: str = Field(default_factory=package_version)
    """Version of cg_gov that wrote the file."""
    audit: AuditInfo
    """What was audited: model, profile, dictionary, suite."""
    summary: Summary
    """The verdict: gate, counts, headline sentences."""
    families: list[Family] = Field(default_factory=list)
    """One entry per family of the profile, most severe first."""
    suite_findings: SuiteFindings = Field(default_factory=SuiteFindings)
    """Suite-level findings, independent of the profile."""
    drift: Drift | None = None
    """Workload drift, when the audit has a workload sample."""
    caveats: list[Caveat] = Field(default_factory=lambda: [c.model_copy() for c in DEFAULT_CAVEATS])
    """The method's caveats, in full; families reference them by id."""
    settings: RunSettings = Field(default_factory=RunSettings)
    """Method settings the audit ran with (k, n_min, bootstrap resamples, seed, ...), typed; written flat,
    as :data:`~cg_gov.spec.RECORDED_SETTINGS` names them."""
    notes: list[str] = Field(default_factory=list)
    """Notes on how this file came to be (e.g. upgraded from an older schema, and what that left unmeasured)."""
    models: list[ModelResult] | None = None
    """A vendor audit only (absent otherwise): every candidate's verdict, in the spec's order. The
    top-level ``audit``, ``summary`` and ``families`` are then those of the first candidate."""
    comparisons: list[Comparison] | None = None
    """A vendor audit only (absent otherwise): the paired difference of every two candidates on
    every family."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        version = data.get("schema_version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            return data  # let field validation report it
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {version} was written by a newer cg_gov (this one reads up to "
                f"{SCHEMA_VERSION}); upgrade cg_gov to read it")
        data = dict(data)
        while version < SCHEMA_VERSION:
            data = _UPGRADES[version](data)
            version += 1
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "Findings":
        ids = [f.id for f in self.families]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate family ids: {duplicates}")
        caveat_ids = {c.id for c in self.caveats}
        for family in self.families:
            unknown = sorted(set(family.caveats) - caveat_ids)
            if unknown:
                raise ValueError(f"family {family.id!r} cites unknown caveats {unknown}; "
                                 f"known: {sorted(caveat_ids)}")
        if (self.summary.gate == "fail") != bool(self.summary.gate_failures):
            raise ValueError("summary.gate is 'fail' exactly when summary.gate_failures is not empty")
        for family in self.families:
            _check_rule(family)
        _check_summary(self.summary, self.families)
        return self

    def gate_failed(self) -> bool:
        """Whether the audit fails its gate. A vendor audit (``models``) fails only when every candidate
        fails: one candidate that passes, or passes with conditions, can be chosen."""
        if self.models:
            return all(m.summary.gate == "fail" for m in self.models)
        return self.summary.gate == "fail"

    def gate_exit_code(self) -> int:
        """The exit code of every command that reports these findings (``cg-gov audit``, ``cg-gov
        report``): 1 when :meth:`gate_failed`, else 0 (a pass, and a conditional pass: its conditions
        are in ``summary.conditions``)."""
        return EXIT_GATE_FAILED if self.gate_failed() else EXIT_OK


def _upgrade_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """Files without ``schema_version`` (written before it existed): fill what version 1 requires."""
    data["schema_version"] = 1
    data.setdefault("caveats", [c.model_dump() for c in DEFAULT_CAVEATS])
    data.setdefault("settings", {})
    families = []
    for family in data.get("families") or []:
        if isinstance(family, dict):
            family = dict(family)
            family.setdefault("caveats", [])
            if "gate_failed" not in family and isinstance(family.get("severity"), str):
                met = (family.get("requirement") or {}).get("met")
                family["gate_failed"] = family["severity"] == "critical" or met is False  # rule v1
        families.append(family)
    if "families" in data:
        data["families"] = families
    return data


def _upgrade_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added ``top_tokens`` and ``example`` to matched concepts; both have defaults."""
    data["schema_version"] = 2
    return data


UNMEASURED_VISIBILITY = {"auroc": None, "ci": None, "n_pos": 0, "n_neg": 0, "status": "cannot-tell"}


def _rederive_summary(data: dict[str, Any], families: list[Any], keep_headline: bool) -> bool:
    """Put the upgraded ``families`` in ``data`` and re-derive its summary from them (the suite-level
    gate failures kept; the old headline too when ``keep_headline``). False when a family does not
    validate: the caller returns the data as it is, for field validation to report."""
    if "families" in data:
        data["families"] = families
    summary = data.get("summary")
    if isinstance(summary, dict):
        try:
            fams = [Family.model_validate(f) for f in families]
        except ValidationError:
            return False
        suite_level = [r for r in summary.get("gate_failures") or [] if not str(r).startswith("Family '")]
        new = build_summary(fams, extra_failures=suite_level,
                            exploratory=_exploratory_from_settings(data.get("settings"))).model_dump()
        if keep_headline:
            new["headline"] = summary.get("headline") or new["headline"]
        data["summary"] = new
    return True


def _upgrade_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 (rule v3): families gain ``visibility`` (set to not measured, status unverified, since
    a version-2 audit did not measure it), requirement statuses, gate effect, verdict, reasons and
    actions, all re-derived by the rule; the summary is re-derived (a conditional gate now exists).
    The note in ``notes`` says so."""
    data["schema_version"] = 3
    families = []
    for family in data.get("families") or []:
        if isinstance(family, dict):
            family = dict(family)
            family.setdefault("visibility", dict(UNMEASURED_VISIBILITY))
            try:
                family.update(rule_fields(family))
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # malformed: let field validation report it
        families.append(family)
    if not _rederive_summary(data, families, keep_headline=True):
        return data
    notes = list(data.get("notes") or [])
    notes.append("Upgraded from findings schema 2: family visibility was not measured by that audit, so "
                 "every family is 'unverified' (no AUROC) and the verdicts were re-derived by rule v3; "
                 "re-run the audit to measure visibility.")
    data["notes"] = notes
    return data


def _exploratory_from_settings(settings: Any) -> list[str]:
    """``summary.exploratory`` of an older file, from the method settings it recorded (none unless it
    recorded n_min, min_benchmarks and n_bootstrap, read as :class:`~cg_gov.spec.RunSettings` reads them)."""
    from cg_gov.findings.verdict import exploratory_sections

    try:
        recorded = RunSettings.model_validate(settings)
    except ValidationError:
        return []
    if not {"n_min", "min_benchmarks", "n_bootstrap"} <= set(recorded.recorded()):
        return []
    return exploratory_sections(recorded.scoring)


def _upgrade_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    """Version 4 (rule v4): a version-3 audit judged coverage by concept mass and never counted a
    family's items nor had them confirmed, so every family's visibility becomes unconfirmed (cannot-tell
    where it was unverified or had no concepts), its cross-validated AUROC kept as ``exemplar_auroc``;
    the coverage ratio against the dictionary's corpus moves to ``mass_ratio``; the verdicts are
    re-derived by rule v4 and the summary with them. The note in ``notes`` says so."""
    data["schema_version"] = 4
    families = []
    for family in data.get("families") or []:
        if isinstance(family, dict):
            family = dict(family)
            vis = dict(family.get("visibility") or UNMEASURED_VISIBILITY)
            old = vis.get("status")
            vis["exemplar_auroc"] = vis.get("auroc")
            vis["status"] = "unconfirmed" if old in ("verified", "weak") else "cannot-tell"
            vis["basis"] = "none"
            vis["auroc"], vis["ci"] = None, None  # measured on exemplars, not near misses or labels
            family["visibility"] = vis
            cov = family.get("coverage")
            if isinstance(cov, dict) and "mass_ratio" not in cov:
                cov = dict(cov)
                cov["mass_ratio"] = cov.get("ratio")
                if cov.get("reference", "").startswith("dictionary"):
                    cov["ratio"], cov["ci"] = None, None
                family["coverage"] = cov
            try:
                family.update(rule_fields(family))
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # malformed: let field validation report it
        families.append(family)
    if not _rederive_summary(data, families, keep_headline=False):
        return data
    notes = list(data.get("notes") or [])
    notes.append("Upgraded from findings schema 3: that audit judged coverage by concept mass and did not count "
                 "or confirm each family's items, so every family is unconfirmed and the verdicts were re-derived "
                 "by rule v4; re-run the audit to count and confirm them.")
    data["notes"] = notes
    return data


#: ``_UPGRADES[v]`` turns a version-v dict into a version v+1 dict.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: _upgrade_0_to_1, 1: _upgrade_1_to_2, 2: _upgrade_2_to_3, 3: _upgrade_3_to_4}


# ---------------------------------------------------------------------------
# The rule applied to a family (one function for derive, upgrade and validation)
# ---------------------------------------------------------------------------

def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key)


def rule_fields(family: Any) -> dict[str, Any]:
    """Every field of a family the rule derives, from the family's inputs (a ``Family`` or its dict):
    requirement statuses and ``met``, ``severity``, ``gate_effect``, ``gate_failed``, ``verdict``,
    ``reasons`` and ``actions``. Returns ``{"requirement": {...}, "severity": ..., ...}``."""
    importance = _get(family, "importance")
    cov, perf, vis = _get(family, "coverage"), _get(family, "performance"), _get(family, "visibility")
    items = _get(family, "items")
    req = _get(family, "requirement") or {}
    cov_status, perf_status, vis_status = _get(cov, "status"), _get(perf, "status"), _get(vis, "status")
    min_cov, min_perf = _get(req, "min_coverage_ratio"), _get(req, "min_performance")
    min_items = _get(req, "min_items")
    count = item_count(items)
    cov_req, perf_req, items_req = requirement_statuses(min_cov, min_perf, _get(cov, "ratio"), _get(perf, "score"),
                                                        cov_status, perf_status, min_items, count)
    statuses = (cov_req, perf_req, items_req)
    sev = severity(importance, cov_status, perf_status, vis_status)
    effect = gate_effect(importance, sev, statuses)
    estimated = items is not None and _get(items, "estimated") is not None
    reasons = family_reasons(
        coverage=cov_status, performance=perf_status, visibility=vis_status,
        requirement={"coverage": (min_cov, cov_req) if min_cov is not None else None,
                     "items": (min_items, items_req) if min_items is not None else None,
                     "performance": (min_perf, perf_req) if min_perf is not None else None},
        observed={"coverage": (_get(cov, "ratio"), _get(cov, "ci")),
                  "items": (None if count is None else round(count, 1),
                            _get(items, "estimated_ci") if estimated else None),
                  "performance": (_get(perf, "score"), _get(perf, "score_ci"))},
        auroc=_get(vis, "auroc"), auroc_ci=_get(vis, "ci"), basis=_get(vis, "basis"),
        precision=_get(vis, "precision"), precision_ci=_get(vis, "precision_ci"),
        n_counter=_get(vis, "n_counter"), n_suite=_get(items, "n_suite") if items is not None else None,
        expects=_get(perf, "expects") or [], scorer_flags=_get(perf, "scorer_flags") or [])
    requirement = dict(req) if isinstance(req, dict) else req.model_dump()
    requirement.update({"coverage_status": cov_req, "performance_status": perf_req, "items_status": items_req,
                        "met": requirement_met(statuses)})
    return {"requirement": requirement, "severity": sev, "gate_effect": effect,
            "gate_failed": effect == "fail", "verdict": verdict_of(effect), "reasons": reasons,
            "actions": actions_for(reasons, {
                "family": _get(family, "id"), "count": count,
                "min_items": min_items, "n_scored": _get(perf, "n_scored"), "expects": _get(perf, "expects"),
                "score": _get(perf, "score"), "min_performance": min_perf,
                "review_sheet": _get(items, "review_sheet") if items is not None else None,
                "labelled": _get(vis, "basis") == "owner-labels"})}


def item_count(items: Any) -> float | None:
    """The count a family's coverage is judged on: the estimate from the owner's labels when there is
    one, else the detected count; None without items."""
    if items is None:
        return None
    estimated = _get(items, "estimated")
    return float(estimated) if estimated is not None else float(_get(items, "detected"))


def _check_rule(family: "Family") -> None:
    """Raise when a family's stored verdict contradicts the rule."""
    expected = rule_fields(family)
    req = family.requirement
    found = {"requirement.coverage_status": req.coverage_status,
             "requirement.performance_status": req.performance_status,
             "requirement.items_status": req.items_status, "requirement.met": req.met,
             "severity": family.severity, "gate_effect": family.gate_effect, "gate_failed": family.gate_failed,
             "verdict": family.verdict, "reasons": [reason_kind(r) for r in family.reasons]}
    want = {"requirement.coverage_status": expected["requirement"]["coverage_status"],
            "requirement.performance_status": expected["requirement"]["performance_status"],
            "requirement.items_status": expected["requirement"]["items_status"],
            "requirement.met": expected["requirement"]["met"],
            "severity": expected["severity"], "gate_effect": expected["gate_effect"],
            "gate_failed": expected["gate_failed"], "verdict": expected["verdict"],
            "reasons": [reason_kind(r) for r in expected["reasons"]]}
    for key, value in found.items():
        if value != want[key]:
            raise ValueError(f"family {family.id!r}: {key} is {value!r} where the rule (v4, "
                             f"cg_gov.findings.verdict) gives {want[key]!r}")
    if family.coverage.status == "not-visible" and family.visibility.status != "cannot-tell":
        raise ValueError(f"family {family.id!r} is not visible (no detector), so its visibility is cannot-tell")


def _family_named(sentences: list[str], family_id: str) -> bool:
    return any(s.startswith(f"Family '{family_id}' ") for s in sentences)


def _check_summary(summary: "Summary", families: list["Family"]) -> None:
    """Raise when the summary's gate, failures, conditions or counts contradict the families."""
    suite_level = [r for r in summary.gate_failures if not r.startswith("Family '")]
    want = summary_gate([f.gate_effect for f in families], len(suite_level))
    if summary.gate != want:
        raise ValueError(f"summary.gate is {summary.gate!r} where the families' gate effects give {want!r}")
    for f in families:
        if _family_named(summary.gate_failures, f.id) != (f.gate_effect == "fail"):
            raise ValueError(f"summary.gate_failures must name family {f.id!r} exactly when it fails")
        if _family_named(summary.conditions, f.id) != (f.gate_effect == "conditional"):
            raise ValueError(f"summary.conditions must name family {f.id!r} exactly when it is conditional")
    passes = bool(summary.headline) and summary.headline[0].startswith("Every family of the profile passes")
    if passes and summary.gate != "pass":
        raise ValueError(f"summary.headline says every family passes while the gate is {summary.gate!r}")
    counts = {s: sum(1 for f in families if f.severity == s) for s in SEVERITIES}
    if summary.counts.model_dump() != counts:
        raise ValueError(f"summary.counts {summary.counts.model_dump()} do not match the families' severities {counts}")


# ---------------------------------------------------------------------------
# Plain sentences and the summary
# ---------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def describe_family(family: Family) -> str:
    """One plain sentence on a family's verdict, for readers who do not know the method."""
    cov, perf, items = family.coverage, family.performance, family.items
    name = f"'{family.id}' ({family.importance} importance) {family.verdict.upper()}"
    parts: list[str] = []
    count = None if items is None else (f"about {items.estimated:.0f}" if items.estimated is not None
                                        else f"{items.detected}")
    if cov.status == "not-visible":
        parts.append("no detector for it (no exemplars or no concept), so its items cannot be counted")
    elif cov.status == "missing":
        parts.append("no suite item exercises it (0 detected)")
    elif cov.status == "under-represented":
        parts.append(f"only {count} suite items exercise it" if count is not None else
                     "the suite tests it less than the reference does (an older audit: items not counted)")
    if perf.status == "no-evidence":
        parts.append("no benchmark scores the behaviour it expects (" + (", ".join(perf.expects) or "none stated")
                     + ")")
    elif perf.status == "weak":
        lift = ""
        if perf.lift is not None:
            lift = (f", {abs(perf.lift) * 100:.1f} percentage points {'below' if perf.lift < 0 else 'above'} "
                    f"the rest of the same benchmarks")
        parts.append(f"the model scores {_fmt(perf.score)} on its {perf.n_scored} scored items{lift}")
    elif perf.status == "insufficient-data" and cov.status in ("covered", "under-represented"):
        parts.append(f"too few scored items ({perf.n_scored}) to judge the model on it")
    if family.requirement.met is False:
        parts.append("it misses the profile's stated requirement")
    if family.visibility.status != "confirmed" and cov.status not in ("not-visible", "missing"):
        parts.append(f"its detected items are {family.visibility.status} by the owner's labels"
                     if family.visibility.basis == "owner-labels" else
                     "its detected items are not confirmed by the owner's labels")
    if not parts:
        score = (f"; the model scores {_fmt(perf.score)} on its {perf.n_scored} scored items"
                 if perf.score is not None else "")
        what = f"{count} suite items exercise it" if count is not None else "covered (items not counted)"
        return f"{name[0].upper()}{name[1:]}: {what}{score}."
    return f"{name[0].upper()}{name[1:]}: " + "; ".join(parts) + "."


def _family_sentence(f: Family, what: str) -> str:
    return f"Family '{f.id}' ({f.importance} importance) {what}: " + "; ".join(f.reasons) + "."


def build_summary(families: list[Family], extra_failures: tuple[str, ...] | list[str] = (),
                  max_headline: int = 5, exploratory: tuple[str, ...] | list[str] = ()) -> Summary:
    """Counts, gate, failures, conditions and headline sentences for a list of families.

    ``extra_failures`` are suite-level gate failures (plain sentences, never starting with
    "Family '") decided elsewhere.
    """
    counts = SeverityCounts(**{s: sum(1 for f in families if f.severity == s) for s in SEVERITIES})
    ordered = sorted(families, key=lambda f: (severity_rank(f.severity),
                                              IMPORTANCES.index(f.importance), f.id))
    failures = [_family_sentence(f, "fails") for f in ordered if f.gate_effect == "fail"]
    failures.extend(extra_failures)
    conditions = [_family_sentence(f, "is conditional") for f in ordered if f.gate_effect == "conditional"]
    ordered = sorted(ordered, key=lambda f: (GATE_EFFECT_ORDER.index(f.gate_effect), severity_rank(f.severity),
                                             IMPORTANCES.index(f.importance), f.id))
    headline = [describe_family(f) for f in ordered if f.severity != "none" or f.gate_effect != "none"][:max_headline]
    if not headline:
        headline = ["Every family of the profile passes: the suite exercises each one, its items are confirmed "
                    "and the model's scores show no gap."]
    gate = summary_gate([f.gate_effect for f in families], len(extra_failures))
    return Summary(gate=gate, gate_failures=failures, conditions=conditions, counts=counts,
                   headline=headline, exploratory=list(exploratory))


# ---------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------

def round_floats(obj: Any, digits: int = 6) -> Any:
    """Round every float in a JSON-like structure to ``digits`` significant digits (-0.0 -> 0.0)."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"non-finite number {obj!r} cannot be written to JSON")
        value = float(f"{obj:.{digits}g}")
        return 0.0 if value == 0 else value
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    return obj


def findings_to_dict(findings: Findings) -> dict[str, Any]:
    """JSON-ready dict with floats rounded to 6 significant digits."""
    data = findings.model_dump(mode="json")
    for key in ("models", "comparisons"):  # vendor audits only: a single-model file has no such keys
        if data.get(key) is None:
            data.pop(key, None)
    return round_floats(data)


def findings_to_json(findings: Findings) -> str:
    """Canonical JSON text of ``findings`` (sorted keys, rounded floats)."""
    return canonical_json(findings_to_dict(findings))


def dump_findings(findings: Findings, path: str | os.PathLike) -> Path:
    """Write ``findings`` to ``path`` as canonical JSON, atomically."""
    return atomic_write_json(path, findings_to_dict(findings))


def _line_of_key(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the last named key of ``loc`` in a JSON text."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    needle = json.dumps(names[-1]) + ":"
    index = text.find(needle)
    return None if index < 0 else text.count("\n", 0, index) + 1


def load_findings(path: str | os.PathLike) -> Findings:
    """Read and validate a ``findings.json`` (a file, or a report folder that holds one).

    Older shapes are upgraded; errors raise :class:`CgGovError` naming the key path.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "findings.json"
    if not path.exists():
        raise CgGovError("file not found", file=str(path),
                         hint="pass a findings.json or a report folder that contains one")
    # bounded ($CG_GOV_MAX_FINDINGS_BYTES), regular files only, one located line for bad bytes or JSON
    data, text = read_json_limited(path, "findings file", kind="findings",
                                   hint="findings.json is written by cg-gov audit; do not edit it by hand")
    try:
        return Findings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        more = f" (and {exc.error_count() - 1} more errors)" if exc.error_count() > 1 else ""
        raise CgGovError(f"{err['msg']}{more}", file=str(path), line=_line_of_key(text, loc),
                         key=key or None,
                         hint="the file does not match the findings schema; see `cg-gov schema findings`"
                         ) from None


def findings_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``findings.json``."""
    return Findings.model_json_schema()
