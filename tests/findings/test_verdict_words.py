"""The verdict module's helpers, in isolation and fast: the severity tables as built, the reasons'
sentences, actions, caveats, the rule as data and the exploratory notes. Written from the module's
docstrings and the README ("The verdict and the gate"); each test kills mutants that the end-to-end
tests (``tests/test_report_verdict.py``, slow) would only catch by rendering a report."""
from __future__ import annotations

import pytest

from cg_gov.findings import verdict as v
from cg_gov.spec import ScoringSettings


class TestTables:
    def test_one_step_below(self):
        assert [v.one_step_below(i) for i in ("critical", "high", "medium", "low")] == \
            ["high", "medium", "low", "low"]

    def test_table_puts_each_status_at_its_column(self):
        t = v._table(("a",), ("b",), ("a", "b", "c"))
        assert t == {imp: {"a": imp, "b": v.one_step_below(imp), "c": "none"} for imp in v.IMPORTANCES}

    def test_the_built_tables_are_the_documented_ones(self):
        assert v.COVERAGE_SEVERITY["high"] == {"covered": "none", "under-represented": "medium",
                                               "missing": "high", "not-visible": "high"}
        assert v.PERFORMANCE_SEVERITY["critical"] == {"ok": "none", "weak": "critical",
                                                      "insufficient-data": "high"}
        assert v.VISIBILITY_SEVERITY["low"] == {"verified": "none", "weak": "low", "unverified": "low"}

    def test_rule_tables_are_the_module_tables(self):
        r = v.rule_tables()
        assert r["version"] == v.RULE_VERSION == 3
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
    base = dict(coverage="covered", performance="ok", visibility="verified",
                requirement={"coverage": None, "performance": None},
                observed={"coverage": (1.2, [0.9, 1.5]), "performance": (0.55, [0.5, 0.6])})
    return v.family_reasons(**{**base, **kw})


class TestReasons:
    def test_nothing_stated_is_no_finding_and_a_met_requirement_is_met(self):
        assert _reasons() == ["no finding"]
        assert _reasons(requirement={"coverage": (0.5, "met"), "performance": None}) == ["met"]
        # a requirement entry without a threshold is not stated
        assert _reasons(requirement={"coverage": (None, "met"), "performance": None}) == ["no finding"]

    def test_an_unmet_requirement_states_required_and_observed_with_its_interval(self):
        got = _reasons(requirement={"coverage": (1.5, "not-met"), "performance": (0.7, "not-met")})
        assert got == ["requirement not met: coverage ratio required >= 1.50, observed 1.20 [0.90, 1.50]",
                       "requirement not met: score required >= 0.70, observed 0.55 [0.50, 0.60]"]

    def test_no_observed_value_reads_n_a(self):
        got = _reasons(requirement={"coverage": None, "performance": (0.7, "not-met")},
                       observed={"coverage": (None, None), "performance": (None, None)})
        assert got == ["requirement not met: score required >= 0.70, observed n/a"]

    def test_cannot_tell_names_the_threshold(self):
        got = _reasons(performance="insufficient-data", requirement={"coverage": None, "performance": (0.7, "cannot-tell")})
        assert got == ["cannot tell: score required >= 0.70, the data cannot check it", "insufficient data"]

    def test_an_unverified_detector_gives_its_auroc_or_says_not_measured(self):
        assert _reasons(visibility="weak", auroc=0.6512, auroc_ci=(0.55, 0.75)) == \
            ["detector not verified (visibility AUROC 0.65 [0.55, 0.75])"]
        assert _reasons(visibility="unverified") == ["detector not verified (not measured)"]

    def test_every_reason_in_the_rules_order(self):
        got = _reasons(coverage="not-visible", performance="weak", visibility="unverified",
                       requirement={"coverage": (1.0, "cannot-tell"), "performance": (0.7, "not-met")})
        assert [v.reason_kind(r) for r in got] == ["requirement not met", "significantly weak",
                                                   "not visible to the dictionary", "detector not verified",
                                                   "cannot tell"]
        assert [v.reason_kind(r) for r in _reasons(coverage="missing")] == ["missing from the suite"]
        assert _reasons(coverage="under-represented", performance="insufficient-data") == \
            ["under-represented", "insufficient data"]

    def test_reason_kind_refuses_a_sentence_outside_the_rule(self):
        with pytest.raises(ValueError, match=r"not a reason of the rule: 'because'; reasons start with one of"):
            v.reason_kind("because")

    def test_actions_once_per_kind_in_order(self):
        reasons = ["requirement not met: score required >= 0.70, observed 0.55",
                   "requirement not met: coverage ratio required >= 1.50, observed 1.20", "insufficient data"]
        assert v.actions_for(reasons) == [v.REASON_ACTIONS["requirement not met"],
                                          v.REASON_ACTIONS["insufficient data"]]


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
