"""Input checks and the item layout that every scoring function shares.

Items are grouped into **strata**: one per (benchmark, scored?) pair, benchmarks
in sorted name order, the scored stratum of a benchmark before its unscored one,
empty strata left out. Bootstrap resampling happens inside strata, so each
benchmark keeps its number of scored and unscored items in every resample.
Inside a stratum, items sharing one score value (0 and 1 for pass/fail
benchmarks) form a **group**: a weighted sum of ``abar * s`` over a group is the
score times the weighted sum of ``abar``, which halves the work of the bootstrap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import ValidationError

from cg_gov.errors import CgGovError
from cg_gov.spec import ScoringSettings

__all__ = [
    "Design",
    "Group",
    "Stratum",
    "DenseItems",
    "SparseItems",
    "as_csr",
    "build_design",
    "check_options",
]

# A stratum whose scores take at most this many distinct values is split into
# one group per value; otherwise it stays one group with per-item scores.
MAX_SCORE_LEVELS = 16


@dataclass(frozen=True)
class Group:
    """Items of one stratum that are handled as one block of columns."""

    index: int
    stratum: int
    items: np.ndarray
    """Global item indices, ascending."""
    positions: np.ndarray | None
    """Positions of the items inside their stratum; None when the group is the whole stratum."""
    score: float | None
    """The score shared by every item of the group, or None (mixed scores, or unscored)."""
    scores: np.ndarray | None
    """Per-item scores when the group is scored with mixed values, else None."""


@dataclass(frozen=True)
class Stratum:
    """The scored (or unscored) items of one benchmark."""

    bench: int
    scored: bool
    items: np.ndarray
    """Global item indices, ascending."""
    bench_positions: np.ndarray
    """Positions of the items inside their benchmark's item list."""
    scores: np.ndarray | None
    """Scores of the items (scored strata only)."""
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Design:
    """Checked inputs and their strata."""

    abar: sp.csr_matrix
    scores: np.ndarray
    scored: np.ndarray
    names: tuple[str, ...]
    codes: np.ndarray
    bench_items: tuple[np.ndarray, ...]
    strata: tuple[Stratum, ...]
    groups: tuple[Group, ...]
    strata_of: tuple[tuple[int, ...], ...]
    """Stratum indices of each benchmark (scored first)."""
    scored_stratum: tuple[int | None, ...]
    """Index of each benchmark's scored stratum, or None."""
    epsilon: float

    @property
    def n_items(self) -> int:
        return self.abar.shape[0]

    @property
    def n_concepts(self) -> int:
        return self.abar.shape[1]

    @property
    def n_benchmarks(self) -> int:
        return len(self.names)

    def bench_sizes(self) -> np.ndarray:
        return np.array([len(i) for i in self.bench_items], dtype=np.int64)

    def scored_sizes(self) -> np.ndarray:
        return np.array([0 if k is None else len(self.strata[k].items)
                         for k in self.scored_stratum], dtype=np.int64)

    def mean_scores(self) -> np.ndarray:
        out = np.full(self.n_benchmarks, np.nan)
        for b, k in enumerate(self.scored_stratum):
            if k is not None:
                out[b] = float(self.strata[k].scores.mean())
        return out


def as_csr(matrix: Any, *, key: str, n_cols: int | None = None) -> sp.csr_matrix:
    """A float64 CSR copy (or the input itself when already canonical) with non-negative finite values."""
    if sp.issparse(matrix):
        if matrix.ndim != 2:
            raise CgGovError(f"expected a 2-D matrix, got shape {matrix.shape}", key=key)
        if (matrix.format == "csr" and matrix.dtype == np.float64
                and matrix.has_canonical_format and isinstance(matrix, sp.csr_matrix)):
            out = matrix
        else:
            out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
            out.sum_duplicates()
    else:
        try:
            arr = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CgGovError(f"cannot read as a numeric matrix: {exc}", key=key) from None
        if arr.ndim != 2:
            raise CgGovError(f"expected a 2-D matrix (items x concepts), got shape {arr.shape}",
                             key=key)
        if not np.isfinite(arr).all():
            raise CgGovError("contains NaN or infinite activations", key=key,
                             hint="per-item activations must be finite means over tokens")
        out = sp.csr_matrix(arr)
    if out.shape[0] < 1 or out.shape[1] < 1:
        raise CgGovError(f"needs at least one item and one concept, got shape {out.shape}", key=key)
    if n_cols is not None and out.shape[1] != n_cols:
        raise CgGovError(f"has {out.shape[1]} concepts, the suite matrix has {n_cols}", key=key,
                         hint="both matrices must come from the same concept dictionary")
    if not np.isfinite(out.data).all():
        raise CgGovError("contains NaN or infinite activations", key=key,
                         hint="per-item activations must be finite means over tokens")
    if out.data.size and out.data.min() < 0:
        raise CgGovError("contains negative activations", key=key,
                         hint="SAE latent activations are >= 0; pass mean activations, not pre-activations")
    return out


def check_options(*, bootstrap_dtype: str = "float64", **options: Any) -> None:
    """Raise CgGovError, keyed by the keyword, on an option outside its domain. The domains are the
    bounds of :class:`~cg_gov.spec.ScoringSettings`' fields (keywords name them as
    :meth:`~cg_gov.spec.ScoringSettings.field_of` says), checked by that model; only
    ``bootstrap_dtype``, not a setting, is checked here."""
    keyword_of = {ScoringSettings.field_of(k): k for k in options}
    try:
        ScoringSettings.model_validate({field: options[k] for field, k in keyword_of.items()})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = keyword_of.get(str(err["loc"][0]), str(err["loc"][0])) if err.get("loc") else "settings"
        raise CgGovError(f"{err['msg']}, got {options.get(key)!r}", key=key) from None
    if bootstrap_dtype not in ("float32", "float64"):
        raise CgGovError(f"must be 'float32' or 'float64', got {bootstrap_dtype!r}", key="bootstrap_dtype")


def _check_scores(scores: Any, n: int) -> np.ndarray:
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CgGovError(f"cannot read as numbers: {exc}", key="scores") from None
    if s.shape != (n,):
        raise CgGovError(f"expected {n} scores (one per item), got shape {s.shape}", key="scores")
    finite = np.isfinite(s)
    if np.isinf(s).any():
        raise CgGovError("contains infinite scores", key="scores",
                         hint="use NaN for an unscored item")
    if ((s[finite] < 0) | (s[finite] > 1)).any():
        raise CgGovError("scores must lie in [0, 1]", key="scores",
                         hint="rescale the benchmark's metric to [0, 1], 1 = correct")
    return s


def _check_benchmarks(benchmarks: Any, n: int) -> tuple[tuple[str, ...], np.ndarray]:
    arr = np.asarray(benchmarks, dtype=object)
    if arr.shape != (n,):
        raise CgGovError(f"expected {n} benchmark names (one per item), got shape {arr.shape}",
                         key="benchmarks")
    if not all(isinstance(v, str) for v in arr):
        raise CgGovError("benchmark names must be strings", key="benchmarks")
    names, codes = np.unique(arr.astype(str), return_inverse=True)
    return tuple(str(v) for v in names), codes.astype(np.int64)


def _groups_of(stratum_index: int, items: np.ndarray, scores: np.ndarray | None,
               first_group: int) -> tuple[Group, ...]:
    if scores is None:
        return (Group(first_group, stratum_index, items, None, None, None),)
    levels = np.unique(scores)
    if len(levels) == 1:
        return (Group(first_group, stratum_index, items, None, float(levels[0]), None),)
    if len(levels) > MAX_SCORE_LEVELS:
        return (Group(first_group, stratum_index, items, None, None, scores.copy()),)
    groups = []
    for j, level in enumerate(levels):
        pos = np.flatnonzero(scores == level)
        groups.append(Group(first_group + j, stratum_index, items[pos], pos, float(level), None))
    return tuple(groups)


def build_design(abar: Any, scores: Any, benchmarks: Any, *, epsilon: float = 0.0) -> Design:
    """Check the three per-item inputs and lay the items out in strata and groups."""
    matrix = as_csr(abar, key="abar")
    n = matrix.shape[0]
    s = _check_scores(scores, n)
    names, codes = _check_benchmarks(benchmarks, n)
    scored = np.isfinite(s)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    bench_items = tuple(order[bounds[b]:bounds[b + 1]] for b in range(len(names)))
    strata: list[Stratum] = []
    groups: list[Group] = []
    strata_of: list[tuple[int, ...]] = []
    scored_stratum: list[int | None] = []
    for b, items in enumerate(bench_items):
        own: list[int] = []
        mask = scored[items]
        first_scored = None
        for want_scored in (True, False):
            pos = np.flatnonzero(mask == want_scored)
            if not len(pos):
                continue
            k = len(strata)
            sub = items[pos]
            sub_scores = s[sub] if want_scored else None
            gs = _groups_of(k, sub, sub_scores, len(groups))
            strata.append(Stratum(b, want_scored, sub, pos, sub_scores, gs))
            groups.extend(gs)
            own.append(k)
            if want_scored:
                first_scored = k
        strata_of.append(tuple(own))
        scored_stratum.append(first_scored)
    return Design(matrix, s, scored, names, codes, bench_items, tuple(strata), tuple(groups),
                  tuple(strata_of), tuple(scored_stratum), float(epsilon))


class SparseItems:
    """Per-group transposed blocks (concepts x items) of a sparse item matrix, built on first use.

    ``columns`` picks the concepts (rows of every block) without copying the item matrix: each
    block is cut from the design's matrix when first asked for. Blocks are kept in one dtype at a
    time (asking for another drops the first), and an indicator block shares the index arrays of
    its values block where no stored value is at or below epsilon, so the blocks cost about as much
    memory as one float32 copy of the matrix.
    """

    def __init__(self, design: Design, matrix: sp.csr_matrix | None = None,
                 columns: np.ndarray | None = None) -> None:
        self.design = design
        self.matrix = design.abar if matrix is None else matrix
        self.columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        if self.columns is not None and np.array_equal(self.columns, np.arange(self.matrix.shape[1])):
            self.columns = None
        self.n_cols = self.matrix.shape[1] if self.columns is None else int(self.columns.size)
        self._values: dict[tuple[int, str], sp.csr_matrix] = {}
        self._indicator: dict[int, sp.csr_matrix] = {}

    def _block(self, group: Group) -> sp.csr_matrix:
        rows = self.matrix[group.items]
        if self.columns is not None:
            rows = rows[:, self.columns]
        return rows.T.tocsr()

    def values(self, group: Group, dtype: np.dtype) -> sp.csr_matrix:
        name = np.dtype(dtype).name
        key = (group.index, name)
        block = self._values.get(key)
        if block is None:
            stale = [k for k in self._values if k[1] != name]
            if stale:  # one dtype at a time: the indicators were built from those blocks' indices
                self._values.clear()
                self._indicator.clear()
            block = self._block(group).astype(dtype)
            self._values[key] = block
        return block

    def indicator(self, group: Group) -> sp.csr_matrix:
        block = self._indicator.get(group.index)
        if block is None:
            kept = next((b for (g, _), b in self._values.items() if g == group.index), None)
            base = self._values.get((group.index, "float64"))
            if base is None:
                base = self._block(group)  # float64 (the test is made at full precision), not kept
            keep = base.data > self.design.epsilon
            if keep.all():
                # same sparsity as any values block of this group (astype keeps it): share its indices
                share = base if kept is None else kept
                block = sp.csr_matrix((np.ones(share.data.size, np.float32), share.indices, share.indptr),
                                      shape=share.shape, copy=False)
            else:
                block = sp.csr_matrix((keep.astype(np.float32), base.indices.copy(), base.indptr.copy()),
                                      shape=base.shape)
                block.eliminate_zeros()
            self._indicator[group.index] = block
        return block


class DenseItems:
    """The same interface over a dense (items x columns) matrix, for a handful of columns."""

    def __init__(self, design: Design, matrix: np.ndarray) -> None:
        self.design = design
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.n_cols = self.matrix.shape[1]
        self._values: dict[tuple[int, str], np.ndarray] = {}
        self._indicator: dict[int, np.ndarray] = {}

    def values(self, group: Group, dtype: np.dtype) -> np.ndarray:
        key = (group.index, np.dtype(dtype).name)
        block = self._values.get(key)
        if block is None:
            block = np.ascontiguousarray(self.matrix[group.items].T, dtype=dtype)
            self._values[key] = block
        return block

    def indicator(self, group: Group) -> np.ndarray:
        block = self._indicator.get(group.index)
        if block is None:
            block = np.ascontiguousarray(
                (self.matrix[group.items] > self.design.epsilon).T, dtype=np.float32)
            self._indicator[group.index] = block
        return block
