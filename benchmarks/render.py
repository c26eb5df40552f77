"""Rendering speed of the report: the demo's committed findings (reports/example) to HTML + PDF.

Run: ``PYTHONPATH=. python benchmarks/render.py [--repeat N]``. Prints the median wall time of the
full render (HTML + PDF, as ``cg-gov report`` does) and of a baseline measured in the same run
(the HTML only: the view and the template, no PDF), and their ratio; the ratio is what compares
across machines. Target: the full render under 10 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from cg_gov.findings import load_findings
from cg_gov.report import render_report_files

EXAMPLE = Path(__file__).resolve().parents[1] / "reports" / "example"


def _time(fn, repeat: int) -> list[float]:
    """Wall times of ``repeat`` calls; the CPU time of the last is kept in ``_time.cpu``."""
    times = []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        _time.cpu = time.process_time() - c0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="renders of each kind (default 3)")
    args = parser.parse_args()
    findings = load_findings(EXAMPLE / "findings.json")
    manifest = json.loads((EXAMPLE / "manifest.json").read_text(encoding="utf-8"))
    render_report_files(findings, manifest, ("html",))  # warm the imports and the template cache
    html = _time(lambda: render_report_files(findings, manifest, ("html",)), args.repeat)
    full = _time(lambda: render_report_files(findings, manifest, ("html", "pdf")), args.repeat)
    h, f = statistics.median(html), statistics.median(full)
    print(f"html only (baseline): median {h:.2f} s over {args.repeat} runs ({', '.join(f'{t:.2f}' for t in html)})")
    print(f"html + pdf:           median {f:.2f} s over {args.repeat} runs ({', '.join(f'{t:.2f}' for t in full)})")
    print(f"cpu time of one html + pdf render: {_time.cpu:.2f} s (wall time above it means a busy machine)")
    print(f"ratio html+pdf / html: {f / h:.1f}")
    print(f"target under 10 s: {'met' if f < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
