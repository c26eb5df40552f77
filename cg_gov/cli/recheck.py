"""``cg-gov recheck APPROVED --workload SAMPLE``: re-check an approved audit against a new workload sample."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cg_gov.errors import EXIT_GATE_FAILED, EXIT_OK


def add_parser(commands) -> None:
    p = commands.add_parser(
        "recheck", help="re-check an approved audit against a new workload sample; exit 1 when re-approval is needed",
        description="Run the approved audit again with a new workload sample as its reference (the suite, profile, "
        "labels and dictionary as the approved audit's spec names them; the suite's activations, the converted "
        "model, the exemplars and the fitted family detectors come from the cache), write the new report folder "
        "(findings.json, manifest.json, report.html; report.pdf with --pdf) and the diff against the "
        "approved one, and exit 1 when a decision got worse (re-approval needed), 0 otherwise, 2 on an error.")
    p.add_argument("approved", metavar="APPROVED",
                   help="the approved audit's report folder (findings.json, manifest.json)")
    p.add_argument("--workload", required=True, metavar="FILE", help="the new workload sample (eval log or JSONL)")
    p.add_argument("--format", default="jsonl", choices=["jsonl", "lm-eval", "inspect"],
                   help="format of the workload sample (default jsonl: records with id and input)")
    p.add_argument("--name", default="workload", help="name of the sample in the report (default: workload)")
    p.add_argument("--spec", metavar="SPEC", default=None,
                   help="the audit spec (default: the path the approved manifest records, relative to this folder)")
    p.add_argument("--out", metavar="DIR", default=None, help="new report folder (default: APPROVED-recheck)")
    p.add_argument("--pdf", action="store_true",
                   help="also render the new report as PDF (several seconds more); findings.json, manifest.json, "
                   "report.html and the diff are always written")
    p.add_argument("--device", default=None, help="device for the language model")
    p.add_argument("--now", default=None, help="timestamp recorded in the new manifest")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cg_gov.audit import run_audit_inputs
    from cg_gov.cli.diff import _summary_lines
    from cg_gov.errors import CgGovError
    from cg_gov.text import safe_terminal
    from cg_gov.evals import AuditInputs, read_audit, read_reference
    from cg_gov.findings.diff import diff_paths
    from cg_gov.io import check_out_dir, read_json_limited, sha256_file
    from cg_gov.report import render_report
    from cg_gov.report.diff import render_diff
    from cg_gov.spec import ReferenceSpec

    t0 = time.perf_counter()
    approved = Path(args.approved)
    manifest, _ = read_json_limited(approved / "manifest.json", "manifest.json", kind="findings",
                                    hint="give the report folder of the approved audit")
    recorded = (manifest.get("audit") or {}) if isinstance(manifest, dict) else {}
    spec_path = Path(args.spec or recorded.get("path") or "")
    if not args.spec and not recorded.get("path"):
        raise CgGovError("the approved manifest records no audit spec path", file=str(approved / "manifest.json"),
                         hint="give it with --spec")
    if not spec_path.is_file():
        raise CgGovError(f"audit spec not found: {spec_path}", hint="give it with --spec (the path is relative to "
                         "the folder the approved audit ran from)")
    if recorded.get("sha256") and sha256_file(spec_path) != recorded["sha256"]:
        print(safe_terminal(f"warning: {spec_path} changed since the approved audit; its changes are compared too"),
              file=sys.stderr)
    out = Path(args.out) if args.out else approved.with_name(approved.name + "-recheck")
    check_out_dir(out, key="--out")
    from cg_gov.evals import cached_reads

    with cached_reads():
        inputs = read_audit(spec_path)
    if inputs.models is not None:
        raise CgGovError("recheck takes a single-model audit", file=str(spec_path),
                         hint="re-run each candidate's audit, or cg-gov audit the vendor spec with the new reference:")
    workload_path = Path(args.workload).resolve()
    reference = ReferenceSpec(name=args.name, log=str(workload_path), format=args.format)
    workload = read_reference(reference, Path.cwd())
    spec = inputs.spec.model_copy(update={"reference": reference})
    spec._source_file = inputs.spec.source_file
    one = {"inputs": AuditInputs(spec=spec, profile=inputs.profile, profile_path=inputs.profile_path,
                                 items=inputs.items, workload=workload)}
    result = run_audit_inputs(spec_path, one["inputs"], device=args.device, now=args.now, progress=True)
    render_report(result.findings, result.manifest, out, formats=["json", "html"] + (["pdf"] if args.pdf else []))
    diff = diff_paths(approved, out)
    render_diff(diff, out / "diff", ["json", "html"], None)
    print("\n".join(safe_terminal(line) for line in _summary_lines(diff)))
    print(safe_terminal(f"wrote {out} and {out / 'diff'} in {time.perf_counter() - t0:.1f}s"))
    return EXIT_GATE_FAILED if diff.regressed else EXIT_OK
