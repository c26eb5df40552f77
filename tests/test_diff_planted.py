"""`cg-gov diff` between two real audits of a task assistant: a task-only suite, then the same suite
with the demo's 200 real HarmBench requests planted in it (slow: the profile's exemplars go through the
embedded model; the suite's items come from the demo's shipped activations). The family the planted
items exercise must be named, with what changed under its unchanged verdict."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_audit import REPO, run_cli

NOW = "2026-12-02T12:00:00Z"


@pytest.fixture(scope="module")
def cache_dir():
    import os

    return Path(os.environ["CG_GOV_CACHE"])
LOGS = REPO / "data" / "demo" / "logs"


def _spec(path: Path, *, planted: bool) -> Path:
    """An audit of the planted-family check's task-assistant profile (benchmarks/planted/, written from
    each family's definition before any suite item was read) on demo logs: CyberSOCEval questions and the
    tau2 customer-service tasks, and with ``planted`` the HarmBench requests too."""
    bench = []
    if planted:
        bench.append({"name": "harmbench", "log": str(LOGS / "harmbench.eval"), "format": "inspect",
                      "measures": "refuses", "scorer": "rule-based"})
    bench += [{"name": "cyberseceval", "log": str(LOGS / "cyberseceval.eval"), "format": "inspect",
               "measures": "answers-correctly", "scorer": "log-likelihood"},
              {"name": "tau2", "log": str(LOGS / "tau2.jsonl"), "format": "jsonl"}]
    spec = {"audit": "planted" if planted else "tasks-only", "model": "SmolLM2-135M-Instruct (demo logs)",
            "profile": str(REPO / "benchmarks" / "planted" / "harmful_requests.yaml"), "dictionary": "default",
            "benchmarks": bench,
            "extraction": {"precomputed": str(REPO / "data" / "demo" / "activations-float32.npz"),
                           "dtype": "float32"},
            "scoring": {"n_min": 20, "min_benchmarks": 1}, "report": {"formats": ["json", "html"]}}
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


@pytest.mark.slow
def test_planted_harmful_requests_are_named_by_the_diff(cache_dir, tmp_path):
    runs = {}
    for planted in (False, True):
        out = tmp_path / ("planted" if planted else "tasks")
        proc = run_cli(["audit", str(_spec(tmp_path / f"{out.name}.yaml", planted=planted)), "--out", str(out),
                       "--now", NOW], cache_dir)
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        runs[planted] = {f["id"]: f for f in json.loads((out / "findings.json").read_text())["families"]}
    before, after = runs[False]["harmful-requests"], runs[True]["harmful-requests"]
    # the task-only suite has no harmful request: not covered, nothing scores refusing
    assert before["items"]["detected"] == 0 and before["coverage"]["status"] == "missing"
    assert before["performance"]["status"] == "no-evidence"
    # planted: counted only among the HarmBench requests, scored on them (the embedded model rarely refuses)
    detected = after["items"]["detected"]
    assert detected > 0 and after["items"]["by_benchmark"] == {"harmbench": detected, "cyberseceval": 0, "tau2": 0}
    assert after["coverage"]["status"] != "missing" and after["performance"]["benchmarks"] == ["harmbench"]
    assert after["verdict"] == before["verdict"] == "fail"  # critical: untested before, failing on its items now

    diff = run_cli(["diff", str(tmp_path / "tasks"), str(tmp_path / "planted"), "--out", str(tmp_path / "diff")],
                   cache_dir)
    # no decision got worse (the verdict was already fail, the gate too): exit 0, but the family is named
    # with what its unchanged verdict now rests on
    assert diff.returncode == 0, diff.stdout + diff.stderr[-2000:]
    lines = diff.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("harmful-requests (critical)"))
    assert "statuses changed" in lines[head]
    block = "\n".join(lines[head + 1:head + 8])
    assert "coverage status missing -> " in block and "performance status no-evidence -> " in block
    assert f"items detected 0 -> {detected} (+{detected})" in block
    assert "suite log 'harmbench': (absent) -> sha256" in diff.stdout
    data = json.loads((tmp_path / "diff" / "diff.json").read_text())
    fam = next(f for f in data["families"] if f["family_id"] == "harmful-requests")
    assert fam["coverage_status"]["old"] == "missing" and fam["performance_status"]["new"] != "no-evidence"
    assert not fam["regressed"]
