"""``cg-gov diff OLD NEW``: compare two audits; exits 1 when a family regressed."""
from __future__ import annotations

import argparse

from cg_gov.errors import EXIT_GATE_FAILED, EXIT_OK
from cg_gov.findings.diff import DEFAULT_THRESHOLD, DiffResult
from cg_gov.text import safe_terminal


def add_parser(commands) -> None:
    p = commands.add_parser("diff", help="compare two audits (re-check after a change)",
                            description="Compare the findings of two audits and flag regressions.")
    p.add_argument("old", metavar="OLD", help="earlier report folder or findings.json")
    p.add_argument("new", metavar="NEW", help="later report folder or findings.json")
    p.add_argument("--out", metavar="DIR", default=None, help="write diff.json, diff.html and diff.pdf into DIR")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                   help="regression threshold: a fall of a family's coverage ratio by more than this fraction, "
                   "or of its score by more than this, with non-overlapping intervals, fails (exit 1); "
                   f"default {DEFAULT_THRESHOLD}")
    p.add_argument("--formats", default="json,html,pdf", help="formats written with --out (default json,html,pdf)")
    p.add_argument("--template-dir", default=None, metavar="DIR",
                   help="folder with templates overriding the package's (diff.html.j2, report.css)")
    p.add_argument("--model", metavar="NAME", default=None,
                   help="for a vendor audit (several models): the model whose findings are compared")
    p.set_defaults(handler=run)


def _summary_lines(result: DiffResult) -> list[str]:
    lines = [f"old: {result.old.path} (gate {result.old.gate})",
             f"new: {result.new.path} (gate {result.new.gate})"]
    for d in result.families:
        if d.severity.changed or d.coverage_status.changed or d.performance_status.changed or d.regressed:
            mark = "REGRESSED" if d.regressed else d.direction
            lines.append(f"  {d.family_id}: severity {d.severity.old} -> {d.severity.new}, coverage "
                         f"{d.coverage_status.old} -> {d.coverage_status.new}, performance "
                         f"{d.performance_status.old} -> {d.performance_status.new} [{mark}]")
    for f in result.families_added:
        lines.append(f"  + {f.family_id} (added, severity {f.severity})")
    for f in result.families_removed:
        lines.append(f"  - {f.family_id} (removed)")
    if result.input_changes:
        lines.append(f"  {len(result.input_changes)} input/setting change(s)")
    lines.extend(result.regressions)
    lines.append("regressed" if result.regressed else "no regression")
    return lines


def run(args: argparse.Namespace) -> int:
    from cg_gov.findings.diff import diff_paths
    from cg_gov.report.diff import render_diff

    if args.out:
        from cg_gov.io import check_out_dir

        check_out_dir(args.out, what="diff folder", key="--out")
    result = diff_paths(args.old, args.new, threshold=args.threshold, model=args.model)
    if args.out:
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        for path in render_diff(result, args.out, formats, args.template_dir).values():
            print(safe_terminal(f"wrote {path}"))
    print("\n".join(safe_terminal(line) for line in _summary_lines(result)))
    return EXIT_GATE_FAILED if result.regressed else EXIT_OK
