"""The labelled family-detection data (data/families) and the fixed parts of its benchmark."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "families"
sys.path.insert(0, str(ROOT / "benchmarks"))

import family_detection as fd  # noqa: E402


def _items() -> list[dict]:
    return [json.loads(line) for line in (DATA / "items.jsonl").read_text(encoding="utf-8").splitlines()]


def test_items_match_categories_and_provenance():
    items = _items()
    cats = json.loads((DATA / "categories.json").read_text())["categories"]
    prov = json.loads((DATA / "provenance.json").read_text())
    counts = Counter(it["category"] for it in items)
    assert {c["id"] for c in cats} == set(counts) == {e["id"] for e in prov["categories"]}
    assert all(counts[c["id"]] == c["items"] <= prov["cap"] for c in cats)
    assert len({it["id"] for it in items}) == len(items)
    texts = [it["text"] for it in items]
    assert len(set(texts)) == len(texts) and all(t.strip() for t in texts)
    assert all(set(it) == {"id", "category", "source", "text"} for it in items)
    assert all(c["definition"].strip() for c in cats)


def test_split_is_the_fixed_rule_over_the_categories():
    cats = sorted({it["category"] for it in _items()})
    assert fd.split_rule(cats) == {c: fd.SPLIT[c] for c in cats}
    assert Counter(fd.SPLIT.values()) == {"choose": 10, "report": 10}


def test_auroc_and_interval():
    assert fd.auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert fd.auroc(np.array([1.0]), np.array([1.0])) == 0.5
    assert fd.auroc(np.array([]), np.array([1.0])) is None
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 60), rng.normal(0, 1, 200)
    value = fd.auroc(pos, neg)
    lo, hi = fd.auroc_interval(pos, neg, resamples=200, seed=0)
    assert lo < value < hi
    assert fd.auroc_interval(pos, neg, resamples=200, seed=0) == (lo, hi)


def _demo_texts() -> set[str]:
    sys.path.insert(0, str(ROOT / "tools"))
    import build_family_data as bfd

    return bfd.demo_texts(ROOT / "data" / "demo" / "items")


def test_no_item_or_twin_is_a_demo_suite_text():
    demo = _demo_texts()
    assert len(demo) > 2000  # every demo input, and the text its template wraps
    assert "How many children does Leonardo DiCaprio have?" in demo  # wrapped in "{text}\nAnswer briefly."
    twins = [json.loads(line) for line in (DATA / "twins.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in [*_items(), *twins]:
        assert " ".join(row["text"].split()) not in demo, row["id"]


def test_dictionary_corpus_categories_are_marked_from_the_manifest():
    manifest = json.loads((ROOT / "cg_gov/data/dictionary/default/manifest.json").read_text())
    corpus = {f for src in manifest["corpus"]["sources"] for f in src.get("files") or []}
    prov = {e["id"]: e for e in json.loads((DATA / "provenance.json").read_text())["categories"]}
    for c in json.loads((DATA / "categories.json").read_text())["categories"]:
        assert c["in_dictionary_corpus"] == (prov[c["id"]]["files"][0]["path"] in corpus), c["id"]
    marked = {c["id"] for c in json.loads((DATA / "categories.json").read_text())["categories"]
              if c["in_dictionary_corpus"]}
    assert {"rtp-threat", "wb-finance-business"} <= marked and "pii-probe" not in marked


def test_twins_name_known_categories_and_are_not_category_texts():
    cats = {c["id"]: c for c in json.loads((DATA / "categories.json").read_text())["categories"]}
    twins = [json.loads(line) for line in (DATA / "twins.jsonl").read_text(encoding="utf-8").splitlines()]
    assert twins and len({t["id"] for t in twins}) == len(twins)
    item_texts = {" ".join(it["text"].split()) for it in _items()}
    for t in twins:
        assert set(t["twin_of"]) <= set(cats) and t["group"] in cats[t["twin_of"][0]]["twins"]
        assert " ".join(t["text"].split()) not in item_texts
    for c in cats.values():  # a sibling twin is a category of the data
        assert all(x.split(":", 1)[1] in cats for x in c["twins"] if x.startswith("category:"))
    groups = {g["id"] for g in json.loads((DATA / "provenance.json").read_text())["twins"]}
    assert {t["group"] for t in twins} == groups
