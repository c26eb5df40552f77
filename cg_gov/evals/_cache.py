"""A cache of read eval logs: a log read once is not parsed again while its bytes are the same.

Reading an Inspect log means importing inspect-ai and decoding every sample (seconds per log on
two cores); a re-run of an audit whose logs did not change needs none of it. An entry is keyed by
the sha256 of the log's bytes and every reading option (benchmark name, format, fields, filter,
metric, epochs, whether scores are required) and cg_gov's version, so another log, another
option or another cg_gov reads the log again. The entry is the items as JSON, with an HMAC under
a key of this cache folder (``$CG_GOV_CACHE/evals/.key``, made on first use, readable by its owner
only): a file this cache did not write is never taken as an entry, and an entry is validated as
items when read. Any problem (no entry, a bad MAC, a malformed entry, an unwritable folder) means
the log is read as usual; the cache never changes what is read.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cg_gov.evals._item import Item

__all__ = ["ItemCache", "log_sha256"]

_CHUNK = 1 << 20


def log_sha256(path: Path) -> str:
    """sha256 of a log's bytes (a file, or every file of a folder in sorted order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode("utf-8", "surrogatepass") + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
    return h.hexdigest()


def _secret(root: Path) -> bytes | None:
    """The folder's key: 32 random bytes, created atomically (write, fsync, rename); None when it
    cannot be kept (the cache is then not used)."""
    path = root / ".key"
    try:
        data = path.read_bytes()
        if len(data) == 32:
            return data
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".key.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # a broken (short) key is replaced, never trusted
        data = path.read_bytes()
        return data if len(data) == 32 else None
    except OSError:
        return None


class ItemCache:
    """Read eval logs by content (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        from cg_gov.io import cache_dir, package_version

        self.root = Path(root) if root is not None else cache_dir() / "evals"
        self.version = package_version()
        self.secret = _secret(self.root)

    def key(self, options: Any, sha256: str) -> str:
        fields = options.fields
        described = {"sha256": sha256, "name": options.name, "format": options.format,
                     "fields": fields.model_dump() if hasattr(fields, "model_dump") else repr(fields),
                     "filter": options.filter, "metric": options.metric, "epochs": options.epochs,
                     "scores_required": options.scores_required, "cg_gov": self.version}
        return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()

    def _mac(self, body: bytes) -> str:
        assert self.secret is not None
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def load(self, key: str) -> list[Item] | None:
        if self.secret is None:
            return None
        path = self.root / f"{key}.json"
        try:
            raw = path.read_bytes()
            mac, _, body = raw.partition(b"\n")
            if not hmac.compare_digest(mac.decode("ascii", "replace"), self._mac(body)):
                return None
            rows = json.loads(body)
            return [Item.model_validate(r) for r in rows]
        except (OSError, ValueError, TypeError):
            return None

    def store(self, key: str, items: list[Item]) -> None:
        if self.secret is None:
            return
        body = json.dumps([it.model_dump(mode="json") for it in items], ensure_ascii=False,
                          sort_keys=True).encode("utf-8", "surrogatepass")
        path = self.root / f"{key}.json"
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(self._mac(body).encode("ascii") + b"\n" + body)
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
