"""The activation engine on the real embedded model: equivalence with the obvious
reference, masking, the cache (resume after kill -9, corruption), dictionary checks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cg_gov.dictionary import load_dictionary
from cg_gov.engine import ActivationCache, extract_activations, prepare_items
from cg_gov.spec import ExtractionSettings
from cg_gov.errors import DictionaryError

REPO = Path(__file__).resolve().parents[1]


def real_texts(n: int) -> list[str]:
    """Items of the demo suite (real benchmark data), several benchmarks mixed."""
    texts: list[str] = []
    files = sorted((REPO / "data" / "demo" / "items").glob("*.jsonl"))
    assert files, "the demo suite's items are missing"
    per = max(1, n // len(files) + 1)
    for f in files:
        rows = [json.loads(l) for l in f.read_text(encoding="utf-8").splitlines() if l.strip()]
        texts += [r["input"] for r in rows[:per] if isinstance(r.get("input"), str)]
    return texts[:n]


def reference_abar(dictionary, texts, settings):
    """Full forward with output_hidden_states, SAE encode per token, masked mean: one item at a time."""
    import torch

    lm, tok = dictionary.language_model(dtype="float32")
    sae = dictionary.sae()
    prepared = prepare_items(tok, texts, None, settings)
    out = np.zeros((len(texts), dictionary.n_concepts), np.float32)
    with torch.no_grad():
        for i, p in enumerate(prepared):
            mask = torch.tensor(p.counted)
            if not mask.any():
                continue
            hs = lm(torch.tensor([p.input_ids]), output_hidden_states=True).hidden_states
            h = hs[dictionary.hook_layer + 1][0][mask]
            out[i] = sae.encode(h).clamp(min=0).mean(0).numpy()
    return out


@pytest.mark.slow
def test_counted_tokens_are_the_item_text(small_dictionary):
    _lm, tok = small_dictionary.language_model(dtype="float32")
    text = "My order #1234 never arrived. Can I get a refund?"
    p = prepare_items(tok, [text], None, ExtractionSettings(template="user"))[0]
    counted = [t for t, c in zip(p.input_ids, p.counted) if c]
    assert tok.decode(counted).strip() == text
    assert len(counted) < len(p.input_ids)  # system prompt and markers excluded
    # raw text: the first position is an attention sink and is not counted
    p = prepare_items(tok, [text], None, ExtractionSettings(template="raw"))[0]
    assert not p.counted[0] and all(p.counted[1:])
    assert tok.decode(p.input_ids[1:]).strip() == text[len(tok.decode(p.input_ids[:1])):].strip()
    # an item whose text also occurs in the default system prompt is located in the user turn
    p = prepare_items(tok, ["Hugging Face"], None, ExtractionSettings(template="user"))[0]
    rendered = tok.decode(p.input_ids)
    first = [i for i, c in enumerate(p.counted) if c][0]
    assert tok.decode(p.input_ids[:first]).rstrip().endswith("user")
    assert rendered.count("Hugging Face") == 2
    p = prepare_items(tok, [text], ["Sorry to hear that."], ExtractionSettings(template="user_assistant"))[0]
    assert tok.decode([t for t, c in zip(p.input_ids, p.counted) if c]).replace(" ", "") == \
        (text + "Sorry to hear that.").replace(" ", "")


@pytest.mark.slow
def test_truncated_batched_cached_path_equals_reference(small_dictionary, tmp_path):
    texts = real_texts(12) + [""]
    settings = ExtractionSettings(dtype="float32", batch_size=4, max_tokens=96)
    fast = extract_activations(texts, small_dictionary, settings=settings, cache_dir=tmp_path, progress=False)
    ref = reference_abar(small_dictionary, texts, settings)
    np.testing.assert_allclose(fast.abar.toarray(), ref, rtol=1e-4, atol=1e-4)
    assert fast.n_tokens[-1] == 0 and fast.abar[len(texts) - 1].nnz == 0
    again = extract_activations(texts, small_dictionary, settings=settings, cache_dir=tmp_path, progress=False)
    assert again.cache_hits == len(texts)
    np.testing.assert_array_equal(again.abar.toarray(), fast.abar.toarray())
    assert (fast.max_act.toarray() >= fast.abar.toarray() - 1e-6).all()


@pytest.mark.slow
def test_corrupt_shard_is_detected_and_recomputed(small_dictionary, tmp_path):
    texts = real_texts(6)
    settings = ExtractionSettings(dtype="float32", batch_size=2, max_tokens=64)
    first = extract_activations(texts, small_dictionary, settings=settings, cache_dir=tmp_path, progress=False)
    shards = sorted(tmp_path.rglob("shard-*.npz"))
    assert len(shards) == 3
    raw = bytearray(shards[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shards[0].write_bytes(bytes(raw))
    shards[1].write_bytes(shards[1].read_bytes()[:40])
    second = extract_activations(texts, small_dictionary, settings=settings, cache_dir=tmp_path, progress=False)
    assert second.cache_hits == 2
    np.testing.assert_allclose(second.abar.toarray(), first.abar.toarray(), rtol=1e-6, atol=1e-7)


KILL_SCRIPT = """
import sys
from cg_gov.dictionary import load_dictionary
from cg_gov.engine import extract_activations
from cg_gov.spec import ExtractionSettings
texts = [l for l in open(sys.argv[2], encoding='utf-8').read().split('\\x1e') if l]
d = load_dictionary({"model": "default", "hook_layer": 6, "sae": {"path": sys.argv[3]}})
extract_activations(texts, d, settings=ExtractionSettings(dtype="float32", batch_size=2, max_tokens=64),
                    cache_dir=sys.argv[1], progress=False)
"""


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_result(small_dictionary, small_sae_dir, tmp_path):
    texts = real_texts(40)
    (tmp_path / "texts").write_text("\x1e".join(texts), encoding="utf-8")
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(cache), str(tmp_path / "texts"),
                             str(small_sae_dir)], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if len(list(cache.rglob("shard-*.npz"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "extraction finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(cache.rglob("shard-*.npz")))
    assert 3 <= done_before < 20
    settings = ExtractionSettings(dtype="float32", batch_size=2, max_tokens=64)
    resumed = extract_activations(texts, small_dictionary, settings=settings, cache_dir=cache, progress=False)
    assert resumed.cache_hits >= 2 * 3
    clean = extract_activations(texts, small_dictionary, settings=settings, cache_dir=tmp_path / "clean",
                                progress=False)
    np.testing.assert_allclose(resumed.abar.toarray(), clean.abar.toarray(), rtol=1e-6, atol=1e-7)


def test_cache_key_depends_on_dictionary_settings_and_text():
    k1 = ActivationCache.item_key("ns1", "hello", None)
    assert k1 != ActivationCache.item_key("ns2", "hello", None)
    assert k1 != ActivationCache.item_key("ns1", "hello!", None)
    assert k1 != ActivationCache.item_key("ns1", "hello", "reply")


@pytest.mark.slow
def test_sae_that_does_not_fit_the_model_is_refused(tmp_path):
    from sae_lens import TopKSAE, TopKSAEConfig

    TopKSAE(TopKSAEConfig(d_in=512, d_sae=64, k=4)).save_model(str(tmp_path / "wrong"))
    d = load_dictionary({"model": "default", "hook_layer": 3, "sae": {"path": str(tmp_path / "wrong")}})
    with pytest.raises(DictionaryError, match="hidden size is 576"):
        d.language_model(dtype="float32")


@pytest.mark.slow
def test_missing_hook_layer_is_refused(small_sae_dir):
    d = load_dictionary({"model": "default", "hook_layer": 30, "sae": {"path": str(small_sae_dir)}})
    with pytest.raises(DictionaryError, match="has 30 layers"):
        d.language_model(dtype="float32")


def test_labels_formats(tmp_path):
    from cg_gov.dictionary import read_labels

    (tmp_path / "np.jsonl").write_text('{"index": "2", "description": "refusals"}\n'
                                       '{"index": "2", "description": "second opinion"}\n')
    labels, _ = read_labels(tmp_path / "np.jsonl", "neuronpedia", 4)
    assert labels == ["", "", "refusals", ""]
    (tmp_path / "l.csv").write_text("index,label\n0,dates\n3,money\n")
    assert read_labels(tmp_path / "l.csv", "csv", 4)[0] == ["dates", "", "", "money"]
    (tmp_path / "bad.csv").write_text("index,label\n9,out of range\n")
    with pytest.raises(DictionaryError, match="outside 0..3"):
        read_labels(tmp_path / "bad.csv", "csv", 4)


@pytest.mark.slow
def test_bundled_dictionary_equals_reference_and_its_concepts_fire_where_their_contexts_say(tmp_path):
    """The engine on the bundled SAE (not a random one): the fast path equals the one-item reference
    on real items, and two concepts fire on a new sentence of their own subject far more than on an
    unrelated one (concept 3255 fires on "vegetarian" in its top contexts, 4068 on "job").
    The subjects were taken from the concepts' top contexts in labels.jsonl; the sentences are new."""
    dictionary = load_dictionary("default")
    settings = ExtractionSettings(dtype="float32", batch_size=4, max_tokens=96)
    texts = real_texts(6)
    fast = extract_activations(texts, dictionary, settings=settings, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(fast.abar.toarray(), reference_abar(dictionary, texts, settings),
                               rtol=1e-4, atol=1e-4)

    probes = ["My sister has been a strict vegetarian for ten years and never eats meat.",
              "I am updating my resume because I want to find a new job this spring.",
              "The function returns None when the socket is closed by the server."]
    abar = extract_activations(probes, dictionary, settings=settings, cache_dir=tmp_path, progress=False).abar
    acts = abar.toarray()
    assert acts[0, 3255] > 0 and acts[0, 3255] > 5 * acts[2, 3255], acts[:, 3255]
    assert acts[1, 4068] > 0 and acts[1, 4068] > 5 * acts[2, 4068], acts[:, 4068]
