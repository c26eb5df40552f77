"""Random draws: bootstrap counts and subsampling masks, reproducible from one seed.

``SeedSequence(seed).spawn(4)`` gives four independent streams: [0] bootstrap of
the suite (spawned again, one ``Generator(PCG64(.))`` per stratum), [1]
bootstrap of the reference sample, [2] subsampling reruns (one generator per
benchmark), [3] unused. Each resample draws, for each stratum in order,
``integers(0, n_k, size=n_k)`` (indices of the resampled items); each rerun
draws, for each benchmark, ``random(n_B)`` and drops the ``round(fraction *
n_B)`` items with the smallest values. A batch of b resamples is drawn with one
call of size (b, n), which numpy fills in the same order as b calls of size n,
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


def batch_size(n_rows: int, requested: int, budget: int = 2 ** 24) -> int:
    """Resamples per batch: about ``budget`` elements per (rows x batch) array, at most 256."""
    return int(max(1, min(requested, 256, budget // max(n_rows, 1))))


def _counts(draws: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(n x b) counts from (b x n) index draws, item-major for the sparse products."""
    b, n = draws.shape
    draws *= b
    draws += np.arange(b)[:, None]
    return np.bincount(draws.ravel(), minlength=n * b).reshape(n, b).astype(dtype)


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
            out.append(_counts(gen.integers(0, n, size=(b, n), dtype=np.int64), dtype))
        yield start, out


def reference_weights(n_ref: int, seed: int, n_boot: int, batch: int,
                      dtype: np.dtype) -> Iterator[np.ndarray]:
    """Yield (R x b) multinomial counts over the reference items, batch by batch."""
    gen = np.random.Generator(np.random.PCG64(_streams(seed)[_REF]))
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        yield _counts(gen.integers(0, n_ref, size=(b, n_ref), dtype=np.int64), dtype)


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
            keep = np.ones((b, n), dtype=dtype)
            u = gen.random((b, n))
            if k > 0:
                # the k smallest of each row (ties have probability ~n^2 / 2^53)
                drop = np.argpartition(u, k - 1, axis=1)[:, :k]
                np.put_along_axis(keep, drop, 0, axis=1)
            keep_by_bench.append(np.ascontiguousarray(keep.T))
        yield start, [np.ascontiguousarray(keep_by_bench[st.bench][st.bench_positions])
                      for st in design.strata]
