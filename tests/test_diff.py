"""cg-gov diff: decisions first (gate, verdicts, requirements, visibility), values beside them, inputs by
name, baseline changes, exit codes; on realistic variants of the committed example audits."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from pathlib import Path

import pytest
from pdfstreams import pdf_streams

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cg_gov.cli import main as cli_main
from cg_gov.findings.diff import (REQUIREMENT_RANK, VISIBILITY_RANK, DiffResult, compare_rank, diff_findings,
                                 diff_paths, intervals_overlap, items_changes)
from cg_gov.findings.verdict import coverage_status
from cg_gov.errors import CgGovError
from cg_gov.findings import Family, Findings, build_summary, dump_findings, load_findings, rule_fields
from cg_gov.io import atomic_write_json

# The support-assistant audit of tests/fixtures/findings/support_assistant.json (as committed in schema
# 3), in rule v4's words, for these tests only: coverage measured against its workload sample
# 'support-tickets-2025-12' (coverage ratio = the suite's share of family items / the workload's share;
# ``items`` counts them, ``items.workload_share`` beside), visibility verified -> confirmed, weak -> weak,
# unverified -> unconfirmed (legal-advice, with no detector, cannot-tell), verdicts by rule v4.
FINDINGS = Path(__file__).parent / "fixtures" / "findings" / "support_assistant.diff.json"
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


def _recount(fam: dict, ratio: float, ci: list[float], k: float) -> None:
    """A later suite's coverage of ``fam`` against the same workload sample: the family items (count,
    share and its interval, per benchmark) that give coverage ratio ``ratio`` [``ci``], and the
    coverage status by the rule."""
    items, cov = fam["items"], fam["coverage"]
    w = items["workload_share"]
    detected = round(ratio * w * items["n_suite"])
    scale = detected / items["detected"]
    by = {b: round(n * scale) for b, n in items["by_benchmark"].items()}
    by[next(iter(by))] += detected - sum(by.values())
    items.update(detected=detected, by_benchmark=by, share=ratio * w, share_ci=[c * w for c in ci])
    cov.update(ratio=ratio, ci=ci)
    cov["status"] = coverage_status(True, float(detected), cov["min_items"], ratio, k, items["share_ci"][1], w)


def _new_findings() -> Findings:
    """A later audit of the same workflow: one family worse, one better, one moved within noise."""
    data = json.loads(FINDINGS.read_text(encoding="utf-8"))
    data["audit"]["id"] = "support-assistant-2026q2"
    data["audit"]["model"] = "SmolLM2-135M-Instruct-ft2"
    fam = {f["id"]: f for f in data["families"]}
    data["settings"]["k"] = k = 5
    # uncertainty: the model got clearly worse (0.47 [0.41, 0.53] -> 0.30 [0.25, 0.35])
    fam["uncertainty"]["performance"].update(score=0.30, score_ci=[0.25, 0.35], lift=-0.2, ci=[-0.25, -0.15])
    # tone: 220 -> 50 of the suite's 1450 items, so its coverage ratio against the same workload sample
    # fell from 2.2 [1.8, 2.7] to 0.5 [0.4, 0.6]: -77%, intervals apart; still "covered" (above 1/k)
    _recount(fam["tone"], 0.5, [0.4, 0.6], k)
    fam["tone"]["performance"].update(n_scored=45, n_eff=45.0)
    # escalation: 38 -> 30 items, ratio 0.19 -> 0.15 (-21%) but the intervals overlap: noise, not a
    # regression (still under-represented, as it was)
    _recount(fam["escalation"], 0.15, [0.08, 0.25], k)
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

    # uncertainty: the score fell clearly, but the verdict (pass) held: a value change, not a regression
    unc = by_id["uncertainty"]
    assert unc.performance_score.delta == pytest.approx(-0.17)
    assert unc.performance_score.ci_overlap is False
    assert unc.severity.changed is False and unc.verdict.changed is False
    assert not unc.regressed and unc.reasons == []
    assert any(v.startswith("performance score 0.47 [0.41, 0.53] -> 0.30 [0.25, 0.35] (-0.17)")
               and v.endswith("worse past the threshold") for v in unc.value_changes)

    tone = by_id["tone"]
    assert tone.coverage_status.changed is False
    assert tone.coverage_ratio.relative == pytest.approx(0.5 / 2.2 - 1)
    assert not tone.regressed and "(-77%), intervals apart: worse past the threshold" in tone.value_changes[0]
    assert (tone.items_detected.old, tone.items_detected.new) == (220, 50)

    esc = by_id["escalation"]
    assert esc.coverage_ratio.relative == pytest.approx(0.15 / 0.19 - 1)
    assert esc.coverage_ratio.ci_overlap is True
    assert not esc.regressed and esc.value_changes[0].endswith("intervals overlap: within noise")

    ref = by_id["refusal"]
    assert ref.direction == "better" and (ref.verdict.old, ref.verdict.new) == ("fail", "pass")
    assert (ref.performance_status.old, ref.performance_status.new) == ("weak", "ok")
    assert (ref.requirement_performance.old, ref.requirement_performance.new) == ("not-met", "met")
    assert not ref.regressed and "verdict improved: fail -> pass" in ref.notes

    assert [f.family_id for f in result.families_added] == ["complaints"]
    assert not result.families_added[0].regressed  # added passing
    # legal-advice was conditional: dropping it from the profile drops a condition of the approval
    (removed,) = result.families_removed
    assert (removed.family_id, removed.regressed, removed.reason) == ("legal-advice", True, "removed while conditional")
    assert result.regressed and result.verdict == "re-approval needed"
    assert result.regressions == [result.regressions[0]] and result.regressions[0].startswith(
        "Family 'legal-advice' (high importance) removed while conditional: ")

    changed = {c.key: (c.old, c.new) for c in result.input_changes}
    assert changed["audit.profile.version"] == ("1.2", "1.3")
    assert changed["audit.model"] == ("SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct-ft2")
    assert changed["settings.k"] == ("4.0", "5.0")  # typed: k is a float, however the file wrote it
    named = {c.name: (c.kind, c.old, c.new) for c in result.inputs_changed}
    assert named["profile version"] == ("profile", "1.2", "1.3")
    assert named["model"] == ("model", "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct-ft2")
    assert named["setting k"] == ("setting", "4.0", "5.0")
    assert "family 'complaints' text" not in named  # an added family is listed as added


def test_severity_rise_without_a_verdict_change_is_a_note(old):
    data = json.loads(FINDINGS.read_text(encoding="utf-8"))
    tone = next(f for f in data["families"] if f["id"] == "tone")
    tone["performance"].update(status="weak")  # low importance: severity none -> low, verdict still pass
    result = diff_findings(old, _refresh(data), threshold=10.0)
    tone_diff = next(d for d in result.families if d.family_id == "tone")
    assert tone_diff.direction == "worse" and not tone_diff.regressed
    assert tone_diff.notes == ["severity rose from none to low; the verdict is unchanged (pass)"]
    assert not result.regressed and result.verdict == "no re-approval needed"


def test_threshold_decides_which_value_changes_are_called_out(old, new):
    loose = {d.family_id: d for d in diff_findings(old, new, threshold=0.8).families}
    assert loose["tone"].value_changes[0].endswith("below the threshold")  # -77% is within 80%
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
    named = {c.name: (c.old, c.new) for c in result.inputs_changed}
    assert named["suite log 'benchmarks/harmbench.jsonl'"] == (f"sha256 {'a' * 64}, None items",
                                                              f"sha256 {'c' * 64}, None items")


def test_cli_writes_json_html_pdf_and_exits_1_on_regression(tmp_path, old, new, capsys):
    dump_findings(old, tmp_path / "old" / "findings.json")
    dump_findings(new, tmp_path / "new" / "findings.json")
    out = tmp_path / "diff"
    code = cli_main(["diff", str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "+ complaints (added, high, verdict pass)" in printed
    assert "- legal-advice (removed, high, was conditional) [REGRESSED: removed while conditional]" in printed
    assert "  profile version: 1.2 -> 1.3" in printed
    assert printed.rstrip().endswith("re-approval needed: 1 regression(s)\nregressed")
    result = DiffResult.model_validate_json((out / "diff.json").read_text())
    assert result.regressed and result.threshold == 0.1 and result.verdict == "re-approval needed"
    html = (out / "diff.html").read_text()
    assert "Regression: re-approval needed" in html and "legal-advice" in html and "<script" not in html
    pdf = (out / "diff.pdf").read_bytes()
    streams = pdf_streams(pdf)
    assert (out / "diff.json").read_bytes() in streams
    assert any(b'pdfaid:part="3"' in s for s in streams)

    assert cli_main(["diff", str(tmp_path / "old"), str(tmp_path / "old")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no re-approval needed: no decision got worse\nno regression")
    # the threshold sizes value changes only: the removed conditional family still needs re-approval
    assert cli_main(["diff", str(tmp_path / "old"), str(tmp_path / "new"), "--threshold", "0.9",
                     "--out", str(tmp_path / "d2"), "--formats", "json"]) == 1
    assert sorted(p.name for p in (tmp_path / "d2").iterdir()) == ["diff.json"]


def test_missing_input_is_a_user_error(tmp_path):
    with pytest.raises(CgGovError, match="not found"):
        diff_paths(tmp_path / "nope", FINDINGS)


# ---------------------------------------------------------------------------
# Realistic variants of the committed example audits (reports/example, reports/vendor-example)
# ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "reports" / "example"
VENDOR = ROOT / "reports" / "vendor-example"
# The committed demo's families that keep the gate from passing (see tests/test_demo_outcome.py)
FAILING = ["escalation", "privacy", "refusal"]  # all three critical
CONDITIONAL = ["billing-and-numbers", "policy-compliance", "uncertainty"]  # all three high
NOT_PASSING = sorted(FAILING + CONDITIONAL)  # without them the demo's gate passes (empathy, time-and-dates)


def _example(folder: Path = EXAMPLE) -> tuple[dict, dict]:
    """A committed report's findings.json and manifest.json, as dicts to edit."""
    return (json.loads((folder / "findings.json").read_text(encoding="utf-8")),
            json.loads((folder / "manifest.json").read_text(encoding="utf-8")))


def _rederive(part: dict) -> dict:
    """Let the rule compute every family's verdict from its statuses, and the summary from the families
    (``part`` is a findings dict, or one candidate of a vendor audit)."""
    for f in part["families"]:
        f.update(rule_fields(f))
    suite_level = [r for r in part["summary"]["gate_failures"] if not r.startswith("Family '")]
    part["summary"] = build_summary([Family.model_validate(f) for f in part["families"]], extra_failures=suite_level,
                                    exploratory=part["summary"].get("exploratory", [])).model_dump(mode="json")
    return part


def _write(folder: Path, data: dict, manifest: dict) -> Path:
    """A report folder: findings.json (validated as cg-gov reads it) and its manifest, whose findings
    hash (where the manifest records one) is that of the file written."""
    path = dump_findings(Findings.model_validate(data), folder / "findings.json")
    manifest = copy.deepcopy(manifest)
    if "findings_sha256" in manifest:
        manifest["findings_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    atomic_write_json(folder / "manifest.json", manifest)
    return folder


def _wilson(k: int, n: int, z: float = 1.959964) -> list[float]:
    """95% Wilson interval of k of n (as the audit gives ``items.share_ci``)."""
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [(centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)]


def _escalation_tested(data: dict) -> dict:
    """escalation as a suite with an escalation benchmark would give it: 60 counted items, scored by a
    benchmark that measures `escalates` (performance ok), the detector confirmed by the owner's labels,
    and the profile's ``require.coverage: 0.5`` (checked against a workload sample). The committed demo
    has no such benchmark: there escalation fails on no evidence."""
    esc = next(f for f in data["families"] if f["id"] == "escalation")
    n = esc["items"]["n_suite"]
    esc["items"].update(detected=60, by_benchmark={**esc["items"]["by_benchmark"], "donotanswer": 15, "tau2": 45},
                        share=60 / n, share_ci=_wilson(60, n), estimated=62.0, estimated_ci=[52.0, 75.0], confirmed=18)
    esc["performance"].update(status="ok", benchmarks=["tau2"], score=0.91, score_ci=[0.79, 0.96], lift=0.06,
                              ci=[0.01, 0.11], p=0.02, q=0.05, n_scored=45, n_eff=45.0)
    esc["visibility"].update(status="confirmed", precision=0.9, precision_ci=[0.6, 0.98])
    esc["requirement"]["min_coverage_ratio"] = 0.5
    return _rederive(data)


def _on_workload(data: dict, manifest: dict, name: str, sha: str, ratios: dict[str, float | None],
                 default: float = 1.0) -> None:
    """The audit measured against a workload sample ``name`` of 500 items whose share of family F's items
    makes the suite's share ``ratios[F]`` times it (``default`` otherwise; None: the sample has no F
    item): ``items.workload_share`` and ``workload_detected``, the coverage ratio (suite share / workload
    share) with its interval (the suite share's over the workload share), coverage statuses by the rule,
    the drift section and the manifest's reference file."""
    k = data["settings"]["k"]
    data["settings"]["reference"] = name
    drift = []
    for f in data["families"]:
        items, cov = f["items"], f["coverage"]
        cov["reference"] = name
        target = ratios.get(f["id"], default)
        w = 0.0 if target is None else items["share"] / target if items["share"] > 0 else 0.02
        items.update(workload_share=w, workload_detected=round(w * 500))
        ratio = items["share"] / w if w else None
        cov.update(ratio=ratio, ci=[c / w for c in items["share_ci"]] if w else None)
        visible = cov["status"] != "not-visible"
        count = items["estimated"] if items.get("estimated") is not None else items["detected"]
        cov["status"] = coverage_status(visible, float(count), cov["min_items"], ratio, k, items["share_ci"][1], w)
        drift.append({"family_id": f["id"], "traffic_share": 1 / len(data["families"]), "coverage_ratio": ratio,
                      "ci": cov["ci"], "status": coverage_status(visible, float(items["detected"]), 1, ratio, k,
                                                                 items["share_ci"][1], w)})
    data["drift"] = {"reference": name, "n_items": 500, "families": drift, "untested_concepts": []}
    manifest["reference"] = {"name": name, "format": "jsonl", "path": f"data/workload/{name}.jsonl", "sha256": sha}
    _rederive(data)


def _drop(data: dict, ids: list[str]) -> dict:
    data["families"] = [f for f in data["families"] if f["id"] not in ids]
    return _rederive(data)


def _run(capsys, *args: str) -> tuple[int, str]:
    code = cli_main(["diff", *args])
    return code, capsys.readouterr().out


def test_the_committed_example_still_loads_and_matches_itself(tmp_path, capsys):
    data, manifest = _example()
    _write(tmp_path / "copy", data, manifest)
    code, out = _run(capsys, str(EXAMPLE), str(tmp_path / "copy"))
    assert code == 0 and "inputs changed" not in out and "REGRESSED" not in out


def test_shifted_workload_sample_fails_a_critical_family_and_the_gate(tmp_path, capsys):
    """Approval-time sample, then a shifted one: escalation (critical, coverage >= 0.5) goes pass -> fail
    and the gate pass -> fail. Only escalation (tested and confirmed, see ``_escalation_tested``) and the
    demo's passing families are in this profile, so the approved audit passed."""
    old, manifest = _example()
    new, new_manifest = _example()
    for data in (old, new):
        _escalation_tested(data)
        _drop(data, [f for f in NOT_PASSING if f != "escalation"])
    _on_workload(old, manifest, "support-traffic", "a" * 64, {})
    _on_workload(new, new_manifest, "support-traffic", "b" * 64, {"escalation": 0.35})
    assert old["summary"]["gate"] == "pass" and new["summary"]["gate"] == "fail"
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)

    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(tmp_path / "d"))
    assert code == 1
    assert "gate: pass -> fail [REGRESSED]" in out
    assert "  escalation (critical): verdict pass -> fail, severity none [REGRESSED]" in out
    assert "coverage requirement met -> not-met (coverage ratio required >= 0.50, observed 0.35 [0.27, 0.45])" in out
    assert f"  workload sample: support-traffic (sha256 {'a' * 64}) -> support-traffic (sha256 {'b' * 64})" in out
    assert "baseline changed" not in out  # a new sample of the same workload is what a re-check measures
    assert out.rstrip().endswith("re-approval needed: 2 regression(s)\nregressed")

    result = DiffResult.model_validate_json((tmp_path / "d" / "diff.json").read_text())
    assert result.verdict == "re-approval needed" and result.gate_regressed
    assert (result.gate.old, result.gate.new) == ("pass", "fail")
    assert result.regressions[0] == "The deployment gate went from pass to fail."
    esc = result.families[0]
    assert esc.family_id == "escalation" and esc.regressed and esc.baseline == []
    assert (esc.verdict.old, esc.verdict.new, esc.gate_effect.new) == ("pass", "fail", "fail")
    assert (esc.requirement_coverage.old, esc.requirement_coverage.new) == ("met", "not-met")
    assert (esc.coverage_status.old, esc.coverage_status.new) == ("covered", "covered")  # 0.35 > 1/k
    assert esc.reasons[0] == "verdict pass -> fail (gate effect none -> fail)"
    assert esc.value_changes[0] == ("coverage ratio 1.00 [0.78, 1.28] -> 0.35 [0.27, 0.45] (-65%), intervals apart: "
                                    "worse past the threshold")
    assert [d.family_id for d in result.families if d.regressed] == ["escalation"]
    html = (tmp_path / "d" / "diff.html").read_text()
    assert "Regression: re-approval needed" in html and "No family got worse" not in html
    assert "verdict pass -&gt; fail (gate effect none -&gt; fail)" in html and "workload sample" in html


def test_first_workload_sample_is_a_baseline_change_not_six_regressions(tmp_path, capsys):
    """No workload sample -> a sample: every family's coverage ratio now exists, measured against the
    sample. That is said as a baseline change naming the families; the verdicts held, so no re-approval
    is needed."""
    old, manifest = _example()
    new, new_manifest = _example()
    _on_workload(new, new_manifest, "support-traffic", "a" * 64, {}, default=0.55)
    assert [f["coverage"]["status"] for f in new["families"]] == [f["coverage"]["status"] for f in old["families"]]
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)

    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(tmp_path / "d"))
    assert code == 0, out
    assert ("baseline changed: coverage reference: 'dictionary reference corpus (2042 held-out windows)' (no "
            "workload sample) -> workload sample 'support-traffic'; affects billing-and-numbers, empathy, escalation, "
            "policy-compliance, privacy, refusal, time-and-dates, uncertainty") in out
    assert "  coverage reference: " in out
    assert f"  workload sample: (absent) -> support-traffic (sha256 {'a' * 64})" in out
    assert "REGRESSED" not in out
    assert out.rstrip().endswith("no re-approval needed: no decision got worse\nno regression")
    result = DiffResult.model_validate_json((tmp_path / "d" / "diff.json").read_text())
    (baseline,) = result.baseline_changes
    assert baseline.what == "coverage reference" and len(baseline.affects) == 8
    assert not result.regressed and all(d.baseline == ["coverage reference"] for d in result.families)
    uncertainty = next(d for d in result.families if d.family_id == "uncertainty")
    (value,) = uncertainty.value_changes  # the ratio now exists; nothing else moved
    assert value.startswith("coverage ratio n/a -> 0.55 [0.51, 0.59]") and "coverage reference" in value
    named = {c.name: c for c in result.inputs_changed}
    assert named["coverage reference"].baseline and named["workload sample"].kind == "workload"
    assert "setting reference" not in named  # said once, as the coverage reference
    html = (tmp_path / "d" / "diff.html").read_text()
    assert "Baseline changes" in html and "baseline changed" in html and "No regression: no re-approval needed" in html



def test_first_workload_sample_lists_the_moved_ratios_on_stdout(tmp_path, capsys):
    """Without a workload sample no family has a coverage ratio (rule v4); with the first sample each has
    one. stdout lists each family with its ratio marked "baseline changed" (README: "the values it moved
    are marked 'baseline changed', not regressed"), as diff.json does."""
    old, manifest = _example()
    new, new_manifest = _example()
    _on_workload(new, new_manifest, "support-traffic", "a" * 64, {}, default=0.55)
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)
    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"))
    assert code == 0, out
    lines = out.splitlines()
    head = "  uncertainty (high): verdict conditional (unchanged), severity high [baseline changed]"
    assert head in lines, out
    value = lines[lines.index(head) + 1]
    assert value.startswith("      value: coverage ratio n/a -> 0.55 [0.51, 0.59]") and "baseline changed" in value

def test_removing_the_failing_families_is_a_regression(tmp_path, capsys):
    """The profile drops the three failing and three conditional families: the gate passes, and each
    removal needs re-approval."""
    old, manifest = _example()
    new, new_manifest = _example()
    _drop(new, NOT_PASSING)
    new["audit"]["profile"]["version"] = new_manifest["profile"]["version"] = "1.5"
    new_manifest["profile"]["sha256"] = "d" * 64
    assert new["summary"]["gate"] == "pass"
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)

    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(tmp_path / "d"))
    assert code == 1
    assert "gate: fail -> pass" in out and "gate: fail -> pass [REGRESSED]" not in out
    for fid in NOT_PASSING:
        assert f"  - {fid} (removed, " in out
    assert "  - privacy (removed, critical, was fail) [REGRESSED: removed while failing]" in out
    assert "  - uncertainty (removed, high, was conditional) [REGRESSED: removed while conditional]" in out
    assert "  profile version: 1.4 -> 1.5" in out and "  profile file: " in out
    result = DiffResult.model_validate_json((tmp_path / "d" / "diff.json").read_text())
    assert sorted(f.family_id for f in result.families_removed if f.regressed) == NOT_PASSING
    assert {f.family_id: f.reason for f in result.families_removed} == {
        **{fid: "removed while failing" for fid in FAILING},
        **{fid: "removed while conditional" for fid in CONDITIONAL}}
    assert len(result.regressions) == 6
    by_family = {r.split("'")[1]: r for r in result.regressions}
    assert by_family["refusal"].startswith(
        "Family 'refusal' (critical importance) removed while failing: requirement not met: score required >= 0.8, "
        "observed 0.23 [0.20, 0.27]")
    assert by_family["privacy"].startswith(
        "Family 'privacy' (critical importance) removed while failing: no evidence: no benchmark of the suite scores "
        "protects-personal-data; cannot tell: score required >= 0.85")
    assert not any(d.regressed for d in result.families)


def test_a_new_failing_family_and_a_changed_family_text(tmp_path, capsys):
    old, manifest = _example()
    new, new_manifest = _example()
    refunds = copy.deepcopy(next(f for f in new["families"] if f["id"] == "billing-and-numbers"))
    refunds.update(id="refunds", importance="critical", description="Refunds: amounts and eligibility.")
    new["families"].append(refunds)
    empathy = next(f for f in new["families"] if f["id"] == "empathy")
    empathy["description"] = "Acknowledging frustration."
    _rederive(new)
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)

    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"))
    assert code == 1
    assert "  + refunds (added, critical, verdict fail) [REGRESSED: added failing]" in out
    assert "  family 'empathy' text: Acknowledging frustration or distress" in out
    result = diff_paths(tmp_path / "old", tmp_path / "new")
    assert [(f.family_id, f.reason) for f in result.families_added] == [("refunds", "added failing")]
    # billing-and-numbers is conditional at high importance; at critical its weak detector fails the gate
    # (the committed example's figures: 64 labels over two review rounds, 10 yes of 25 counted items)
    assert result.regressions == ["Family 'refunds' (critical importance) added failing: detector not confirmed "
                                  "(weak: on the owner's labelled sample AUROC 0.99 [0.98, 1.00], precision of "
                                  "counted items 0.40 [0.23, 0.59]); cannot tell: score required >= 0.8, the data "
                                  "cannot check it; insufficient data."]
    assert [c.kind for c in result.inputs_changed] == ["family-text"]


def test_vendor_candidate_visibility_drop_is_a_regression_though_the_verdict_holds(tmp_path, capsys):
    old, manifest = _example(VENDOR)
    new, new_manifest = _example(VENDOR)
    gemma = next(m for m in new["models"] if m["name"] == "Gemma-3-270M")
    dates = next(f for f in gemma["families"] if f["id"] == "time-and-dates")  # medium importance, confirmed
    dates["visibility"].update(status="weak", auroc=0.62, ci=[0.5, 0.74])
    _rederive(gemma)
    # performance ok and confirmed: severity none; a weak detector makes it medium (the importance), a pass
    assert dates["verdict"] == "pass" and dates["severity"] == "medium"
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)

    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"), "--model", "Gemma-3-270M")
    assert code == 1
    assert "  time-and-dates (medium): verdict pass (unchanged), severity none -> medium [REGRESSED]" in out
    # the old AUROC is the committed example's (80 labels over two review rounds)
    assert "      visibility confirmed -> weak (AUROC 0.99 [0.99, 1.00] -> 0.62 [0.50, 0.74])" in out
    # the other candidate did not change
    assert _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"), "--model", "SmolLM2-135M-Instruct")[0] == 0


def test_dictionary_and_rule_version_changes_are_baselines(tmp_path):
    old, manifest = _example()
    new, new_manifest = _example()
    old["settings"]["rule_version"], new["settings"]["rule_version"] = 3, 4
    new["audit"]["dictionary"]["identity"] = new_manifest["dictionary"]["identity"] = "f" * 64
    for f in new["families"]:
        if f["performance"]["score"] is not None:
            f["performance"]["score"] = f["performance"]["score"] * 1.5
    _rederive(new)
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, new_manifest)
    result = diff_paths(tmp_path / "old", tmp_path / "new")
    assert [b.what for b in result.baseline_changes] == ["dictionary", "rule version"]
    assert all(len(b.affects) == 8 for b in result.baseline_changes)
    named = {c.name: c for c in result.inputs_changed}
    assert named["dictionary"].baseline and named["rule version"].baseline
    assert (named["rule version"].old, named["rule version"].new) == ("3", "4")
    # refusal: the demo's one family with a score and a score requirement (0.52 -> 0.78, still below 0.80)
    refusal = next(d for d in result.families if d.family_id == "refusal")
    assert refusal.value_changes[0].endswith("baseline changed (dictionary), not comparable")
    assert (refusal.requirement_performance.old, refusal.requirement_performance.new) == ("not-met", "not-met")
    assert not result.regressed


def test_visibility_ranking_accepts_both_vocabularies():
    assert compare_rank(VISIBILITY_RANK, "verified", "confirmed") == "same"
    assert compare_rank(VISIBILITY_RANK, "unverified", "cannot-tell") == "same"
    assert compare_rank(VISIBILITY_RANK, "unverified", "unconfirmed") == "same"
    assert compare_rank(VISIBILITY_RANK, "confirmed", "cannot-tell") == "worse"
    assert compare_rank(VISIBILITY_RANK, "verified", "weak") == "worse"
    assert compare_rank(VISIBILITY_RANK, "unconfirmed", "weak") == "worse"
    assert compare_rank(VISIBILITY_RANK, "weak", "unverified") == "better"
    assert compare_rank(VISIBILITY_RANK, "verified", "hazy") == "unranked"
    assert compare_rank(REQUIREMENT_RANK, "met", "cannot-tell") == "worse"
    assert compare_rank(REQUIREMENT_RANK, None, "not-met") == "same"  # a requirement added: the gate effect says it


def test_items_detected_is_compared_when_both_record_it():
    data, _ = _example()
    old = copy.deepcopy(data["families"][0])
    new = copy.deepcopy(old)
    old["items"].update(detected=120, share=0.05, share_ci=[0.04, 0.06], estimated=130.0)
    new["items"].update(detected=60, share=0.025, share_ci=[0.02, 0.03], confirmed=50)
    detected, share = items_changes(old, new)
    assert (detected.old, detected.new, detected.delta, detected.relative) == (120, 60, -60, -0.5)
    assert share.ci_overlap is False and share.delta == pytest.approx(-0.025)
    legacy = {**data["families"][0], "items": None}  # a family of a schema-3 audit: no items counted
    assert items_changes(legacy, new) == (None, None)


def test_gate_worse_with_no_family_changed_is_a_regression(tmp_path, capsys):
    """A suite-level check fails the gate (pass -> fail) while every family holds: still re-approval."""
    old, manifest = _example()
    _drop(old, NOT_PASSING)
    new = copy.deepcopy(old)
    new["summary"]["gate_failures"].append("The suite's eval logs record no model hash.")
    _rederive(new)
    _write(tmp_path / "old", old, manifest)
    _write(tmp_path / "new", new, manifest)
    code, out = _run(capsys, str(tmp_path / "old"), str(tmp_path / "new"))
    assert code == 1 and "gate: pass -> fail [REGRESSED]" in out
    result = diff_paths(tmp_path / "old", tmp_path / "new")
    assert result.regressions == ["The deployment gate went from pass to fail."]
    assert not any(d.regressed for d in result.families) and result.gate_regressed


def test_requirement_met_to_cannot_tell_is_a_regression():
    """escalation (critical, tested and confirmed, see ``_escalation_tested``) requires coverage >= 0.5;
    a new workload sample with no escalation item gives no ratio, so the requirement cannot be checked."""
    old, manifest = _example()
    new, new_manifest = _example()
    for data in (old, new):
        _escalation_tested(data)
    _on_workload(old, manifest, "support-traffic", "a" * 64, {})
    _on_workload(new, new_manifest, "support-traffic", "b" * 64, {"escalation": None})
    result = diff_findings(Findings.model_validate(old), Findings.model_validate(new))
    (d,) = [d for d in result.families if d.regressed]
    assert d.family_id == "escalation"
    assert (d.requirement_coverage.old, d.requirement_coverage.new) == ("met", "cannot-tell")
    assert d.reasons == ["verdict pass -> fail (gate effect none -> fail)",
                         "coverage requirement met -> cannot-tell (coverage ratio required >= 0.50, observed n/a)"]
    assert d.value_changes == ["coverage ratio 1.00 [0.78, 1.28] -> n/a"]
    assert result.regressed and not result.gate_regressed  # the example's gate failed already


def test_items_requirement_met_to_not_met_is_a_regression():
    """refusal (critical) requires 20 family items (and a score of 0.80, not met: it fails either way).
    A later suite with 12 of them misses the item minimum as well: a requirement went from met to not-met,
    which needs re-approval (README, "Re-checking"), though the verdict was fail already."""
    old, _ = _example()
    new = copy.deepcopy(old)
    ref = next(f for f in new["families"] if f["id"] == "refusal")
    ref["items"].update(detected=12, estimated=12.0, estimated_ci=[8.0, 20.0])
    ref["coverage"]["status"] = coverage_status(True, 12.0, ref["coverage"]["min_items"])
    _rederive(new)
    assert (ref["requirement"]["items_status"], ref["verdict"]) == ("not-met", "fail")
    result = diff_findings(Findings.model_validate(old), Findings.model_validate(new))
    d = next(d for d in result.families if d.family_id == "refusal")
    assert d.regressed and result.regressed
