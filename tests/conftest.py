"""Shared test set-up: offline hubs, seeded RNGs, and small real components."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
