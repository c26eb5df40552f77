"""Random draws: bootstrap counts and subsampling masks, reproducible from one seed.

``SeedSequence(seed).spawn(4)`` gives four independent streams: [0] bootstrap of
the suite (spawned again, one ``Generator(PCG64(.))`` per stratum), [1]
bootstrap of the reference sample, [2] subsampling reruns (one generator per
benchmark), [3] unused. Each resample draws, for each stratum in order,
``integers(0, n_k, size=n_k)`` (indices of the resampled items); each rerun
draws, for each benchmark, ``random(n_B)`` and drops the ``round(fraction *
n_B)`` items with the smallest values. Draws are made one resample at a time,
so results do not depend on how resamples are batched.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cg_gov.scoring._inputs import Design

__all__ = ["bootstrap_weights", "reference_weights", "subsample_weights", "n_dropped",
           "batch_size"]

_BOOT, _REF, _SUB = 0, 1, 2


def _streams(seed: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed).spawn(4)


def batch_size(n_cols: int, requested: int, budget: int = 2 ** 23) -> int:
    """Resamples per batch: about ``budget`` elements per (columns x batch) array, at most 256."""
    return int(max(1, min(requested, 256, budget // max(n_cols, 1))))


def _counts(draws: list[np.ndarray], n: int, dtype: np.dtype) -> np.ndarray:
    """(n x b) counts from b index draws, item-major so that a sparse product reads it in order."""
    b = len(draws)
    flat = np.stack(draws).astype(np.int64) * b + np.arange(b)[:, None]
    return np.bincount(flat.ravel(), minlength=n * b).reshape(n, b).astype(dtype)


def bootstrap_weights(design: Design, seed: int, n_boot: int, batch: int,
                      dtype: np.dtype) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield (first resample, per-stratum (n_k x b) multinomial counts) batch by batch."""
    seeds = _streams(seed)[_BOOT].spawn(len(design.strata))
    gens = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        out = []
        for st, gen in zip(design.strata, gens):
            n = len(st.items)
            out.append(_counts([gen.integers(0, n, size=n) for _ in range(b)], n, dtype))
        yield start, out


def reference_weights(n_ref: int, seed: int, n_boot: int, batch: int,
                      dtype: np.dtype) -> Iterator[np.ndarray]:
    """Yield (R x b) multinomial counts over the reference items, batch by batch."""
    gen = np.random.Generator(np.random.PCG64(_streams(seed)[_REF]))
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        yield _counts([gen.integers(0, n_ref, size=n_ref) for _ in range(b)], n_ref, dtype)


def n_dropped(n_items: int, fraction: float) -> int:
    """Items dropped from a benchmark of ``n_items`` items: round half up, never all of them."""
    return int(min(np.floor(fraction * n_items + 0.5), n_items - 1))


def subsample_weights(design: Design, seed: int, n_reruns: int, fraction: float, batch: int,
                      dtype: np.dtype) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield (first rerun, per-stratum (n_k x b) 0/1 keep masks) batch by batch."""
    seeds = _streams(seed)[_SUB].spawn(design.n_benchmarks)
    gens = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
    for start in range(0, n_reruns, batch):
        b = min(batch, n_reruns - start)
        keep_by_bench = []
        for items, gen in zip(design.bench_items, gens):
            n = len(items)
            k = n_dropped(n, fraction)
            keep = np.ones((n, b), dtype=dtype)
            for r in range(b):
                u = gen.random(n)
                keep[np.argsort(u, kind="stable")[:k], r] = 0
            keep_by_bench.append(keep)
        yield start, [np.ascontiguousarray(keep_by_bench[st.bench][st.bench_positions])
                      for st in design.strata]
