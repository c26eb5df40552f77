"""``cg-gov validate FILE...``: check profiles and audit specs the way a run would."""
from __future__ import annotations

import argparse
import sys

from cg_gov.errors import EXIT_ERROR, EXIT_OK


def add_parser(commands) -> None:
    p = commands.add_parser("validate", help="check profiles and audit specs (schema, files, profile, logs)",
                            description="Check profiles and audit specs the way a run would.")
    p.add_argument("files", nargs="+", metavar="FILE", help="profile or audit spec (YAML)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cg_gov.evals import check_audit_file
    from cg_gov.text import safe_terminal

    failed = False
    for file in args.files:
        kind, errors = check_audit_file(file)
        if errors:
            failed = True
            for error in errors:
                print(f"error: {error.render()}", file=sys.stderr)
        else:
            print(safe_terminal(f"ok: {file} ({kind})"))
    return EXIT_ERROR if failed else EXIT_OK
