"""Pool the candidate (family, concept) pairs of the matcher's held-out judged set (issue 18).

Run once, before any matcher run on the held-out profile; the pairs were then judged by hand
(tests/fixtures/matching/heldout_pairs.README.md). The rankings here are not the matcher's:
per family, word overlap between the family's description and synonyms and (a) the concept's
label, (b) its top tokens, (c) its top contexts, 8 candidates each (each shared word weighted by
its inverse document frequency over the live concepts' same field; ties by concept index), plus
6 random live concepts (seed 18). The pool is written shuffled and without any score, so that
the judging is blind to it.

    python tools/heldout_pool.py > /tmp/heldout_pool.jsonl
"""
from __future__ import annotations

import json
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "cg_gov" / "data" / "dictionary" / "default" / "labels.jsonl"
PROFILE = ROOT / "tests" / "fixtures" / "matching" / "heldout_profile.yaml"
PER_RANKING = 8
RANDOM_PER_FAMILY = 6
SEED = 18

STOP = set("""a an and are as at be by can do does for from has have how i if in into is it its
its me must my no not of on or other our over such than that the their them then there these they
this to up was what when where whether which who with you your about after again all also any
because before being both each few more most much only own same so some too very will would
""".split())


def words(text: str) -> set[str]:
    """Lower-case content words, a trailing plural s dropped."""
    out = set()
    for w in re.findall(r"[a-z]+", text.lower().replace("[", "").replace("]", "")):
        if len(w) < 3 or w in STOP:
            continue
        out.add(w[:-1] if w.endswith("s") and len(w) > 3 else w)
    return out


def family_words(family: dict) -> set[str]:
    return words(family["description"] + " " + " ".join(family.get("synonyms") or []))


def concept_fields(concept: dict) -> dict[str, set[str]]:
    return {
        "label": words(concept["label"]),
        "tokens": words(" ".join(concept.get("top_tokens") or [])),
        "contexts": words(" ".join(concept.get("examples") or [])),
    }


def overlap(fam: set[str], field: set[str], idf: dict[str, float]) -> float:
    """Shared content words, each weighted by its inverse document frequency in that field."""
    return sum(idf[w] for w in fam & field)


def main() -> None:
    import yaml

    profile = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    concepts = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    live = [c for c in concepts if not c.get("dead")]
    rng = random.Random(SEED)
    fields = {c["index"]: concept_fields(c) for c in live}
    idf = {}
    for name in ("label", "tokens", "contexts"):
        df: Counter = Counter(w for f in fields.values() for w in f[name])
        idf[name] = {w: math.log(len(live) / n) for w, n in df.items()}
    pool = []
    for fam in profile["families"]:
        fw = family_words(fam)
        chosen: list[int] = []
        for name in ("label", "tokens", "contexts"):
            scored = [(overlap(fw, fields[c["index"]][name], idf[name]), c["index"]) for c in live]
            ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
            chosen += [i for _, i in ranked[:PER_RANKING]]
        rest = [c["index"] for c in live if c["index"] not in chosen]
        chosen += rng.sample(rest, RANDOM_PER_FAMILY)
        for idx in dict.fromkeys(chosen):
            pool.append({"family": fam["id"], "concept_id": idx})
    rng.shuffle(pool)
    for row in pool:
        sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
