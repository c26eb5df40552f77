"""Warm re-runs and the workload re-check, timed on the demo.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/rerun.py [--workload FILE] [--rounds 2]

Runs the demo audit once to fill the caches, then, ``--rounds`` times each: the same audit again
(nothing changed; the report rendered as HTML and PDF), the audit writing findings.json only, and
``cg-gov recheck`` of the first run's folder against a workload sample (default: the demo's tau2
customer-service tasks). Each run is a fresh process, as a user's would be. Prints each time and its
ratio to the warm re-run measured in the same session (these machines are noisy: read ratios).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "specs" / "audits" / "demo.yaml"


def timed(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cg_gov", *args], cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default=str(REPO / "data" / "demo" / "logs" / "tau2.jsonl"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="cg_gov_rerun_") as tmp:
        tmp_path = Path(tmp)
        approved = tmp_path / "approved"
        now = ["--now", "2026-12-02T12:00:00Z"]
        first = timed(["audit", str(DEMO), "--out", str(approved), *now], env)
        print(f"first run (fills the caches): {first:.1f} s")
        rows: dict[str, list[float]] = {"warm re-run, HTML + PDF": [], "recheck with a new workload": []}
        for r in range(args.rounds):
            rows["warm re-run, HTML + PDF"].append(timed(["audit", str(DEMO), "--out", str(tmp_path / f"again{r}"),
                                                          *now], env))
            rows["recheck with a new workload"].append(timed(
                ["recheck", str(approved), "--workload", args.workload, "--spec", str(DEMO),
                 "--out", str(tmp_path / f"recheck{r}"), *now], env))
        base = min(rows["warm re-run, HTML + PDF"])
        for name, times in rows.items():
            best = min(times)
            print(f"{name}: best {best:.1f} s of {len(times)} (all: {', '.join(f'{t:.1f}' for t in times)}); "
                  f"ratio to the warm re-run {best / base:.2f}")
        same = (approved / "findings.json").read_bytes() == (tmp_path / "again0" / "findings.json").read_bytes()
        print(f"warm re-run's findings.json identical to the first run's: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
