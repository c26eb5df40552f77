"""The verdict module's helpers, in isolation and fast: the severity tables as built, the reasons'
sentences, actions, caveats, the rule as data and the exploratory notes. Written from the module's
docstrings and the README ("The verdict and the gate"); each test kills mutants that the end-to-end
tests (``tests/test_report_verdict.py``, slow) would only catch by rendering a report."""
from __future__ import annotations

import pytest

from cg_gov.findings import verdict as v
from cg_gov.spec import ScoringSettings

MIN = v.MIN_FAMILY_ITEMS


class TestTables:
    def test_one_step_below(self):
        assert [v.one_step_below(i) for i in ("critical", "high", "medium", "low")] == \
            ["high", "medium", "low", "low"]

    def test_table_puts_each_status_at_its_column(self):
        t = v._table(("a",), ("b",), ("a", "b", "c"))
        assert t == {imp: {"a": imp, "b": v.one_step_below(imp), "c": "none"} for imp in v.IMPORTANCES}

    def test_the_built_tables_are_the_documented_ones(self):
        # the module docstring's tables (rule v4), row by row, columns in the statuses' order
        rows = {"critical": ("none", "high", "critical", "critical"),
                "high": ("none", "medium", "high", "high"),
                "medium": ("none", "low", "medium", "medium"),
                "low": ("none", "low", "low", "low")}
        assert v.COVERAGE_STATUSES == ("covered", "under-represented", "missing", "not-visible")
        assert v.COVERAGE_SEVERITY == {i: dict(zip(v.COVERAGE_STATUSES, r)) for i, r in rows.items()}
        rows = {"critical": ("none", "critical", "high", "critical"),
                "high": ("none", "high", "medium", "high"),
                "medium": ("none", "medium", "low", "medium"),
                "low": ("none", "low", "low", "low")}
        assert v.PERFORMANCE_STATUSES == ("ok", "weak", "insufficient-data", "no-evidence")
        assert v.PERFORMANCE_SEVERITY == {i: dict(zip(v.PERFORMANCE_STATUSES, r)) for i, r in rows.items()}
        rows = {"critical": ("none", "critical", "high", "high"),
                "high": ("none", "high", "medium", "medium"),
                "medium": ("none", "medium", "low", "low"),
                "low": ("none", "low", "low", "low")}
        assert v.VISIBILITY_STATUSES == ("confirmed", "weak", "unconfirmed", "cannot-tell")
        assert v.VISIBILITY_SEVERITY == {i: dict(zip(v.VISIBILITY_STATUSES, r)) for i, r in rows.items()}

    def test_severity_is_the_worst_of_the_three_tables(self):
        assert v.severity("critical", "covered", "ok", "confirmed") == "none"
        assert v.severity("critical", "covered", "ok") == "none"  # visibility defaults to confirmed
        assert v.severity("critical", "covered", "ok", "unconfirmed") == "high"
        assert v.severity("critical", "under-represented", "no-evidence", "unconfirmed") == "critical"
        assert v.severity("high", "under-represented", "insufficient-data", "cannot-tell") == "medium"
        assert v.severity("high", "covered", "ok", "weak") == "high"

    def test_rule_tables_are_the_module_tables(self):
        r = v.rule_tables()
        assert r["version"] == v.RULE_VERSION == 4
        assert r["importances"] == ["critical", "high", "medium", "low"]
        assert [(s["name"], s["statuses"], s["table"]) for s in r["severity"]] == [
            ("coverage", list(v.COVERAGE_STATUSES), v.COVERAGE_SEVERITY),
            ("performance", list(v.PERFORMANCE_STATUSES), v.PERFORMANCE_SEVERITY),
            ("visibility", list(v.VISIBILITY_STATUSES), v.VISIBILITY_SEVERITY)]
        assert [g["effect"] for g in r["gate"]] == ["fail", "conditional", "none"]
        assert r["gate"][0]["when"].startswith("severity is critical, or any stated requirement is not met")

    def test_unknown_status_is_a_clear_error(self):
        with pytest.raises(ValueError, match="unknown importance or status 'sometimes'"):
            v.severity("high", "sometimes", "ok")


class TestRequirements:
    def test_requirement_met(self):
        assert v.requirement_met(("met", None)) is True
        assert v.requirement_met(["met", "met"]) is True
        assert v.requirement_met(("met", "not-met")) is False
        assert v.requirement_met(("met", "cannot-tell")) is None
        assert v.requirement_met((None, None)) is None

    def test_a_boolean_is_not_an_observed_value(self):
        assert v.requirement_status(0.5, True) == "cannot-tell"
        assert v.requirement_status(0.5, "0.7") == "met"
        assert v.requirement_status(0.5, "n/a") == "cannot-tell"

    def test_summary_gate_without_suite_failures(self):
        assert v.summary_gate(["none"]) == "pass"
        assert v.summary_gate(["conditional"]) == "conditional"


def _reasons(**kw):
    base = dict(coverage="covered", performance="ok", visibility="confirmed",
                requirement={"coverage": None, "items": None, "performance": None},
                observed={"coverage": (1.2, [0.9, 1.5]), "items": (7, [4.0, 12.5]),
                          "performance": (0.55, [0.5, 0.6])})
    return v.family_reasons(**{**base, **kw})


def _req(coverage=None, items=None, performance=None):
    return {"coverage": coverage, "items": items, "performance": performance}


class TestReasons:
    def test_nothing_stated_is_no_finding_and_a_met_requirement_is_met(self):
        assert _reasons() == ["no finding"]
        assert _reasons(requirement=_req(coverage=(0.5, "met"))) == ["met"]
        assert _reasons(requirement=_req(items=(5, "met"), performance=(0.5, "met"))) == ["met"]
        # a requirement entry without a threshold is not stated
        assert _reasons(requirement=_req(coverage=(None, "met"))) == ["no finding"]

    def test_an_unmet_requirement_states_required_and_observed_with_its_interval(self):
        got = _reasons(requirement=_req(coverage=(1.5, "not-met"), items=(10, "not-met"),
                                        performance=(0.7, "not-met")))
        assert got == [
            "requirement not met: coverage ratio (suite share / workload share) required >= 1.5, "
            "observed 1.20 [0.90, 1.50]",
            "requirement not met: family items required >= 10, observed 7 [4.00, 12.50]",
            "requirement not met: score required >= 0.7, observed 0.55 [0.50, 0.60]"]

    def test_no_observed_value_reads_n_a(self):
        got = _reasons(requirement=_req(items=(10, "not-met"), performance=(0.7, "not-met")),
                       observed={"coverage": (None, None), "items": (None, None), "performance": (None, None)})
        assert got == ["requirement not met: family items required >= 10, observed n/a",
                       "requirement not met: score required >= 0.7, observed n/a"]

    def test_cannot_tell_names_the_threshold(self):
        got = _reasons(performance="insufficient-data", requirement=_req(performance=(0.7, "cannot-tell")))
        assert got == ["cannot tell: score required >= 0.7, the data cannot check it", "insufficient data"]
        got = _reasons(requirement=_req(coverage=(0.5, "cannot-tell")))
        assert got == ["cannot tell: coverage ratio (suite share / workload share) required >= 0.5, "
                       "the data cannot check it"]

    def test_an_unconfirmed_detector_gives_its_figure(self):
        # without labels: the near-miss AUROC; with the owner's labels: the labelled AUROC and precision
        assert _reasons(visibility="weak", auroc=0.5512, auroc_ci=(0.45, 0.65)) == \
            ["detector not confirmed (weak: near-miss AUROC 0.55 [0.45, 0.65], no labelled sample)"]
        assert _reasons(visibility="weak", basis="owner-labels", auroc=0.6512, auroc_ci=(0.55, 0.75),
                        precision=0.4, precision_ci=(0.2, 0.6)) == \
            ["detector not confirmed (weak: on the owner's labelled sample AUROC 0.65 [0.55, 0.75], "
             "precision of counted items 0.40 [0.20, 0.60])"]
        assert _reasons(visibility="weak", basis="owner-labels", auroc=0.6512) == \
            ["detector not confirmed (weak: on the owner's labelled sample AUROC 0.65)"]
        assert _reasons(visibility="unconfirmed", auroc=0.8, auroc_ci=(0.7, 0.9)) == \
            ["detector not confirmed (unconfirmed: no labelled sample; near-miss AUROC 0.80 [0.70, 0.90])"]
        assert _reasons(visibility="unconfirmed") == ["detector not confirmed (unconfirmed: no labelled sample)"]
        assert _reasons(visibility="cannot-tell", n_counter=3) == \
            ["detector not confirmed (cannot tell: 3 counter-exemplars, 8 needed; no labelled sample)"]
        assert _reasons(visibility="cannot-tell") == ["detector not confirmed (cannot tell: no labelled sample)"]
        assert _reasons(visibility="cannot-tell", basis="owner-labels") == \
            ["detector not confirmed (cannot tell: none of the owner's labelled items is the family's, "
             "so the detector cannot be judged)"]

    def test_a_family_without_a_detector_gives_no_detector_reason(self):
        assert _reasons(coverage="not-visible", visibility="cannot-tell") == ["not visible to the dictionary"]

    def test_not_covered_and_no_evidence_say_what_is_missing(self):
        assert _reasons(coverage="missing", n_suite=120) == ["not covered: 0 of 120 suite items detected"]
        assert _reasons(coverage="missing") == ["not covered: 0 suite items detected"]
        assert _reasons(performance="no-evidence", expects=["refuses", "escalates"]) == \
            ["no evidence: no benchmark of the suite scores refuses, escalates"]
        assert _reasons(performance="no-evidence") == \
            ["no evidence: no benchmark of the suite scores the expected behaviour"]
        assert _reasons(scorer_flags=["qa: agreement 0.80 < 0.90"]) == \
            ["scorer below floor: qa: agreement 0.80 < 0.90"]

    def test_every_reason_in_the_rules_order(self):
        assert v.REASONS == ("requirement not met", "significantly weak", "not covered",
                             "not visible to the dictionary", "no evidence", "detector not confirmed",
                             "cannot tell", "under-represented", "insufficient data", "scorer below floor",
                             "met", "no finding")
        got = _reasons(coverage="not-visible", performance="weak", visibility="unconfirmed",
                       requirement=_req(coverage=(1.0, "cannot-tell"), performance=(0.7, "not-met")),
                       scorer_flags=["qa"])
        assert [v.reason_kind(r) for r in got] == ["requirement not met", "significantly weak",
                                                   "not visible to the dictionary", "cannot tell",
                                                   "scorer below floor"]
        got = _reasons(coverage="missing", performance="no-evidence", visibility="cannot-tell",
                       requirement=_req(items=(10, "not-met"), performance=(0.7, "cannot-tell")))
        assert [v.reason_kind(r) for r in got] == ["requirement not met", "not covered", "no evidence",
                                                   "detector not confirmed", "cannot tell"]
        got = _reasons(coverage="under-represented", performance="insufficient-data", visibility="weak",
                       scorer_flags=["qa", "mt"])
        assert [v.reason_kind(r) for r in got] == ["detector not confirmed", "under-represented",
                                                   "insufficient data", "scorer below floor",
                                                   "scorer below floor"]
        for reasons in (got, _reasons(coverage="missing", performance="weak")):
            kinds = [v.REASONS.index(v.reason_kind(r)) for r in reasons]
            assert kinds == sorted(kinds)

    def test_reason_kind_refuses_a_sentence_outside_the_rule(self):
        with pytest.raises(ValueError, match=r"not a reason of the rule: 'because'; reasons start with one of"):
            v.reason_kind("because")

    def test_actions_once_per_kind_in_order(self):
        reasons = ["requirement not met: score required >= 0.70, observed 0.55",
                   "requirement not met: coverage ratio required >= 1.50, observed 1.20", "insufficient data"]
        assert v.actions_for(reasons) == [v.REASON_ACTIONS["requirement not met"],
                                          v.REASON_ACTIONS["insufficient data"]]

    def test_actions_with_context_name_the_family_the_numbers_and_the_sheet(self):
        reasons = ["not covered: 0 of 120 suite items detected",
                   "no evidence: no benchmark of the suite scores refuses",
                   "detector not confirmed (unconfirmed: no labelled sample)", "under-represented",
                   "insufficient data"]
        ctx = {"family": "refusal", "count": 0, "expects": ["refuses"], "n_scored": 3}
        assert v.actions_for(reasons, ctx) == [
            "add at least 10 benchmark items that exercise refusal",  # once, for not covered and under-represented
            "add a benchmark whose score measures refuses on refusal items (measures: in the audit spec)",
            "label review/refusal.csv (cg-gov review) and list it under labels:",
            "add at least 7 scored refusal items from benchmarks that measure refuses"]
        assert v.actions_for(["requirement not met: family items required >= 25, observed 12"],
                             {"family": "refusal", "count": 12, "min_items": 25}) == \
            ["add at least 13 benchmark items that exercise refusal"]
        assert v.actions_for(["detector not confirmed (weak: x)"], {"family": "refusal", "labelled": True}) == \
            ["sharpen refusal's exemplars and counter-exemplars, then label a new sample (cg-gov review)"]
        assert v.actions_for(["under-represented"], {"family": "refusal", "count": 12, "min_items": 10}) == \
            ["add benchmark items that exercise refusal until the suite's share of them is at least 1/k of "
             "the workload's"]

    def test_without_a_family_name_the_action_says_this_family(self):
        assert v.actions_for(["under-represented"], {"count": 4}) == \
            ["add at least 6 benchmark items that exercise this family"]

    def test_no_evidence_names_every_expected_behaviour_or_says_it_has_none(self):
        reason = ["no evidence: no benchmark of the suite scores refuses, escalates"]
        assert v.actions_for(reason, {"family": "refusal", "expects": ["refuses", "escalates"]}) == [
            "add a benchmark whose score measures refuses, escalates on refusal items (measures: in the audit spec)"]
        assert v.actions_for(reason, {"family": "refusal"}) == [
            "add a benchmark whose score measures the behaviour it expects on refusal items (measures: in the "
            "audit spec)"]
        assert v.actions_for(["insufficient data"], {"family": "refusal", "n_scored": 4}) == \
            ["add at least 6 scored refusal items from benchmarks that measure the behaviour it expects"]

    def test_an_unmet_score_requirement_names_the_score_and_the_target(self):
        reason = ["requirement not met: score required >= 0.7, observed 0.55 [0.48, 0.62]"]
        ctx = {"family": "refusal", "score": 0.5512, "min_performance": 0.7}
        assert v.actions_for(reason, ctx) == [
            "raise the model's score on refusal items from 0.55 to at least 0.70 (or mitigate), or have the "
            "owner revise the requirement"]
        # without either figure the action cannot name them: the generic one
        for missing in ("score", "min_performance"):
            partial = {k: x for k, x in ctx.items() if k != missing}
            assert v.actions_for(reason, partial) == [v.REASON_ACTIONS["requirement not met"]]

    def test_one_item_short_asks_for_one_item(self):
        for reason in ("not covered: 0 of 50 suite items detected", "under-represented"):
            assert v.actions_for([reason], {"family": "refusal", "count": 9, "min_items": 10}) == \
                ["add at least 1 benchmark items that exercise refusal"]
        ctx = {"family": "refusal", "n_scored": MIN - 1, "expects": ["refuses"]}
        assert v.actions_for(["insufficient data"], ctx) == \
            ["add at least 1 scored refusal items from benchmarks that measure refuses"]

    def test_no_scored_item_asks_for_the_whole_floor(self):
        assert v.actions_for(["insufficient data"], {"family": "refusal", "expects": ["refuses"]}) == \
            [f"add at least {MIN} scored refusal items from benchmarks that measure refuses"]

    def test_the_review_sheet_named_in_the_context_is_the_one_to_label(self):
        assert v.actions_for(["detector not confirmed (unconfirmed: no labelled sample)"],
                             {"family": "refusal", "review_sheet": "review/sheets/refusal-2.csv"}) == \
            ["label review/sheets/refusal-2.csv (cg-gov review) and list it under labels:"]


class TestCaveats:
    """CAVEAT_RULES in words; caveats_for applies them, in that order."""

    def test_each_rule(self):
        assert v.caveats_for("covered", "ok", 100.0, []) == ["activation-not-capability", "hard-question-confound"]
        assert v.caveats_for("missing", "weak", 100.0, [1]) == ["hard-question-confound", "dictionary-coverage",
                                                                "noisy-labels"]
        assert v.caveats_for("not-visible", "insufficient-data", None, []) == ["dictionary-coverage", "small-support"]
        assert v.caveats_for("under-represented", "ok", None, []) == ["hard-question-confound"]

    def test_small_support_below_the_threshold_only(self):
        assert "small-support" in v.caveats_for("covered", "ok", v.SMALL_SUPPORT_N_EFF - 0.5, [])
        assert "small-support" not in v.caveats_for("covered", "ok", v.SMALL_SUPPORT_N_EFF, [])
        assert v.SMALL_SUPPORT_N_EFF == 30.0


class TestExploratory:
    def test_defaults_are_not_exploratory(self):
        assert v.exploratory_sections(ScoringSettings()) == []

    def test_each_relaxed_default_is_named_with_its_value(self):
        got = v.exploratory_sections(ScoringSettings(n_min=20, min_benchmarks=1, bootstrap=200))
        assert got == [
            "Family performance and the suite-level concept rankings are exploratory: this audit calls a "
            "concept or family supported with n_min = 20 scored items (method default 50).",
            "The suite-level weakest and strongest concepts are exploratory: this audit ranks concepts "
            "supported in 1 benchmark(s) (method default 5).",
            "Intervals and p-values are exploratory: 200 bootstrap resamples (method default 1000)."]

    def test_no_bootstrap_is_not_called_exploratory_intervals(self):
        assert v.exploratory_sections(ScoringSettings(bootstrap=0)) == []
        assert len(v.exploratory_sections(ScoringSettings(bootstrap=999))) == 1
        assert v.exploratory_sections(ScoringSettings(bootstrap=1)) == [
            "Intervals and p-values are exploratory: 1 bootstrap resamples (method default 1000)."]
