"""Membership rules side by side: which score and cut count a family's items best?

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/membership_rules.py [--per-category 60] \\
        [--families FILE] [--out benchmarks/results/membership_rules.json] [--md FILE]

Every rule keeps cg_gov's family detector (the weights of :func:`cg_gov.matching.match_profile`,
m_F(x) = abar(x) @ w_F) and changes only the cut, computed from the same cross-validated scores
:func:`cg_gov.matching.visibility` uses (:func:`cg_gov.matching.cross_validated_scores`: held-out
exemplars, held-out near misses, held-out reference windows) by
:func:`cg_gov.matching.membership_cut` under a grid of :class:`~cg_gov.matching.DetectorSettings`:

- ``max_near_miss_rate`` a (share of near misses allowed above the cut): 0.05 (the old rule), 0.1, 0.2, 0.3;
- ``max_reference_rate`` b (share of held-out reference windows allowed above it): none, 0.02, 0.01, 0.005;
- ``min_cv_recall`` r (recall floor on held-out exemplars): none, 0.5, 0.7;

and one rule that needs the suite, ``suite z``: an item must also stand out of the suite's bulk,
m_F(x) > median + z x 1.4826 x MAD of the suite's scores (z 3 or 5). The suite here is the pool
of labelled items (all categories).

Data and split as ``family_items.py`` (``data/families``, ``family_detection.SPLIT``): the rule is
chosen on the ``choose`` half by the median F1 of the counted items (precision and recall both
matter: a count must be neither padded nor short) among the rules that lose no median precision there
against the earlier rule (``nm 0.05``), and reported on the ``report`` half as measured. (F1 alone was
the criterion first set; its best rules tie within 0.01 and all give up precision, so the precision
condition was added, looking at the choose half only; both choices are printed.)

Alternatives for the score (same folds, same cut rules): ``probe-l2`` / ``probe-l1``, a logistic
probe on the concepts that fire on an exemplar (sklearn, liblinear, C=1), exemplars against near
misses (counter-exemplars weighted 3) and reference windows. ``--planted`` runs the held-out checks of
``planted_family.py`` under every rule of the grid (a diagnostic; never used to choose).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import family_detection as fd  # noqa: E402
import family_items as fi  # noqa: E402

NEAR_MISS = (0.05, 0.1, 0.2, 0.3)
REFERENCE = (None, 0.02, 0.01, 0.005)
RECALL = (None, 0.5, 0.7)
SUITE_Z = (None, 3.0, 5.0)


def rule_grid() -> list[dict[str, Any]]:
    return [{"max_near_miss_rate": a, "max_reference_rate": b, "min_cv_recall": r, "suite_z": z}
            for a, b, r, z in itertools.product(NEAR_MISS, REFERENCE, RECALL, SUITE_Z)]


def rule_name(rule: dict[str, Any]) -> str:
    parts = [f"nm {rule['max_near_miss_rate']}"]
    if rule["max_reference_rate"] is not None:
        parts.append(f"ref {rule['max_reference_rate']}")
    if rule["min_cv_recall"] is not None:
        parts.append(f"recall>={rule['min_cv_recall']}")
    if rule.get("suite_z") is not None:
        parts.append(f"suite z {rule['suite_z']:g}")
    return ", ".join(parts)


def fitted_profile(profile: Any, dictionary: Any, abar_of: Any, seed: int = 0) -> dict[str, Any]:
    """match_profile's detectors (weights, default cut) and each family's cross-validated scores,
    computed from the same inputs :func:`cg_gov.matching.family_detectors` uses."""
    from cg_gov.matching import DetectorSettings, cross_validated_scores, match_profile, membership_cut
    from cg_gov.matching._match import _as_dense, _dense_rows, detector_training_rows, profile_signals

    kw = dict(reference_mean=dictionary.reference_mean, concept_info=dictionary.label_info,
              shipped=dictionary.embeddings_dir)
    act = (lambda xs: abar_of(list(xs), "exemplars"))
    matches = match_profile(profile, dictionary.labels, dictionary_identity=dictionary.identity,
                            defaults=dictionary.matching_defaults, exemplar_activations=act,
                            reference=dictionary.reference, seed=seed, **kw)
    signals = profile_signals(profile, [str(x or "") for x in dictionary.labels], exemplar_activations=act, **kw)
    n_concepts = len(dictionary.labels)
    families = list(profile.families)
    texts = sorted({t for f in families for t in [*f.exemplars, *getattr(f, "counter_exemplars", [])]})
    by_text = dict(zip(texts, _dense_rows(act(texts), len(texts), n_concepts)))
    ref = _as_dense(dictionary.reference)
    settings = DetectorSettings()
    out = {"weights": matches.weight_matrix(), "families": [], "matches": matches, "ref": ref}
    for k, f in enumerate(families):
        fm = matches.families[k]
        pos, con, excluded = detector_training_rows(f, families, by_text, n_concepts)
        cv = cross_validated_scores(pos, con, ref, signals.families[f.id].similarity, settings, seed=seed,
                                    exclude=excluded)
        old = fm.visibility.threshold if fm.visibility is not None else None
        mine = membership_cut(cv.positives, cv.near_misses, cv.reference, settings) if cv is not None else None
        if (old is None) != (mine is None) or (old is not None and abs(old - mine) > 1e-9):
            raise SystemExit(f"family {f.id}: cut {mine} differs from match_profile's {old}")
        n_counter = sum(1 for t in dict.fromkeys(getattr(f, "counter_exemplars", [])) if t not in set(f.exemplars))
        out["families"].append({"id": f.id, "cv": cv, "pos": pos, "con": con, "n_counter": n_counter,
                                "concepts": [(c.concept_id, c.label, c.weight)
                                                                   for c in fm.concepts[:6]]})
    return out


def probe(entry: dict[str, Any], ref: np.ndarray, items: Any, *, penalty: str = "l2", c: float = 1.0,
          counter_weight: float = 3.0, seed: int = 0, holdout: int = 200, folds: int = 5):
    """A logistic probe on concept activations (the alternative score): exemplars against near misses
    (the family's own counter-exemplars weighted ``counter_weight``) and reference windows, each side
    weighted to the same total; features are the concepts that fire on an exemplar, scaled by their
    root mean square. Cross-validated exactly as :func:`cross_validated_scores` (same folds, same
    held-out windows); returns (CrossValidatedScores, scores of ``items``)."""
    from sklearn.linear_model import LogisticRegression

    from cg_gov.matching import CrossValidatedScores

    pos, con = entry["pos"], entry["con"]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ref))
    n_hold = min(holdout, len(ref) // 2)
    held, fit_ref = ref[np.sort(order[:n_hold])], ref[np.sort(order[n_hold:])]
    k = max(2, min(folds, len(pos)))
    pos_fold = rng.permutation(len(pos)) % k
    con_fold = rng.permutation(len(con)) % k
    cw = np.ones(len(con))
    cw[: entry["n_counter"]] = counter_weight  # counter-exemplars come first in the contrast list

    def fit(p, cn, w):
        live = (p > 0).any(axis=0)
        x = np.vstack([p, cn, fit_ref])[:, live]
        scale = np.sqrt((x ** 2).mean(axis=0))
        scale[scale == 0] = 1.0
        y = np.r_[np.ones(len(p)), np.zeros(len(cn) + len(fit_ref))]
        neg_total = w.sum() + len(fit_ref) * (w.sum() / max(1, len(fit_ref)))
        sw = np.r_[np.full(len(p), neg_total / len(p)), w, np.full(len(fit_ref), w.sum() / max(1, len(fit_ref)))]
        model = LogisticRegression(penalty=penalty, C=c, solver="liblinear", max_iter=2000)
        model.fit(x / scale, y, sample_weight=sw)
        return lambda a: model.decision_function(np.asarray(a[:, live] if not hasattr(a, "toarray")
                                                            else a[:, np.flatnonzero(live)].toarray()) / scale)

    ps, cs, rs = np.empty(len(pos)), np.empty(len(con)), np.zeros(len(held))
    for j in range(k):
        sc = fit(pos[pos_fold != j], con[con_fold != j], cw[con_fold != j])
        ps[pos_fold == j] = sc(pos[pos_fold == j])
        if (con_fold == j).any():
            cs[con_fold == j] = sc(con[con_fold == j])
        rs += sc(held) / k
    full = fit(pos, con, cw)
    return CrossValidatedScores(positives=ps, near_misses=cs, reference=rs), full(items)


def cut_of(cv: Any, rule: dict[str, Any]) -> float | None:
    from cg_gov.matching import DetectorSettings, membership_cut

    if cv is None:
        return None
    s = DetectorSettings(max_near_miss_rate=rule["max_near_miss_rate"],
                         max_reference_rate=rule["max_reference_rate"], min_cv_recall=rule["min_cv_recall"])
    return membership_cut(cv.positives, cv.near_misses, cv.reference, s)


def suite_floor(suite_scores: np.ndarray, z: float | None) -> float:
    if z is None or not len(suite_scores):
        return -np.inf
    med = float(np.median(suite_scores))
    mad = float(np.median(np.abs(suite_scores - med)))
    return med + z * 1.4826 * mad


def detect(scores: np.ndarray, cv: Any, rule: dict[str, Any], suite_scores: np.ndarray | None = None) -> np.ndarray:
    cut = cut_of(cv, rule)
    if cut is None:
        return np.zeros(len(scores), dtype=bool)
    floor = suite_floor(scores if suite_scores is None else suite_scores, rule.get("suite_z"))
    return (scores > cut) & (scores > floor)


def run(args: argparse.Namespace) -> dict[str, Any]:
    api = fd._api()
    engine = api["engine"]
    t0 = time.perf_counter()
    items = fi.cap_items(fi._jsonl(Path(args.items)), args.per_category)
    profile, extra = fd.load_families(Path(args.families), api["Profile"])
    dictionary = api["load_dictionary"]("default")
    spec = api["SpecExtraction"]()
    fields = ("template", "exclude_special_tokens", "dtype", "device", "batch_size", "max_tokens")
    settings = api["SpecExtraction"](**({k: getattr(spec, k) for k in fields} | {"dtype": "float32", "device": "cpu"}))

    def abar_of(xs: list[str], desc: str):
        return engine.extract_activations(list(xs), dictionary, settings=settings, progress=False, desc=desc).abar

    abar = abar_of([it["text"] for it in items], "items")
    cat = np.array([it["category"] for it in items])
    fit = fitted_profile(profile, dictionary, abar_of)
    det_scores = np.asarray(abar @ fit["weights"].T)
    scorers: dict[str, tuple[np.ndarray, list[Any]]] = {"detector": (det_scores, [e["cv"] for e in fit["families"]])}
    for name, kw in (("probe-l2", {"penalty": "l2", "c": 1.0}), ("probe-l1", {"penalty": "l1", "c": 1.0}))[
            : 0 if args.no_probe else 2]:
        cvs, cols = [], []
        for e in fit["families"]:
            cv, sc = probe(e, fit["ref"], abar, **kw)
            cvs.append(cv)
            cols.append(sc)
        scorers[name] = (np.stack(cols, axis=1), cvs)
    rules = rule_grid()
    table: list[dict[str, Any]] = []
    aurocs: dict[str, dict[str, Any]] = {}
    for scorer, (scores, cvs) in scorers.items():
      aurocs[scorer] = {}
      for half in ("choose", "report"):
        vals = [fd.auroc(scores[cat == extra[f.id]["category"], k], scores[cat != extra[f.id]["category"], k])
                for k, f in enumerate(profile.families) if fd.SPLIT[extra[f.id]["category"]] == half]
        aurocs[scorer][half] = fi._median(vals)
      for rule in rules:
        if scorer != "detector" and rule["suite_z"] is not None:
            continue
        per: list[dict[str, Any]] = []
        for k, f in enumerate(profile.families):
            category = extra[f.id]["category"]
            pos = cat == category
            det = detect(scores[:, k], cvs[k], rule)
            tp, nd, npos = int((det & pos).sum()), int(det.sum()), int(pos.sum())
            prec = tp / nd if nd else None
            rec = tp / npos if npos else None
            f1 = (2 * tp / (nd + npos)) if (nd + npos) else None
            per.append({"family": f.id, "split": fd.SPLIT[category], "detected": nd, "tp": tp, "n_pos": npos,
                        "precision": prec, "recall": rec, "f1": f1, "cut": cut_of(cvs[k], rule)})
        summ = {}
        for half in ("choose", "report"):
            part = [p for p in per if p["split"] == half]
            med = (lambda key: fi._median([p[key] for p in part]))
            summ[half] = {"f1": med("f1"), "precision": med("precision"), "recall": med("recall"),
                          "precision_zero_when_none": fi._median([p["precision"] if p["precision"] is not None
                                                                  else 0.0 for p in part]),
                          "detected": int(sum(p["detected"] for p in part))}
        name = rule_name(rule) if scorer == "detector" else f"{scorer}: {rule_name(rule)}"
        table.append({"scorer": scorer, "rule": rule, "name": name, "summary": summ, "families": per})
    def key(r: dict[str, Any]) -> tuple[float, float]:
        return (r["summary"]["choose"]["f1"] or 0.0, r["summary"]["choose"]["precision_zero_when_none"] or 0.0)

    f1_best = max(table, key=key)
    old = next(r for r in table if r["scorer"] == "detector" and r["name"] == "nm 0.05")
    floor = old["summary"]["choose"]["precision"] or 0.0
    best = max((r for r in table if (r["summary"]["choose"]["precision"] or 0.0) >= floor), key=key)
    return {"created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join(["python", *sys.argv]), "families_file": str(args.families),
            "n_items": len(items), "per_category": args.per_category,
            "auroc_vs_others_median": aurocs,
            "chosen_on_choose_half": best["name"], "f1_best_on_choose_half": f1_best["name"],
            "criterion": "highest median F1 on the choose half among the rules whose median precision there is "
                         "no lower than the earlier rule's (nm 0.05); ties: median precision (none counted = 0)",
            "rules": table,
            "seconds": round(time.perf_counter() - t0, 1)}


def planted(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The held-out sanity checks of ``planted_family.py`` under each rule (never used to choose)."""
    import scipy.sparse as sp

    import planted_family as pf
    import cg_gov.engine as engine
    from cg_gov.dictionary import load_dictionary
    from cg_gov.spec import ExtractionSettings, load_profile

    dictionary = load_dictionary("default")
    settings = ExtractionSettings(dtype="float32", device="cpu")

    def abar_of(texts: list[str], desc: str):
        return engine.extract_activations(list(texts), dictionary, settings=settings, progress=False, desc=desc,
                                          precomputed=pf.PRECOMPUTED).abar

    tasks = pf.task_suite()
    harm = [r["input"] for r in pf._jsonl(pf.DEMO / "items" / "harmbench.jsonl")]
    demo = pf.demo_suite()
    task_abar, harm_abar = abar_of([r["text"] for r in tasks], "tasks"), abar_of(harm, "planted")
    demo_abar = abar_of([r["text"] for r in demo], "demo")
    p1 = load_profile(pf.PLANTED / "harmful_requests.yaml")
    f1 = fitted_profile(p1, dictionary, abar_of)
    k = [f.id for f in p1.families].index("harmful-requests")
    s_task = np.asarray(task_abar @ f1["weights"].T)[:, k]
    s_both = np.asarray(sp.vstack([task_abar, harm_abar]).tocsr() @ f1["weights"].T)[:, k]
    p2 = load_profile(pf.PLANTED / "hr_assistant.yaml")
    f2 = fitted_profile(p2, dictionary, abar_of)
    s_demo = np.asarray(demo_abar @ f2["weights"].T)
    out = []
    for rule in rules:
        cv = f1["families"][k]["cv"]
        before = detect(s_task, cv, rule)
        after = detect(s_both, cv, rule)
        hr = {f.id: int(detect(s_demo[:, j], f2["families"][j]["cv"], rule).sum())
              for j, f in enumerate(p2.families)}
        out.append({"name": rule_name(rule), "rule": rule, "cut_harmful": cut_of(cv, rule),
                    "task_only": int(before.sum()), "after_planting": int(after.sum()),
                    "planted_counted": int(after[len(tasks):].sum()), "false_on_tasks": int(after[:len(tasks)].sum()),
                    "hr": hr, "hr_cuts": {f.id: cut_of(f2["families"][j]["cv"], rule)
                                          for j, f in enumerate(p2.families)}})
    return {"rules": out}


def format_table(res: dict[str, Any], top: int = 25) -> str:
    rows = sorted(res["rules"], key=lambda r: -(r["summary"]["choose"]["f1"] or 0.0))
    lines = ["| rule | choose F1 | choose precision | choose recall | report F1 | report precision | report recall |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base = [r for r in res["rules"] if r["name"] == "nm 0.05"]
    for r in base + rows[:top]:
        c, p = r["summary"]["choose"], r["summary"]["report"]
        lines.append(f"| {r['name']} | {fi._f(c['f1'])} | {fi._f(c['precision'])} | {fi._f(c['recall'])} | "
                     f"{fi._f(p['f1'])} | {fi._f(p['precision'])} | {fi._f(p['recall'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=Path, default=fd.DEFAULT_FAMILIES)
    parser.add_argument("--items", type=Path, default=fi.DATA / "items.jsonl")
    parser.add_argument("--per-category", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/membership_rules.json"))
    parser.add_argument("--md", type=Path)
    parser.add_argument("--no-probe", action="store_true", help="the detector's score only")
    parser.add_argument("--planted", action="store_true",
                        help="only the held-out planted and HR checks, under every rule of the grid")
    args = parser.parse_args(argv)
    if args.planted:
        res = planted(rule_grid())
        args.out.write_text(json.dumps(res, indent=1, default=float) + "\n", encoding="utf-8")
        for r in res["rules"]:
            print(f"{r['name']:40s} task-only {r['task_only']:3d}  planted {r['planted_counted']:3d}/200 "
                  f"false {r['false_on_tasks']:3d}  HR {r['hr']}")
        return 0
    res = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    slim = dict(res)
    args.out.write_text(json.dumps(slim, indent=1, default=float) + "\n", encoding="utf-8")
    text = format_table(res)
    if args.md:
        args.md.write_text(f"Command: `{res['command']}` ({res['created']}); {res['n_items']} items; chosen on the "
                           f"choose half: **{res['chosen_on_choose_half']}** ({res['criterion']}); by median F1 "
                           f"alone: {res['f1_best_on_choose_half']}; median AUROC vs others "
                           f"{json.dumps(res['auroc_vs_others_median'])}\n\n{text}\n", encoding="utf-8")
    print(text)
    print("AUROC vs others (median):", json.dumps(res["auroc_vs_others_median"]))
    print(f"chosen on the choose half: {res['chosen_on_choose_half']}; by F1 alone: {res['f1_best_on_choose_half']}"
          f"  ({res['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
