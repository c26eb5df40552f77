"""Concept dictionaries: a language model + a hook layer + a sae-lens SAE + a label per concept.

A dictionary's identity is a sha256 over the model's weights, the hook layer,
the SAE's weights and config, and the labels: every manifest records it, and
the activation cache is keyed by it.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cg_gov.errors import DictionaryError
from cg_gov.io import sha256_file

__all__ = ["ConceptDictionary", "load_dictionary", "read_labels", "sniff_labels_format", "default_dictionary_path"]


def default_dictionary_path() -> Path:
    return Path(__file__).parent.parent / "data" / "dictionary" / "default"


def read_labels(path: str | Path, fmt: str, n_concepts: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Read concept labels: ``cg_gov`` (jsonl rows with index/label/...),
    ``neuronpedia`` (jsonl export rows with ``index`` as a string and ``description``)
    or ``csv`` (``index,label`` header)."""
    path = Path(path)
    if not path.is_file():
        raise DictionaryError("labels file does not exist", file=str(path), key="dictionary.labels")
    labels = [""] * n_concepts
    info: list[dict[str, Any]] = [{} for _ in range(n_concepts)]
    from cg_gov.io import read_bytes_limited

    # bounded like every input ($CG_GOV_MAX_FINDINGS_BYTES); special files refused up front
    raw = read_bytes_limited(path, "labels file", kind="findings", error=DictionaryError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DictionaryError("labels file is not UTF-8", file=str(path), hint=str(exc)) from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if fmt in ("cg_gov", "neuronpedia"):
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DictionaryError(f"invalid JSON: {exc.msg}", file=str(path), line=lineno) from None
            label_key = "label" if fmt == "cg_gov" else "description"
            if not isinstance(row, dict) or "index" not in row or label_key not in row:
                raise DictionaryError(f"row needs 'index' and '{label_key}'", file=str(path), line=lineno)
            try:
                idx = int(row["index"])
            except (TypeError, ValueError):
                raise DictionaryError(f"index {row['index']!r} is not an integer", file=str(path),
                                      line=lineno, key="index") from None
            row = dict(row)
            row["label"] = str(row.pop(label_key) or "")
            rows.append((idx, row))
    elif fmt == "csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"index", "label"} <= set(reader.fieldnames):
            raise DictionaryError("CSV labels need an 'index,label' header", file=str(path), line=1)
        for lineno, row in enumerate(reader, 2):
            try:
                idx = int(row["index"])
            except (TypeError, ValueError):
                raise DictionaryError(f"index {row['index']!r} is not an integer", file=str(path),
                                      line=lineno, key="index") from None
            rows.append((idx, {"label": row["label"] or ""}))
    else:
        raise DictionaryError(f"unknown labels format {fmt!r}", key="dictionary.labels_format",
                              hint="use cg_gov, neuronpedia or csv")
    for idx, row in rows:
        if not 0 <= idx < n_concepts:
            raise DictionaryError(f"concept index {idx} is outside 0..{n_concepts - 1}", file=str(path))
        if labels[idx]:
            continue  # Neuronpedia exports may carry several explanations: the first is kept
        labels[idx] = row["label"]
        info[idx] = row
    return labels, info


def sniff_labels_format(path: Path) -> str:
    """The one labels-format rule, for a spec that leaves ``labels_format`` out: csv by suffix; for
    JSON lines, neuronpedia when rows carry ``description``, else cg_gov."""
    if path.suffix.lower() == ".csv":
        return "csv"
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return "neuronpedia" if '"description"' in line else "cg_gov"
    except (OSError, UnicodeDecodeError):
        pass
    return "cg_gov"


def _layer_from_hook(hook_name: str) -> int | None:
    """The 0-based block whose residual *output* a hook reads (resid_pre N is block N-1's output)."""
    m = re.search(r"(?:blocks|layers|h)\.(\d+)", hook_name or "")
    if not m:
        return None
    layer = int(m.group(1))
    if "resid_pre" in hook_name:
        return layer - 1 if layer > 0 else None
    return layer


@dataclass
class ConceptDictionary:
    """A labelled SAE over one layer of one language model."""

    name: str
    model: str
    """"default" (the embedded SmolLM2-135M-Instruct) or a local transformers folder."""
    hook_layer: int
    """0-based decoder block whose residual output the SAE reads."""
    sae_path: Path | None
    labels: list[str]
    label_info: list[dict[str, Any]]
    identity: str
    d_in: int
    n_concepts: int
    gguf_file: str | None = None
    sae_release: tuple[str, str] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    reference: Any = None
    """Optional (R, C) scipy.sparse per-item abar of the dictionary's reference corpus."""
    folder: Path | None = None
    """The dictionary's folder, for a packaged dictionary."""
    _models: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _saes: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def reference_mean(self) -> np.ndarray | None:
        if self.reference is None:
            return None
        return np.asarray(self.reference.mean(axis=0)).ravel()

    @property
    def embeddings_dir(self) -> Path | None:
        """The folder of the concept embeddings shipped with a packaged dictionary (``embeddings/``,
        written by ``cg-gov dictionary embeddings`` and the build's package stage), or None."""
        if self.folder is None or not (self.folder / "embeddings" / "embeddings.json").is_file():
            return None
        return self.folder / "embeddings"

    @property
    def matching_defaults(self) -> dict[str, Any]:
        """The matcher settings calibrated for this dictionary's labels (manifest ``matching``), or {}."""
        block = self.manifest.get("matching")
        return dict(block) if isinstance(block, dict) else {}

    def concept_info(self, index: int) -> dict[str, Any]:
        return {"index": index, "label": self.labels[index], **self.label_info[index]}

    def describe(self) -> dict[str, Any]:
        """The dictionary identity block recorded in manifests."""
        return {"name": self.name, "identity": self.identity, "model": self.model,
                "hook_layer": self.hook_layer, "n_concepts": self.n_concepts, "d_in": self.d_in,
                "sae": str(self.sae_path) if self.sae_path else list(self.sae_release or ()),
                "quality": self.manifest.get("quality", {}),
                "reference": self.manifest.get("reference", {})}

    def sae(self, device: str = "cpu"):
        if device not in self._saes:
            self._saes[device] = _load_sae(self.sae_path, self.sae_release, device)
        return self._saes[device]

    def language_model(self, *, dtype: str, device: str = "cpu"):
        key = (dtype, device)
        if key not in self._models:
            from cg_gov.dictionary._model import load_language_model

            lm, tok = load_language_model(self.model, gguf_file=self.gguf_file, dtype=dtype, device=device)
            n_layers = getattr(lm.config, "num_hidden_layers", None)
            hidden = getattr(lm.config, "hidden_size", None)
            if n_layers is not None and not 0 <= self.hook_layer < n_layers:
                raise DictionaryError(f"hook layer {self.hook_layer} does not exist: the model has "
                                      f"{n_layers} layers (0..{n_layers - 1})", key="dictionary.hook_layer")
            if hidden is not None and hidden != self.d_in:
                raise DictionaryError(f"the SAE reads vectors of size {self.d_in} but the model's hidden "
                                      f"size is {hidden}", key="dictionary.sae",
                                      hint="pair the SAE with the model it was trained on")
            self._models[key] = (lm, tok)
        return self._models[key]


def _load_sae(path: Path | None, release: tuple[str, str] | None, device: str):
    from sae_lens import SAE

    if path is not None:
        sae = SAE.load_from_disk(str(path), device=device)
    else:
        assert release is not None
        try:
            sae = SAE.from_pretrained(release[0], release[1], device=device)
        except Exception as exc:  # noqa: BLE001 - offline hub misses surface as many types
            raise DictionaryError(f"SAE {release[0]}/{release[1]} is not in the local hub cache: {exc}",
                                  key="dictionary.sae",
                                  hint="download it once where a hub is reachable, or give a local folder") from None
        if isinstance(sae, tuple):
            sae = sae[0]
    sae.eval()
    return sae


def _sae_cfg(path: Path) -> dict[str, Any]:
    cfg_file = path / "cfg.json"
    if not cfg_file.is_file() or not (path / "sae_weights.safetensors").is_file():
        raise DictionaryError("not a sae-lens SAE folder (needs cfg.json and sae_weights.safetensors)",
                              file=str(path), key="dictionary.sae.path")
    from cg_gov.io import read_bytes_limited

    raw = read_bytes_limited(cfg_file, "SAE config", kind="spec", error=DictionaryError)
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DictionaryError("the SAE config is not valid JSON", file=str(cfg_file),
                              key="dictionary.sae.path") from None
    if not isinstance(cfg, dict):
        raise DictionaryError("the SAE config is not a JSON object", file=str(cfg_file), key="dictionary.sae.path")
    return cfg


def _identity(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def load_dictionary(spec: Any = "default", *, base_dir: str | Path | None = None,
                    load_reference: bool = True) -> ConceptDictionary:
    """Load a concept dictionary: ``"default"`` (bundled), a folder holding a
    cg_gov dictionary (``manifest.json`` + SAE + ``labels.jsonl``), or an audit
    spec's ``dictionary`` mapping (model, hook_layer, sae, labels, labels_format)."""
    from cg_gov.dictionary._model import model_identity

    base = Path(base_dir) if base_dir else Path.cwd()
    if spec == "default" or spec is None:
        return _load_bundled(default_dictionary_path(), "default", load_reference)
    if isinstance(spec, (str, Path)):
        folder = Path(spec) if Path(spec).is_absolute() else base / spec
        return _load_bundled(folder, folder.name, load_reference)
    d = spec if isinstance(spec, dict) else spec.model_dump()
    model = d.get("model") or "default"
    if model != "default" and not Path(model).is_absolute():
        model = str(base / model)
    sae = d.get("sae") or {}
    sae_path = sae.get("path")
    release = (sae.get("release"), sae.get("sae_id")) if sae.get("release") else None
    if sae_path:
        sae_path = Path(sae_path) if Path(sae_path).is_absolute() else base / sae_path
        cfg = _sae_cfg(sae_path)
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
        sae_parts = [sha256_file(sae_path / "cfg.json"), sha256_file(sae_path / "sae_weights.safetensors")]
        hook_name = (cfg.get("metadata") or {}).get("hook_name") or cfg.get("hook_name", "")
    else:
        loaded = _load_sae(None, release, "cpu")
        d_in, d_sae = int(loaded.cfg.d_in), int(loaded.cfg.d_sae)
        sae_parts = [f"{release[0]}/{release[1]}"]
        hook_name = getattr(loaded.cfg.metadata, "hook_name", "") or ""
    layer = d.get("hook_layer")
    from_hook = _layer_from_hook(hook_name)
    if layer is not None and from_hook is not None and int(layer) != from_hook:
        raise DictionaryError(f"hook_layer {layer} disagrees with the SAE's hook {hook_name!r}, which reads the "
                              f"output of block {from_hook}", key="dictionary.hook_layer",
                              hint=f"set hook_layer: {from_hook}")
    if layer is None:
        layer = _layer_from_hook(hook_name)
        if layer is None:
            raise DictionaryError("cannot tell the hook layer from the SAE's hook name "
                                  f"{hook_name!r}", key="dictionary.hook_layer", hint="set hook_layer")
    labels_file = d.get("labels")
    if labels_file:
        labels_path = Path(labels_file) if Path(labels_file).is_absolute() else base / labels_file
        labels, info = read_labels(labels_path, d.get("labels_format") or sniff_labels_format(labels_path), d_sae)
        label_hash = sha256_file(labels_path)
    else:
        labels, info, label_hash = [""] * d_sae, [{} for _ in range(d_sae)], "no-labels"
    ident = _identity([model_identity(model, d.get("gguf_file")), str(layer), *sae_parts, label_hash])
    return ConceptDictionary(name=d.get("name") or "custom", model=model, hook_layer=int(layer),
                             sae_path=sae_path, labels=labels, label_info=info, identity=ident, d_in=d_in,
                             n_concepts=d_sae, gguf_file=d.get("gguf_file"), sae_release=release)


def _load_bundled(folder: Path, name: str, load_reference: bool) -> ConceptDictionary:
    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        raise DictionaryError("no concept dictionary here (manifest.json missing)", file=str(folder),
                              hint="build the bundled one with `cg-gov dictionary build`")
    manifest = json.loads(manifest_file.read_text())
    sae_dir = folder / manifest.get("sae_folder", "sae")
    cfg = _sae_cfg(sae_dir)
    d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    labels, info = read_labels(folder / "labels.jsonl", "cg_gov", d_sae)
    model = manifest.get("model", "default")
    from cg_gov.dictionary._model import model_identity

    model_id = model_identity(model) if model == "default" else manifest.get("model_sha256", model)
    ident = _identity([model_id, str(manifest["hook_layer"]), sha256_file(sae_dir / "cfg.json"),
                       sha256_file(sae_dir / "sae_weights.safetensors"), sha256_file(folder / "labels.jsonl")])
    reference = None
    ref_file = folder / "reference.npz"
    if load_reference and ref_file.is_file():
        import scipy.sparse as sp

        reference = sp.load_npz(ref_file).tocsr().astype(np.float32)
    return ConceptDictionary(name=manifest.get("name", name), model=model, hook_layer=int(manifest["hook_layer"]),
                             sae_path=sae_dir, labels=labels, label_info=info, identity=ident, d_in=d_in,
                             n_concepts=d_sae, manifest=manifest, reference=reference, folder=folder)
