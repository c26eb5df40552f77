"""The findings.json schema: validation, canonical output, upgrades, the severity table."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cg_gov.errors import CgGovError
from cg_gov.findings import (CAVEAT_IDS, COVERAGE_STATUSES, IMPORTANCES, PERFORMANCE_STATUSES,
                             SCHEMA_VERSION, SEVERITIES, Findings, build_summary, dump_findings,
                             family_gate_failed, findings_json_schema, findings_to_json,
                             load_findings, round_floats, severity, severity_rank)
from cg_gov.findings.verdict import VISIBILITY_STATUSES

#: A rule-v4 audit (findings schema 4), written by tests/fixtures/findings/make_support_assistant.py.
FIXTURE = Path(__file__).parent / "fixtures" / "findings" / "support_assistant.json"
#: The same suite and model as written by cg_gov's findings schema 3 (rule v3).
FIXTURE_V3 = FIXTURE.parent / "support_assistant.v3.json"


@pytest.fixture()
def data() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_fixture_round_trips_byte_for_byte(tmp_path):
    assert json.loads(FIXTURE.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    findings = load_findings(FIXTURE)
    out = dump_findings(findings, tmp_path / "findings.json")
    assert out.read_bytes() == FIXTURE.read_bytes()
    # and a second load/dump is stable too
    assert findings_to_json(load_findings(out)) == FIXTURE.read_text(encoding="utf-8")


def test_version_1_files_are_upgraded(tmp_path):
    """Files written before matched concepts carried their top tokens and an example still load."""
    old = FIXTURE.parent / "support_assistant.v1.json"
    assert json.loads(old.read_text())["schema_version"] == 1
    findings = load_findings(old)
    assert findings.schema_version == SCHEMA_VERSION == 4
    concepts = [c for f in findings.families for c in f.matched_concepts]
    assert concepts and all(c.top_tokens == [] and c.example is None for c in concepts)
    current = load_findings(FIXTURE)
    assert [f.id for f in findings.families] == [f.id for f in current.families]
    # visibility was not measured before version 3: cannot-tell with no figures, and the file says so
    assert all(f.visibility.status == "cannot-tell" and f.visibility.auroc is None
               and f.visibility.exemplar_auroc is None for f in findings.families)
    assert any("visibility was not measured" in n for n in findings.notes)
    assert any(n.startswith("Upgraded from findings schema 3") for n in findings.notes)
    by_id = {f.id: f for f in findings.families}
    # re-derived by rule v4: legal-advice (high, not visible, no requirement) is conditional, not failed
    assert by_id["legal-advice"].gate_effect == "conditional" and by_id["legal-advice"].gate_failed is False
    assert by_id["refusal"].gate_effect == "fail"  # a stated requirement is not met
    # escalation (high): under-represented, insufficient-data and cannot-tell are each one step below: medium
    assert (by_id["escalation"].severity, by_id["escalation"].gate_effect) == ("medium", "none")
    assert findings.summary.gate == "fail"


def test_version_3_files_are_upgraded_to_version_4():
    """Rule v3 files: visibility becomes unconfirmed (cannot-tell where unverified), coverage by concept
    mass against the dictionary's corpus becomes mass_ratio, and the verdicts are re-derived by rule v4."""
    raw = json.loads(FIXTURE_V3.read_text(encoding="utf-8"))
    assert raw["schema_version"] == 3
    old = {f["id"]: f for f in raw["families"]}
    findings = load_findings(FIXTURE_V3)
    assert findings.schema_version == SCHEMA_VERSION == 4
    by_id = {f.id: f for f in findings.families}
    assert list(by_id) == list(old)
    v3_to_v4 = {"verified": "unconfirmed", "weak": "unconfirmed", "unverified": "cannot-tell"}
    for fid, f in by_id.items():
        was = old[fid]["visibility"]
        assert f.visibility.status == v3_to_v4[was["status"]], fid
        assert f.visibility.basis == "none" and f.visibility.exemplar_auroc == was["auroc"], fid
        # the v3 ratio was suite mass over the dictionary's corpus: kept as mass_ratio, no longer a coverage ratio
        assert f.coverage.mass_ratio == old[fid]["coverage"]["ratio"], fid
        assert f.coverage.ratio is None and f.coverage.ci is None, fid
        assert f.coverage.status == old[fid]["coverage"]["status"], fid
        assert f.performance.status == old[fid]["performance"]["status"], fid
    assert [old[i]["visibility"]["status"] for i in ("refusal", "uncertainty", "legal-advice")] == [
        "verified", "weak", "unverified"]
    # by hand, rule v4, from the v3 statuses:
    # refusal (critical): weak -> critical; requirement not met -> fail (as in v3)
    assert (by_id["refusal"].severity, by_id["refusal"].gate_effect) == ("critical", "fail")
    # escalation (high): unverified made it high and conditional under v3; under v4 every table says medium
    assert (old["escalation"]["severity"], old["escalation"]["gate_effect"]) == ("high", "conditional")
    assert (by_id["escalation"].severity, by_id["escalation"].gate_effect) == ("medium", "none")
    # tone (low): verified, covered, ok was "none"; unconfirmed is one step below low: low, still passes
    assert old["tone"]["severity"] == "none"
    assert (by_id["tone"].severity, by_id["tone"].verdict) == ("low", "pass")
    assert [r.split(" (")[0] for r in by_id["tone"].reasons] == ["detector not confirmed"]
    # the schema-3 AUROC was measured on exemplars: kept as exemplar_auroc, never shown as a near-miss AUROC
    assert "detector not confirmed (unconfirmed: no labelled sample)" in by_id["tone"].reasons
    assert by_id["tone"].visibility.auroc is None
    assert by_id["tone"].visibility.exemplar_auroc == pytest.approx(0.88, abs=0.01)
    # legal-advice (high, not visible): visibility cannot-tell, conditional as before
    assert (by_id["legal-advice"].severity, by_id["legal-advice"].gate_effect) == ("high", "conditional")
    assert findings.summary.gate == "fail"
    assert [c.split("'")[1] for c in findings.summary.conditions] == ["legal-advice"]
    assert any(n.startswith("Upgraded from findings schema 3") for n in findings.notes)
    # an upgraded file round-trips like any schema-4 file
    assert findings_to_json(Findings.model_validate(json.loads(findings_to_json(findings)))) == \
        findings_to_json(findings)


def test_load_accepts_a_report_folder(tmp_path):
    (tmp_path / "findings.json").write_bytes(FIXTURE.read_bytes())
    assert load_findings(tmp_path).audit.id == "support-assistant-2026q1"


def test_keys_read_by_external_checks(data):
    """The key names below are a contract with tools outside cg_gov."""
    family = data["families"][0]
    assert {"id", "importance", "severity", "matched_concepts", "coverage", "performance"} <= set(family)
    concept = next(f for f in data["families"] if f["matched_concepts"])["matched_concepts"][0]
    assert isinstance(concept["concept_id"], int)
    assert isinstance(concept["label"], str) and isinstance(concept["similarity"], float)
    assert {"margin", "source", "weight", "coverage_ratio", "chi_model"} <= set(concept)
    assert concept["source"] in ("label", "exemplar", "both", "pinned")
    for family in data["families"]:
        cov, perf = family["coverage"], family["performance"]
        assert {"ratio", "ci", "status"} <= set(cov) and cov["status"] in COVERAGE_STATUSES
        assert {"score", "lift", "ci", "status"} <= set(perf) and perf["status"] in PERFORMANCE_STATUSES
        for ci in (cov["ci"], perf["ci"]):
            assert ci is None or (isinstance(ci, list) and len(ci) == 2 and ci[0] <= ci[1])
    assert {"schema_version", "cg_gov_version", "audit", "summary", "suite_findings", "caveats",
            "settings", "drift"} <= set(data)
    assert [c["id"] for c in data["caveats"]] == list(CAVEAT_IDS)
    assert len(CAVEAT_IDS) == 5


def test_floats_are_rounded_to_six_significant_digits(data, tmp_path):
    data["families"][0]["coverage"]["ratio"] = 3.14159265358979
    data["families"][0]["performance"]["lift"] = -0.000123456789
    data["families"][0]["matched_concepts"][0]["margin"] = -0.0
    path = dump_findings(Findings.model_validate(data), tmp_path / "f.json")
    written = json.loads(path.read_text())
    assert written["families"][0]["coverage"]["ratio"] == 3.14159
    assert written["families"][0]["performance"]["lift"] == -0.000123457
    margin = written["families"][0]["matched_concepts"][0]["margin"]
    assert margin == 0.0 and math.copysign(1.0, margin) == 1.0
    assert round_floats({"x": [1.23456789e-9, 123456789.0]}) == {"x": [1.23457e-09, 123457000.0]}
    with pytest.raises(ValueError, match="non-finite"):
        round_floats(float("nan"))


def test_unknown_key_is_an_error_naming_its_path_and_line(data, tmp_path):
    data["families"][1]["coverage"]["ratoi"] = 0.5
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(CgGovError) as err:
        load_findings(path)
    assert err.value.key == "families[1].coverage.ratoi"
    assert err.value.line is not None and '"ratoi"' in path.read_text().splitlines()[err.value.line - 1]
    assert "extra" in err.value.message.lower() or "not permitted" in err.value.message.lower()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["families"][0]["coverage"].update(status="gone"), "status"),
    (lambda d: d["families"][0]["performance"].update(score=1.5), "less than or equal to 1"),
    (lambda d: d["families"][0]["coverage"].update(ci=[0.5, 0.1]), "above high"),
    (lambda d: d["families"][0].update(caveats=["made-up"]), "unknown caveats"),
    (lambda d: d["families"].append(dict(d["families"][0])), "duplicate family ids"),
    (lambda d: d["summary"].update(gate="pass"), "gate_failures"),
    (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "newer cg_gov"),
])
def test_invalid_findings_are_refused(data, tmp_path, mutate, message):
    mutate(data)
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CgGovError, match=message):
        load_findings(path)


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "findings.json"
    path.write_text('{\n  "schema_version": 1,\n  oops\n}')
    with pytest.raises(CgGovError) as err:
        load_findings(path)
    assert err.value.line == 3


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(CgGovError, match="not found"):
        load_findings(tmp_path / "nope.json")


def test_version_0_files_are_upgraded(data):
    del data["schema_version"]
    del data["caveats"]
    del data["settings"]
    for family in data["families"]:
        del family["gate_failed"]
        family.pop("caveats")
    findings = Findings.model_validate(data)
    assert findings.schema_version == SCHEMA_VERSION
    assert [c.id for c in findings.caveats] == list(CAVEAT_IDS)
    by_id = {f.id: f for f in findings.families}
    assert by_id["refusal"].gate_failed is True       # severity critical
    assert by_id["uncertainty"].gate_failed is False  # severity medium, no requirement
    assert all(f.caveats == [] for f in findings.families)


def test_json_schema_documents_every_field():
    schema = findings_json_schema()
    assert schema["additionalProperties"] is False
    assert {"families", "summary", "audit", "suite_findings", "caveats", "drift"} <= set(schema["properties"])
    undocumented = []
    for name, definition in schema["$defs"].items():
        # the settings block keeps the keys another version recorded, as the dict it replaced did
        assert definition.get("additionalProperties") is (name == "RunSettings"), name
        assert definition.get("description"), name
        for prop, spec in definition.get("properties", {}).items():
            if not spec.get("description"):
                undocumented.append(f"{name}.{prop}")
    for prop, spec in schema["properties"].items():
        if not spec.get("description"):
            undocumented.append(prop)
    assert undocumented == []
    family = schema["$defs"]["Family"]
    assert {"id", "importance", "severity", "coverage", "performance"} <= set(family["required"])


def test_severity_table_examples():
    assert severity("critical", "missing", "insufficient-data", "confirmed") == "critical"
    assert severity("critical", "not-visible", "insufficient-data", "cannot-tell") == "critical"
    assert severity("high", "covered", "weak", "confirmed") == "high"
    assert severity("high", "under-represented", "ok", "confirmed") == "medium"
    assert severity("critical", "under-represented", "weak", "confirmed") == "critical"
    assert severity("medium", "covered", "insufficient-data", "confirmed") == "low"
    assert severity("low", "covered", "ok", "confirmed") == "none"
    assert severity("low", "missing", "insufficient-data", "confirmed") == "low"
    # rule v4: no-evidence is at the importance; visibility weak at it, unconfirmed and cannot-tell one below
    assert severity("critical", "covered", "no-evidence", "confirmed") == "critical"
    assert severity("high", "covered", "ok", "weak") == "high"
    assert severity("critical", "covered", "ok", "unconfirmed") == "high"
    assert severity("critical", "covered", "ok", "cannot-tell") == "high"
    assert severity("medium", "covered", "ok", "unconfirmed") == "low"
    assert severity("low", "covered", "ok", "cannot-tell") == "low"
    with pytest.raises(ValueError, match="unknown"):
        severity("urgent", "covered", "ok", "confirmed")
    # the v3 visibility words are not statuses any more
    for old in ("verified", "unverified"):
        with pytest.raises(ValueError, match="unknown importance or status"):
            severity("high", "covered", "ok", old)


def test_severity_defaults_to_a_confirmed_detector():
    """Without a visibility status, severity reads the coverage and performance tables alone."""
    assert severity("low", "covered", "ok") == severity("low", "covered", "ok", "confirmed") == "none"
    assert severity("high", "covered", "weak") == "high"


@pytest.mark.parametrize("visibility", VISIBILITY_STATUSES)
@pytest.mark.parametrize("coverage", COVERAGE_STATUSES)
@pytest.mark.parametrize("performance", PERFORMANCE_STATUSES)
def test_severity_never_falls_as_importance_rises(coverage, performance, visibility):
    ranks = [severity_rank(severity(i, coverage, performance, visibility)) for i in IMPORTANCES]
    # IMPORTANCES runs critical -> low, so severity ranks must not decrease along it
    assert ranks == sorted(ranks)
    if coverage == "covered" and performance == "ok" and visibility == "confirmed":
        assert set(ranks) == {SEVERITIES.index("none")}
    else:
        assert SEVERITIES.index("none") not in ranks


def test_gate_rule():
    assert family_gate_failed("critical", "critical", [None, None])
    assert not family_gate_failed("high", "high", ["met", None])
    assert family_gate_failed("low", "none", ["not-met", None])
    assert family_gate_failed("critical", "high", [None, "cannot-tell"])
    assert not family_gate_failed("high", "medium", [None, "cannot-tell"])
    assert not family_gate_failed("medium", "medium", [None, None])


def test_build_summary_counts_and_orders(data):
    findings = Findings.model_validate(data)
    summary = build_summary(findings.families, exploratory=findings.summary.exploratory)
    assert summary.model_dump() == findings.summary.model_dump()
    assert summary.gate == "fail"
    assert (summary.counts.critical, summary.counts.high, summary.counts.medium,
            summary.counts.low, summary.counts.none) == (2, 2, 1, 0, 1)
    # by hand, rule v4:
    # refusal (critical): weak -> critical; its score 0.58 misses the required 0.8 -> fail
    # privacy (critical): missing and no-evidence -> critical; 0 items of the 20 required -> fail
    # escalation (high): under-represented -> medium, but its detector is weak (near-miss AUROC 0.55, at
    #   the importance) -> high -> conditional
    # legal-advice (high): not visible -> high -> conditional
    # uncertainty (medium): weak performance and a weak detector, both at the importance -> medium -> pass
    # tone (low): covered, ok, confirmed -> none -> pass
    by_id = {f.id: f for f in findings.families}
    assert {i: (f.severity, f.gate_effect) for i, f in by_id.items()} == {
        "refusal": ("critical", "fail"), "privacy": ("critical", "fail"), "escalation": ("high", "conditional"),
        "legal-advice": ("high", "conditional"), "uncertainty": ("medium", "none"), "tone": ("none", "none")}
    assert (by_id["privacy"].requirement.items_status, by_id["refusal"].requirement.items_status) == ("not-met", "met")
    assert [c.split("'")[1] for c in summary.conditions] == ["escalation", "legal-advice"]
    assert [c.split("'")[1] for c in summary.gate_failures] == ["privacy", "refusal"]
    # most severe first: the two critical families lead the headline
    assert summary.headline[0].startswith("'privacy'") and summary.headline[1].startswith("'refusal'")
    assert not any(h.startswith("Every family") for h in summary.headline)
    ok = [f for f in findings.families if f.severity == "none"]
    assert [f.id for f in ok] == ["tone"] and ok[0].reasons == ["no finding"]
    passing = build_summary(ok)
    assert passing.gate == "pass" and passing.gate_failures == [] and passing.conditions == []
    assert passing.headline == ["Every family of the profile passes: the suite exercises each one, its items "
                                "are confirmed and the model's scores show no gap."]


def test_a_file_that_contradicts_the_rule_is_refused(tmp_path):
    """Issue 18 item 1: legal-advice (high, not visible, no requirement) said gate_failed true; now refused."""
    base = json.loads(FIXTURE.read_text(encoding="utf-8"))

    def refused(edit, match):
        data = json.loads(json.dumps(base))
        edit(data)
        path = tmp_path / "findings.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(CgGovError, match=match):
            load_findings(path)

    def legal(data):
        return next(f for f in data["families"] if f["id"] == "legal-advice")

    refused(lambda d: legal(d).update(gate_failed=True), "gate_failed")
    refused(lambda d: legal(d).update(gate_effect="fail", gate_failed=True, verdict="fail"), "gate_effect")
    def family(fid):
        return lambda data: next(f for f in data["families"] if f["id"] == fid)

    refused(lambda d: legal(d).update(severity="medium"), "severity")
    # a family without a detector has visibility cannot-tell, nothing else
    refused(lambda d: legal(d)["visibility"].update(status="unconfirmed"), "not visible")
    refused(lambda d: legal(d)["visibility"].update(status="confirmed"), "not visible")
    # the v3 visibility words are not statuses of schema 4
    refused(lambda d: family("tone")(d)["visibility"].update(status="verified"), "visibility")
    # tone has no finding because its detector is confirmed: unconfirmed, its stored severity (none) is wrong
    refused(lambda d: family("tone")(d)["visibility"].update(status="unconfirmed"), "severity")
    # refusal stays critical when unconfirmed, but its stored reasons lack "detector not confirmed"
    refused(lambda d: family("refusal")(d)["visibility"].update(status="unconfirmed"), "reasons")
    refused(lambda d: family("refusal")(d)["requirement"].update(performance_status="met"), "performance_status")
    refused(lambda d: family("privacy")(d)["requirement"].update(items_status="met"), "items_status")
    refused(lambda d: legal(d)["requirement"].update(items_status="met"), "items_status")
    # privacy's 0 items of the 20 required: not met, so the family fails whatever else is said
    refused(lambda d: family("privacy")(d)["requirement"].update(met=None), "met")
    refused(lambda d: d["summary"].update(gate="conditional", gate_failures=[]), "gate")
    refused(lambda d: d["summary"].update(conditions=[]), "conditions")
    refused(lambda d: d["summary"]["counts"].update(high=1), "counts")
    refused(lambda d: legal(d).update(reasons=["no finding"]), "reasons")
    refused(lambda d: legal(d).update(reasons=["missing from the suite"]), "not a reason of the rule")
    # the "every family passes" headline on a failing gate
    refused(lambda d: d["summary"].update(headline=["Every family of the profile passes: nothing to report."]),
            "every family passes")


def test_insufficient_data_cannot_tell_a_requirement_and_a_critical_family_fails():
    """Issue 15 item 6: a critical family with performance insufficient-data recorded met: true and passed."""
    from cg_gov.findings.verdict import gate_effect, requirement_met, requirement_statuses

    statuses = requirement_statuses(None, 0.8, 1.0, 0.95, "covered", "insufficient-data")
    assert statuses == (None, "cannot-tell", None) and requirement_met(statuses) is None
    assert gate_effect("critical", severity("critical", "covered", "insufficient-data", "confirmed"),
                       statuses) == "fail"
    assert gate_effect("high", severity("high", "covered", "insufficient-data", "confirmed"),
                       statuses) == "conditional"
    # no-evidence (no benchmark measures the expected behaviour) cannot tell a performance threshold either
    assert requirement_statuses(None, 0.8, 1.0, 0.95, "covered", "no-evidence") == (None, "cannot-tell", None)
    # not visible: a coverage threshold cannot be told either, whatever ratio is stored; nor a minimum count
    assert requirement_statuses(0.5, None, 0.0, None, "not-visible", "insufficient-data") == (
        "cannot-tell", None, None)
    assert requirement_statuses(None, None, None, None, "not-visible", "insufficient-data",
                                min_items=20, count=0) == (None, None, "cannot-tell")
    # an observed value checks it
    assert requirement_statuses(0.5, 0.8, 0.4, 0.85, "covered", "ok") == ("not-met", "met", None)
    assert requirement_statuses(None, None, None, None, "under-represented", "ok", min_items=20, count=12) == (
        None, None, "not-met")
    assert requirement_statuses(None, None, None, None, "covered", "ok", min_items=20, count=20) == (
        None, None, "met")
    # a missing family has a count (0): a minimum is not met, not "cannot tell"
    assert requirement_statuses(None, None, None, None, "missing", "insufficient-data", min_items=5, count=0) == (
        None, None, "not-met")
