"""``cg-gov match PROFILE``: show which concepts each family of a profile matches."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from cg_gov.errors import EXIT_OK


def add_parser(commands) -> None:
    p = commands.add_parser("match", help="show which concepts a profile's families match",
                            description="Match a profile's families to the concepts of a dictionary.")
    p.add_argument("profile", metavar="PROFILE", help="deployment profile (YAML)")
    p.add_argument("--dictionary", metavar="DICT", default="default",
                   help="concept dictionary: 'default' or a dictionary folder (default: default)")
    p.add_argument("--json", action="store_true", help="print the match as JSON")
    p.add_argument("--exemplars", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the families' exemplars through the dictionary's language model "
                        "(slower; default: on)")
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="cache folder for label embeddings (default: $CG_GOV_CACHE or ~/.cache/cg_gov)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    from cg_gov.dictionary import load_dictionary
    from cg_gov.matching import format_match, match_profile
    from cg_gov.spec import load_profile

    stdout = stdout or sys.stdout
    profile = load_profile(args.profile)
    dictionary = load_dictionary(args.dictionary or "default")
    exemplar_fn = None
    wants = args.exemplars and profile.matching.use_exemplars and any(f.exemplars for f in profile.families)
    if wants:
        def exemplar_fn(texts: Sequence[str]):
            from cg_gov.engine import concept_activations

            return concept_activations(list(texts), dictionary)

    result = match_profile(profile, dictionary.labels, exemplar_activations=exemplar_fn,
                           reference_mean=dictionary.reference_mean if wants else None,
                           reference=dictionary.reference if wants else None,
                           cache_dir=args.cache_dir, dictionary_identity=dictionary.identity,
                           defaults=dictionary.matching_defaults, concept_info=dictionary.label_info,
                           progress=True, shipped=dictionary.embeddings_dir)
    if args.json:
        stdout.write(json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    else:
        from cg_gov.text import safe_terminal

        # family ids, titles and labels come from files: each line shown, never acted on
        stdout.write("".join(safe_terminal(line) + "\n" for line in format_match(result).splitlines()))
    return EXIT_OK
