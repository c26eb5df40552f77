"""``cg-gov schema [profile|audit|findings]``: print a JSON Schema."""
from __future__ import annotations

import argparse
import json

from cg_gov.errors import EXIT_OK

KINDS = ("profile", "audit", "findings")


def add_parser(commands) -> None:
    p = commands.add_parser("schema", help="print the JSON Schema of a profile, an audit spec or findings.json",
                            description="Print a JSON Schema.")
    p.add_argument("kind", nargs="?", default="profile", choices=list(KINDS),
                   help="which schema (default: profile)")
    p.set_defaults(handler=run)


def schema(kind: str) -> dict:
    """The JSON Schema of a spec kind or of ``findings.json``."""
    if kind == "findings":
        from cg_gov.findings import findings_json_schema

        return findings_json_schema()
    from cg_gov.spec import json_schema

    return json_schema(kind)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(schema(args.kind), indent=2, sort_keys=True, ensure_ascii=False))
    return EXIT_OK
