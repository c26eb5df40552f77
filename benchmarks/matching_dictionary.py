"""Calibrate the matcher on the bundled dictionary: threshold and exemplar weight from judged pairs.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/matching_dictionary.py [--pairs FILE] [--json OUT]

The pairs (``tests/fixtures/matching/dictionary_pairs.jsonl``) are (profile,
family, concept) triples of the example profiles in ``specs/profiles/`` and
the bundled dictionary, each judged fits / does not fit from the concept's top
tokens and top contexts (see the fixture's README). The candidates were pooled
from several rankings (label similarity under two label readings, exemplar
specificity against two backgrounds, and random concepts), so recall here is
recall within that pool.

A concept's score is ``similarity + w * bonus`` (see ``cg_gov.matching``); the
operating point (w, threshold) is chosen by F1 over a grid. Reported:

Concepts with a negative opposites margin are never predicted to fit, as the
matcher sets them aside (``low_margin: drop``); the figures with them kept
are reported beside.

- leave-one-profile-out: the operating point chosen on two profiles' pairs,
  applied to the third; precision/recall/F1 pooled over the three held-out
  profiles. This is the figure to expect on a profile cg_gov has not seen.
- the operating point chosen on all pairs (shipped in the dictionary's manifest), and how the
  held-out figures compare with label similarity alone (w = 0);
- AUC of similarity, of the bonus, and of the combined score;
- for each subset of a concept's readings (its label, its top contexts, its
  top tokens), the leave-one-profile-out figures;
- what ``match_profile`` assigns with the shipped defaults, counted as judged
  fits, judged misfits and not judged (``--assigned``: pairs judged later, by
  the same rules and blind to the scores, for concepts the matcher assigned
  outside the pool; they check the output and choose nothing).

Takes about a minute on 2 CPU cores when the exemplars' activations are cached.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: The example profiles as they were when the judged pairs were drawn, with that calibration's matching settings
#: (similarity method, low-margin concepts set aside at margin 0): the pairs belong to those texts.
CALIBRATION_PROFILES = ROOT / "tests" / "fixtures" / "matching" / "calibration_profiles"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cg_gov.matching import (  # noqa: E402
    DEFAULT_READINGS,
    choose_operating_point,
    evaluate,
    leave_one_profile_out,
    load_dictionary_pairs,
    match_profile,
    profile_signals,
    score_dictionary_pairs,
)
from cg_gov.spec import ExtractionSettings, load_profile  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "matching"
WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


def auc(scores: np.ndarray, fits: np.ndarray) -> float:
    pos, neg = scores[fits], scores[~fits]
    return round(float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()), 4)


#: Subsets of a concept's readings compared in the ablation.
READING_SETS = (("label",), ("contexts",), ("tokens",), ("label", "contexts"), ("label", "tokens"),
                ("label", "contexts", "tokens"))


def run(pairs_path: Path, assigned_path: Path | None = None) -> dict:
    from cg_gov.dictionary import load_dictionary
    from cg_gov.engine import concept_activations

    pairs = load_dictionary_pairs(pairs_path)
    dictionary = load_dictionary("default")
    labels = dictionary.labels
    ref = dictionary.reference_mean
    profiles = {p: load_profile(CALIBRATION_PROFILES / f"{p}.yaml") for p in sorted({q.profile for q in pairs})}
    fits = np.array([p.fits for p in pairs])
    names = [p.profile for p in pairs]

    # float32, not the machine's `auto`: the operating point must not depend on the machine that
    # calibrates it (bf16 exemplar activations, taken on a machine with AMX, chose another point)
    settings = ExtractionSettings(dtype="float32")

    def acts(texts):
        return concept_activations(list(texts), dictionary, settings=settings, progress=False)

    def scored(readings=DEFAULT_READINGS, contrast=False):
        """(signals, similarity, bonus, similarity with low-margin pairs pushed below every threshold)."""
        signals = {name: profile_signals(prof, labels, exemplar_activations=acts, reference_mean=ref,
                                         concept_info=dictionary.label_info, readings=readings,
                                         contrast_families=contrast, shipped=dictionary.embeddings_dir)
                   for name, prof in profiles.items()}
        sims, bonus = score_dictionary_pairs(signals, pairs, labels)
        margins = np.array([np.nan if signals[p.profile].families[p.family].margin is None
                            else signals[p.profile].families[p.family].margin[p.concept_id] for p in pairs])
        # The matcher sets aside concepts with a negative margin (low_margin: drop): such a pair is
        # never predicted to fit. Scores of -10 are below every threshold searched.
        kept = np.where(~np.isnan(margins) & (margins < 0), -10.0, sims)
        return signals, sims, bonus, kept, margins

    signals, sims, bonus, kept_sims, margins = scored()
    emb = next(iter(signals.values())).embedder
    out: dict = {"pairs": len(pairs), "fits": int(fits.sum()), "dictionary": dictionary.identity,
                 "embedder": emb.identity, "readings": list(DEFAULT_READINGS), "weights_searched": list(WEIGHTS),
                 "fits_by_family": {f"{p}/{f}": [int(sum(q.fits for q in pairs if (q.profile, q.family) == (p, f))),
                                                 int(sum(1 for q in pairs if (q.profile, q.family) == (p, f)))]
                                    for p, f in sorted({(q.profile, q.family) for q in pairs})}}
    out["leave_one_profile_out"] = leave_one_profile_out(kept_sims, bonus, fits, names, WEIGHTS)
    out["leave_one_profile_out_without_exemplars"] = leave_one_profile_out(kept_sims, bonus, fits, names, (0.0,))
    out["leave_one_profile_out_low_margin_kept"] = leave_one_profile_out(sims, bonus, fits, names, WEIGHTS)
    w, m = choose_operating_point(kept_sims, bonus, fits, WEIGHTS)
    out["chosen_on_all_pairs"] = {"exemplar_weight": w, **m.model_dump()}
    out["chosen_on_all_pairs_low_margin_kept"] = evaluate(sims + w * bonus, fits, m.threshold).model_dump()
    above = sims + w * bonus >= m.threshold
    negative = above & ~np.isnan(margins) & (margins < 0)
    out["low_margin_rule"] = {"above_threshold": int(above.sum()), "negative_margin": int(negative.sum()),
                              "negative_margin_fit": int(fits[negative].sum())}
    shipped = dictionary.matching_defaults
    out["shipped_defaults"] = {"exemplar_weight": shipped.get("exemplar_weight"), "threshold": shipped.get("threshold"),
                               "matches_choice": (shipped.get("exemplar_weight"), shipped.get("threshold"))
                               == (w, m.threshold)}
    combined = kept_sims + w * bonus
    out["auc"] = {"similarity": auc(sims, fits), "bonus": auc(bonus, fits),
                  "similarity_plus_bonus": auc(sims + w * bonus, fits),
                  "with_low_margin_set_aside": auc(combined, fits)}
    bands = [(m.threshold, round(m.threshold + 0.1, 2)), (round(m.threshold + 0.1, 2), round(m.threshold + 0.2, 2)),
             (round(m.threshold + 0.2, 2), None)]
    out["precision_by_score"] = []
    for lo, hi in bands:
        band = (combined >= lo) & (combined < hi if hi is not None else True)
        out["precision_by_score"].append({"from": lo, "to": hi, "pairs": int(band.sum()),
                                          "fit": int(fits[band].sum())})
    kinds = sorted({p.kind for p in pairs})
    out["predicted_fit_by_kind"] = {k: round(float(np.mean([s >= m.threshold for s, p in zip(combined, pairs)
                                                           if p.kind == k])), 3) for k in kinds}

    # How a concept is read: leave-one-profile-out figures of each subset of readings.
    out["readings_ablation"] = {}
    for readings in READING_SETS:
        _, s_r, b_r, k_r, _ = scored(readings)
        out["readings_ablation"]["+".join(readings)] = {
            "auc_similarity": auc(s_r, fits),
            "leave_one_profile_out": leave_one_profile_out(k_r, b_r, fits, names, WEIGHTS)["pooled"]}

    # The alternative background: the profile's other families' exemplars as well as the reference.
    _, _, bonus_c, _, _ = scored(contrast=True)
    out["alternative_background_other_families"] = {
        "auc_at_chosen_weight": auc(kept_sims + w * bonus_c, fits),
        "leave_one_profile_out": leave_one_profile_out(kept_sims, bonus_c, fits, names, WEIGHTS)["pooled"]}

    # The opposites guard on real labels.
    out["negative_margin_share_by_kind"] = {
        k: {"n": int(np.sum([(p.kind == k) and not np.isnan(x) for p, x in zip(pairs, margins)])),
            "share": round(float(np.nanmean(np.where([p.kind == k for p in pairs], margins < 0, np.nan))), 3)
            if any(p.kind == k and not np.isnan(x) for p, x in zip(pairs, margins)) else None}
        for k in kinds}

    # What the matcher assigns with the shipped defaults.
    judged = {(p.profile, p.family, p.concept_id): p.fits for p in pairs}
    if assigned_path is not None and assigned_path.is_file():
        # Judged afterwards, blind, by the same rules: concepts the matcher assigned that the pool lacked.
        # They check the matcher's output; they never choose its settings.
        extra = load_dictionary_pairs(assigned_path)
        score_dictionary_pairs(signals, extra, labels)  # the same dictionary, or an error
        judged.update({(p.profile, p.family, p.concept_id): p.fits for p in extra})
    assigned = {}
    for name, prof in profiles.items():
        match = match_profile(prof, labels, exemplar_activations=acts, reference_mean=ref,
                              dictionary_identity=dictionary.identity, defaults=shipped,
                              concept_info=dictionary.label_info, shipped=dictionary.embeddings_dir)
        for fam in match.families:
            verdicts = [judged.get((name, fam.family, c.concept_id)) for c in fam.concepts]
            assigned[f"{name}/{fam.family}"] = {
                "assigned": len(verdicts), "judged_fit": verdicts.count(True),
                "judged_misfit": verdicts.count(False), "not_judged": verdicts.count(None),
                "concepts": [f"{c.concept_id} {c.label[:50]} [{c.source}] "
                             f"{'fit' if v else 'misfit' if v is False else 'not judged'}"
                             for c, v in zip(fam.concepts, verdicts)]}
    totals = {k: sum(v[k] for v in assigned.values()) for k in ("assigned", "judged_fit", "judged_misfit",
                                                                 "not_judged")}
    judged_n = totals["judged_fit"] + totals["judged_misfit"]
    totals["precision_of_judged"] = round(totals["judged_fit"] / judged_n, 3) if judged_n else None
    totals["families_without_match"] = [k for k, v in assigned.items() if not v["assigned"]]
    out["matcher_at_defaults"] = {"totals": totals, "families": assigned}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=FIXTURES / "dictionary_pairs.jsonl")
    parser.add_argument("--assigned", type=Path, default=FIXTURES / "dictionary_pairs_assigned.jsonl",
                        help="pairs judged only to check the matcher's output (not used for calibration)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--write-manifest", action="store_true",
                        help="write the chosen operating point and its figures into the bundled dictionary's "
                             "manifest.json (its 'matching' block)")
    args = parser.parse_args(argv)
    result = run(args.pairs, args.assigned)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    from cg_gov.io import atomic_write_text

    if args.json:
        atomic_write_text(args.json, text + "\n")
    if args.write_manifest:
        path = ROOT / "cg_gov" / "data" / "dictionary" / "default" / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["matching"] = matching_block(result, args.pairs, args.assigned)
        atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


def matching_block(result: dict, pairs: Path, assigned: Path) -> dict:
    """The manifest's ``matching`` block: the operating point and what was measured at it."""
    chosen = result["chosen_on_all_pairs"]
    held = result["leave_one_profile_out"]["pooled"]
    totals = result["matcher_at_defaults"]["totals"]
    return {
        "threshold": chosen["threshold"], "exemplar_weight": chosen["exemplar_weight"],
        "calibrated_on": f"{pairs.relative_to(ROOT)} ({result['pairs']} judged pairs, {result['fits']} fit)",
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/matching_dictionary.py --write-manifest",
        "measured": {
            "held_out_profiles": {"precision": held["precision"], "recall": held["recall"], "f1": held["f1"],
                                  "method": "leave one example profile out, pooled"},
            "matcher_output": {"assigned": totals["assigned"], "fit": totals["judged_fit"],
                               "precision": totals["precision_of_judged"],
                               "judged_in": f"{pairs.relative_to(ROOT)} + {assigned.relative_to(ROOT)}"},
            "precision_by_score": result["precision_by_score"],
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
