"""Per-item concept activations: abar_c(x), the mean SAE activation of
concept c over the counted tokens of item x (``method.md``).

The path is: render the item as the model saw it (raw text, or a chat turn)
-> tokenise with character offsets -> mark the tokens that belong to the
item's own text (template and special tokens are excluded by default) ->
batches grouped by length, right-padded -> a forward pass that stops at the
hook layer -> SAE encode of the counted tokens only -> per-item mean (and
max) -> a sparse (N, C) matrix.

Results are cached per item in a content-addressed store: the key is the
dictionary identity + the extraction settings + the item text. Shards are
written atomically and named by their own sha256, so a killed run resumes
where it stopped and a corrupt shard is detected, dropped and recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from cg_gov.errors import CgGovError
from cg_gov.io import atomic_write_bytes
from cg_gov.spec import ExtractionSettings

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse as sp

    from cg_gov.dictionary import ConceptDictionary

__all__ = ["Activations", "concept_activations", "extract_activations", "export_precomputed",
           "load_precomputed", "prepare_items", "residual_batches", "truncated_forward", "ActivationCache"]

log = logging.getLogger(__name__)


@dataclass
class Activations:
    """Per-item concept activations for N items and C concepts."""

    abar: "sp.csr_matrix"
    """(N, C) mean activation over counted tokens, float32."""
    max_act: "sp.csr_matrix"
    """(N, C) max activation over counted tokens, float32."""
    n_tokens: np.ndarray
    """(N,) number of counted tokens per item."""
    settings: dict[str, Any] = field(default_factory=dict)
    dictionary_identity: str = ""
    cache_hits: int = 0
    chosen: dict[str, Any] = field(default_factory=dict)
    """How ``dtype`` and ``threads`` were chosen (:func:`cg_gov.engine.resolve_extraction`)."""
    precomputed_hits: int = 0
    """Items taken from the ``precomputed`` file (not from the cache, not computed)."""
    precomputed_sha256: str | None = None
    """sha256 of the precomputed file read, or None when none was read."""
    precomputed_check: dict[str, Any] | None = None
    """How the precomputed file was checked (:func:`check_precomputed`): items sampled, where their
    reference came from, the largest relative difference and the bound; None when none was read."""

    @property
    def sources(self) -> dict[str, int]:
        """How many items came from where: ``precomputed`` (the file), ``cache``, ``computed``."""
        n = int(self.abar.shape[0])
        return {"precomputed": self.precomputed_hits, "cache": self.cache_hits,
                "computed": n - self.precomputed_hits - self.cache_hits}


# ---------------------------------------------------------------- preparing


@dataclass
class PreparedItem:
    input_ids: list[int]
    counted: list[bool]


_SENTINELS = ("\ue000", "\ue001")

#: Part of every activation cache key; raised when the same settings start computing different
#: numbers. 2: the embedded model is always loaded from its converted copy (a first load used to
#: cast its rotary-embedding buffers to bf16, which moved activations by about 2%).
CACHE_VERSION = 2


def _render(tokenizer, text: str, response: str | None, template: str,
            skeletons: dict[bool, str] | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The string the model saw, and the character spans of the item's own text.

    The chat template is rendered with placeholder characters in place of the
    message contents, which are then put in at the placeholders: the spans are
    exact even when an item's text also occurs in the template (a default
    system prompt, say). Contents are inserted as they are. ``skeletons``
    keeps the rendered template between calls (it depends only on whether
    there is a response).
    """
    if template == "raw":
        if response is None:
            return text, [(0, len(text))]
        return text + "\n" + response, [(0, len(text)), (len(text) + 1, len(text) + 1 + len(response))]
    parts = [text]
    with_response = template == "user_assistant" and response is not None
    if with_response:
        parts.append(response)
    skeleton = skeletons.get(with_response) if skeletons is not None else None
    if skeleton is None:
        messages = [{"role": "user", "content": _SENTINELS[0]}]
        if with_response:
            messages.append({"role": "assistant", "content": _SENTINELS[1]})
        skeleton = tokenizer.apply_chat_template(messages, tokenize=False,
                                                 add_generation_prompt=(len(messages) == 1))
        if skeletons is not None:
            skeletons[with_response] = skeleton
    rendered, spans, pos = "", [], 0
    for sentinel, part in zip(_SENTINELS, parts):
        at = skeleton.find(sentinel, pos)
        if at < 0:
            raise CgGovError("the chat template drops or rewrites message contents",
                             key="extraction.template", hint="use template: raw")
        rendered += skeleton[pos:at]
        spans.append((len(rendered), len(rendered) + len(part)))
        rendered += part
        pos = at + 1
    return rendered + skeleton[pos:], spans


def prepare_items(tokenizer, texts: Sequence[str], responses: Sequence[str | None] | None,
                  settings: ExtractionSettings) -> list[PreparedItem]:
    """Tokenise items as the model saw them and mark the counted tokens."""
    special = np.array(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)
    skeletons: dict[bool, str] = {}
    rendered_all, spans_all = [], []
    for i, text in enumerate(texts):
        response = responses[i] if responses is not None else None
        rendered, spans = _render(tokenizer, text, response, settings.template, skeletons)
        rendered_all.append(rendered)
        spans_all.append(spans)
    # one call for all items: the tokenizer batches them itself
    enc = tokenizer(rendered_all, add_special_tokens=(settings.template == "raw"),
                    return_offsets_mapping=True, truncation=False) if rendered_all else {"input_ids": []}
    out: list[PreparedItem] = []
    for i, text in enumerate(texts):
        full = enc["input_ids"][i]
        ids = np.asarray(full[: settings.max_tokens], dtype=np.int64)
        if settings.max_tokens < len(full):
            log.debug("item %d truncated to %d tokens", i, settings.max_tokens)
        if settings.exclude_special_tokens:
            offsets = np.asarray(enc["offset_mapping"][i][: settings.max_tokens], dtype=np.int64).reshape(-1, 2)
            start, end = offsets[:, 0], offsets[:, 1]
            inside = np.zeros(len(ids), dtype=bool)
            for a, b in spans_all[i]:
                inside |= (start < b) & (end > a)
            counted = inside & (end > start) & ~np.isin(ids, special)
            if counted.size:
                # the first position is an attention sink: its residual norm is about 100x that
                # of other tokens (measured on SmolLM2) and carries no meaning of its own
                counted[0] = False
        else:
            counted = np.ones(len(ids), dtype=bool)
        if text.strip() and not counted.any():
            log.warning("item %d has no counted token (its text lies beyond max_tokens=%d?)", i,
                        settings.max_tokens)
        out.append(PreparedItem(ids.tolist(), counted.tolist()))
    return out


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by length (longest first), so padding costs little."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------- forward


class _StopForward(Exception):
    pass


def decoder_layers(model):
    """The list of decoder blocks of a transformers causal LM."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
            return obj
        except AttributeError:
            continue
    raise CgGovError(f"cannot find the decoder layers of {type(model).__name__}",
                     key="dictionary.model", hint="use a decoder-only transformers model")


def truncated_forward(model, input_ids, attention_mask, layer: int):
    """Residual stream output of block ``layer`` (0-based), without running later blocks.

    A hook on that block captures its output and stops the pass, so no
    compute is spent above the hook layer and no final norm is applied.
    """
    layers = decoder_layers(model)
    captured: dict[str, Any] = {}

    def hook(_module, _inputs, output):
        captured["h"] = output[0] if isinstance(output, (tuple, list)) else output
        raise _StopForward

    handle = layers[layer].register_forward_hook(hook)
    try:
        base = getattr(model, model.base_model_prefix, model)
        base(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if "h" not in captured:
        raise CgGovError(f"layer {layer} produced no output")
    return captured["h"]


def _pad_batch(items: list[PreparedItem], pad_id: int):
    import torch

    width = max(1, max(len(it.input_ids) for it in items))
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(items), width), dtype=torch.long)
    counted = torch.zeros((len(items), width), dtype=torch.bool)
    for r, it in enumerate(items):
        n = len(it.input_ids)
        if n:
            ids[r, :n] = torch.tensor(it.input_ids)
            attn[r, :n] = 1
            counted[r, :n] = torch.tensor(it.counted)
    return ids, attn, counted


def residual_batches(model, tokenizer, prepared: list[PreparedItem], order: list[list[int]],
                     layer: int, device: str = "cpu") -> Iterator[tuple[list[int], Any, Any]]:
    """Yield ``(item_indices, hidden (n_counted, d), row (n_counted,))`` per batch."""
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.inference_mode():
        for idx in order:
            batch = [prepared[i] for i in idx]
            ids, attn, counted = _pad_batch(batch, pad_id)
            ids, attn, counted = ids.to(device), attn.to(device), counted.to(device)
            if int(attn.sum()) == 0:
                yield idx, None, None
                continue
            h = truncated_forward(model, ids, attn, layer)
            rows = torch.arange(len(idx), device=device).unsqueeze(1).expand_as(counted)
            yield idx, h[counted], rows[counted]


# ---------------------------------------------------------------- cache


#: Largest shard file the cache reads (a shard holds one batch of items).
MAX_SHARD_BYTES = 256 << 20
_SHARD_ARRAYS = ("keys", "n_tokens", "indptr", "indices", "abar", "max")


def _cache_secret(root: Path) -> bytes:
    """The cache's own key (``root/.key``, 32 random bytes made on first use, readable by its owner only).

    Shards are named by an HMAC under this key, so a file this cache did not write, for this
    namespace, never passes as one of its shards. The key is written whole or not at all (a
    temporary file, fsync, then a hard link that fails if another run made one first); a key that
    is not 32 bytes (an empty file left by a full disk) is replaced, with a warning, since no shard
    can have been signed by it. When no key can be kept, a key for this run only is used (nothing
    written earlier is trusted then)."""
    path = root / ".key"
    for _ in range(3):
        try:
            with open(path, "rb") as fh:
                secret = fh.read(64)
        except FileNotFoundError:
            secret = None
        except OSError:
            break
        if secret is not None and len(secret) == 32:
            return secret
        if secret is not None:
            log.warning("activation cache: its key %s is %d bytes, not 32 (a disk that was full?); a new key "
                        "is made and the shards signed by the old one are recomputed", path, len(secret))
        made = _make_key(path, replace=secret is not None)
        if made is not None:
            return made
        time.sleep(0.05)  # another run made or repaired it: read that one
    log.warning("activation cache: its key %s cannot be read or made; cached activations are not reused", path)
    return os.urandom(32)


def _make_key(path: Path, replace: bool) -> bytes | None:
    """Write a new 32-byte key at ``path`` atomically; None when another run's key is there first
    (or the key cannot be written: the caller then tries to read it, and at last gives up)."""
    import tempfile

    secret = os.urandom(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".key.", suffix=".tmp", dir=path.parent)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails when another run made its key meanwhile
        fd_dir = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd_dir)
        finally:
            os.close(fd_dir)
        return secret
    except OSError:
        return None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _remove_at_exit(folder: Path) -> None:
    """Delete ``folder`` (a fallback cache for one run) when the process exits."""
    import atexit
    import shutil

    atexit.register(shutil.rmtree, folder, True)


def check_shard(z, n_concepts: int | None) -> tuple[np.ndarray, ...] | str:
    """The arrays of a shard (an open ``np.load`` archive), or why it does not hold what a shard
    holds: arrays, dtypes, shapes, row pointers, concept index range, finite non-negative values."""
    if sorted(z.files) != sorted(_SHARD_ARRAYS):
        return f"arrays {sorted(z.files)[:8]}"
    keys, ntok, indptr, indices, vals, maxv = (z[name] for name in _SHARD_ARRAYS)
    n = len(keys)
    expected = {"keys": (keys, np.uint8, (n, 32)), "n_tokens": (ntok, np.int64, (n,)),
                "indptr": (indptr, np.int64, (n + 1,)), "indices": (indices, np.int32, None),
                "abar": (vals, np.float32, None), "max": (maxv, np.float32, None)}
    for name, (array, dtype, shape) in expected.items():
        if array.dtype != dtype or (shape is not None and array.shape != shape) or (shape is None and array.ndim != 1):
            return f"{name}: {array.dtype} {array.shape}"
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices):
        return "row pointers out of order"
    if len(vals) != len(indices) or len(maxv) != len(indices):
        return "value arrays of different lengths"
    if np.any(ntok < 0):
        return "negative token counts"
    if len(indices) and (indices.min() < 0 or (n_concepts is not None and indices.max() >= n_concepts)):
        return f"concept index out of range [0, {n_concepts})"
    if not (np.isfinite(vals).all() and np.isfinite(maxv).all()) or np.any(vals < 0) or np.any(maxv < 0):
        return "values not finite and non-negative"
    return keys, ntok, indptr, indices, vals, maxv


def shard_rows(checked: tuple[np.ndarray, ...], wanted: set[bytes]
               ) -> dict[bytes, tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """``key -> (n_tokens, indices, abar values, max values)`` of the wanted keys among a checked
    shard's arrays (:func:`check_shard`)."""
    keys, ntok, indptr, indices, vals, maxv = checked
    found = {}
    for r in range(len(keys)):
        k = keys[r].tobytes()
        if k in wanted:
            a, b = indptr[r], indptr[r + 1]
            found[k] = (int(ntok[r]), indices[a:b], vals[a:b], maxv[a:b])
    return found


#: Shards read and checked by this process, by (path, inode, size, mtime, cache key, concepts): their arrays
#: (at most MAX_CHECKED_BYTES of shard files kept; past that a shard is read again when asked for again).
_CHECKED_SHARDS: dict[tuple, tuple[np.ndarray, ...]] = {}
_CHECKED_BYTES: list[int] = []
MAX_CHECKED_BYTES = 512 << 20


class ActivationCache:
    """Content-addressed store of per-item results, one namespace per dictionary + settings.

    A shard is named by an HMAC of (namespace, content) under the cache's own key, and is checked
    on load (arrays, dtypes, shapes, concept index range, finite non-negative values): a shard that
    was not written by this cache for this namespace, or does not hold what a shard holds, is
    dropped with a warning and its items are recomputed. A cache folder that cannot be written
    (read-only, full, under a file) falls back to a temporary folder, with a warning.
    """

    def __init__(self, root: str | os.PathLike, namespace: str, n_concepts: int | None = None) -> None:
        self.namespace = namespace
        self.n_concepts = n_concepts
        self.corrupt_dropped = 0
        self._fallback: Path | None = None
        root = Path(root)
        try:
            (root / namespace).mkdir(parents=True, exist_ok=True)
            if not os.access(root / namespace, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable", str(root / namespace))
        except OSError as exc:
            root = self._use_temporary(root, exc)
        self.root = root
        self.dir = root / namespace
        self._secret = _cache_secret(root)

    def _use_temporary(self, root: Path, exc: OSError) -> Path:
        import tempfile

        self._fallback = Path(tempfile.mkdtemp(prefix="cg_gov-activations-"))
        _remove_at_exit(self._fallback)
        log.warning("activation cache: %s cannot be written (%s); using %s for this run", root,
                    exc.strerror or exc, self._fallback)
        (self._fallback / self.namespace).mkdir(parents=True, exist_ok=True)
        return self._fallback

    @staticmethod
    def item_key(namespace: str, text: str, response: str | None) -> bytes:
        # surrogatepass: a lone surrogate (read from an escaped JSON string) still has a key
        payload = json.dumps([namespace, text, response], ensure_ascii=False).encode("utf-8", "surrogatepass")
        return hashlib.sha256(payload).digest()

    def _name(self, raw: bytes) -> str:
        import hmac

        digest = hmac.new(self._secret, self.namespace.encode("utf-8") + b"\0" + raw, hashlib.sha256)
        return f"shard-{digest.hexdigest()[:32]}.npz"

    def _check(self, z) -> tuple[np.ndarray, ...] | str:
        """The shard's arrays, or why it is not a shard of this cache."""
        return check_shard(z, self.n_concepts)

    def load(self, wanted: set[bytes]) -> dict[bytes, tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Return ``key -> (n_tokens, indices, abar values, max values)`` for wanted keys."""
        import io as _io

        found: dict[bytes, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}
        dropped: dict[str, int] = {}

        def drop(path: Path, why: str) -> None:
            dropped[why] = dropped.get(why, 0) + 1
            log.debug("activation cache: %s dropped: %s", path, why)
            self.corrupt_dropped += 1
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

        for path in sorted(self.dir.glob("shard-*.npz")):
            try:
                st = path.stat()
                if not path.is_file() or st.st_size > MAX_SHARD_BYTES:
                    drop(path, "not a shard file")
                    continue
                # a shard this process has read and checked already (an audit reads the cache for the
                # suite, the workload and the exemplars): the same file, not read again
                seen = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, self._secret, self.n_concepts)
                if seen in _CHECKED_SHARDS:
                    found.update(shard_rows(_CHECKED_SHARDS[seen], wanted))
                    continue
                raw = path.read_bytes()
            except FileNotFoundError:
                continue  # another run dropped it after it was listed
            except OSError:
                dropped["unreadable"] = dropped.get("unreadable", 0) + 1
                continue
            if self._name(raw) != path.name:
                drop(path, "not written by this cache for this dictionary and settings")
                continue
            try:
                with np.load(_io.BytesIO(raw), allow_pickle=False) as z:
                    checked = self._check(z)
            except Exception:  # noqa: BLE001 - any unreadable shard is recomputed
                checked = "unreadable"
            if isinstance(checked, str):
                drop(path, f"not a valid shard ({checked})")
                continue
            if sum(_CHECKED_BYTES) + len(raw) <= MAX_CHECKED_BYTES:
                _CHECKED_SHARDS[seen] = checked
                _CHECKED_BYTES.append(len(raw))
            found.update(shard_rows(checked, wanted))
        for why, count in dropped.items():
            log.warning("activation cache: %d shard%s in %s dropped (%s); %s items are recomputed", count,
                        "s" if count != 1 else "", self.dir, why, "their" if count != 1 else "its")
        return found

    def save(self, keys: list[bytes], n_tokens: np.ndarray, abar: "sp.csr_matrix", max_act: "sp.csr_matrix") -> None:
        raw = shard_bytes(keys, n_tokens, abar, max_act)
        try:
            atomic_write_bytes(self.dir / self._name(raw), raw)
        except OSError as exc:
            if self._fallback is not None:
                raise CgGovError(f"cannot write the activation cache: {exc.strerror or exc}", file=str(self.dir),
                                 hint="free disk space, or run with --no-cache") from None
            self.root = self._use_temporary(self.root, exc)
            self.dir = self.root / self.namespace
            self._secret = _cache_secret(self.root)
            atomic_write_bytes(self.dir / self._name(raw), raw)


# ---------------------------------------------------------------- extraction


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, mininterval=1.0)


def cache_namespace(dictionary: "ConceptDictionary", settings: ExtractionSettings) -> str:
    """The namespace of an item's key: the dictionary's identity and the settings that change the
    numbers (``dtype`` resolved, never ``auto``)."""
    return hashlib.sha256(json.dumps(
        [dictionary.identity, settings.cache_key(), CACHE_VERSION], sort_keys=True).encode()).hexdigest()[:24]


def load_precomputed(path: str | os.PathLike, n_concepts: int, wanted: set[bytes]
                     ) -> tuple[dict[bytes, tuple[int, np.ndarray, np.ndarray, np.ndarray]], str]:
    """``key -> (n_tokens, indices, abar values, max values)`` of the wanted keys in a file written
    by :func:`export_precomputed`, and the file's sha256. A file that is missing, too large or does
    not hold what a shard holds is an error naming it."""
    import io as _io
    import zipfile

    from cg_gov.io import read_bytes_limited, read_limit

    path = Path(path)
    # the file's size is capped ($CG_GOV_MAX_ACTIVATIONS_BYTES, 1 GiB), and so is what its members
    # declare they unpack to, before numpy reads them
    raw = read_bytes_limited(path, "precomputed activations", kind="activations")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with zipfile.ZipFile(_io.BytesIO(raw)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
        if unpacked > read_limit("activations"):
            checked = f"its arrays unpack to {unpacked:,} bytes, over the limit"
        else:
            with np.load(_io.BytesIO(raw), allow_pickle=False) as z:
                checked = check_shard(z, n_concepts)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error
        checked = f"unreadable ({type(exc).__name__})"
    if isinstance(checked, str):
        raise CgGovError(f"not a precomputed-activations file: {checked}", file=str(path),
                         key="extraction.precomputed",
                         hint="write it with `cg-gov activations export`, or remove the key to compute every item")
    return shard_rows(checked, wanted), digest


def shard_bytes(keys: list[bytes], n_tokens: np.ndarray, abar: "sp.csr_matrix", max_act: "sp.csr_matrix",
                compressed: bool = False) -> bytes:
    """One shard (what the cache stores and a precomputed file holds) as npz bytes."""
    import io as _io

    buf = _io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32),
         n_tokens=np.asarray(n_tokens, dtype=np.int64), indptr=abar.indptr.astype(np.int64),
         indices=abar.indices.astype(np.int32), abar=abar.data.astype(np.float32),
         max=max_act.data.astype(np.float32))
    return buf.getvalue()


def extract_activations(texts: Sequence[str], dictionary: "ConceptDictionary", *,
                        responses: Sequence[str | None] | None = None,
                        settings: ExtractionSettings | None = None, cache: bool = True,
                        cache_dir: str | os.PathLike | None = None, progress: bool = True,
                        desc: str = "activations", precomputed: str | os.PathLike | None = None
                        ) -> Activations:
    """Compute per-item mean and max concept activations, reusing the cache; items found in the
    ``precomputed`` file (for this dictionary and these settings) are taken from it first (and
    copied into the cache when it lacks them), once a random sample of its rows has been found to
    agree with the engine's numbers (:func:`check_precomputed`)."""
    import scipy.sparse as sp

    from cg_gov.engine._machine import resolve_extraction
    from cg_gov.io import cache_dir as default_cache_dir

    settings, chosen = resolve_extraction(settings or ExtractionSettings(), cache_dir=cache_dir)
    texts = list(texts)
    if responses is not None and len(responses) != len(texts):
        raise CgGovError("responses and texts differ in length")
    n, n_concepts = len(texts), dictionary.n_concepts
    namespace = cache_namespace(dictionary, settings)
    keys = [ActivationCache.item_key(namespace, t, responses[i] if responses is not None else None)
            for i, t in enumerate(texts)]
    store = (ActivationCache(Path(cache_dir or default_cache_dir()) / "activations", namespace, n_concepts)
             if cache else None)
    found = store.load(set(keys)) if store is not None else {}
    pre_hits, pre_sha, pre_check = 0, None, None
    if precomputed is not None:
        # the file is checked first: a sample of its rows against what the engine computes (or
        # computed before: the cache holds only what this machine computed or a checked file held);
        # no row is used, nor enters the cache, before that check has passed
        pre, pre_sha = load_precomputed(precomputed, n_concepts, set(keys))
        pre_check = {"sampled": 0, "bound": precomputed_tolerance(settings.dtype)}
        if pre:
            pre_check = check_precomputed(pre, precomputed, keys, texts, responses, found, dictionary, settings,
                                          store)
            # the file then comes first: every user of it gets its numbers, whatever their cache
            # holds (a cache filled in several runs batched its items differently, which moves
            # float32 sums in the last bits); items it lacks come from the cache or are computed
            pre_hits = sum(1 for k in keys if k in pre)
            if store is not None:  # runs without the file read them from the cache
                _save_rows(store, [(k, v) for k, v in pre.items() if k not in found], n_concepts)
            found.update(pre)
    hits = sum(1 for k in keys if k in found) - pre_hits

    n_tokens = np.zeros(n, dtype=np.int64)
    row_parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    todo = []
    for i, k in enumerate(keys):
        if k in found:
            nt, ind, val, mx = found[k]
            n_tokens[i] = nt
            row_parts.append((i, ind, val, mx))
        else:
            todo.append(i)

    if todo:  # torch is imported only when something is computed (a cached run spares its import)
        import torch

        threads_before = torch.get_num_threads()
        if isinstance(settings.threads, int):
            torch.set_num_threads(settings.threads)
        try:
            _compute(todo, keys, texts, responses, dictionary, settings, store, progress, desc,
                     n_tokens, row_parts)
        finally:
            torch.set_num_threads(threads_before)

    row_parts.sort(key=lambda r: r[0])
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i, ind, _v, _m in row_parts:
        indptr[i + 1] = len(ind)
    indptr = np.cumsum(indptr)
    indices = np.concatenate([r[1] for r in row_parts]) if row_parts else np.zeros(0, np.int32)
    vals = np.concatenate([r[2] for r in row_parts]) if row_parts else np.zeros(0, np.float32)
    maxv = np.concatenate([r[3] for r in row_parts]) if row_parts else np.zeros(0, np.float32)
    abar = sp.csr_matrix((vals.astype(np.float32), indices, indptr), shape=(n, n_concepts))
    max_act = sp.csr_matrix((maxv.astype(np.float32), indices.copy(), indptr.copy()), shape=(n, n_concepts))
    abar.sort_indices()
    max_act.sort_indices()
    return Activations(abar=abar, max_act=max_act, n_tokens=n_tokens, settings=settings.model_dump(),
                       dictionary_identity=dictionary.identity, cache_hits=hits, chosen=chosen,
                       precomputed_hits=pre_hits, precomputed_sha256=pre_sha, precomputed_check=pre_check)


#: Items of a precomputed file recomputed (or read from the cache) and compared before any is used.
PRECOMPUTED_SAMPLE = 3
#: Largest relative difference (L2 norm of the difference of an item's rows, means and maxima, over
#: the norm of the engine's row) accepted between a precomputed row and the engine's, by dtype.
#: Measured on 30 demo items computed one at a time and in one batch of 32: float32 rows agreed to
#: 4 decimals (max 0.0000); bfloat16 ones differed by 1.6% (median), 5.7% (90th percentile) and
#: 9.6% (max), since padding changes bf16 sums. A file scaled x50 is off by 4,900%, one scaled x1.5
#: by 50%.
PRECOMPUTED_TOLERANCE = {"float32": 0.01, "bfloat16": 0.25, "float16": 0.25}


def precomputed_tolerance(dtype: str) -> float:
    """The bound of :data:`PRECOMPUTED_TOLERANCE` for ``dtype`` (the half-precision one when unknown)."""
    return PRECOMPUTED_TOLERANCE.get(str(dtype).replace("torch.", ""), 0.25)


def _relative_difference(a: tuple, b: tuple, n_concepts: int) -> float:
    """Relative L2 difference of two rows ``(n_tokens, indices, abar, max)`` (b the reference); inf
    when their counted-token numbers differ."""
    if int(a[0]) != int(b[0]):
        return float("inf")
    worst = 0.0
    for column in (2, 3):  # the means and the maxima
        dense_a = np.zeros(n_concepts, np.float64)
        dense_b = np.zeros(n_concepts, np.float64)
        dense_a[np.asarray(a[1], np.int64)] = a[column]
        dense_b[np.asarray(b[1], np.int64)] = b[column]
        ref = float(np.linalg.norm(dense_b))
        diff = float(np.linalg.norm(dense_a - dense_b))
        if ref == 0.0:
            worst = max(worst, 0.0 if diff == 0.0 else float("inf"))
        else:
            worst = max(worst, diff / ref)
    return worst


def check_precomputed(pre: dict, path, keys: list[bytes], texts: list[str], responses, found: dict,
                      dictionary, settings: ExtractionSettings, store) -> dict[str, Any]:
    """Compare :data:`PRECOMPUTED_SAMPLE` rows of a precomputed file, drawn at random (so a file
    cannot know which rows are looked at), with the engine's: the cache's row when it holds the item
    (only computed or checked rows enter it), else the item computed now (and cached). Raises a
    located error when any differs by more than the bound for the settings' dtype
    (:data:`PRECOMPUTED_TOLERANCE`); returns what was
    checked (for the manifest)."""
    import secrets

    first: dict[bytes, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    candidates = sorted(k for k in pre if k in first)
    sample = secrets.SystemRandom().sample(candidates, min(PRECOMPUTED_SAMPLE, len(candidates)))
    reference: dict[bytes, tuple] = {k: found[k] for k in sample if k in found}
    todo = sorted(first[k] for k in sample if k not in found)
    if todo:
        n_tok = np.zeros(len(texts), np.int64)
        parts: list = []
        _compute(todo, keys, texts, responses, dictionary, settings, store, False, "checking precomputed",
                 n_tok, parts)
        for i, ind, val, mx in parts:
            reference[keys[i]] = (int(n_tok[i]), ind, val, mx)
    bound = precomputed_tolerance(settings.dtype)
    worst, worst_key = 0.0, None
    for k in sample:
        d = _relative_difference(pre[k], reference[k], dictionary.n_concepts)
        if d > worst or worst_key is None:
            worst, worst_key = d, k
    if worst > bound:
        shown = "different counted-token numbers" if worst == float("inf") else f"{worst:.1%}"
        item = texts[first[worst_key]] if worst_key is not None else ""
        from cg_gov.text import truncate

        raise CgGovError(
            f"the precomputed activations differ from what the engine computes: item {truncate(item, 60)!r} "
            f"is off by {shown} (relative), over the bound of {bound:.0%} for {settings.dtype}; "
            f"{len(sample)} of its {len(candidates)} rows were checked and none is used",
            file=str(path), key="extraction.precomputed",
            hint="re-export it with `cg-gov activations export` from the same dictionary and settings, "
                 "or remove the key to compute every item")
    return {"sampled": len(sample), "from_cache": len(sample) - len(todo), "computed": len(todo),
            "max_relative_difference": round(worst, 6), "bound": bound}


def _save_rows(store: "ActivationCache", rows: list, n_concepts: int, per_shard: int = 256) -> None:
    """Write ``(key, (n_tokens, indices, abar, max))`` rows into the cache, ``per_shard`` per shard."""
    import scipy.sparse as sp

    for start in range(0, len(rows), per_shard):
        part = rows[start:start + per_shard]
        indptr = np.concatenate([[0], np.cumsum([len(r[1][1]) for r in part])]).astype(np.int64)
        indices = np.concatenate([r[1][1] for r in part]).astype(np.int32) if part else np.zeros(0, np.int32)
        shape = (len(part), n_concepts)
        abar = sp.csr_matrix((np.concatenate([r[1][2] for r in part]), indices, indptr), shape=shape)
        mx = sp.csr_matrix((np.concatenate([r[1][3] for r in part]), indices, indptr), shape=shape)
        store.save([r[0] for r in part], np.array([r[1][0] for r in part], np.int64), abar, mx)


def export_precomputed(texts: Sequence[str], dictionary: "ConceptDictionary", out: str | os.PathLike, *,
                       responses: Sequence[str | None] | None = None,
                       settings: ExtractionSettings | None = None, progress: bool = True) -> dict[str, Any]:
    """Write the activations of ``texts`` (from the cache, computed where missing) as one file that
    an audit names in ``extraction.precomputed``. Returns what was written: path, items, sha256,
    namespace and the concrete settings."""
    from cg_gov.engine._machine import resolve_extraction
    from cg_gov.io import atomic_write_bytes as write

    settings, _ = resolve_extraction(settings or ExtractionSettings())
    acts = extract_activations(texts, dictionary, responses=responses, settings=settings, progress=progress,
                               desc="items to export")
    namespace = cache_namespace(dictionary, settings)
    keys = [ActivationCache.item_key(namespace, t, responses[i] if responses is not None else None)
            for i, t in enumerate(texts)]
    first: dict[bytes, int] = {}
    rows = [i for i, k in enumerate(keys) if first.setdefault(k, i) == i]  # one row per distinct item
    raw = shard_bytes([keys[i] for i in rows], acts.n_tokens[rows], acts.abar[rows], acts.max_act[rows],
                      compressed=True)
    write(Path(out), raw)
    return {"path": str(out), "items": len(rows), "sha256": hashlib.sha256(raw).hexdigest(),
            "namespace": namespace, "dictionary": dictionary.identity, "settings": settings.cache_key()}


def encode_batch(sae, h, rows, counts: np.ndarray, n_concepts: int) -> tuple["sp.csr_matrix", "sp.csr_matrix"]:
    """SAE encode of one batch's counted residuals ``h`` (rows say whose): per-item mean and max,
    as (b, C) sparse matrices sharing one sparsity pattern."""
    import scipy.sparse as sp
    import torch

    b = len(counts)
    if h is None or h.shape[0] == 0:
        mean = sp.csr_matrix((b, n_concepts), dtype=np.float32)
        return mean, mean.copy()
    with torch.inference_mode():
        acts = sae.encode(h.to(sae.W_enc.dtype))
        acts = torch.clamp(acts, min=0).float()
        summed = torch.zeros((b, n_concepts), dtype=torch.float32, device=acts.device)
        summed.index_add_(0, rows, acts)
        peak = torch.zeros_like(summed).index_reduce_(0, rows, acts, "amax", include_self=True)
        denom = torch.from_numpy(np.maximum(counts, 1)).to(summed).unsqueeze(1)
        mean = sp.csr_matrix((summed / denom).cpu().numpy())
        # max shares the mean's sparsity pattern (mean > 0 exactly where max > 0)
        peak_np = peak.cpu().numpy()
        nz_rows = np.repeat(np.arange(b), np.diff(mean.indptr))
        mx = sp.csr_matrix((peak_np[nz_rows, mean.indices], mean.indices, mean.indptr), shape=mean.shape)
    return mean, mx


def item_rows(model, tokenizer, sae, dictionary, settings, texts: list[str], responses) -> tuple[np.ndarray, list]:
    """Counted-token counts and ``(indices, mean values, max values)`` per item, for items prepared,
    batched and encoded exactly as :func:`extract_activations` does (what a Ray actor runs)."""
    prepared = prepare_items(tokenizer, texts, responses, settings)
    order = length_batches([len(p.input_ids) for p in prepared], settings.batch_size)
    n_tok = np.zeros(len(texts), np.int64)
    rows: list = [None] * len(texts)
    for idx, h, hrows in residual_batches(model, tokenizer, prepared, order, dictionary.hook_layer,
                                          settings.device):
        counts = np.array([sum(prepared[i].counted) for i in idx], dtype=np.int64)
        mean, mx = encode_batch(sae, h, hrows, counts, dictionary.n_concepts)
        for r, i in enumerate(idx):
            a, z = mean.indptr[r], mean.indptr[r + 1]
            n_tok[i] = counts[r]
            rows[i] = (mean.indices[a:z], mean.data[a:z], mx.data[a:z])
    return n_tok, rows


def _compute(todo: list[int], keys: list[bytes], texts: list[str], responses, dictionary, settings,
             store, progress: bool, desc: str, n_tokens: np.ndarray, row_parts: list) -> None:
    """Compute the items ``todo`` (indices into ``texts``), save them to ``store``, fill ``n_tokens``
    and ``row_parts``."""
    n_concepts = dictionary.n_concepts
    # identical texts in one call are computed once
    first_of: dict[bytes, int] = {}
    unique = [i for i in todo if first_of.setdefault(keys[i], i) == i]
    computed: dict[bytes, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}
    if settings.executor == "ray":
        from cg_gov.engine._ray import compute_with_ray

        bar = _progress(len(unique), progress, desc + " (ray)")

        def on_batch(pos: list[int], counts: np.ndarray, mean, mx) -> None:
            batch_keys = [keys[unique[p]] for p in pos]
            for r, k in enumerate(batch_keys):
                a, z = mean.indptr[r], mean.indptr[r + 1]
                computed[k] = (int(counts[r]), mean.indices[a:z], mean.data[a:z], mx.data[a:z])
            if store is not None:
                store.save(batch_keys, counts, mean, mx)
            bar.update(len(pos))

        compute_with_ray([(texts[i], responses[i] if responses is not None else None) for i in unique],
                         dictionary, settings, item_rows, on_batch)
        bar.close()
        for i in todo:
            nt, ind, val, mx = computed[keys[i]]
            n_tokens[i] = nt
            row_parts.append((i, ind, val, mx))
        return
    model, tokenizer = dictionary.language_model(dtype=settings.dtype, device=settings.device)
    sae = dictionary.sae(device=settings.device)
    prepared = prepare_items(tokenizer, [texts[i] for i in unique],
                             [responses[i] for i in unique] if responses is not None else None, settings)
    order = length_batches([len(p.input_ids) for p in prepared], settings.batch_size)
    bar = _progress(len(unique), progress, desc)
    t0, tok_done = time.perf_counter(), 0
    for idx, h, rows in residual_batches(model, tokenizer, prepared, order, dictionary.hook_layer,
                                         settings.device):
        counts = np.array([sum(prepared[i].counted) for i in idx], dtype=np.int64)
        b = len(idx)
        mean, mx = encode_batch(sae, h, rows, counts, n_concepts)
        batch_keys = [keys[unique[i]] for i in idx]
        for r, k in enumerate(batch_keys):
            a, z = mean.indptr[r], mean.indptr[r + 1]
            computed[k] = (int(counts[r]), mean.indices[a:z], mean.data[a:z], mx.data[a:z])
        if store is not None:
            store.save(batch_keys, counts, mean, mx)
        tok_done += int(counts.sum())
        bar.update(b)
        el = max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{tok_done / el:,.0f} tok/s")
    bar.close()
    for i in todo:
        nt, ind, val, mx = computed[keys[i]]
        n_tokens[i] = nt
        row_parts.append((i, ind, val, mx))


def concept_activations(texts: Sequence[str], dictionary: "ConceptDictionary", **kwargs) -> "sp.csr_matrix":
    """(N, C) scipy.sparse matrix of abar_c(x). See :func:`extract_activations` for options."""
    return extract_activations(texts, dictionary, **kwargs).abar
