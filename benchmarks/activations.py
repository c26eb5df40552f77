"""Activation extraction speed on real demo text, against two baselines measured in the same run.

    python benchmarks/activations.py [--items 96] [--dtype auto] [--device cpu] [--contended]

(a) naive reference: full fp32 forward with output_hidden_states=True, one
    item at a time, SAE encode of every token, masked mean;
(b) bare truncated forward at the same dtype and batches as cg_gov's path,
    on pre-tokenised tensors, with no tokenising, SAE or aggregation.
cg_gov's path is timed end to end (tokenise, pad, truncated forward, SAE
encode, mean and max, sparse output), with the cache off. cg_gov's path and
(b) are timed alternately ``--rounds`` times and their medians compared; (a)
runs once. Ratios are printed: the targets are >= 6x (a) and >= 0.85x (b) on
2 CPU cores.

``--dtype auto`` (the default) takes the dtype ``extraction.dtype: auto`` takes on this machine.
``--contended`` also times cg_gov's path beside a busy process that the benchmark starts (one
core spinning in pure Python), alternately with idle rounds, at the thread count
``extraction.threads: auto`` chooses and at one thread per usable core, and reports contended
throughput as a share of idle throughput (target: at least 0.5).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from cg_gov.dictionary import default_dictionary_path, load_dictionary
from cg_gov.engine import extract_activations, length_batches, prepare_items, resolve_extraction, truncated_forward
from cg_gov.engine._machine import busy_process, usable_cores
from cg_gov.engine._activations import _pad_batch
from cg_gov.spec import ExtractionSettings

REPO = Path(__file__).resolve().parents[1]


def demo_texts(n: int) -> list[str]:
    texts = []
    files = sorted((REPO / "data" / "demo" / "items").glob("*.jsonl"))
    rows = [[json.loads(l) for l in f.read_text(encoding="utf-8").splitlines() if l.strip()] for f in files]
    i = 0
    while len(texts) < n and any(i < len(r) for r in rows):
        for r in rows:
            if i < len(r) and len(texts) < n:
                texts.append(r[i]["input"])
        i += 1
    return texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=96)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--contended", action="store_true",
                    help="also time cg_gov's path beside a busy process started here")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3,
                    help="cg_gov's path and the bare forward are timed alternately this many times; "
                         "the medians are compared (the machine's speed drifts)")
    a = ap.parse_args()
    d = load_dictionary("default") if (default_dictionary_path() / "manifest.json").is_file() else None
    if d is None:
        raise SystemExit("the bundled dictionary is not built yet")
    texts = demo_texts(a.items)
    settings, chosen = resolve_extraction(ExtractionSettings(dtype=a.dtype, device=a.device,
                                                             batch_size=a.batch_size))
    a.dtype = settings.dtype
    torch.set_num_threads(settings.threads if isinstance(settings.threads, int) else torch.get_num_threads())
    lm, tok = d.language_model(dtype=a.dtype, device=a.device)
    sae = d.sae(device=a.device)
    prepared = prepare_items(tok, texts, None, settings)
    n_tok = sum(sum(p.counted) for p in prepared)
    all_tok = sum(len(p.input_ids) for p in prepared)

    # warm-up
    extract_activations(texts[:8], d, settings=settings, cache=False, progress=False)

    order = length_batches([len(p.input_ids) for p in prepared], a.batch_size)
    batches = [_pad_batch([prepared[i] for i in idx], tok.pad_token_id or 0) for idx in order]

    def ours() -> float:
        t = time.perf_counter()
        extract_activations(texts, d, settings=settings, cache=False, progress=False)
        return time.perf_counter() - t

    def bare() -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            for ids, attn, _c in batches:
                truncated_forward(lm, ids.to(a.device), attn.to(a.device), d.hook_layer)
        return time.perf_counter() - t

    rounds = [(ours(), bare()) for _ in range(max(1, a.rounds))]
    t_ours = float(np.median([r[0] for r in rounds]))
    t_bare = float(np.median([r[1] for r in rounds]))

    lm32, _ = d.language_model(dtype="float32", device=a.device)
    t = time.perf_counter()
    with torch.inference_mode():
        for p in prepared:
            hs = lm32(torch.tensor([p.input_ids], device=a.device), output_hidden_states=True).hidden_states
            m = torch.tensor(p.counted, device=a.device)
            sae.encode(hs[d.hook_layer + 1][0][m].float()).mean(0)
    t_naive = time.perf_counter() - t

    contended = None
    if a.contended:
        contended = {}
        for threads in sorted({settings.threads, usable_cores()}):
            s_t = settings.model_copy(update={"threads": threads})
            extract_activations(texts[:8], d, settings=s_t, cache=False, progress=False)

            def timed() -> float:
                t = time.perf_counter()
                extract_activations(texts, d, settings=s_t, cache=False, progress=False)
                return time.perf_counter() - t

            pairs = []
            for _ in range(max(1, a.rounds)):
                idle = timed()
                busy = busy_process(3600)
                try:
                    time.sleep(0.1)
                    pairs.append((idle, timed()))
                finally:
                    busy.kill()
                    busy.wait()
            t_idle = float(np.median([p[0] for p in pairs]))
            t_cont = float(np.median([p[1] for p in pairs]))
            contended[f"{threads}_threads" + (" (auto)" if threads == settings.threads else "")] = {
                "idle_tokens_per_s": round(all_tok / t_idle, 1),
                "contended_tokens_per_s": round(all_tok / t_cont, 1),
                "contended_over_idle": round(t_idle / t_cont, 3),
                "per_round": [round(i / c, 3) for i, c in pairs]}

    print(json.dumps({
        "items": len(texts), "counted_tokens": n_tok, "all_tokens": all_tok, "dtype": a.dtype,
        "dtype_choice": chosen["dtype"], "threads_choice": chosen["threads"],
        "threads": torch.get_num_threads(),
        "cg_gov_tokens_per_s": round(all_tok / t_ours, 1),
        "bare_truncated_forward_tokens_per_s": round(all_tok / t_bare, 1),
        "naive_reference_tokens_per_s": round(all_tok / t_naive, 1),
        "ratio_vs_naive": round(t_naive / t_ours, 2),
        "ratio_vs_bare_forward": round(t_bare / t_ours, 3),
        "ratio_vs_bare_forward_per_round": [round(b / o, 3) for o, b in rounds],
        "rounds": len(rounds),
        "contended": contended,
        "load_average": os.getloadavg(),
    }, indent=1))


if __name__ == "__main__":
    main()
