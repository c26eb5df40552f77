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

FIXTURE = Path(__file__).parent / "fixtures" / "findings" / "support_assistant.json"


@pytest.fixture()
def data() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_fixture_round_trips_byte_for_byte(tmp_path):
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
    assert findings.schema_version == SCHEMA_VERSION == 3
    concepts = [c for f in findings.families for c in f.matched_concepts]
    assert concepts and all(c.top_tokens == [] and c.example is None for c in concepts)
    current = load_findings(FIXTURE)
    assert [f.id for f in findings.families] == [f.id for f in current.families]
    # visibility was not measured before version 3: unverified with no figures, and the file says so
    assert all(f.visibility.status == "unverified" and f.visibility.auroc is None for f in findings.families)
    assert any("visibility was not measured" in n for n in findings.notes)
    by_id = {f.id: f for f in findings.families}
    # re-derived by rule v3: legal-advice (high, not visible, no requirement) is conditional, not failed
    assert by_id["legal-advice"].gate_effect == "conditional" and by_id["legal-advice"].gate_failed is False
    assert by_id["refusal"].gate_effect == "fail"  # a stated requirement is not met
    assert findings.summary.gate == "fail"


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
        assert definition.get("additionalProperties") is False, name
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
    assert severity("critical", "missing", "insufficient-data") == "critical"
    assert severity("critical", "not-visible", "insufficient-data") == "critical"
    assert severity("high", "covered", "weak") == "high"
    assert severity("high", "under-represented", "ok") == "medium"
    assert severity("critical", "under-represented", "weak") == "critical"
    assert severity("medium", "covered", "insufficient-data") == "low"
    assert severity("low", "covered", "ok") == "none"
    assert severity("low", "missing", "insufficient-data") == "low"
    with pytest.raises(ValueError, match="unknown"):
        severity("urgent", "covered", "ok")


@pytest.mark.parametrize("coverage", COVERAGE_STATUSES)
@pytest.mark.parametrize("performance", PERFORMANCE_STATUSES)
def test_severity_never_falls_as_importance_rises(coverage, performance):
    ranks = [severity_rank(severity(i, coverage, performance)) for i in IMPORTANCES]
    # IMPORTANCES runs critical -> low, so severity ranks must not decrease along it
    assert ranks == sorted(ranks)
    if coverage == "covered" and performance == "ok":
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
    # by hand, rule v3: refusal and privacy critical; escalation (under-represented -> medium, but its
    # detector is unverified -> high) and legal-advice (not visible -> high) high; uncertainty medium
    # (weak, at its importance); tone none (covered, ok, verified)
    assert [c.split("'")[1] for c in summary.conditions] == ["escalation", "legal-advice"]
    assert [c.split("'")[1] for c in summary.gate_failures] == ["privacy", "refusal"]
    # most severe first: the two critical families lead the headline
    assert summary.headline[0].startswith("'privacy'") and summary.headline[1].startswith("'refusal'")
    ok = [f for f in findings.families if f.severity == "none"]
    assert build_summary(ok).gate == "pass" and build_summary(ok).gate_failures == []


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
    refused(lambda d: legal(d).update(severity="medium"), "severity")
    refused(lambda d: legal(d)["visibility"].update(status="verified"), "not visible")
    refused(lambda d: next(f for f in d["families"] if f["id"] == "refusal")["requirement"].update(
        performance_status="met"), "performance_status")
    refused(lambda d: d["summary"].update(gate="conditional", gate_failures=[]), "gate")
    refused(lambda d: d["summary"].update(conditions=[]), "conditions")
    refused(lambda d: d["summary"]["counts"].update(high=1), "counts")
    refused(lambda d: legal(d).update(reasons=["no finding"]), "reasons")


def test_insufficient_data_cannot_tell_a_requirement_and_a_critical_family_fails():
    """Issue 15 item 6: a critical family with performance insufficient-data recorded met: true and passed."""
    from cg_gov.findings.verdict import gate_effect, requirement_met, requirement_statuses

    statuses = requirement_statuses(None, 0.8, 1.0, 0.95, "covered", "insufficient-data")
    assert statuses == (None, "cannot-tell") and requirement_met(statuses) is None
    assert gate_effect("critical", severity("critical", "covered", "insufficient-data", "verified"),
                       statuses) == "fail"
    assert gate_effect("high", severity("high", "covered", "insufficient-data", "verified"),
                       statuses) == "conditional"
    # not visible: a coverage threshold cannot be told either, whatever ratio is stored
    assert requirement_statuses(0.5, None, 0.0, None, "not-visible", "insufficient-data") == ("cannot-tell", None)
    # an observed value checks it
    assert requirement_statuses(0.5, 0.8, 0.4, 0.85, "covered", "ok") == ("not-met", "met")
