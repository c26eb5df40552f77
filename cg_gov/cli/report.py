"""``cg-gov report DIR``: render a report again from a saved ``findings.json`` and ``manifest.json``."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from cg_gov.errors import CgGovError
from cg_gov.text import safe_terminal
from cg_gov.io import check_out_dir, check_regular_file, read_bytes_limited, read_json_limited


def _manifest_json(path: Path) -> dict:
    manifest, _text = read_json_limited(path, "manifest.json", kind="findings",
                                       hint="manifest.json is written by cg-gov audit; do not edit it by hand")
    if not isinstance(manifest, dict):
        raise CgGovError("a manifest must be a JSON object", file=str(path))
    return manifest


def add_parser(commands) -> None:
    p = commands.add_parser("report", help="render a report from a saved findings.json and manifest.json",
                            description="Render report.html and report.pdf again from a report folder's "
                            "findings.json and manifest.json, without running the audit.")
    p.add_argument("folder", metavar="DIR", help="report folder holding findings.json and manifest.json")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default: DIR)")
    p.add_argument("--formats", default="html,pdf", help="comma-separated formats (default html,pdf)")
    p.add_argument("--template-dir", default=None, metavar="DIR",
                   help="folder with templates overriding the package's")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cg_gov.findings import load_findings
    from cg_gov.report import render_report

    folder = Path(args.folder)
    manifest_path = folder / "manifest.json"
    if not folder.is_dir():
        check_regular_file(folder, "report folder", hint="give the folder an audit wrote (cg-gov audit --out DIR)")
        raise CgGovError("is a file, not a report folder", file=str(folder),
                         hint="give the folder an audit wrote (cg-gov audit --out DIR)")
    if not manifest_path.exists():
        raise CgGovError("manifest.json not found", file=str(manifest_path),
                         hint="give the folder an audit wrote (cg-gov audit --out DIR)")
    if args.out:
        check_out_dir(args.out, key="--out")
    manifest = _manifest_json(manifest_path)
    from cg_gov.findings._manifest import check_findings_binding

    # the manifest must describe these very findings: a findings.json edited (or taken from another
    # run) is refused, not rendered beside a manifest that vouches for something else
    check_regular_file(folder / "findings.json", "findings.json", kind="findings",
                       hint="give the folder an audit wrote (cg-gov audit --out DIR)")
    check_findings_binding(manifest, read_bytes_limited(folder / "findings.json", "findings.json", kind="findings"),
                           findings_file=str(folder / "findings.json"), manifest_file=str(manifest_path))
    findings = load_findings(folder / "findings.json")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    out = Path(args.out) if args.out else folder
    carry = None
    if "json" not in formats and os.path.abspath(out) == os.path.abspath(folder):
        # re-rendered in place: the findings and manifest read stay, byte for byte, beside the new report
        carry = {"findings.json": read_bytes_limited(folder / "findings.json", "findings.json", kind="findings"),
                 "manifest.json": read_bytes_limited(manifest_path, "manifest.json", kind="findings")}
    paths = render_report(findings, manifest, out, formats=formats, template_dir=args.template_dir, carry=carry)
    for p in paths.values():
        print(safe_terminal(f"wrote {p}"))
    return findings.gate_exit_code()
