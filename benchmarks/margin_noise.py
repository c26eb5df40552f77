"""How noisy is the opposites guard's margin? The measurement behind ``matching.margin_warning``.

A concept's margin is its similarity to a family's polar texts (description and synonyms)
minus its similarity to their negations. Which synonyms a profile's author happened to write
moves it: this script recomputes every margin leaving out one polar text at a time
(jackknife) and reports the jackknife standard error of the margins of each family's 50
most similar concepts, over the example profiles and the family-detection benchmark's
profile. A margin within about two standard errors of 0 is noise; the warning threshold
is set at minus two times the median standard error, so the guard flags only concepts that
read clearly closer to the family's opposite. It also reports how many of the judged
(family, concept) pairs of the bundled dictionary that fit their family would be flagged.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/margin_noise.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROFILES = [REPO / "specs/profiles/customer-support.yaml", REPO / "specs/profiles/coding-assistant.yaml",
            REPO / "specs/profiles/research-assistant.yaml", REPO / "benchmarks/family_detection_families.yaml"]
PAIRS = REPO / "tests/fixtures/matching/dictionary_pairs.jsonl"
TOP = 50


def _load_profile(path: Path):
    import yaml

    from cg_gov.spec import Profile

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for fam in data.get("families", []):
        fam.pop("category", None)  # the benchmark profile's own key
    return Profile.model_validate(data)


def main() -> int:
    from cg_gov.dictionary import load_dictionary
    from cg_gov.matching import concept_readings, get_embedder, label_text, negate, polarity_margin
    from cg_gov.matching._match import _mean_over_readings

    dictionary = load_dictionary("default", load_reference=False)
    emb = get_embedder(None)
    labels = [str(x or "") for x in dictionary.labels]
    readings = concept_readings(emb, labels, dictionary.label_info, shipped=dictionary.embeddings_dir)
    has = [np.abs(v).sum(axis=1) > 0 for v in readings]
    live = np.array([bool(label_text(x)) for x in labels])

    ses: list[float] = []
    margins: dict[tuple[str, str], np.ndarray] = {}
    for path in PROFILES:
        profile = _load_profile(path)
        for f in profile.families:
            pairs = [(t, negate(t)) for t in [f.description, *f.synonyms]]
            pairs = [(t, n) for t, n in pairs if n and n != t]
            if len(pairs) < 3:
                continue
            vec = dict(zip(sorted({x for p in pairs for x in p}), emb.embed(sorted({x for p in pairs for x in p}))))
            pol = np.stack([vec[t] for t, _ in pairs])
            neg = np.stack([vec[n] for _, n in pairs])
            full = _mean_over_readings(readings, has, lambda v: polarity_margin(pol, neg, v))
            margins[(profile.profile, f.id)] = full
            texts = np.stack([emb.embed([t])[0] for t in [f.description, *f.synonyms]])
            sim = texts.mean(axis=0) @ np.asarray(readings[0]).T
            top = np.argsort(-np.where(live, sim, -np.inf))[:TOP]
            jack = np.stack([_mean_over_readings(readings, has, lambda v: polarity_margin(
                np.delete(pol, i, 0), np.delete(neg, i, 0), v))[top] for i in range(len(pairs))])
            n = len(pairs)
            se = np.sqrt((n - 1) / n * ((jack - jack.mean(axis=0)) ** 2).sum(axis=0))
            ses.append(float(np.median(se)))
            print(f"{profile.profile:32s} {f.id:28s} polar texts {n:2d}  median jackknife SE {np.median(se):.4f}")
    noise = float(np.median(ses))
    threshold = round(-2 * noise, 3)
    print(f"\nmedian over {len(ses)} families: jackknife SE of the margin {noise:.4f}; "
          f"warning threshold -2 x SE = {threshold}")

    fits = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    flagged = {0.0: [0, 0], threshold: [0, 0]}
    for p in fits:
        m = margins.get((p["profile"], p["family"]))
        if m is None:
            continue
        value = float(m[int(p["concept_id"])])
        for t in flagged:
            flagged[t][0 if p["fits"] else 1] += value < t
    n_fit = sum(1 for p in fits if p["fits"] and (p["profile"], p["family"]) in margins)
    n_misfit = sum(1 for p in fits if not p["fits"] and (p["profile"], p["family"]) in margins)
    for t, (a, b) in flagged.items():
        print(f"margin < {t:+.3f}: flags {a}/{n_fit} judged fits ({a / max(n_fit, 1):.0%}) and "
              f"{b}/{n_misfit} judged misfits ({b / max(n_misfit, 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
