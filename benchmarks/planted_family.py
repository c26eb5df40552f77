"""Planted-family check: does cg_gov count a family's items where they are, and none where they are not?

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/planted_family.py [--out benchmarks/results/planted_family.json]

Two checks, each through cg_gov's own code path: :func:`cg_gov.spec.load_profile`,
:func:`cg_gov.dictionary.load_dictionary`, :func:`cg_gov.engine.extract_activations` (the demo
suite's shipped float32 activations are used where they hold an item), :func:`cg_gov.matching.match_profile`
with exemplar activations and the dictionary's reference windows (the family detector), each
family's score m_F(x) = abar(x) @ w_F (``ProfileMatch.weight_matrix``) and its operating point
``FamilyMatch.visibility.threshold``: an item is counted when m_F(x) > threshold, as the audit counts it.

1. **Planting.** A task-only suite of real, non-harmful task items: 150 Mind2Web-SC web errands
   (``data/planted/tasks.jsonl``) and 150 tau2 customer-service tasks (a seeded sample of
   ``data/demo/items/tau2.jsonl``). Profile ``benchmarks/planted/harmful_requests.yaml`` (a task
   assistant with a ``harmful-requests`` family and two task families, written from the families'
   definitions only). Count the harmful-requests items on the task-only suite (expected about 0),
   then on the suite with the demo suite's 200 HarmBench requests planted (expected about 200).
2. **Absent families.** Profile ``benchmarks/planted/hr_assistant.yaml`` (payroll, leave and
   absence, harassment reporting) counted on the whole demo suite (``data/demo/items``, 2,351
   items, none about HR): each family should count about 0.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
PLANTED = REPO / "benchmarks" / "planted"
TASKS = REPO / "data" / "planted" / "tasks.jsonl"
PRECOMPUTED = DEMO / "activations-float32.npz"
N_TAU2 = 150
SEED = 0


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def task_suite() -> list[dict[str, str]]:
    """The task-only suite: every Mind2Web-SC errand and a seeded sample of the demo's tau2 tasks."""
    web = [{"id": r["id"], "source": "mind2web_sc", "text": r["text"]} for r in _jsonl(TASKS)]
    tau = _jsonl(DEMO / "items" / "tau2.jsonl")
    keep = set(random.Random(SEED).sample([r["id"] for r in tau], min(N_TAU2, len(tau))))
    return web + [{"id": r["id"], "source": "tau2", "text": r["input"]} for r in tau if r["id"] in keep]


def demo_suite() -> list[dict[str, str]]:
    out = []
    for f in sorted((DEMO / "items").glob("*.jsonl")):
        out += [{"id": r["id"], "source": f.stem, "text": r["input"]} for r in _jsonl(f)]
    return out


class Counter:
    """The family detector of every family of a profile, fitted by cg_gov, and its operating point."""

    def __init__(self, profile_path: Path, dictionary: Any, abar_of: Any) -> None:
        from cg_gov.matching import match_profile
        from cg_gov.spec import load_profile

        self.path = profile_path
        self.profile = load_profile(profile_path)
        self.matches = match_profile(self.profile, dictionary.labels, dictionary_identity=dictionary.identity,
                                     defaults=dictionary.matching_defaults,
                                     exemplar_activations=lambda xs: abar_of(list(xs), "exemplars"),
                                     reference_mean=dictionary.reference_mean, concept_info=dictionary.label_info,
                                     reference=dictionary.reference,
                                     shipped=dictionary.embeddings_dir)
        self.weights = self.matches.weight_matrix()
        self.families = [fm.family for fm in self.matches.families]

    def cut(self, k: int) -> float | None:
        fm = self.matches.families[k]
        return fm.visibility.threshold if fm.method == "detector" and fm.visibility is not None else None

    def scores(self, abar: Any) -> np.ndarray:
        return np.asarray(abar @ self.weights.T)

    def family_info(self, k: int) -> dict[str, Any]:
        fm = self.matches.families[k]
        vis = fm.visibility
        return {"family": fm.family, "method": fm.method, "concepts": len(fm.concepts),
                "top_concepts": [{"id": c.concept_id, "label": c.label, "weight": c.weight} for c in fm.concepts[:6]],
                "visibility": None if vis is None else {
                    "auroc": vis.auroc, "near_miss_auroc": vis.near_miss_auroc, "status": vis.status,
                    "threshold": vis.threshold, "cv_recall": vis.cv_recall,
                    "cv_near_miss_rate": vis.cv_near_miss_rate, "n_near_miss": vis.n_near_miss,
                    "n_counter": vis.n_counter}}

    def count(self, abar: Any, rows: list[dict[str, str]], k: int, show: int = 5) -> dict[str, Any]:
        """Items counted for family ``k``: in all, per source, and the highest-scoring counted ones."""
        cut = self.cut(k)
        s = self.scores(abar)[:, k]
        if cut is None:
            return {"threshold": None, "detected": None}
        det = s > cut
        sources = sorted({r["source"] for r in rows})
        order = [i for i in np.argsort(-s, kind="stable") if det[i]][:show]
        return {"threshold": cut, "items": len(rows), "detected": int(det.sum()),
                "by_source": {src: {"items": sum(1 for r in rows if r["source"] == src),
                                    "detected": int(sum(det[i] for i, r in enumerate(rows) if r["source"] == src))}
                              for src in sources},
                "top_detected": [{"id": rows[i]["id"], "source": rows[i]["source"], "score": round(float(s[i]), 6),
                                  "text": rows[i]["text"][:160]} for i in order]}


def _detector_defaults() -> dict[str, Any]:
    """The :class:`~cg_gov.matching.DetectorSettings` defaults the run used (cg_gov's own)."""
    from dataclasses import asdict

    from cg_gov.matching import DetectorSettings

    return asdict(DetectorSettings())


def run(args: argparse.Namespace) -> dict[str, Any]:
    import cg_gov.engine as engine
    from cg_gov.dictionary import load_dictionary
    from cg_gov.spec import ExtractionSettings

    t0 = time.perf_counter()
    say = (lambda msg: print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True))
    dictionary = load_dictionary("default")
    settings = ExtractionSettings(dtype="float32", device="cpu")  # the demo audit's (its shipped activations)

    def abar_of(texts: list[str], desc: str):
        return engine.extract_activations(list(texts), dictionary, settings=settings, progress=False, desc=desc,
                                          precomputed=PRECOMPUTED).abar

    tasks = task_suite()
    harm = [{"id": r["id"], "source": "harmbench", "text": r["input"]}
            for r in _jsonl(DEMO / "items" / "harmbench.jsonl")]
    demo = demo_suite()
    say(f"activations: {len(tasks)} task items, {len(harm)} planted, {len(demo)} demo items (shipped where held)")
    task_abar = abar_of([r["text"] for r in tasks], "tasks")
    harm_abar = abar_of([r["text"] for r in harm], "planted")
    demo_abar = abar_of([r["text"] for r in demo], "demo")
    t_acts = time.perf_counter()

    import scipy.sparse as sp

    say("profile 1: harmful requests, planted")
    p1 = Counter(Path(args.harmful_profile), dictionary, abar_of)
    k = p1.families.index("harmful-requests")
    both = sp.vstack([task_abar, harm_abar]).tocsr()
    before = p1.count(task_abar, tasks, k)
    after = p1.count(both, tasks + harm, k)
    from cg_gov.matching import auroc

    s_task, s_harm = p1.scores(task_abar)[:, k], p1.scores(harm_abar)[:, k]
    ranking = {  # how well the score ranks planted over task items, whatever the cut (a diagnostic, not a cut)
        "auroc_planted_vs_tasks": round(auroc(s_harm, s_task), 4),
        "planted_above_every_task_item": int((s_harm > s_task.max()).sum()),
        "planted_score_quantiles": [round(float(q), 4) for q in np.quantile(s_harm, [0.1, 0.25, 0.5, 0.75, 0.9])],
        "task_score_quantiles": [round(float(q), 4) for q in np.quantile(s_task, [0.5, 0.9, 0.99, 1.0])]}
    planted = {"family": p1.family_info(k), "before": before, "after": after, "ranking": ranking,
               "planted": len(harm),
               "recall_of_planted": round(after["by_source"]["harmbench"]["detected"] / len(harm), 4),
               "false_on_tasks": after["detected"] - after["by_source"]["harmbench"]["detected"],
               "other_families": {p1.families[j]: {"info": p1.family_info(j),
                                                   "before": p1.count(task_abar, tasks, j, show=0),
                                                   "after": p1.count(both, tasks + harm, j, show=0)}
                                  for j in range(len(p1.families)) if j != k}}
    t_p1 = time.perf_counter()
    say("profile 2: HR assistant on the demo suite")
    p2 = Counter(Path(args.hr_profile), dictionary, abar_of)
    absent = {p2.families[j]: {"info": p2.family_info(j), "count": p2.count(demo_abar, demo, j)}
              for j in range(len(p2.families))}
    t_end = time.perf_counter()
    sha = (lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest())
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python", *sys.argv]), "dictionary": dictionary.identity,
        "extraction": settings.cache_key(), "detector_settings": _detector_defaults(),
        "inputs": {"harmful_profile": {"path": str(args.harmful_profile), "sha256": sha(args.harmful_profile)},
                   "hr_profile": {"path": str(args.hr_profile), "sha256": sha(args.hr_profile)},
                   "tasks": {"path": str(TASKS.relative_to(REPO)), "sha256": sha(TASKS)},
                   "demo_items": "data/demo/items/*.jsonl", "precomputed": str(PRECOMPUTED.relative_to(REPO))},
        "task_suite": {"items": len(tasks), "mind2web_sc": sum(r["source"] == "mind2web_sc" for r in tasks),
                       "tau2": sum(r["source"] == "tau2" for r in tasks), "tau2_sample_seed": SEED},
        "planting": planted, "absent_families": absent,
        "timings_s": {"activations": round(t_acts - t0, 1), "profile_1": round(t_p1 - t_acts, 1),
                      "profile_2": round(t_end - t_p1, 1), "total": round(t_end - t0, 1)},
    }


def format_report(res: dict[str, Any]) -> str:
    p = res["planting"]
    vis = p["family"]["visibility"] or {}
    lines = ["### 1. Planting harmful requests into a task-only suite", "",
             f"Task-only suite: {res['task_suite']['items']} items ({res['task_suite']['mind2web_sc']} Mind2Web-SC "
             f"errands, {res['task_suite']['tau2']} tau2 tasks); planted: {p['planted']} HarmBench requests. "
             f"Family `harmful-requests`: cut {vis.get('threshold')}, visibility AUROC {vis.get('auroc')}, "
             f"near-miss AUROC {vis.get('near_miss_auroc')}, cross-validated recall {vis.get('cv_recall')}.", "",
             "| suite | items | harmful-requests counted | of them task items | of them planted |",
             "| --- | ---: | ---: | ---: | ---: |"]
    b, a = p["before"], p["after"]
    lines.append(f"| task-only | {b['items']} | {b['detected']} | {b['detected']} | - |")
    lines.append(f"| task + planted | {a['items']} | {a['detected']} | {p['false_on_tasks']} | "
                 f"{a['by_source']['harmbench']['detected']} of {p['planted']} |")
    r = p["ranking"]
    lines += ["", f"Ranking, whatever the cut: AUROC of planted against task items {r['auroc_planted_vs_tasks']}; "
              f"{r['planted_above_every_task_item']} of {p['planted']} planted items score above every task item; "
              f"planted score quantiles (10/25/50/75/90%) {r['planted_score_quantiles']}, task items' "
              f"(50/90/99/100%) {r['task_score_quantiles']}."]
    lines += ["", "Other families of the profile (counted items, task-only -> with planted):", ""]
    for fam, v in p["other_families"].items():
        lines.append(f"- `{fam}`: {v['before']['detected']} -> {v['after']['detected']} "
                     f"(by source after: {json.dumps({s: x['detected'] for s, x in v['after']['by_source'].items()})})")
    lines += ["", "### 2. HR-assistant families on the demo suite (no HR item)", "",
              "| family | cut | visibility AUROC | near-miss AUROC | counted of 2,351 | by benchmark |",
              "| --- | ---: | ---: | ---: | ---: | --- |"]
    for fam, v in res["absent_families"].items():
        c, vi = v["count"], v["info"]["visibility"] or {}
        by = ", ".join(f"{s} {x['detected']}" for s, x in c["by_source"].items() if x["detected"]) or "-"
        lines.append(f"| {fam} | {c['threshold']:.4f} | {vi.get('auroc')} | {vi.get('near_miss_auroc')} | "
                     f"{c['detected']} | {by} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--harmful-profile", type=Path, default=PLANTED / "harmful_requests.yaml")
    parser.add_argument("--hr-profile", type=Path, default=PLANTED / "hr_assistant.yaml")
    parser.add_argument("--out", type=Path, default=Path("/tmp/planted_family.json"))
    args = parser.parse_args(argv)
    res = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(format_report(res))
    print(f"\ntimings (s): {res['timings_s']}\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
