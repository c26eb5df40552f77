"""dtype and threads chosen by measurement on the machine (``extraction.dtype: auto``, ``threads: auto``)."""
from __future__ import annotations

import json

import pytest

from cg_gov.engine import extract_activations, resolve_extraction
from cg_gov.engine._machine import BF16_MIN_SPEEDUP, machine_key
from cg_gov.spec import ExtractionSettings


def test_auto_is_the_default_and_is_measured_then_cached(tmp_path):
    assert ExtractionSettings().dtype == "auto" and ExtractionSettings().threads == "auto"
    settings, chosen = resolve_extraction(ExtractionSettings(), cache_dir=tmp_path)
    d = chosen["dtype"]
    assert d["setting"] == "auto" and d["from"] == "measured"
    assert settings.dtype == d["chosen"] in ("float32", "bfloat16")
    # the rule: bfloat16 only where it measured clearly faster than float32
    assert (d["chosen"] == "bfloat16") == (d["bfloat16_speedup"] >= BF16_MIN_SPEEDUP)
    assert d["float32_ms"] > 0 and d["bfloat16_ms"] > 0
    assert isinstance(settings.threads, int) and settings.threads >= 1
    assert settings.cache_key()["dtype"] == settings.dtype           # never "auto" in a cache key
    # cached per machine: the second call measures nothing and decides the same
    files = list((tmp_path / "machine").glob("*.json"))
    assert len(files) == 1
    assert json.loads(files[0].read_text())["key"] == machine_key("cpu")
    again, chosen2 = resolve_extraction(ExtractionSettings(), cache_dir=tmp_path)
    assert chosen2["dtype"]["from"] == "cached" and chosen2["threads"]["from"] == "cached"
    assert again == settings


def test_concrete_settings_are_kept(tmp_path):
    s = ExtractionSettings(dtype="bfloat16", threads=2)
    settings, chosen = resolve_extraction(s, cache_dir=tmp_path)
    assert settings == s
    assert chosen["dtype"] == {"setting": "bfloat16", "chosen": "bfloat16", "from": "spec"}
    assert chosen["threads"]["from"] == "spec"
    assert not (tmp_path / "machine").exists()                     # nothing measured


def test_a_corrupt_decision_file_is_measured_again(tmp_path):
    resolve_extraction(ExtractionSettings(), cache_dir=tmp_path)
    f = next((tmp_path / "machine").glob("*.json"))
    f.write_text("{not json")
    _s, chosen = resolve_extraction(ExtractionSettings(), cache_dir=tmp_path)
    assert chosen["dtype"]["from"] == "measured"


@pytest.mark.slow
def test_auto_extracts_at_the_chosen_dtype_and_shares_its_cache(small_dictionary, tmp_path):
    import torch

    from tests.test_engine import real_texts

    texts = real_texts(3)
    before = torch.get_num_threads()
    auto = extract_activations(texts, small_dictionary, settings=ExtractionSettings(batch_size=2, max_tokens=48),
                               cache_dir=tmp_path, progress=False)
    assert torch.get_num_threads() == before                        # threads restored after the run
    dtype = auto.chosen["dtype"]["chosen"]
    assert auto.settings["dtype"] == dtype and auto.settings["threads"] == auto.chosen["threads"]["chosen"]
    # the same cache entries as the concrete dtype: auto is not a separate namespace
    fixed = extract_activations(texts, small_dictionary, cache_dir=tmp_path, progress=False,
                                settings=ExtractionSettings(dtype=dtype, batch_size=2, max_tokens=48, threads=1))
    assert fixed.cache_hits == len(texts)
    assert (auto.abar != fixed.abar).nnz == 0
