"""``manifest.json``: what an audit ran on and with, typed and versioned.

The manifest holds everything that identifies a run but is not a finding: the time, the hash of
every input, the dictionary's identity, the extraction, scoring and matching settings, seeds and
package versions. ``findings.json`` stays a pure function of the inputs and the seed.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cg_gov.errors import CgGovError
from cg_gov.io import package_version, sha256_file

__all__ = ["MANIFEST_VERSION", "Manifest", "check_findings_binding", "file_entry", "findings_digest",
           "package_versions", "timestamp", "jsonable", "portable_path",
           "portable_paths"]

#: Version of the ``manifest.json`` shape written by this cg_gov. 2: ``findings_sha256`` binds the
#: manifest to the findings.json written beside it.
MANIFEST_VERSION = 2

#: Packages whose versions every manifest records.
RECORDED_PACKAGES = ("cg-gov", "torch", "transformers", "sae-lens", "sentence-transformers", "numpy", "scipy",
                     "pandas", "pydantic", "jinja2", "weasyprint")


class Manifest(BaseModel):
    """The manifest of one audit (``manifest.json``)."""

    model_config = ConfigDict(extra="forbid")

    manifest_version: int = MANIFEST_VERSION
    """Version of this file's shape."""
    cg_gov_version: str = Field(default_factory=package_version)
    """Version of cg_gov that ran the audit."""
    created: str
    """When the audit ran (UTC, ISO 8601; ``--now`` or ``$SOURCE_DATE_EPOCH`` fix it)."""
    audit: dict[str, Any]
    """The audit spec: id, path and sha256."""
    profile: dict[str, Any]
    """The profile: id, version, path and sha256."""
    inputs: list[dict[str, Any]]
    """Each benchmark's eval log: name, format, path, sha256, item count."""
    reference: dict[str, Any]
    """The reference the coverage ratios compare with (a workload sample's file, or its name)."""
    dictionary: dict[str, Any]
    """The dictionary's identity and parts."""
    extraction: dict[str, Any]
    """The extraction settings."""
    scoring: dict[str, Any]
    """The scoring settings, as the scoring engine reports them."""
    matching: dict[str, Any]
    """The matcher's embedder, threshold, top-k, weights and where each came from."""
    seeds: dict[str, int]
    """Seeds of every random draw."""
    versions: dict[str, str]
    """Python and package versions."""
    platform: str
    """The machine's platform string."""
    git_commit: str | None = None
    """Commit of the cg_gov checkout that ran the audit (``+dirty`` with local changes); None outside a checkout."""
    command: str | None = None
    """The command that reproduces this run's findings."""
    findings_sha256: str | None = None
    """sha256 of the ``findings.json`` written beside this manifest (filled in when the report folder
    is written): ``cg-gov report`` and ``cg-gov diff`` refuse a findings file that does not match."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (numpy scalars to Python, non-finite floats to null, no absolute paths)."""
        return portable_paths(jsonable(self.model_dump()))


def portable_path(value: str) -> str:
    """An absolute path made machine-independent: relative to the working folder when under it, to the
    package's parent (``cg_gov/...``) when inside the package, else the file's name alone."""
    path = Path(value)
    if not path.is_absolute():
        return value
    package_parent = Path(__file__).resolve().parent.parent.parent
    for base in (Path.cwd().resolve(), package_parent):
        try:
            return str(path.resolve().relative_to(base))
        except (ValueError, OSError):
            continue
    return path.name


def portable_paths(obj: Any) -> Any:
    """``obj`` with every string that is an absolute path replaced by :func:`portable_path`."""
    if isinstance(obj, dict):
        return {k: portable_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(("/", "\\\\")) and "\n" not in obj and len(obj) < 4096:
        return portable_path(obj)
    return obj


def package_versions() -> dict[str, str]:
    """Python's version and each of :data:`RECORDED_PACKAGES`'."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def file_entry(path: Path) -> dict[str, Any]:
    """Path and sha256 of a file, or of a folder (over its files' relative paths and hashes)."""
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(sha256_file(f).encode())
        return {"path": str(path), "sha256": h.hexdigest(), "kind": "folder"}
    return {"path": str(path), "sha256": sha256_file(path)}


def timestamp(now: str | None) -> str:
    """``now`` when given, else ``$SOURCE_DATE_EPOCH``, else the current UTC time."""
    if now:
        return now
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.strip().isdigit():
            raise CgGovError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds",
                             hint="unset it or give seconds since 1970")
        return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars, paths and non-finite floats made JSON-ready."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def findings_digest(data: bytes) -> str:
    """The sha256 a manifest records for a findings.json's bytes."""
    return hashlib.sha256(data).hexdigest()


def check_findings_binding(manifest: dict[str, Any], findings_bytes: bytes, *, findings_file: str,
                           manifest_file: str) -> str:
    """The findings file's sha256, once ``manifest`` is found to describe exactly those bytes.

    A manifest that records another hash is an error naming both files; one that records none is
    an error too unless it predates the binding (no ``manifest_version``, or 1: a warning then; the
    binding catches a findings file changed or paired with another run's manifest, not a forger who
    rewrites both, see the README's trust model)."""
    import sys

    from cg_gov.text import safe_terminal

    digest = findings_digest(findings_bytes)
    recorded = manifest.get("findings_sha256")
    if recorded is None:
        version = manifest.get("manifest_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 2:
            print(safe_terminal(f"warning: {manifest_file} was written by an older cg_gov and records no hash of "
                                f"{findings_file}; the pair is not verified"), file=sys.stderr, flush=True)
            return digest
        raise CgGovError(f"the manifest records no sha256 of the findings, so it cannot be told to describe "
                         f"{findings_file}", file=manifest_file, key="findings_sha256",
                         hint="use the findings.json and manifest.json that one `cg-gov audit` wrote together")
    if recorded != digest:
        raise CgGovError(f"the manifest describes other findings than {findings_file} (it records sha256 "
                         f"{str(recorded)[:64]}, the file's is {digest})", file=manifest_file,
                         key="findings_sha256",
                         hint="the findings or the manifest was changed or comes from another run; use the "
                              "pair one `cg-gov audit` wrote together")
    return digest
