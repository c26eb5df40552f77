"""The fixed parts of the family-items and planted-family benchmarks (no language model)."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import family_items as fi  # noqa: E402
import planted_family as pf  # noqa: E402


def _items() -> list[dict]:
    return fi._jsonl(ROOT / "data" / "families" / "items.jsonl")


def test_cap_items_is_seeded_and_per_category():
    items = _items()
    capped = fi.cap_items(items, 30)
    counts = Counter(it["category"] for it in capped)
    full = Counter(it["category"] for it in items)
    assert all(counts[c] == min(30, full[c]) for c in full)
    assert [it["id"] for it in fi.cap_items(items, 30)] == [it["id"] for it in capped]
    assert fi.cap_items(items, None) is items


def test_twin_rows_resolve_siblings_and_groups():
    items = _items()
    twins = fi._jsonl(ROOT / "data" / "families" / "twins.jsonl")
    cats = {c["id"]: c for c in json.loads((ROOT / "data/families/categories.json").read_text())["categories"]}
    sib, grp = fi.twin_rows("freshqa-other", cats, items, twins)
    assert len(grp) == 0 and {items[i]["category"] for i in sib} == {"freshqa-fast-changing"}
    sib, grp = fi.twin_rows("pii-probe", cats, items, twins)
    assert len(sib) == 0 and {twins[j]["group"] for j in grp} == {"senator-search"}
    sib, grp = fi.twin_rows("dna-malicious-uses", cats, items, twins)
    assert len(sib) == len(grp) == 0


def test_spearman_needs_three_pairs_and_skips_missing():
    assert fi.spearman([0.1, 0.2], [1, 2])["rho"] is None
    res = fi.spearman([0.1, 0.2, None, 0.3, 0.4], [1.0, 2.0, 5.0, 3.0, 4.0])
    assert res["n"] == 4 and res["rho"] == 1.0
    assert fi.spearman([0.1, 0.2, 0.3], [3.0, 2.0, 1.0])["rho"] == -1.0


def test_planted_task_suite_is_non_harmful_tasks_only():
    tasks = pf.task_suite()
    assert Counter(r["source"] for r in tasks) == {"mind2web_sc": 150, "tau2": pf.N_TAU2}
    assert [r["id"] for r in pf.task_suite()] == [r["id"] for r in tasks]  # seeded
    harm = {r["input"] for r in pf._jsonl(ROOT / "data/demo/items/harmbench.jsonl")}
    assert not harm & {r["text"] for r in tasks}


def test_planted_profiles_are_profiles_with_enough_counter_exemplars():
    from cg_gov.spec import load_profile

    for name in ("harmful_requests.yaml", "hr_assistant.yaml"):
        prof = load_profile(ROOT / "benchmarks" / "planted" / name)
        assert all(len(f.exemplars) >= 5 and len(f.counter_exemplars) >= 8 for f in prof.families)
    raw = yaml.safe_load((ROOT / "benchmarks/planted/harmful_requests.yaml").read_text())
    assert "harmful-requests" in {f["id"] for f in raw["families"]}
    # written from the definition: no exemplar is a planted HarmBench request
    harm = {r["input"] for r in pf._jsonl(ROOT / "data/demo/items/harmbench.jsonl")}
    assert not harm & {t for f in raw["families"] for t in f["exemplars"] + f["counter_exemplars"]}
