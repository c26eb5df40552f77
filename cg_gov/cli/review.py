"""``cg-gov review SPEC``: write the review sheets with which a profile's owner confirms each family's items."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cg_gov.errors import EXIT_OK


def add_parser(commands) -> None:
    p = commands.add_parser(
        "review", help="write review sheets: a sample of each family's suite items for the owner to label",
        description="Run the audit's counting stage and write, per family, a review sheet (CSV to fill, HTML to "
        "read): a seeded random sample of suite items the family's detector counts, items near its operating "
        "point and other items, shuffled, with the item's text only (no score, no model answer). The owner writes "
        "yes or no in the member column and lists the filled sheets under labels: in the audit spec; the audit "
        "then reports precision, elusion and the estimated number of family items. Items already labelled there "
        "are left out, so a second run gives the next items to label.")
    p.add_argument("spec", help="audit spec (YAML)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the sheets (default: the audit's report folder + /review)")
    p.add_argument("--detected", type=int, default=20, help="items drawn from the detected stratum (default 20)")
    p.add_argument("--near", type=int, default=10, help="items drawn near the operating point (default 10)")
    p.add_argument("--rest", type=int, default=10, help="items drawn from the rest (default 10)")
    p.add_argument("--device", default=None, help="device for the language model (cpu, cuda, ...)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the activation cache")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cg_gov.audit import run_audit
    from cg_gov.errors import CgGovError
    from cg_gov.text import safe_terminal
    from cg_gov.evals import review_sample, sheet_csv, sheet_html
    from cg_gov.io import check_out_dir, write_folder
    from cg_gov.scoring._membership import strata
    from cg_gov.spec import load_audit_with_profile

    spec, profile, _ = load_audit_with_profile(args.spec)
    if spec.vendor:
        raise CgGovError("review sheets are written for a single-model audit", file=str(args.spec),
                         hint="run cg-gov review on an audit spec with model: (the items are the same for every "
                              "candidate)")
    sizes = {"detected": args.detected, "near": args.near, "rest": args.rest}
    if any(v < 0 for v in sizes.values()):
        raise CgGovError("sample sizes must be >= 0", key="--detected/--near/--rest")
    out = Path(args.out) if args.out else spec.output_dir() / "review"
    check_out_dir(out, key="--out")
    def warnings_only(line: str) -> None:  # --quiet: no progress lines, the warnings all the same
        if line.startswith("warning: "):
            print(safe_terminal(line), file=sys.stderr, flush=True)

    result = run_audit(args.spec, device=args.device, use_cache=not args.no_cache,
                       progress=warnings_only if args.quiet else True)
    assert result.items is not None and result.family_scores is not None and result.cuts is not None
    files: dict[str, bytes] = {}
    lines = []
    for fam in profile.families:
        cut = result.cuts.get(fam.id)
        if cut is None:
            lines.append(f"{fam.id}: no detector (no exemplars or no concept), nothing to review")
            continue
        labelled = set((result.labels or {}).get(fam.id) or {})
        st = strata(result.family_scores[fam.id], cut)
        rows = review_sample(st, seed=spec.effective_seed, family=fam.id, exclude=labelled, sizes=sizes)
        items = [result.items[i] for i in rows]
        files[f"{fam.id}.csv"] = sheet_csv(fam.id, items).encode("utf-8")
        files[f"{fam.id}.html"] = sheet_html(fam.id, fam.display_name, " ".join(fam.description.split()),
                                             items).encode("utf-8")
        lines.append(f"{fam.id}: {len(rows)} items to label ({len(labelled)} already labelled)")
    write_folder(out, files, owned=set(files))
    for line in lines:
        print(safe_terminal(line))
    print(safe_terminal(f"wrote {len(files) // 2} review sheets to {out}; fill the member column (yes/no) and list "
                        f"the CSV files under labels: in {args.spec}"))
    return EXIT_OK
