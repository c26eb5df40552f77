"""``cg-gov activations export SPEC --out FILE``: ship a suite's activations with its audit spec."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cg_gov.errors import EXIT_OK


def add_parser(commands) -> None:
    p = commands.add_parser("activations", help="export a suite's concept activations for others to reuse",
                            description="Work with a suite's concept activations outside the cache.")
    sub = p.add_subparsers(dest="activations_command", metavar="SUBCOMMAND", required=True)
    q = sub.add_parser("export", help="write the activations of an audit's items to one file",
                       description="Write the concept activations of an audit spec's suite items (taken from "
                       "the cache, computed where missing) to one file. An audit that names the file in "
                       "extraction.precomputed takes every item it holds for the same dictionary, settings "
                       "and text instead of computing it. The dtype is the spec's, with 'auto' resolved on "
                       "this machine: export float32 for users whose machines differ.")
    q.add_argument("spec", metavar="SPEC", help="audit spec (YAML)")
    q.add_argument("--out", metavar="FILE", required=True, help="file to write (.npz)")
    q.add_argument("--device", metavar="DEVICE", default=None,
                   help="device for the language model (default: the spec's)")
    q.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from cg_gov.dictionary import load_dictionary
    from cg_gov.engine import export_precomputed
    from cg_gov.evals import read_audit

    inputs = read_audit(args.spec)
    spec = inputs.spec
    settings = spec.extraction.model_copy(update={"device": args.device} if args.device else {})
    dictionary = load_dictionary(spec.dictionary if spec.dictionary != "default" else "default",
                                 base_dir=Path(args.spec).parent)
    items = inputs.items
    responses = [it.response for it in items] if settings.template == "user_assistant" else None
    info = export_precomputed([it.input for it in items], dictionary, args.out, responses=responses,
                              settings=settings)
    from cg_gov.text import safe_terminal

    print(safe_terminal(f"wrote {info['path']}: {info['items']} items, dtype {info['settings']['dtype']}, "
                        f"sha256 {info['sha256']}"), file=sys.stderr)
    return EXIT_OK
