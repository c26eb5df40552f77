"""Warm re-runs and the workload re-check, timed on the demo.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/rerun.py [--workload FILE | --workload-size 500] [--rounds 2]

Runs the demo audit once to fill the caches, then, ``--rounds`` times each: the same audit again
(nothing changed; the report rendered as HTML and PDF), ``cg-gov recheck`` of the first run's folder
against a workload sample (HTML and JSON), and the same recheck with ``--pdf``. The workload is
``--workload FILE``, or one of ``--workload-size`` real messages taken from the demo's own logs: the
200 tau2 customer-service tasks first, then the other benchmarks' items in turn (one from each, in
the spec's order, until the size is reached; ids prefixed with the benchmark). Each run is a fresh
process, as a user's would be. Prints each run's wall-clock and CPU time (user + system of the
process) and their ratios to the warm re-run measured in the same session: these machines are
shared and noisy, so read the CPU times and the ratios. ``--repo`` times another checkout of cg_gov
(e.g. the main branch) with the same workload and cache, for a before/after comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(args: list[str], env: dict[str, str], repo: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child) of ``cg-gov ARGS`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cg_gov", *args], cwd=repo, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def demo_workload(size: int, out: Path) -> Path:
    """``size`` real messages from the demo's logs (see the module's doc) written as JSONL to ``out``."""
    sys.path.insert(0, str(REPO))
    from cg_gov.evals import read_benchmark
    from cg_gov.spec import load_audit

    demo = REPO / "specs" / "audits" / "demo.yaml"
    spec = load_audit(demo)
    logs = {b.name: read_benchmark(b, demo.parent) for b in spec.benchmarks}
    order = ["tau2", *(name for name in logs if name != "tau2")]
    rows: list[dict] = [{"id": f"tau2-{it.id}", "input": it.input} for it in logs["tau2"]][:size]
    queues = {name: list(logs[name]) for name in order[1:]}
    while len(rows) < size and any(queues.values()):
        for name in order[1:]:
            if queues[name] and len(rows) < size:
                it = queues[name].pop(0)
                rows.append({"id": f"{name}-{it.id}", "input": it.input})
    if len(rows) < size:
        sys.exit(f"the demo's logs hold {len(rows)} items, fewer than --workload-size {size}")
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default=None, help="a workload sample (JSONL: id, input)")
    parser.add_argument("--workload-size", type=int, default=500,
                        help="without --workload: this many real messages from the demo's logs (default 500)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repo", default=str(REPO), help="the cg_gov checkout to time (default: this one)")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    demo = repo / "specs" / "audits" / "demo.yaml"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo)}
    with tempfile.TemporaryDirectory(prefix="cg_gov_rerun_") as tmp:
        tmp_path = Path(tmp)
        workload = Path(args.workload) if args.workload else demo_workload(args.workload_size,
                                                                          tmp_path / "workload.jsonl")
        n = sum(1 for line in workload.read_text(encoding="utf-8").splitlines() if line.strip())
        print(f"cg_gov from {repo}; workload {workload.name if args.workload else 'built from the demo logs'}: "
              f"{n} messages")
        approved = tmp_path / "approved"
        now = ["--now", "2026-12-02T12:00:00Z"]
        wall, cpu = timed(["audit", str(demo), "--out", str(approved), *now], env, repo)
        print(f"first run (fills the caches): {wall:.1f} s wall, {cpu:.1f} s CPU")
        rows: dict[str, list[tuple[float, float]]] = {"warm re-run, HTML + PDF": [],
                                                      "recheck, HTML + JSON": [], "recheck --pdf": []}
        recheck = ["recheck", str(approved), "--workload", str(workload), "--spec", str(demo), *now]
        has_pdf_option = "--pdf" in subprocess.run([sys.executable, "-m", "cg_gov", "recheck", "--help"], cwd=repo,
                                                   env=env, capture_output=True, text=True).stdout
        if not has_pdf_option:  # an older cg_gov: its recheck always renders the PDF
            rows = {"warm re-run, HTML + PDF": [], "recheck, HTML + JSON + PDF (no --pdf option)": []}
        for r in range(args.rounds):
            rows["warm re-run, HTML + PDF"].append(timed(["audit", str(demo), "--out", str(tmp_path / f"again{r}"),
                                                          *now], env, repo))
            if has_pdf_option:
                rows["recheck, HTML + JSON"].append(timed([*recheck, "--out", str(tmp_path / f"recheck{r}")], env,
                                                          repo))
                rows["recheck --pdf"].append(timed([*recheck, "--out", str(tmp_path / f"recheck-pdf{r}"), "--pdf"],
                                                   env, repo))
            else:
                rows["recheck, HTML + JSON + PDF (no --pdf option)"].append(
                    timed([*recheck, "--out", str(tmp_path / f"recheck{r}")], env, repo))
        base_wall = min(w for w, _ in rows["warm re-run, HTML + PDF"])
        base_cpu = min(c for _, c in rows["warm re-run, HTML + PDF"])
        for name, times in rows.items():
            if not times:
                continue
            wall, cpu = min(w for w, _ in times), min(c for _, c in times)
            print(f"{name}: best {wall:.1f} s wall, {cpu:.1f} s CPU of {len(times)} (all: "
                  f"{', '.join(f'{w:.1f}/{c:.1f}' for w, c in times)}); ratio to the warm re-run "
                  f"{wall / base_wall:.2f} wall, {cpu / base_cpu:.2f} CPU")
        same = (approved / "findings.json").read_bytes() == (tmp_path / "again0" / "findings.json").read_bytes()
        print(f"warm re-run's findings.json identical to the first run's: {same}")
        print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
