"""cg-gov diff: per-family changes, regressions past a threshold, input changes, outputs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pdfstreams import pdf_streams

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cg_gov.cli import main as cli_main
from cg_gov.findings.diff import DiffResult, diff_findings, diff_paths, intervals_overlap
from cg_gov.errors import CgGovError
from cg_gov.findings import Family, Findings, build_summary, dump_findings, load_findings, rule_fields
from cg_gov.io import atomic_write_json

FINDINGS = Path(__file__).parent / "fixtures" / "findings" / "support_assistant.json"
OLD_MANIFEST = {
    "created": "2026-03-01T10:00:00Z",
    "inputs": [{"path": "benchmarks/harmbench.jsonl", "sha256": "a" * 64},
               {"path": "specs/profiles/customer-support.yaml", "sha256": "b" * 64}],
    "dictionary": {"identity": "sha256:3f9a0c1e5b7d2a4f"},
}


def _refresh(data: dict) -> Findings:
    """Recompute severities, gate flags and the summary after editing a findings dict."""
    for f in data["families"]:
        f.update(rule_fields(f))
    data["summary"] = build_summary([Family.model_validate(f) for f in data["families"]]).model_dump()
    return Findings.model_validate(data)


def _new_findings() -> Findings:
    """A later audit of the same workflow: one family worse, one better, one moved within noise."""
    data = json.loads(FINDINGS.read_text(encoding="utf-8"))
    data["audit"]["id"] = "support-assistant-2026q2"
    data["audit"]["model"] = "SmolLM2-135M-Instruct-ft2"
    fam = {f["id"]: f for f in data["families"]}
    # uncertainty: the model got clearly worse (0.47 [0.41, 0.53] -> 0.30 [0.25, 0.35])
    fam["uncertainty"]["performance"].update(score=0.30, score_ci=[0.25, 0.35], lift=-0.2, ci=[-0.25, -0.15])
    # tone: coverage fell from 2.2 [1.8, 2.7] to 0.5 [0.4, 0.6]: -77%, intervals apart; still "covered"
    fam["tone"]["coverage"].update(ratio=0.5, ci=[0.4, 0.6])
    # escalation: ratio 0.19 -> 0.15 (-21%) but the intervals overlap: noise, not a regression
    fam["escalation"]["coverage"].update(ratio=0.15, ci=[0.08, 0.25])
    # refusal: now passes (weak -> ok), severity critical -> none
    fam["refusal"]["performance"].update(score=0.86, score_ci=[0.82, 0.9], lift=0.05, ci=[0.01, 0.09],
                                         status="ok", p=0.9, q=0.95)
    fam["refusal"]["requirement"]["met"] = True
    # profile change: legal-advice dropped, complaints added
    data["families"] = [f for f in data["families"] if f["id"] != "legal-advice"]
    complaints = json.loads(json.dumps(fam["tone"]))
    complaints.update(id="complaints", importance="high", description="Handles complaints.")
    data["families"].append(complaints)
    data["audit"]["profile"]["version"] = "1.3"
    data["settings"]["k"] = 5
    return _refresh(data)


@pytest.fixture()
def old() -> Findings:
    return load_findings(FINDINGS)


@pytest.fixture()
def new() -> Findings:
    return _new_findings()


def test_intervals_overlap():
    assert intervals_overlap([0, 1], [1, 2]) is True
    assert intervals_overlap([0, 1], [1.01, 2]) is False
    assert intervals_overlap([3, 4], [0, 1]) is False
    assert intervals_overlap(None, [0, 1]) is None


def test_identical_audits_have_no_change(old):
    result = diff_findings(old, old, OLD_MANIFEST, OLD_MANIFEST)
    assert not result.regressed and result.input_changes == []
    assert all(d.direction == "same" and not d.reasons for d in result.families)
    measured = [d for d in result.families if d.coverage_ratio.old is not None]
    assert len(measured) == 5 and all(d.coverage_ratio.delta == 0 for d in measured)
    assert all(d.coverage_ratio.ci_overlap for d in measured)


def test_changes_per_family(old, new):
    result = diff_findings(old, new, threshold=0.1)
    by_id = {d.family_id: d for d in result.families}
    assert set(by_id) == {"refusal", "privacy", "escalation", "uncertainty", "tone"}

    unc = by_id["uncertainty"]
    assert unc.performance_score.delta == pytest.approx(-0.17)
    assert unc.performance_score.ci_overlap is False
    assert unc.severity.changed is False  # still medium: weak before and after
    assert unc.regressed and "performance score fell by 0.17" in unc.reasons[0]

    tone = by_id["tone"]
    assert tone.coverage_status.changed is False
    assert tone.coverage_ratio.relative == pytest.approx(0.5 / 2.2 - 1)
    assert tone.regressed and "coverage ratio fell by 77%" in tone.reasons[0]

    esc = by_id["escalation"]
    assert esc.coverage_ratio.relative == pytest.approx(0.15 / 0.19 - 1)
    assert esc.coverage_ratio.ci_overlap is True
    assert not esc.regressed and "intervals overlap" in esc.notes[0]

    ref = by_id["refusal"]
    assert ref.direction == "better" and (ref.severity.old, ref.severity.new) == ("critical", "none")
    assert (ref.performance_status.old, ref.performance_status.new) == ("weak", "ok")
    assert not ref.regressed

    assert [f.family_id for f in result.families_added] == ["complaints"]
    assert [f.family_id for f in result.families_removed] == ["legal-advice"]
    assert result.regressed and len(result.regressions) == 2
    # regressions first, the most severe of them first
    assert [d.family_id for d in result.families[:2]] == ["uncertainty", "tone"]

    changed = {c.key: (c.old, c.new) for c in result.input_changes}
    assert changed["audit.profile.version"] == ("1.2", "1.3")
    assert changed["audit.model"] == ("SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct-ft2")
    assert changed["settings.k"] == ("4", "5")


def test_severity_rise_is_a_regression_whatever_the_threshold(old):
    data = json.loads(FINDINGS.read_text(encoding="utf-8"))
    tone = next(f for f in data["families"] if f["id"] == "tone")
    tone["performance"].update(status="weak")  # low importance: none -> low
    worse = _refresh(data)
    result = diff_findings(old, worse, threshold=10.0)
    tone_diff = next(d for d in result.families if d.family_id == "tone")
    assert tone_diff.direction == "worse" and tone_diff.regressed
    assert tone_diff.reasons == ["severity rose from none to low"]


def test_threshold_decides_the_size_that_counts(old, new):
    loose = diff_findings(old, new, threshold=0.8)
    assert not loose.regressed  # -77% coverage and -0.17 score are below 0.8
    with pytest.raises(CgGovError, match="threshold"):
        diff_findings(old, new, threshold=-1)


def test_manifest_changes_are_listed(tmp_path, old, new):
    new_manifest = json.loads(json.dumps(OLD_MANIFEST))
    new_manifest["inputs"][0]["sha256"] = "c" * 64
    new_manifest["dictionary"]["identity"] = "sha256:0000"
    dump_findings(old, tmp_path / "old" / "findings.json")
    atomic_write_json(tmp_path / "old" / "manifest.json", OLD_MANIFEST)
    dump_findings(new, tmp_path / "new" / "findings.json")
    atomic_write_json(tmp_path / "new" / "manifest.json", new_manifest)
    # a folder on one side, a findings.json file on the other
    result = diff_paths(tmp_path / "old", tmp_path / "new" / "findings.json")
    changed = {c.key: (c.old, c.new) for c in result.input_changes}
    assert changed["manifest.inputs[0].sha256"] == ("a" * 64, "c" * 64)
    assert changed["manifest.dictionary.identity"] == ("sha256:3f9a0c1e5b7d2a4f", "sha256:0000")
    assert "manifest.inputs[1].sha256" not in changed
    assert result.old.has_manifest and result.new.has_manifest


def test_cli_writes_json_html_pdf_and_exits_1_on_regression(tmp_path, old, new, capsys):
    dump_findings(old, tmp_path / "old" / "findings.json")
    dump_findings(new, tmp_path / "new" / "findings.json")
    out = tmp_path / "diff"
    code = cli_main(["diff", str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "REGRESSED" in printed and "+ complaints" in printed and "- legal-advice" in printed
    result = DiffResult.model_validate_json((out / "diff.json").read_text())
    assert result.regressed and result.threshold == 0.1
    html = (out / "diff.html").read_text()
    assert "Regression" in html and "legal-advice" in html and "<script" not in html
    pdf = (out / "diff.pdf").read_bytes()
    streams = pdf_streams(pdf)
    assert (out / "diff.json").read_bytes() in streams
    assert any(b'pdfaid:part="3"' in s for s in streams)

    assert cli_main(["diff", str(tmp_path / "old"), str(tmp_path / "old")]) == 0
    # past a loose threshold nothing regressed (no severity rose); only diff.json is asked for
    assert cli_main(["diff", str(tmp_path / "old"), str(tmp_path / "new"), "--threshold", "0.9",
                     "--out", str(tmp_path / "d2"), "--formats", "json"]) == 0
    assert sorted(p.name for p in (tmp_path / "d2").iterdir()) == ["diff.json"]


def test_missing_input_is_a_user_error(tmp_path):
    with pytest.raises(CgGovError, match="not found"):
        diff_paths(tmp_path / "nope", FINDINGS)
