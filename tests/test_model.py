"""Loading the embedded language model: the first load on a machine computes what later loads do."""
from __future__ import annotations

import pytest
import torch

from cg_gov.dictionary import load_language_model, model_identity

pytestmark = pytest.mark.slow

TEXT = "Customer: I want a refund for order 1234, it arrived broken on 3 March."


def _hidden(lm, tok) -> torch.Tensor:
    ids = tok(TEXT, return_tensors="pt")
    with torch.inference_mode():
        return lm(**ids, output_hidden_states=True).hidden_states[16]


def test_first_load_computes_what_later_loads_compute(tmp_path, monkeypatch):
    monkeypatch.setenv("CG_GOV_CACHE", str(tmp_path / "cache"))
    converted = tmp_path / "cache" / "models" / model_identity("default")[:16]
    first, tok_first = load_language_model(dtype="bfloat16")   # de-quantises the GGUF file
    assert (converted / ".complete").is_file() and (converted / "model.safetensors").is_file()
    later, tok_later = load_language_model(dtype="bfloat16")   # from the converted copy
    assert tok_first(TEXT)["input_ids"] == tok_later(TEXT)["input_ids"]
    # bit for bit, rotary-embedding buffers included (a cast model keeps them in bf16)
    assert torch.equal(_hidden(first, tok_first), _hidden(later, tok_later))
    assert first.model.rotary_emb.inv_freq.dtype == torch.float32


def test_a_cache_that_cannot_be_written_still_gives_the_same_model(tmp_path, monkeypatch):
    # the reference is the session cache's converted model (converted once per session); float32,
    # since bf16 runs many times slower on CPUs without AMX and the cast is not what is tested here
    reference, tok = load_language_model(dtype="float32")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    monkeypatch.setenv("CG_GOV_CACHE", str(blocker / "cache"))  # nothing can be created below a file
    lm, tok2 = load_language_model(dtype="float32")
    assert blocker.read_text() == "not a folder\n"
    assert torch.equal(_hidden(lm, tok2), _hidden(reference, tok))


@pytest.mark.parametrize("damage", ["scaled x3", "truncated"])
def test_a_changed_or_truncated_converted_model_is_converted_again(tmp_path, monkeypatch, capfd, damage):
    """The converted copy records the sha256 of its GGUF source and of each of its files, checked
    on every load: weights scaled x3 (used silently before) or a truncated file (a traceback
    before) are converted again, with a warning, and the model computes what it should."""
    import shutil

    from safetensors.torch import load_file, save_file

    from cg_gov.dictionary._model import converted_problem

    reference, tok = load_language_model(dtype="float32")  # the session cache's copy, checked
    ident = model_identity("default")
    source = __import__("cg_gov.io", fromlist=["cache_dir"]).cache_dir() / "models" / ident[:16]
    monkeypatch.setenv("CG_GOV_CACHE", str(tmp_path / "cache"))
    converted = tmp_path / "cache" / "models" / ident[:16]
    shutil.copytree(source, converted)
    assert converted_problem(converted, ident) is None
    weights = converted / "model.safetensors"
    if damage == "scaled x3":
        tensors = load_file(str(weights))
        save_file({k: v * 3 for k, v in tensors.items()}, str(weights))
    else:
        with open(weights, "r+b") as fh:
            fh.truncate(weights.stat().st_size // 2)
    assert "changed since it was written" in converted_problem(converted, ident)
    capfd.readouterr()
    lm, tok2 = load_language_model(dtype="float32")
    assert "converting it again" in capfd.readouterr().err
    assert converted_problem(converted, ident) is None
    assert torch.equal(_hidden(lm, tok2), _hidden(reference, tok))
