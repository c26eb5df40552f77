"""Shared test set-up: offline hubs, seeded RNGs, and small real components."""
from __future__ import annotations

import os
import random
import shutil
import tempfile

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


_SESSION_CACHE: str | None = None


def pytest_configure(config):
    """Tests never write outside temporary folders: cg_gov's cache ($CG_GOV_CACHE: the converted
    embedded model, activation shards, label and context embeddings) is one temporary folder shared
    by every test of the session on purpose (the model is converted once per session, not once per
    test), removed at the end. Tests that check the cache itself pass their own ``tmp_path`` as
    ``cache_dir``. Set CG_GOV_CACHE yourself to keep a cache between runs. Under pytest-xdist
    (`make test` runs two workers) the controller sets it before the workers start, so they inherit
    the same folder; what they write there is written atomically."""
    global _SESSION_CACHE
    if "CG_GOV_CACHE" not in os.environ:
        _SESSION_CACHE = tempfile.mkdtemp(prefix="cg_gov_test_cache_")
        os.environ["CG_GOV_CACHE"] = _SESSION_CACHE


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
        if os.environ.get("CG_GOV_CACHE") == _SESSION_CACHE:
            del os.environ["CG_GOV_CACHE"]


@pytest.fixture(autouse=True)
def _real_model_only_in_slow_tests(request, monkeypatch):
    """The fast lane (``make test-fast``, ``pytest -m "not slow"``) never loads the embedded language
    model: a test that does must be marked ``slow``, or it fails here and says so."""
    if request.node.get_closest_marker("slow"):
        return
    import cg_gov.dictionary
    import cg_gov.dictionary._model

    def refuse(*args, **kwargs):
        pytest.fail("this test loads the embedded language model: mark it @pytest.mark.slow", pytrace=False)

    monkeypatch.setattr(cg_gov.dictionary._model, "load_language_model", refuse)
    monkeypatch.setattr(cg_gov.dictionary, "load_language_model", refuse)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_sae_dir(tmp_path_factory):
    """A small sae-lens TopK SAE over the embedded model's hidden size, with seeded weights."""
    import torch
    from sae_lens import TopKSAE, TopKSAEConfig

    torch.manual_seed(1234)
    sae = TopKSAE(TopKSAEConfig(d_in=576, d_sae=256, k=8))
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.05)
        sae.b_enc.normal_(0, 0.1)
        sae.W_dec.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("sae") / "sae"
    sae.save_model(str(path))
    return path


@pytest.fixture(scope="session")
def small_dictionary(small_sae_dir):
    from cg_gov.dictionary import load_dictionary

    return load_dictionary({"model": "default", "hook_layer": 6, "sae": {"path": str(small_sae_dir)}})
