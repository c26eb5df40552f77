"""Precomputed activations (``extraction.precomputed``): a file of shard rows that an audit takes
items from instead of computing them, checked like a cache shard and bounded like every read.

The real file (``data/demo/activations-float32.npz``, written by ``cg-gov activations export``) is
checked against a fresh extraction in ``tests/test_audit.py``; here the loader and the engine's use
of it, on the bundled dictionary: without running the language model where the engine's numbers for
the sampled rows are in the cache, and on the real model (marked slow) where they are recomputed."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from cg_gov.dictionary import load_dictionary
from cg_gov.engine import ActivationCache, extract_activations, load_precomputed
from cg_gov.engine._activations import cache_namespace, shard_bytes
from cg_gov.errors import CgGovError
from cg_gov.spec import ExtractionSettings

SETTINGS = ExtractionSettings(dtype="float32", threads=1)
TEXTS = ["Where is my parcel?", "Cancel my order, please.", "What is 2 + 2?"]


@pytest.fixture(scope="module")
def dictionary():
    return load_dictionary("default", load_reference=False)


def _rows(n_concepts: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n, n_concepts)) < 0.01, rng.random((n, n_concepts)), 0.0).astype(np.float32)
    abar = sp.csr_matrix(dense)
    return abar, sp.csr_matrix((abar.data * 3, abar.indices, abar.indptr), shape=abar.shape)


def _file(tmp_path, dictionary, texts=TEXTS, settings=SETTINGS):
    namespace = cache_namespace(dictionary, settings)
    keys = [ActivationCache.item_key(namespace, t, None) for t in texts]
    abar, mx = _rows(dictionary.n_concepts, len(texts))
    path = tmp_path / "pre.npz"
    path.write_bytes(shard_bytes(keys, np.arange(1, len(texts) + 1), abar, mx))
    return path, abar, mx


def _seed_cache(tmp_path, dictionary, abar, mx, n_tokens, texts=TEXTS, settings=SETTINGS):
    """The cache holding ``texts`` with these rows, as if this machine had computed them."""
    namespace = cache_namespace(dictionary, settings)
    store = ActivationCache(tmp_path / "cache" / "activations", namespace, dictionary.n_concepts)
    store.save([ActivationCache.item_key(namespace, t, None) for t in texts], np.asarray(n_tokens, np.int64), abar, mx)
    return store


def _scaled(m, factor):
    return sp.csr_matrix((m.data * factor, m.indices, m.indptr), shape=m.shape)


def test_a_file_that_agrees_with_the_engine_is_taken_first(dictionary, tmp_path):
    """Rows within the bound of the engine's (here the cache's, which holds only computed or checked
    rows) are checked on a sample, then taken for every item: the file's numbers, not the cache's."""
    path, abar, mx = _file(tmp_path, dictionary)
    _seed_cache(tmp_path, dictionary, _scaled(abar, 1 + 1e-4), _scaled(mx, 1 + 1e-4), [1, 2, 3])
    acts = extract_activations(TEXTS, dictionary, settings=SETTINGS, cache_dir=tmp_path / "cache",
                               precomputed=path, progress=False)
    assert acts.precomputed_hits == 3 and acts.cache_hits == 0
    assert acts.sources == {"precomputed": 3, "cache": 0, "computed": 0}
    assert (acts.abar != abar).nnz == 0 and (acts.max_act != mx).nnz == 0
    assert acts.precomputed_check["sampled"] == 3 and acts.precomputed_check["from_cache"] == 3
    assert 0 < acts.precomputed_check["max_relative_difference"] < 1e-3
    assert acts.n_tokens.tolist() == [1, 2, 3]


@pytest.mark.parametrize("factor", [50.0, 1.05, 0.5])
def test_a_file_scaled_against_the_engine_is_refused_and_never_cached(dictionary, tmp_path, factor):
    """The red team's attack: a file scaled x50 was taken and its rows written into the signed
    cache, so later runs without the file reproduced the poisoned findings. Now no row is used and
    the cache is left as it was."""
    path, abar, mx = _file(tmp_path, dictionary)
    _seed_cache(tmp_path, dictionary, _scaled(abar, 1 / factor), _scaled(mx, 1 / factor), [1, 2, 3])
    shards = sorted((tmp_path / "cache" / "activations").rglob("shard-*.npz"))
    with pytest.raises(CgGovError) as err:
        extract_activations(TEXTS, dictionary, settings=SETTINGS, cache_dir=tmp_path / "cache",
                            precomputed=path, progress=False)
    text = err.value.render()
    assert str(path) in text and "differ from what the engine computes" in text and "none is used" in text
    assert sorted((tmp_path / "cache" / "activations").rglob("shard-*.npz")) == shards
    again = extract_activations(TEXTS, dictionary, settings=SETTINGS, cache_dir=tmp_path / "cache", progress=False)
    assert again.cache_hits == 3 and abs(again.abar.sum() * factor - abar.sum()) < 1e-3 * abar.sum()


@pytest.mark.parametrize("factor, taken", [(1.1, True), (1.5, False)])
def test_bfloat16_files_have_the_bound_that_batching_in_bfloat16_needs(dictionary, tmp_path, factor, taken):
    """bfloat16 rows of one item move by up to about 10% with the batch it was computed in: a file
    10% off is taken, one 50% off is not."""
    bf16 = ExtractionSettings(dtype="bfloat16", threads=1)
    path, abar, mx = _file(tmp_path, dictionary, settings=bf16)
    _seed_cache(tmp_path, dictionary, _scaled(abar, 1 / factor), _scaled(mx, 1 / factor), [1, 2, 3], settings=bf16)
    run = lambda: extract_activations(TEXTS, dictionary, settings=bf16, cache_dir=tmp_path / "cache",  # noqa: E731
                                      precomputed=path, progress=False)
    if taken:
        acts = run()
        assert acts.precomputed_hits == 3 and acts.precomputed_check["bound"] == 0.25
    else:
        with pytest.raises(CgGovError, match="over the bound of 25% for bfloat16"):
            run()


def test_counted_token_numbers_must_agree(dictionary, tmp_path):
    path, abar, mx = _file(tmp_path, dictionary)
    _seed_cache(tmp_path, dictionary, abar, mx, [1, 2, 4])
    with pytest.raises(CgGovError, match="different counted-token numbers"):
        extract_activations(TEXTS, dictionary, settings=SETTINGS, cache_dir=tmp_path / "cache",
                            precomputed=path, progress=False)


@pytest.mark.slow
def test_an_exported_file_is_checked_by_recomputing_a_sample(dictionary, tmp_path):
    """End to end on the real model: an exported file, read with an empty cache, has a sample of its
    rows recomputed and passes, then fills the cache; the same file scaled x50 is refused, and the
    cache then holds only the items recomputed for the check, with the engine's numbers."""
    from cg_gov.engine import export_precomputed

    texts = TEXTS + ["Is the shop open on Sunday?", "Reset my password.", "Translate 'cat' into French."]
    info = export_precomputed(texts, dictionary, tmp_path / "pre.npz", settings=SETTINGS, progress=False)
    exported = extract_activations(texts, dictionary, settings=SETTINGS, cache_dir=tmp_path / "c0", progress=False)
    acts = extract_activations(texts, dictionary, settings=SETTINGS, cache_dir=tmp_path / "c1",
                               precomputed=info["path"], progress=False)
    assert acts.precomputed_hits == 6 and acts.precomputed_check["computed"] == 3
    assert acts.precomputed_check["max_relative_difference"] <= 0.01 == acts.precomputed_check["bound"]
    again = extract_activations(texts, dictionary, settings=SETTINGS, cache_dir=tmp_path / "c1", progress=False)
    assert again.cache_hits == 6

    with np.load(info["path"]) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["abar"] = arrays["abar"] * 50
    arrays["max"] = arrays["max"] * 50
    poisoned = tmp_path / "poisoned.npz"
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    poisoned.write_bytes(buf.getvalue())
    with pytest.raises(CgGovError, match="differ from what the engine computes"):
        extract_activations(texts, dictionary, settings=SETTINGS, cache_dir=tmp_path / "c2",
                            precomputed=poisoned, progress=False)
    later = extract_activations(texts, dictionary, settings=SETTINGS, cache_dir=tmp_path / "c2", progress=False)
    assert later.cache_hits == 3  # the recomputed sample only; no row of the file
    assert abs(later.abar.sum() - exported.abar.sum()) < 0.05 * exported.abar.sum()


def test_entries_for_other_settings_or_texts_are_not_taken(dictionary, tmp_path):
    path, _, _ = _file(tmp_path, dictionary, settings=ExtractionSettings(dtype="bfloat16", threads=1))
    found, digest = load_precomputed(path, dictionary.n_concepts,
                                     {ActivationCache.item_key(cache_namespace(dictionary, SETTINGS), t, None)
                                      for t in TEXTS})
    assert found == {} and len(digest) == 64
    path, _, _ = _file(tmp_path, dictionary)
    other = ActivationCache.item_key(cache_namespace(dictionary, SETTINGS), "another text", None)
    assert load_precomputed(path, dictionary.n_concepts, {other})[0] == {}


def _rewrite(path, **changes):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("change, why", [
    (lambda a: {"indices": np.full_like(a["indices"], 10 ** 6)}, "concept index out of range"),
    (lambda a: {"abar": np.full_like(a["abar"], np.nan)}, "not finite"),
    (lambda a: {"keys": a["keys"][:1]}, "n_tokens"),  # 1 key, 3 rows: the first mismatch named
])
def test_a_damaged_file_is_an_error_naming_it(dictionary, tmp_path, change, why):
    path, _, _ = _file(tmp_path, dictionary)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    _rewrite(path, **change(arrays))
    with pytest.raises(CgGovError) as err:
        extract_activations(TEXTS, dictionary, settings=SETTINGS, cache=False, precomputed=path, progress=False)
    assert str(path) in err.value.render() and why in err.value.render()
    assert "activations export" in (err.value.hint or "")


def test_missing_not_npz_and_oversized_files_are_errors(dictionary, tmp_path, monkeypatch):
    with pytest.raises(CgGovError, match="not found"):
        load_precomputed(tmp_path / "nope.npz", dictionary.n_concepts, set())
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(CgGovError, match="unreadable"):
        load_precomputed(junk, dictionary.n_concepts, set())
    path, _, _ = _file(tmp_path, dictionary)
    monkeypatch.setenv("CG_GOV_MAX_ACTIVATIONS_BYTES", "1000")
    with pytest.raises(CgGovError, match="over the limit"):
        load_precomputed(path, dictionary.n_concepts, set())


def test_members_that_unpack_past_the_limit_are_refused_before_reading(dictionary, tmp_path, monkeypatch):
    """A compressed member that would unpack to more than the cap (a zip bomb) is refused from its
    declared size; the file itself is small."""
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("abar.npy", b"\0" * (8 << 20))
    assert bomb.stat().st_size < 100_000
    monkeypatch.setenv("CG_GOV_MAX_ACTIVATIONS_BYTES", str(4 << 20))
    with pytest.raises(CgGovError, match="unpack to"):
        load_precomputed(bomb, dictionary.n_concepts, set())


def test_validate_finds_a_missing_precomputed_file_with_its_line(tmp_path, capsys):
    """`cg-gov validate` (and `audit`, before any model loads) names the key and line of a
    precomputed file that is not there."""
    import shutil
    from pathlib import Path

    from cg_gov.cli import main

    valid = Path(__file__).parent / "fixtures" / "specs" / "valid"
    shutil.copytree(valid, tmp_path / "spec")
    spec = tmp_path / "spec" / "audit.yaml"
    spec.write_text(spec.read_text() + "extraction:\n  precomputed: missing.npz\n")
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:" in err and "extraction.precomputed" in err and "missing.npz" in err
    assert "activations export" in err
