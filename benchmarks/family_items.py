"""Family items: does a family's detector count the family's items, and not its near misses?

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/family_items.py \\
        [--families FILE] [--per-category N] [--out benchmarks/results/family_items.json]

Data: ``data/families/items.jsonl`` (20 categories, no demo-suite text) and ``twins.jsonl``
(contrast twins), both built by ``tools/build_family_data.py``; families
``benchmarks/family_detection_families.yaml`` (written from each category's definition only).
The detector, its weights and its operating point are cg_gov's own: :func:`cg_gov.matching.match_profile`
with exemplar activations and the dictionary's reference windows (``matching.method: detector``,
default :class:`~cg_gov.matching.DetectorSettings`), each family's score m_F(x) = abar(x) @ w_F
(``ProfileMatch.weight_matrix``) and its cut ``FamilyMatch.visibility.threshold`` (the lowest cut at
which at most 5% of the cross-validated held-out near misses are counted), as the audit counts
family items. Nothing is tuned here.

Per family (a family detects one category):

- ``vs_others``: AUROC of m_F, the category's items against every other category's items;
- ``vs_twins``: AUROC against its contrast twins (the category's sibling category, or its twin
  group), where it has twins;
- at the operating point (detected = m_F(x) > threshold) over all items: ``precision`` and
  ``recall`` of the category's items (Wilson 95% intervals), ``detected``; and the share of its
  twins detected (``twin_rate``) with the precision the count would have if the twins were in the pool;
- visibility: cross-validated AUROC (exemplars vs held-out near misses and reference windows) and
  near-miss AUROC, as ``match_profile`` reports them;
- ``dim``: the residual-stream difference-of-means probe at the dictionary's layer (the baseline of
  ``family_detection.py``: direction = mean(exemplars) - mean(counter-exemplars + other families'
  exemplars)), AUROC vs others and vs twins, for comparison (it has no operating point).

Across families: Spearman correlation of each visibility figure with the real AUROCs, of the
cross-validated recall at the cut with the real recall, and of the near-miss AUROC with the precision. Summaries are
given per half of the fixed split (``family_detection.SPLIT``) and apart for the categories drawn from
the dictionary's training corpus (``in_dictionary_corpus``). AUROC intervals: percentile bootstrap,
seed 0, 1000 resamples.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import family_detection as fd  # noqa: E402

DATA = REPO / "data" / "families"
TARGETS = {"vs_twins_median": 0.85, "vs_others_median": 0.95, "precision_median": 0.8}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cap_items(items: list[dict[str, Any]], per_category: int | None) -> list[dict[str, Any]]:
    """At most ``per_category`` items of each category (random.Random(0) over the ids, order kept)."""
    if not per_category:
        return items
    out = []
    for cat in sorted({it["category"] for it in items}):
        rows = [it for it in items if it["category"] == cat]
        if len(rows) > per_category:
            keep = set(random.Random(0).sample([r["id"] for r in rows], per_category))
            rows = [r for r in rows if r["id"] in keep]
        out += rows
    return out


def twin_rows(category: str, categories: dict[str, dict[str, Any]], items: list[dict[str, Any]],
              twins: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``items`` (sibling categories) and ``twins`` (twin groups) of a category's twins."""
    names = categories[category].get("twins") or []
    sib = {n.split(":", 1)[1] for n in names if n.startswith("category:")}
    groups = {n for n in names if not n.startswith("category:")}
    return (np.array([i for i, it in enumerate(items) if it["category"] in sib], dtype=int),
            np.array([j for j, t in enumerate(twins) if t["group"] in groups], dtype=int))


def _wilson(k: int, n: int) -> list[float] | None:
    from cg_gov.scoring._family_items import wilson_interval

    if n == 0:
        return None
    lo, hi = wilson_interval(k, n)
    return [round(lo, 4), round(hi, 4)]


def spearman(x: list[float | None], y: list[float | None]) -> dict[str, Any]:
    """Spearman's rho over the families where both figures exist."""
    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 3:
        return {"rho": None, "p": None, "n": len(pairs)}
    res = spearmanr([a for a, _ in pairs], [b for _, b in pairs])
    rho = float(res.statistic if hasattr(res, "statistic") else res[0])
    p = float(res.pvalue if hasattr(res, "pvalue") else res[1])
    return {"rho": None if np.isnan(rho) else round(rho, 3), "p": None if np.isnan(p) else round(p, 4),
            "n": len(pairs)}


def _auc(pos: np.ndarray, neg: np.ndarray, resamples: int) -> dict[str, Any] | None:
    if len(pos) < 2 or len(neg) < 2:
        return None
    value = fd.auroc(pos, neg)
    ci = fd.auroc_interval(pos, neg, resamples=resamples, seed=fd.SEED)
    return {"auroc": round(value, 4), "ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
            "n_pos": int(len(pos)), "n_neg": int(len(neg))}


def _median(vals: list[float | None]) -> float | None:
    vals = [v for v in vals if v is not None]
    return round(float(np.median(vals)), 4) if vals else None


def _detector_defaults() -> dict[str, Any]:
    """The :class:`~cg_gov.matching.DetectorSettings` defaults the run used (cg_gov's own)."""
    from dataclasses import asdict

    from cg_gov.matching import DetectorSettings

    return asdict(DetectorSettings())


def run(args: argparse.Namespace) -> dict[str, Any]:
    api = fd._api()
    engine = api["engine"]
    t0 = time.perf_counter()
    say = (lambda msg: print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True))
    all_items = _jsonl(Path(args.items))
    items = cap_items(all_items, args.per_category)
    twins = _jsonl(Path(args.twins))
    categories = {c["id"]: c for c in json.loads(Path(args.categories).read_text(encoding="utf-8"))["categories"]}
    cats = sorted(categories)
    if fd.split_rule(cats) != {c: fd.SPLIT[c] for c in cats}:
        raise SystemExit("the categories of the items differ from those the split was fixed on")
    profile, extra = fd.load_families(Path(args.families), api["Profile"])
    families = list(profile.families)
    texts = [it["text"] for it in items]
    cat = np.array([it["category"] for it in items])

    dictionary = api["load_dictionary"]("default")
    spec = api["SpecExtraction"]()
    fields = ("template", "exclude_special_tokens", "dtype", "device", "batch_size", "max_tokens")
    settings = api["SpecExtraction"](**({k: getattr(spec, k) for k in fields} | {"dtype": args.dtype,
                                                                                  "device": "cpu"}))

    def abar_of(xs: list[str], desc: str):
        return engine.extract_activations(list(xs), dictionary, settings=settings, progress=False, desc=desc).abar

    say(f"concept activations: {len(texts)} items, {len(twins)} twins ({settings.dtype}, cached)")
    item_abar = abar_of(texts, "items")
    twin_abar = abar_of([t["text"] for t in twins], "twins")
    t_acts = time.perf_counter()
    say("match_profile (detector, visibility, operating point)")
    matches = api["match_profile"](profile, dictionary.labels, dictionary_identity=dictionary.identity,
                                   defaults=dictionary.matching_defaults,
                                   exemplar_activations=lambda xs: abar_of(list(xs), "exemplars"),
                                   reference_mean=dictionary.reference_mean, concept_info=dictionary.label_info,
                                   reference=dictionary.reference, shipped=dictionary.embeddings_dir)
    weights = matches.weight_matrix()
    item_scores = np.asarray(item_abar @ weights.T)
    twin_scores = np.asarray(twin_abar @ weights.T)
    t_match = time.perf_counter()

    ex_texts = sorted({t for f in families for t in [*f.exemplars, *extra[f.id]["counter_exemplars"]]})
    ex_row = {t: i for i, t in enumerate(ex_texts)}
    if args.no_dim:  # the residual pass costs as much as the activations; skip the baseline
        res_items = res_twins = res_ex = None
    else:
        say("residual means at the hook layer (cached): the dim baseline")
        root = Path(api["cache_dir"]())
        cache_ns = hashlib.sha256(json.dumps([dictionary.identity, settings.cache_key(),
                                              getattr(engine, "CACHE_VERSION", None)], sort_keys=True)
                                  .encode()).hexdigest()[:24]
        store = fd.VectorCache(root, f"residual-{cache_ns}")
        res_items = fd.residual_means(texts, dictionary, settings, engine, store)
        res_twins = fd.residual_means([t["text"] for t in twins], dictionary, settings, engine, store)
        res_ex = fd.residual_means(ex_texts, dictionary, settings, engine, store)
    t_res = time.perf_counter()

    rows: list[dict[str, Any]] = []
    for k, f in enumerate(families):
        fm = matches.families[k]
        category = extra[f.id]["category"]
        is_pos = cat == category
        sib, grp = twin_rows(category, categories, items, twins)
        vis = fm.visibility
        cut = vis.threshold if fm.method == "detector" and vis is not None else None
        s, ts = item_scores[:, k], twin_scores[:, k]
        twin_s = np.concatenate([s[sib], ts[grp]])
        own = [ex_row[t] for t in f.exemplars]
        contrast = sorted(set(ex_row[t] for t in extra[f.id]["counter_exemplars"])
                          | {ex_row[t] for g in families if g.id != f.id for t in g.exemplars} - set(own))
        if res_ex is not None:
            direction = res_ex[own].mean(axis=0) - res_ex[contrast].mean(axis=0)
            d_items, d_twins = res_items @ direction, res_twins @ direction
            d_twin_s = np.concatenate([d_items[sib], d_twins[grp]])
        row: dict[str, Any] = {
            "family": f.id, "category": category, "split": fd.SPLIT[category],
            "in_dictionary_corpus": bool(categories[category].get("in_dictionary_corpus")),
            "twins": categories[category].get("twins") or [], "n_items": int(is_pos.sum()),
            "n_other": int((~is_pos).sum()), "n_twins": int(len(twin_s)), "method": fm.method,
            "concepts": len(fm.concepts),
            "visibility": None if vis is None else {
                "auroc": vis.auroc, "near_miss_auroc": vis.near_miss_auroc, "status": vis.status,
                "threshold": cut, "cv_recall": vis.cv_recall, "cv_near_miss_rate": vis.cv_near_miss_rate,
                "n_near_miss": vis.n_near_miss, "n_counter": vis.n_counter},
            "detector": {"vs_others": _auc(s[is_pos], s[~is_pos], args.resamples),
                         "vs_twins": _auc(s[is_pos], twin_s, args.resamples)},
            "dim": {"vs_others": _auc(d_items[is_pos], d_items[~is_pos], args.resamples),
                    "vs_twins": _auc(d_items[is_pos], d_twin_s, args.resamples)} if res_ex is not None
            else {"vs_others": None, "vs_twins": None},
        }
        if cut is not None:
            det = s > cut
            tp, n_det, n_pos = int((det & is_pos).sum()), int(det.sum()), int(is_pos.sum())
            twin_det = int((twin_s > cut).sum())
            # twins that are items of a sibling category are already in the pool; add the group twins only
            grp_det = int((ts[grp] > cut).sum())
            row["operating_point"] = {
                "threshold": cut, "detected": n_det, "true_positives": tp,
                "precision": round(tp / n_det, 4) if n_det else None, "precision_ci": _wilson(tp, n_det),
                "recall": round(tp / n_pos, 4) if n_pos else None, "recall_ci": _wilson(tp, n_pos),
                "other_detected": n_det - tp,
                "other_detected_by_category": dict(sorted(
                    ((c, int(n)) for c, n in zip(*np.unique(cat[det & ~is_pos], return_counts=True))),
                    key=lambda kv: (-kv[1], kv[0]))),
                "twins_detected": twin_det, "twin_rate": round(twin_det / len(twin_s), 4) if len(twin_s) else None,
                "precision_with_twins": (round(tp / (n_det + grp_det), 4) if n_det + grp_det else None)
                if len(twin_s) else None}
        else:
            row["operating_point"] = None
        row["detector_concepts"] = [{"id": c.concept_id, "label": c.label, "weight": c.weight}
                                    for c in fm.concepts[:8]]
        rows.append(row)
    t_end = time.perf_counter()

    def fig(r: dict[str, Any], path: str) -> float | None:
        cur: Any = r
        for key in path.split("."):
            if cur is None:
                return None
            cur = cur.get(key)
        return cur

    summary: dict[str, Any] = {}
    groups = {"report": lambda r: r["split"] == "report",
              "report_clean": lambda r: r["split"] == "report" and not r["in_dictionary_corpus"],
              "report_in_dictionary_corpus": lambda r: r["split"] == "report" and r["in_dictionary_corpus"],
              "choose": lambda r: r["split"] == "choose", "all": lambda r: True}
    for name, keep in groups.items():
        part = [r for r in rows if keep(r)]
        summary[name] = {
            "families": len(part), "families_with_twins": sum(1 for r in part if r["n_twins"]),
            "detector_vs_others": _median([fig(r, "detector.vs_others.auroc") for r in part]),
            "detector_vs_twins": _median([fig(r, "detector.vs_twins.auroc") for r in part]),
            "dim_vs_others": _median([fig(r, "dim.vs_others.auroc") for r in part]),
            "dim_vs_twins": _median([fig(r, "dim.vs_twins.auroc") for r in part]),
            "precision": _median([fig(r, "operating_point.precision") for r in part]),
            "recall": _median([fig(r, "operating_point.recall") for r in part]),
            "twin_rate": _median([fig(r, "operating_point.twin_rate") for r in part]),
            "spearman": {
                f"{v}~{a}": spearman([fig(r, f"visibility.{v}") for r in part],
                                     [fig(r, f"detector.{a}.auroc") for r in part])
                for v in ("auroc", "near_miss_auroc") for a in ("vs_others", "vs_twins")}
            | {"cv_recall~recall": spearman([fig(r, "visibility.cv_recall") for r in part],
                                            [fig(r, "operating_point.recall") for r in part]),
               "near_miss_auroc~precision": spearman([fig(r, "visibility.near_miss_auroc") for r in part],
                                                     [fig(r, "operating_point.precision") for r in part])}}
    rep = summary["report"]
    verdict = {"vs_twins_median": rep["detector_vs_twins"], "vs_others_median": rep["detector_vs_others"],
               "precision_median": rep["precision"]}
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python", *sys.argv]),
        "families_file": str(Path(args.families).relative_to(REPO)) if Path(args.families).is_relative_to(REPO)
        else str(args.families),
        "families_sha256": hashlib.sha256(Path(args.families).read_bytes()).hexdigest(),
        "items_sha256": hashlib.sha256(Path(args.items).read_bytes()).hexdigest(),
        "twins_sha256": hashlib.sha256(Path(args.twins).read_bytes()).hexdigest(),
        "n_items": len(items), "n_items_in_file": len(all_items), "per_category": args.per_category,
        "n_twins": len(twins), "dictionary": dictionary.identity, "hook_layer": dictionary.hook_layer,
        "extraction": settings.cache_key(), "detector_settings": _detector_defaults(),
        "bootstrap": {"resamples": args.resamples, "seed": fd.SEED, "level": 0.95},
        "targets": {k: {"target": v, "measured": verdict[k],
                        "met": None if verdict[k] is None else bool(verdict[k] >= v)} for k, v in TARGETS.items()},
        "timings_s": {"activations": round(t_acts - t0, 1), "match_profile": round(t_match - t_acts, 1),
                      "residuals": round(t_res - t_match, 1), "scoring": round(t_end - t_res, 1),
                      "total": round(t_end - t0, 1)},
        "families": rows, "summary": summary,
    }


def _a(v: dict[str, Any] | None) -> str:
    if not v:
        return "-"
    ci = v.get("ci")
    return f"{v['auroc']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{v['auroc']:.2f}"


def _f(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def format_tables(result: dict[str, Any]) -> str:
    lines = []
    for part in ("report", "choose"):
        rows = [r for r in result["families"] if r["split"] == part]
        lines += ["", f"### {part} half ({len(rows)} families)", "",
                  "| family | items | twins | vs others | vs twins | dim vs others | dim vs twins | cut | detected "
                  "| precision | recall | twins detected | vis. AUROC | vis. near-miss |",
                  "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |"]
        for r in rows:
            op = r["operating_point"] or {}
            vis = r["visibility"] or {}
            name = r["family"] + (" (dictionary corpus)" if r["in_dictionary_corpus"] else "")
            prec = "-" if op.get("precision") is None else \
                f"{op['precision']:.2f} [{op['precision_ci'][0]:.2f}, {op['precision_ci'][1]:.2f}]"
            rec = "-" if op.get("recall") is None else \
                f"{op['recall']:.2f} [{op['recall_ci'][0]:.2f}, {op['recall_ci'][1]:.2f}]"
            tw = "-" if op.get("twin_rate") is None else f"{op['twins_detected']}/{r['n_twins']}"
            lines.append(
                f"| {name} | {r['n_items']} | {r['n_twins']} | {_a(r['detector']['vs_others'])} | "
                f"{_a(r['detector']['vs_twins'])} | {_f((r['dim']['vs_others'] or {}).get('auroc'))} | "
                f"{_f((r['dim']['vs_twins'] or {}).get('auroc'))} | {_f(op.get('threshold'), 4)} | "
                f"{op.get('detected', '-')} | {prec} | {rec} | {tw} | {_f(vis.get('auroc'))} | "
                f"{_f(vis.get('near_miss_auroc'))} |")
    lines += ["", "### Medians", "",
              "| families | n | with twins | vs others | vs twins | dim vs others | dim vs twins "
              "| precision | recall | twins detected (share) |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in result["summary"].items():
        lines.append(f"| {name} | {s['families']} | {s['families_with_twins']} | {_f(s['detector_vs_others'])} | "
                     f"{_f(s['detector_vs_twins'])} | {_f(s['dim_vs_others'])} | {_f(s['dim_vs_twins'])} | "
                     f"{_f(s['precision'])} | {_f(s['recall'])} | {_f(s['twin_rate'])} |")
    lines += ["", "### Does visibility predict detection? (Spearman across families)", "",
              "| families | visibility figure ~ real figure | rho | p | n |", "| --- | --- | ---: | ---: | ---: |"]
    for name in ("report", "choose", "all"):
        for key, v in result["summary"][name]["spearman"].items():
            lines.append(f"| {name} | {key} | {_f(v['rho'])} | {_f(v['p'], 3)} | {v['n']} |")
    lines += ["", "### Targets (reporting half)", "", "| target | wanted | measured | met |",
              "| --- | ---: | ---: | --- |"]
    for k, v in result["targets"].items():
        lines.append(f"| {k} | >= {v['target']} | {_f(v['measured'])} | {v['met']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=Path, default=fd.DEFAULT_FAMILIES)
    parser.add_argument("--items", type=Path, default=DATA / "items.jsonl")
    parser.add_argument("--twins", type=Path, default=DATA / "twins.jsonl")
    parser.add_argument("--categories", type=Path, default=DATA / "categories.json")
    parser.add_argument("--per-category", type=int, default=None,
                        help="at most this many items per category (seeded); default all")
    parser.add_argument("--no-dim", action="store_true",
                        help="skip the residual-stream difference-of-means baseline (its own forward pass)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--resamples", type=int, default=fd.RESAMPLES)
    parser.add_argument("--out", type=Path, default=Path("/tmp/family_items.json"))
    parser.add_argument("--md", type=Path, help="also write the tables (with the command and timings) here")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.md:
        cap = f"at most {result['per_category']} per category" if result["per_category"] else "all"
        head = [f"Command: `{result['command']}` ({result['created']}); families `{result['families_file']}`; "
                f"{result['n_items']} items ({cap} of {result['n_items_in_file']}), {result['n_twins']} twins; "
                f"timings (s) {result['timings_s']}."]
        args.md.write_text("\n".join(head) + "\n" + format_tables(result) + "\n", encoding="utf-8")
    print(f"family items: {result['n_items']} items, {result['n_twins']} twins, {len(result['families'])} families, "
          f"dictionary {result['dictionary']} (layer {result['hook_layer']})")
    print(format_tables(result))
    print(f"\ntimings (s): {result['timings_s']}\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
