"""``cg-gov diff OLD NEW``: compare two audits, decisions first; exits 1 when re-approval is needed."""
from __future__ import annotations

import argparse

from cg_gov.errors import EXIT_GATE_FAILED, EXIT_OK
from cg_gov.findings.diff import DEFAULT_THRESHOLD, DiffResult
from cg_gov.text import safe_terminal, truncate


def add_parser(commands) -> None:
    p = commands.add_parser("diff", help="compare two audits (re-check after a change)",
                            description="Compare the decisions of two audits (summary gate; per family verdict, "
                            "gate effect, requirement statuses, visibility) and the values behind them; exit 1 "
                            "when a decision got worse (re-approval needed), 0 otherwise, 2 on an error.")
    p.add_argument("old", metavar="OLD", help="earlier report folder or findings.json")
    p.add_argument("new", metavar="NEW", help="later report folder or findings.json")
    p.add_argument("--out", metavar="DIR", default=None, help="write diff.json, diff.html and diff.pdf into DIR")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                   help="a value change past this size (a fraction of the old coverage ratio or item count; score, "
                   "lift and share units) with non-overlapping intervals is called 'worse/better past the "
                   f"threshold'; values explain decisions and do not change the exit code; default {DEFAULT_THRESHOLD}")
    p.add_argument("--formats", default="json,html,pdf", help="formats written with --out (default json,html,pdf)")
    p.add_argument("--template-dir", default=None, metavar="DIR",
                   help="folder with templates overriding the package's (diff.html.j2, report.css)")
    p.add_argument("--model", metavar="NAME", default=None,
                   help="for a vendor audit (several models): the model whose findings are compared")
    p.set_defaults(handler=run)


def _summary_lines(result: DiffResult) -> list[str]:
    """What stdout says: decisions first, then the values behind them, the baseline and the inputs."""
    lines = [f"old: {result.old.path} (gate {result.old.gate})",
             f"new: {result.new.path} (gate {result.new.gate})",
             f"gate: {result.gate.old} -> {result.gate.new}" + (" [REGRESSED]" if result.gate_regressed else "")]
    for b in result.baseline_changes:
        lines.append(f"baseline changed: {b.what}: {b.old} -> {b.new}; affects "
                     f"{', '.join(b.affects) if b.affects else 'no family in both audits'} "
                     f"({', '.join(b.values)}): not counted as regressions")
    for d in result.families:
        decided = (d.verdict.changed or d.gate_effect.changed or d.requirement_coverage.changed
                   or d.requirement_performance.changed or d.requirement_items.changed
                   or d.visibility_status.changed or d.severity.changed)
        worse_values = [v for v in d.value_changes if "worse past the threshold" in v]
        moved = [v for v in d.value_changes if "baseline changed" in v]
        # what the verdict rests on changed though the verdict did not (a family not tested before is now
        # tested, and fails on its items): the approver reads it, whatever the direction
        restated = d.coverage_status.changed or d.performance_status.changed
        if not (decided or d.regressed or worse_values or moved or restated):
            continue
        mark = ("REGRESSED" if d.regressed else d.direction if decided
                else "baseline changed" if moved and not worse_values and not restated
                else "value worse" if worse_values else "statuses changed")
        verdict = (f"verdict {d.verdict.old} -> {d.verdict.new}" if d.verdict.changed
                   else f"verdict {d.verdict.new} (unchanged)")
        severity = (f"severity {d.severity.old} -> {d.severity.new}" if d.severity.changed
                    else f"severity {d.severity.new}")
        lines.append(f"  {d.family_id} ({d.importance.new}): {verdict}, {severity} [{mark}]")
        lines.extend(f"      {r}" for r in d.reasons)
        shown = d.value_changes if decided or d.regressed or restated else worse_values + moved
        lines.extend(f"      value: {v}" for v in shown)
        lines.extend(f"      note: {n}" for n in d.notes)
    for f in result.families_added:
        mark = f" [REGRESSED: {f.reason}]" if f.regressed else ""
        lines.append(f"  + {f.family_id} (added, {f.importance}, verdict {f.verdict}){mark}")
    for f in result.families_removed:
        mark = f" [REGRESSED: {f.reason}]" if f.regressed else ""
        lines.append(f"  - {f.family_id} (removed, {f.importance}, was {f.verdict}){mark}")
    if result.inputs_changed:
        lines.append(f"inputs changed ({len(result.inputs_changed)}):")
        for c in result.inputs_changed:
            tag = " [baseline]" if c.baseline else ""
            lines.append(f"  {c.name}: {truncate(c.old or '(absent)', 100)} -> "
                         f"{truncate(c.new or '(absent)', 100)}{tag}")
    elif result.input_changes:
        lines.append(f"  {len(result.input_changes)} recorded key(s) differ (see diff.json input_changes)")
    if result.regressions:
        lines.append("regressions:")
        lines.extend(f"  {r}" for r in result.regressions)
    lines.append(f"{result.verdict}: " + (f"{len(result.regressions)} regression(s)" if result.regressed
                                           else "no decision got worse"))
    lines.append("regressed" if result.regressed else "no regression")  # the last line, as scripts read it
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
