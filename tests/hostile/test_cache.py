"""Issues 15.3 and 15.5 for the activation cache.

Shards are named by an HMAC of (namespace, content) under the cache's own key and checked on load:
a crafted shard (an out-of-range concept index, values x50) renamed to its own sha256 — the
attack of the issue, which segfaulted scoring or moved a coverage ratio from 0.31 to 69.5 — is
dropped with a warning and its items recomputed; so is a correctly signed shard whose arrays are
wrong. A shard deleted by another run after it was listed is skipped; a cache folder that is
read-only or under a file falls back to a temporary folder with a warning.

The cache is exercised directly with real arrays: no model is loaded.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from cg_gov.engine import ActivationCache

N_CONCEPTS = 64


def _batch(rng: np.random.Generator, n: int = 4):
    dense = np.where(rng.random((n, N_CONCEPTS)) < 0.2, rng.random((n, N_CONCEPTS)), 0).astype(np.float32)
    mean = sp.csr_matrix(dense)
    peak = sp.csr_matrix((mean.data * 2, mean.indices, mean.indptr), shape=mean.shape)
    keys = [hashlib.sha256(f"item {i}".encode()).digest() for i in range(n)]
    counts = rng.integers(1, 30, n)
    return keys, counts, mean, peak


def _shards(cache: ActivationCache) -> list[Path]:
    return sorted(cache.dir.glob("shard-*.npz"))


def _rewrite(path: Path, sign_with: ActivationCache | None = None, **changes) -> Path:
    """Rewrite a shard's arrays; name it by its sha256 (the old scheme the issue's attack used) or
    sign it as ``sign_with`` would."""
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    arrays.update(changes)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    raw = buf.getvalue()
    path.unlink()
    name = sign_with._name(raw) if sign_with else f"shard-{hashlib.sha256(raw).hexdigest()[:32]}.npz"
    target = path.with_name(name)
    target.write_bytes(raw)
    return target


@pytest.fixture
def filled(tmp_path):
    cache = ActivationCache(tmp_path / "activations", "ns-one", N_CONCEPTS)
    keys, counts, mean, peak = _batch(np.random.default_rng(7))
    cache.save(keys, counts, mean, peak)
    return cache, keys, mean


def test_a_shard_round_trips(filled):
    cache, keys, mean = filled
    found = ActivationCache(cache.root, "ns-one", N_CONCEPTS).load(set(keys))
    assert sorted(found) == sorted(keys)
    for r, k in enumerate(keys):
        a, b = mean.indptr[r], mean.indptr[r + 1]
        np.testing.assert_array_equal(found[k][1], mean.indices[a:b])
        np.testing.assert_array_equal(found[k][2], mean.data[a:b])


@pytest.mark.parametrize("attack", ["index out of range", "values x50", "negative index", "NaN values",
                                    "int64 indices"])
def test_crafted_shards_renamed_to_their_sha256_are_dropped(filled, caplog, attack):
    cache, keys, _ = filled
    (shard,) = _shards(cache)
    with np.load(shard) as z:
        indices, abar = z["indices"].copy(), z["abar"].copy()
    if attack == "index out of range":
        indices[0] = 10_000_000
        changes = {"indices": indices}
    elif attack == "negative index":
        indices[0] = -5
        changes = {"indices": indices}
    elif attack == "values x50":
        changes = {"abar": abar * 50}
    elif attack == "NaN values":
        abar[0] = np.nan
        changes = {"abar": abar}
    else:
        changes = {"indices": indices.astype(np.int64)}
    _rewrite(shard, **changes)
    with caplog.at_level(logging.WARNING):
        found = ActivationCache(cache.root, "ns-one", N_CONCEPTS).load(set(keys))
    assert found == {}
    assert "not written by this cache for this dictionary and settings" in caplog.text
    assert _shards(cache) == []  # dropped: the items are recomputed and saved again


@pytest.mark.parametrize("attack", ["index out of range", "NaN values", "row pointers", "missing array"])
def test_signed_shards_with_wrong_arrays_are_dropped(filled, caplog, attack):
    """A shard that passes the HMAC (the key leaked, or a bug wrote it) is still checked."""
    cache, keys, _ = filled
    (shard,) = _shards(cache)
    with np.load(shard) as z:
        arrays = {name: z[name].copy() for name in z.files}
    if attack == "index out of range":
        arrays["indices"][0] = N_CONCEPTS
    elif attack == "NaN values":
        arrays["max"][0] = np.inf
    elif attack == "row pointers":
        arrays["indptr"][1] = arrays["indptr"][-1] + 3
    else:
        del arrays["max"]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    raw = buf.getvalue()
    shard.unlink()
    (cache.dir / cache._name(raw)).write_bytes(raw)
    with caplog.at_level(logging.WARNING):
        found = ActivationCache(cache.root, "ns-one", N_CONCEPTS).load(set(keys))
    assert found == {}
    assert "not a valid shard" in caplog.text


def test_a_shard_copied_from_another_namespace_is_not_trusted(filled, caplog):
    cache, keys, _ = filled
    other = ActivationCache(cache.root, "ns-two", N_CONCEPTS)
    (shard,) = _shards(cache)
    (other.dir / shard.name).write_bytes(shard.read_bytes())
    with caplog.at_level(logging.WARNING):
        assert other.load(set(keys)) == {}
    assert "not written by this cache" in caplog.text


def test_a_shard_deleted_after_it_was_listed_is_skipped(filled, monkeypatch):
    """Another run drops a shard between this run's listing and its read: no error, the rest is used."""
    cache, keys, _ = filled
    (first,) = _shards(cache)
    more_keys, counts, mean, peak = _batch(np.random.default_rng(5))
    more_keys = [hashlib.sha256(k).digest() for k in more_keys]
    cache.save(more_keys, counts, mean, peak)
    real = Path.read_bytes

    def racing(self):
        if self == first:
            os.unlink(self)  # the other run's delete lands here
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", racing)
    found = ActivationCache(cache.root, "ns-one", N_CONCEPTS).load(set(keys) | set(more_keys))
    assert sorted(found) == sorted(more_keys)


def test_a_cache_under_a_file_falls_back_to_a_temporary_folder(tmp_path, caplog):
    (tmp_path / "blocker").write_text("a file\n")
    with caplog.at_level(logging.WARNING):
        cache = ActivationCache(tmp_path / "blocker" / "activations", "ns", N_CONCEPTS)
    assert "cannot be written" in caplog.text and "using" in caplog.text
    assert not str(cache.dir).startswith(str(tmp_path))
    keys, counts, mean, peak = _batch(np.random.default_rng(3))
    cache.save(keys, counts, mean, peak)
    assert sorted(cache.load(set(keys))) == sorted(keys)
    shutil.rmtree(cache.root)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_cache_falls_back_to_a_temporary_folder(tmp_path, caplog):
    root = tmp_path / "activations"
    (root / "ns").mkdir(parents=True)
    root.chmod(0o500)
    (root / "ns").chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING):
            cache = ActivationCache(root, "ns", N_CONCEPTS)
        assert "cannot be written" in caplog.text
        keys, counts, mean, peak = _batch(np.random.default_rng(3))
        cache.save(keys, counts, mean, peak)
        shutil.rmtree(cache.root)
    finally:
        (root / "ns").chmod(0o700)
        root.chmod(0o700)


def test_a_save_that_fails_moves_the_cache_to_a_temporary_folder(filled, caplog, monkeypatch):
    """A full disk (ENOSPC) on save: the run goes on with a temporary cache, with a warning."""
    import errno

    import cg_gov.engine._activations as activations

    cache, _, _ = filled
    original = cache.root
    real = activations.atomic_write_bytes
    calls = []

    def full(path, data):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(activations, "atomic_write_bytes", full)
    keys, counts, mean, peak = _batch(np.random.default_rng(11))
    with caplog.at_level(logging.WARNING):
        cache.save(keys, counts, mean, peak)
    assert "No space left on device" in caplog.text
    assert len(calls) == 2 and not str(calls[1]).startswith(str(original))
    assert sorted(cache.load(set(keys))) == sorted(keys)
    shutil.rmtree(cache.root)


def test_a_lone_surrogate_has_a_cache_key():
    assert len(ActivationCache.item_key("ns", "bad \ud800 text", None)) == 32
