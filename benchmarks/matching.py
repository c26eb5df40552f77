"""Calibrate the matcher's label-similarity threshold and measure its opposites guard.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/matching.py [--pairs FILE] [--profile FILE] [--json OUT]

Splits the labelled pairs into a calibration half and a held-out half
(deterministically, per family), picks the threshold with the best F1 on the
calibration half, and reports precision/recall/F1 on the held-out half, by
kind of pair, plus how the margin of the opposites guard separates labels that
fit from labels naming the family's opposite. Runs in about a minute on 2 CPU
cores (most of it loading the embedder).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cg_gov.matching import get_embedder  # noqa: E402
from cg_gov.matching import choose_threshold, evaluate, load_pairs, score_pairs, split_pairs  # noqa: E402
from cg_gov.spec import load_profile  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "matching"


def _best_precision_at_recall(scores, fits, min_recall=0.6):
    best = None
    for t in np.round(np.arange(0.05, 0.951, 0.01), 4):
        m = evaluate(scores, fits, float(t))
        if m.recall >= min_recall and (best is None or m.precision >= best.precision):
            best = m
    return best


def run(pairs_path: Path, profile_path: Path) -> dict:
    profile = load_profile(profile_path)
    pairs = load_pairs(pairs_path)
    emb = get_embedder(None)
    calibration, held_out = split_pairs(pairs)
    out: dict = {"pairs": len(pairs), "calibration_pairs": len(calibration), "held_out_pairs": len(held_out),
                 "embedder": emb.identity}
    s_cal, m_cal = score_pairs(profile, calibration, emb)
    s_held, m_held = score_pairs(profile, held_out, emb)
    y_cal = np.array([p.fits for p in calibration])
    y_held = np.array([p.fits for p in held_out])

    best = choose_threshold(s_cal, y_cal)
    out["chosen_by"] = "max F1 on the calibration half"
    out["calibration"] = best.model_dump()
    out["held_out"] = evaluate(s_held, y_held, best.threshold).model_dump()
    alt = _best_precision_at_recall(s_cal, y_cal)
    out["alternative_precision_at_recall_0.6"] = {
        "calibration": alt.model_dump(), "held_out": evaluate(s_held, y_held, alt.threshold).model_dump()}
    # AUC (rank quality) without a threshold.
    def auc(scores, fits):
        pos, neg = scores[fits], scores[~fits]
        return float(((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()))
    out["auc"] = {"calibration": round(auc(s_cal, y_cal), 4), "held_out": round(auc(s_held, y_held), 4)}

    # Held-out by kind: share predicted to fit.
    kinds = sorted({p.kind for p in held_out})
    t = best.threshold
    out["held_out_predicted_fit_by_kind"] = {
        k: round(float(np.mean([s >= t for s, p in zip(s_held, held_out) if p.kind == k])), 3) for k in kinds}

    # Opposites guard on all pairs whose family has a negation.
    s_all = np.concatenate([s_cal, s_held])
    m_all = np.concatenate([m_cal, m_held])
    all_pairs = calibration + held_out
    guard = {}
    for k in ("positive", "opposite", "lexical", "same_topic", "unrelated"):
        ms = np.array([m for m, p in zip(m_all, all_pairs) if p.kind == k and not np.isnan(m)])
        if ms.size:
            guard[k] = {"n": int(ms.size), "mean_margin": round(float(ms.mean()), 4),
                        **{f"share_below_{w:.2f}": round(float((ms < w).mean()), 3) for w in (0.0, 0.03, 0.05)}}
    out["margin_by_kind"] = guard
    # Would dropping matches with a negative margin help? (It is only flagged by default.)
    keep_held = np.isnan(m_held) | (m_held >= 0)
    out["held_out_if_negative_margin_dropped"] = evaluate(np.where(keep_held, s_held, -1.0), y_held, t).model_dump()
    out["opposites_matched_at_threshold"] = [
        {"family": p.family, "label": p.label, "similarity": round(float(s), 3),
         "margin": None if np.isnan(m) else round(float(m), 3)}
        for s, m, p in zip(s_all, m_all, all_pairs) if p.kind == "opposite" and s >= t]
    out["ablations"] = _ablations(profile, calibration, held_out, emb)
    return out


def _ablations(profile, calibration, held_out, emb) -> dict:
    """Held-out AUC and F1 (threshold chosen on the calibration half) of other ways to score a pair:
    how the family's texts are combined (centroid, max, mean over texts) and which part of a
    "lemma: gloss" label is embedded (the gloss, as the matcher does, or the whole label)."""
    from cg_gov.matching import family_texts, label_text

    families = {f.id: f for f in profile.families}

    def scores(pairs, combine, whole_label):
        texts = [p.label.replace("_", " ") if whole_label and not p.label.startswith("token")
                 else label_text(p.label) for p in pairs]
        labels = emb.embed(texts)
        out = np.zeros(len(pairs))
        for i, p in enumerate(pairs):
            t = emb.embed(family_texts(families[p.family])).astype(np.float64)
            if combine == "centroid":
                c = t.mean(axis=0)
                out[i] = labels[i] @ (c / np.linalg.norm(c))
            else:
                sims = t @ labels[i]
                out[i] = sims.max() if combine == "max" else sims.mean()
        return out

    def auc(s, y):
        pos, neg = s[y], s[~y]
        return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())

    y_cal = np.array([p.fits for p in calibration])
    y_held = np.array([p.fits for p in held_out])
    result = {}
    for whole in (False, True):
        for combine in ("centroid", "max", "mean"):
            s_cal, s_held = scores(calibration, combine, whole), scores(held_out, combine, whole)
            t = choose_threshold(s_cal, y_cal).threshold
            name = f"{combine}/{'whole label' if whole else 'gloss'}"
            result[name] = {"held_out_auc": round(auc(s_held, y_held), 4),
                            "held_out_f1": evaluate(s_held, y_held, t).f1, "threshold": t}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=FIXTURES / "calibration.jsonl")
    parser.add_argument("--profile", type=Path, default=FIXTURES / "calibration_profile.yaml")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.pairs, args.profile)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        from cg_gov.io import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
