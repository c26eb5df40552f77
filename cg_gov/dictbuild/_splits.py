"""How the corpus is split (train / holdout / reference) and which activation rows count."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .corpus import Window

__all__ = ["split_of", "reference_share", "valid_rows"]


def split_of(w: Window, holdout: float, ref: float) -> str:
    u = int(hashlib.sha256(("split:" + w.key).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < holdout:
        return "holdout"
    if u < holdout + ref:
        return "reference"
    return "train"


def reference_share(cfg: dict, windows: list[Window]) -> float:
    return min(0.2, cfg["corpus"]["reference_windows"] / max(1, len(windows)))


def valid_rows(work: Path, split: str) -> np.ndarray:
    """Rows a dictionary is trained and judged on: not a sequence's first position (an
    attention sink whose norm is ~100x the others) and not a norm outlier (> 10x the median).
    Cached as ``valid_<split>.npy``."""
    f = work / f"valid_{split}.npy"
    if f.is_file():
        return np.load(f)
    acts = np.load(work / f"acts_{split}.f16.npy", mmap_mode="r")
    pos = np.load(work / f"pos_{split}.npy")
    norms = np.empty(acts.shape[0], dtype=np.float32)
    for i in range(0, acts.shape[0], 262144):
        norms[i:i + 262144] = np.linalg.norm(np.asarray(acts[i:i + 262144], dtype=np.float32), axis=1)
    ok = (pos != 0) & (norms < 10 * np.median(norms))
    np.save(f, ok)
    return ok
