"""``cg-gov report DIR``: render a report again from a saved ``findings.json`` and ``manifest.json``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cg_gov.errors import EXIT_GATE_FAILED, EXIT_OK, CgGovError


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
    if not manifest_path.is_file():
        raise CgGovError("manifest.json not found", file=str(manifest_path),
                         hint="give the folder an audit wrote (cg-gov audit --out DIR)")
    findings = load_findings(folder / "findings.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    paths = render_report(findings, manifest, Path(args.out) if args.out else folder, formats=formats,
                          template_dir=args.template_dir)
    for p in paths.values():
        print(f"wrote {p}")
    return EXIT_GATE_FAILED if findings.summary.gate == "fail" else EXIT_OK
