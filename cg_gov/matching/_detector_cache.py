"""A content-addressed store of fitted family detectors and their visibility checks.

Fitting a family's detector and cross-validating it (:func:`fit_family_detector`,
:func:`visibility`) is a pure function of the arrays it is given (the family's exemplar,
contrast and reference activations, its similarity prior and excluded concepts), the
settings, the seed and the code of ``_detector.py``. The store keys a result by the sha256 of
all of them, so an audit run again, or re-checked against a new workload sample, reads what
the last run fitted instead of fitting it again; any change of an input or of the detector's
code is another key.

A file is ``<HMAC(key)>.det``: 32 bytes of HMAC-SHA256 over (key, payload) under the cache's own
secret (the activation cache's ``.key`` scheme), then the payload, an ``.npz`` (no pickles) of the
weights, effects, chosen concepts and the visibility as JSON (floats written by ``repr``, so
they read back bit for bit). A file that fails the HMAC or does not hold what a result holds is
ignored and the result is computed again (and written over it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from cg_gov.matching._detector import DetectorSettings, FamilyDetector, Visibility, fit_family_detector, visibility

__all__ = ["DetectorStore", "fit_and_check"]

log = logging.getLogger(__name__)

#: Largest result file read (a result holds two float64 vectors of the dictionary's size).
MAX_RESULT_BYTES = 64 << 20
_SUBDIR = "detectors"
_FORMAT = b"cg_gov-detector-result-v1"


def _code_digest() -> str:
    """sha256 of the detector's source: a change of the fitting code is a change of key."""
    from cg_gov.matching import _detector

    return hashlib.sha256(Path(_detector.__file__).read_bytes()).hexdigest()


def _array_digest(h: "hashlib._Hash", name: str, array: np.ndarray | None) -> None:
    h.update(name.encode() + b"\0")
    if array is None:
        h.update(b"none\0")
        return
    a = np.ascontiguousarray(array)
    h.update(f"{a.dtype.str}{a.shape}".encode() + b"\0")
    h.update(a.tobytes())


class DetectorStore:
    """Results of :func:`fit_and_check` for one reference matrix, under ``root/detectors`` (``root``: the
    cg_gov cache folder by default)."""

    def __init__(self, reference: np.ndarray, root: str | os.PathLike | None = None) -> None:
        from cg_gov.io import cache_dir

        self.dir = (Path(root).expanduser() if root is not None else cache_dir()) / _SUBDIR
        h = hashlib.sha256(_FORMAT + b"\0" + _code_digest().encode() + b"\0" + np.__version__.encode())
        _array_digest(h, "reference", reference)
        self._base = h.digest()
        self._secret: bytes | None = None

    def _key(self, **parts: Any) -> bytes:
        h = hashlib.sha256(self._base)
        for name in sorted(parts):
            value = parts[name]
            if isinstance(value, np.ndarray) or value is None:
                _array_digest(h, name, value)
            else:
                h.update(name.encode() + b"\0" + json.dumps(value, sort_keys=True).encode() + b"\0")
        return h.digest()

    def _secret_key(self) -> bytes:
        if self._secret is None:
            from cg_gov.engine._activations import _cache_secret

            self._secret = _cache_secret(self.dir)
        return self._secret

    def _path(self, key: bytes) -> Path:
        name = hmac.new(self._secret_key(), b"name\0" + key, hashlib.sha256).hexdigest()[:40]
        return self.dir / f"{name}.det"

    def _mac(self, key: bytes, payload: bytes) -> bytes:
        return hmac.new(self._secret_key(), b"data\0" + key + payload, hashlib.sha256).digest()

    def load(self, key: bytes, n_concepts: int) -> tuple[FamilyDetector, Visibility] | None:
        from cg_gov.io import read_optional

        path = self._path(key)
        try:
            raw = read_optional(path, MAX_RESULT_BYTES)
        except Exception:  # noqa: BLE001 - an unreadable result is computed again
            return None
        if raw is None or len(raw) < 32 or not hmac.compare_digest(raw[:32], self._mac(key, raw[32:])):
            if raw is not None:
                log.warning("detector cache: %s was not written by this cache for these inputs; computed again", path)
            return None
        try:
            with np.load(io.BytesIO(raw[32:]), allow_pickle=False) as z:
                weights, effect, concepts, vis = z["weights"], z["effect"], z["concepts"], z["visibility"]
            ok = (weights.dtype == np.float64 and effect.dtype == np.float64 and weights.shape == (n_concepts,)
                  and effect.shape == (n_concepts,) and concepts.dtype == np.int64 and concepts.ndim == 1
                  and vis.dtype == np.uint8 and vis.ndim == 1
                  and (not concepts.size or (concepts.min() >= 0 and concepts.max() < n_concepts)))
            if not ok:
                raise ValueError("arrays of the wrong type or shape")
            fields = json.loads(vis.tobytes().decode("utf-8"))
            if set(fields) != {f.name for f in dataclasses.fields(Visibility)}:
                raise ValueError("visibility fields")
            for name in ("ci", "near_miss_ci"):
                if fields[name] is not None:
                    fields[name] = tuple(fields[name])
            return (FamilyDetector(weights=weights, effect=effect, concepts=[int(c) for c in concepts]),
                    Visibility(**fields))
        except Exception as exc:  # noqa: BLE001 - an unreadable result is computed again
            log.warning("detector cache: %s unreadable (%s); computed again", path, exc)
            return None

    def save(self, key: bytes, det: FamilyDetector, vis: Visibility) -> None:
        try:
            text = json.dumps(dataclasses.asdict(vis), sort_keys=True)
        except TypeError:  # a value JSON cannot write back exactly: not cached
            return
        buf = io.BytesIO()
        np.savez(buf, weights=np.asarray(det.weights, dtype=np.float64), effect=np.asarray(det.effect, np.float64),
                 concepts=np.asarray(det.concepts, dtype=np.int64),
                 visibility=np.frombuffer(text.encode("utf-8"), dtype=np.uint8))
        payload = buf.getvalue()
        try:
            from cg_gov.io import atomic_write_bytes

            atomic_write_bytes(self._path(key), self._mac(key, payload) + payload)
        except OSError as exc:  # an unwritable cache only costs fitting again next time
            log.info("detector cache: not written: %s", exc)


def fit_and_check(pos: np.ndarray, con: np.ndarray, ref: np.ndarray, similarity: np.ndarray | None,
                  settings: DetectorSettings, *, seed: int, exclude: np.ndarray, n_counter: int,
                  store: DetectorStore | None = None) -> tuple[FamilyDetector, Visibility]:
    """:func:`fit_family_detector` and :func:`visibility` of one family, read from ``store`` when it
    holds them for exactly these inputs (and written to it otherwise)."""
    key = None
    if store is not None:
        key = store._key(pos=np.asarray(pos), con=np.asarray(con),
                         similarity=None if similarity is None else np.asarray(similarity),
                         exclude=np.asarray(exclude), settings=dataclasses.asdict(settings), seed=int(seed),
                         n_counter=int(n_counter))
        hit = store.load(key, pos.shape[1])
        if hit is not None:
            return hit
    det = fit_family_detector(pos, con, ref, similarity, settings, exclude=exclude)
    vis = visibility(pos, con, ref, similarity, settings, seed=seed, exclude=exclude, n_counter=n_counter)
    if store is not None and key is not None:
        store.save(key, det, vis)
    return det, vis
