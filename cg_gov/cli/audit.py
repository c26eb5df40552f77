"""``cg-gov audit SPEC``: run an audit, then render its report."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cg_gov.text import safe_terminal as _safe


def add_parser(commands) -> None:
    p = commands.add_parser("audit", help="run an audit and write its report",
                            description="Run an audit spec: read the eval logs, extract concept activations, "
                            "score the profile's families and write the report.")
    p.add_argument("spec", metavar="SPEC", help="audit spec (YAML)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: the spec's report.out, else reports/<audit id>)")
    p.add_argument("--device", metavar="DEVICE", default=None,
                   help="device for the language model: cpu, cuda, cuda:N, mps (default: the spec's)")
    p.add_argument("--executor", choices=["local", "ray"], default=None,
                   help="where the forward passes run: local, or a Ray Data actor pool (pip install "
                   "'cg-gov[ray]'; extraction.ray in the spec says where); default: the spec's")
    p.add_argument("--no-cache", action="store_true", help="recompute activations instead of using the cache")
    p.add_argument("--now", metavar="TIMESTAMP", default=None,
                   help="timestamp recorded in manifest.json (default: $SOURCE_DATE_EPOCH, else the current time)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cg_gov.audit import run_audit
    from cg_gov.io import check_out_dir
    from cg_gov.report import render_report
    from cg_gov.report.view import verdict_counts_text

    if args.out:  # found before the pipeline runs, not after (report.out is checked with the spec)
        check_out_dir(args.out, key="--out")
    result = run_audit(args.spec, device=args.device, use_cache=not args.no_cache, now=args.now,
                       executor=args.executor, progress=True)
    print("rendering the report ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    out_dir = Path(args.out) if args.out else result.out_dir
    paths = render_report(result.findings, result.manifest, out_dir, formats=result.formats)
    print(f"      done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    if result.findings.models:  # a vendor audit: one gate per candidate (exit 1 when every one fails)
        for m in result.findings.models:
            s = m.summary
            print(_safe(f"{m.name}: gate {s.gate.upper()}  ({verdict_counts_text(m.families)})"))
            for line in s.gate_failures:
                print(f"  - {_safe(line)}")
        for c in result.findings.comparisons or []:
            if c.significant:
                print(_safe(f"  {c.family}: {c.model_a} - {c.model_b} = {c.difference:+.3f} "
                            f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}], q {c.q:.3g}"))
        for p in paths.values():
            print(_safe(f"wrote {p}"))
        return result.findings.gate_exit_code()
    s = result.findings.summary
    print(_safe(f"gate: {s.gate.upper()}  ({verdict_counts_text(result.findings.families)})"))
    for line in s.gate_failures:
        print(f"  - {_safe(line)}")
    for p in paths.values():
        print(_safe(f"wrote {p}"))
    return result.findings.gate_exit_code()
