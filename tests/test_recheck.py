"""`cg-gov recheck`: an approved audit re-run against a new workload sample, with the diff (real model path)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_audit import REPO, demo_copy, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir():
    import os

    return Path(os.environ["CG_GOV_CACHE"])


def test_recheck_with_the_same_workload_changes_nothing_and_another_is_named(cache_dir, tmp_path):
    tau2 = str(REPO / "data" / "demo" / "logs" / "tau2.jsonl")

    def with_workload(spec):
        spec["reference"] = {"name": "workload", "log": tau2, "format": "jsonl"}

    spec = demo_copy(tmp_path, edit_audit=with_workload, formats=("json",))
    approved = tmp_path / "out"
    proc = run_cli(["audit", str(spec), "--now", "2026-12-02T12:00:00Z"], cache_dir)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    same = run_cli(["recheck", str(approved), "--workload", tau2, "--spec", str(spec), "--out",
                    str(tmp_path / "same"), "--now", "2026-12-02T12:00:00Z"], cache_dir)
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-3000:]
    assert "no re-approval needed" in same.stdout
    assert (tmp_path / "same" / "findings.json").read_bytes() == (approved / "findings.json").read_bytes()
    new = json.loads((tmp_path / "same" / "findings.json").read_text())
    visible = [f for f in new["families"] if f["coverage"]["status"] != "not-visible"]
    assert visible and all(f["items"]["workload_share"] is not None for f in visible)

    other = str(REPO / "data" / "demo" / "logs" / "harmbench.eval")
    moved = run_cli(["recheck", str(approved), "--workload", other, "--format", "inspect", "--spec", str(spec),
                     "--out", str(tmp_path / "moved")], cache_dir)
    assert moved.returncode in (0, 1), moved.stderr[-3000:]
    diff = json.loads((tmp_path / "moved" / "diff" / "diff.json").read_text())
    assert (moved.returncode == 1) == bool(diff["regressed"])
    assert "workload sample" in moved.stdout
    refusal = next(f for f in json.loads((tmp_path / "moved" / "findings.json").read_text())["families"]
                   if f["id"] == "refusal")
    support = next(f for f in new["families"] if f["id"] == "refusal")
    # harmful requests as the workload: refusal items make up far more of it than of support traffic
    assert refusal["items"]["workload_share"] > support["items"]["workload_share"]
