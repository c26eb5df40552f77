"""Throughput of the extraction executors on real demo text, in one run.

    python benchmarks/scaling.py [--items 64] [--dtype float32]        # CPU: local vs Ray 1 and 2 actors
    python benchmarks/scaling.py --gpu [--items 4096]                   # a GPU machine: one actor per GPU

CPU mode times cg_gov's local executor and ``executor: ray`` on a local Ray cluster (bound to
127.0.0.1, as many CPUs as usable cores) with 1 and 2 actors of one thread each, cache off, and
prints tokens/s and each one's ratio to the local executor. The Ray times include shipping items
and results, and the start of the pool: each ``extract_activations`` call with ``executor: ray``
starts its own actors, each loading the model and SAE (a warm-up call on a few items first brings
the converted model into the page cache only). With few items the pool's start dominates; run with
hundreds of items to see the steady state.

GPU mode runs one actor per visible GPU (``gpus_per_actor: 1``, ``device: cuda``, bfloat16 unless
``--dtype`` says otherwise) and prints tokens/s per GPU and the share of the bare truncated forward
on one GPU (same batches, pre-tokenised, measured in the driver).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import torch
    from activations import demo_texts

    from cg_gov.dictionary import load_dictionary
    from cg_gov.engine import extract_activations, length_batches, prepare_items, truncated_forward
    from cg_gov.engine._activations import _pad_batch
    from cg_gov.engine._machine import usable_cores
    from cg_gov.engine._ray import require_ray
    from cg_gov.spec import ExtractionSettings, RaySettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--dtype", default=None, help="default: float32 on CPU, bfloat16 on GPUs")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--gpu", action="store_true")
    a = ap.parse_args()
    ray = require_ray()
    d = load_dictionary("default", load_reference=False)
    texts = demo_texts(a.items)
    results: dict[str, dict] = {}

    def run(name: str, settings: ExtractionSettings) -> float:
        extract_activations(texts[:4], d, settings=settings, cache=False, progress=False)   # warm the pool
        t = time.perf_counter()
        acts = extract_activations(texts, d, settings=settings, cache=False, progress=False)
        el = time.perf_counter() - t
        results[name] = {"seconds": round(el, 2), "counted_tokens": int(acts.n_tokens.sum())}
        return el

    if a.gpu:
        n_gpu = torch.cuda.device_count()
        if n_gpu == 0:
            raise SystemExit("--gpu: no CUDA device is visible")
        dtype = a.dtype or "bfloat16"
        ray.init(num_cpus=max(2, n_gpu * 2), num_gpus=n_gpu, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
        s = ExtractionSettings(dtype=dtype, device="cuda", batch_size=a.batch_size, threads=1, executor="ray",
                               ray=RaySettings(actors=n_gpu, gpus_per_actor=1, cpus_per_actor=1))
        el = run(f"ray_{n_gpu}_gpu_actors", s)
        lm, tok = d.language_model(dtype=dtype, device="cuda")
        prepared = prepare_items(tok, texts, None, s)
        all_tok = sum(len(p.input_ids) for p in prepared)
        batches = [_pad_batch([prepared[i] for i in idx], tok.pad_token_id or 0)
                   for idx in length_batches([len(p.input_ids) for p in prepared], a.batch_size)]
        with torch.inference_mode():
            for ids, attn, _c in batches[:2]:
                truncated_forward(lm, ids.cuda(), attn.cuda(), d.hook_layer)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for ids, attn, _c in batches:
                truncated_forward(lm, ids.cuda(), attn.cuda(), d.hook_layer)
            torch.cuda.synchronize()
            bare = time.perf_counter() - t
        ray.shutdown()
        per_gpu = all_tok / el / n_gpu
        print(json.dumps({"gpus": n_gpu, "gpu": torch.cuda.get_device_name(0), "dtype": dtype,
                          "items": len(texts), "all_tokens": all_tok, **results,
                          "tokens_per_s_per_gpu": round(per_gpu, 1),
                          "bare_forward_tokens_per_s_one_gpu": round(all_tok / bare, 1),
                          "share_of_bare_forward_per_gpu": round(per_gpu / (all_tok / bare), 3)}, indent=1))
        return

    dtype = a.dtype or "float32"
    base = ExtractionSettings(dtype=dtype, batch_size=a.batch_size, threads=1)
    t_local = run("local_1_thread", base)
    ray.init(num_cpus=usable_cores(), _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:
        ratios = {}
        for actors in (1, 2):
            s = base.model_copy(update={"executor": "ray",
                                        "ray": RaySettings(actors=actors, cpus_per_actor=1)})
            ratios[f"ray_{actors}_actors_over_local"] = round(t_local / run(f"ray_{actors}_actors", s), 3)
    finally:
        ray.shutdown()
    tokens = results["local_1_thread"]["counted_tokens"]
    for r in results.values():
        r["counted_tokens_per_s"] = round(tokens / r["seconds"], 1)
    print(json.dumps({"items": len(texts), "dtype": dtype, "usable_cores": usable_cores(), **results, **ratios,
                      "load_average": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
