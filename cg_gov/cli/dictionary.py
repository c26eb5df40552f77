"""``cg-gov dictionary build|probe|card``: build a concept dictionary and describe it."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cg_gov.errors import EXIT_OK


def add_parser(commands) -> None:
    p = commands.add_parser("dictionary", help="build and inspect concept dictionaries",
                            description="Concept dictionary tools.")
    sub = p.add_subparsers(dest="dictionary_command", metavar="COMMAND", required=True)
    q = sub.add_parser("build", help="train an SAE and label its concepts",
                       description="Build a concept dictionary (SAE and labels). The bundled one: "
                       "--config specs/dictionary/default.yaml --exclude-items data/demo/items")
    q.add_argument("--config", metavar="FILE", required=True, help="build recipe (YAML)")
    q.add_argument("--exclude-items", metavar="DIR", default=None,
                   help="folder of item files (*.jsonl with 'input') kept out of the corpus: the suite "
                   "the dictionary will audit")
    q.add_argument("--work", metavar="DIR", default=None, help="work folder of the build (default: in the cache)")
    q.add_argument("--out", metavar="DIR", default=None, help="output folder (default: the bundled dictionary)")
    q.add_argument("--stop-after", choices=["corpus", "extract", "train"], default=None,
                   help="stop after this stage (the next run resumes)")
    q.set_defaults(handler=run_build)
    q = sub.add_parser("probe", help="choose the hook layer by a source probe on a built corpus",
                       description="Measure every layer with a linear source probe; writes layer_probe.json.")
    q.add_argument("--work", metavar="DIR", default=None, help="work folder of a build (default: the newest)")
    q.add_argument("--per-source", type=int, default=50, help="windows per corpus source (default 50)")
    q.set_defaults(handler=run_probe)
    q = sub.add_parser("embeddings", help="ship the concept embeddings with a built dictionary",
                       description="Embed every concept's label, top contexts and top tokens with the "
                       "default embedder and write them into the dictionary's embeddings/ folder, so the "
                       "first match or audit does not compute them (the build's package stage does this).")
    q.add_argument("--dictionary", metavar="DIR", default=None, help="dictionary folder (default: the bundled one)")
    q.set_defaults(handler=run_embeddings)
    q = sub.add_parser("card", help="write DICTIONARY.md, the card of a built dictionary",
                       description="Write the human-readable card of a dictionary, with the matches of "
                       "the profiles given.")
    q.add_argument("--profiles", metavar="DIR", required=True, help="folder of profiles (*.yaml) to match")
    q.add_argument("--dictionary", metavar="DIR", default=None, help="dictionary folder (default: the bundled one)")
    q.add_argument("--out", metavar="FILE", default=None, help="output file (default: DIR/DICTIONARY.md)")
    q.add_argument("--no-exemplars", action="store_true", help="leave the exemplar signal out")
    q.set_defaults(handler=run_card)


def _threads() -> None:
    threads = os.environ.get("CG_GOV_THREADS")
    if threads:
        import torch

        # bf16 kernels slow down badly when their threads compete with another process for cores
        torch.set_num_threads(int(threads))


def run_build(args: argparse.Namespace) -> int:
    from cg_gov.dictbuild.build import build

    _threads()
    build(Path(args.config), Path(args.work) if args.work else None, Path(args.out) if args.out else None,
          args.stop_after, Path(args.exclude_items) if args.exclude_items else None)
    return EXIT_OK


def run_probe(args: argparse.Namespace) -> int:
    import json

    from cg_gov.dictbuild.probe import layer_probe

    _threads()
    print(json.dumps(layer_probe(Path(args.work) if args.work else None, args.per_source), indent=1))
    return EXIT_OK


def run_card(args: argparse.Namespace) -> int:
    from cg_gov.dictbuild.card import write_card
    from cg_gov.dictionary import default_dictionary_path

    folder = Path(args.dictionary) if args.dictionary else default_dictionary_path()
    out = Path(args.out) if args.out else folder / "DICTIONARY.md"
    write_card(folder, out, sorted(Path(args.profiles).glob("*.yaml")), use_exemplars=not args.no_exemplars)
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def run_embeddings(args: argparse.Namespace) -> int:
    from cg_gov.dictbuild.embeddings import package_embeddings
    from cg_gov.dictionary import default_dictionary_path

    folder = Path(args.dictionary) if args.dictionary else default_dictionary_path()
    index = package_embeddings(folder)
    print(f"{len(index['files'])} embedding files written to {folder / 'embeddings'} ({index['embedder']})")
    return EXIT_OK
