"""Check a profile or an audit spec the way a run would, without running anything heavy.

:func:`validate_file` reads one spec file, tells a profile (top key ``profile``)
from an audit spec (top key ``audit``), checks it against its schema and then
checks what the schema cannot see: that every file it names exists and that the
audit's profile is itself valid. Reading the eval logs is the next room's check
(:func:`cg_gov.evals.check_audit_file`). It imports neither torch nor any model
library, so it answers at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from cg_gov.errors import CgGovError, SpecError
from cg_gov.io import check_out_dir
from cg_gov.spec._document import Loc, SpecDocument, parse_model, read_spec_document
from cg_gov.spec._models import AuditSpec, Profile, resolve_path, spec_kind

__all__ = ["SpecKind", "check_file", "spec_kind", "validate_file"]

SpecKind = Literal["profile", "audit"]

_RELATIVE_HINT = "relative paths are taken from the folder of the spec file"


def validate_file(path: str | os.PathLike) -> list[SpecError]:
    """All problems of a profile or audit spec file (an empty list when it is valid)."""
    return check_file(path)[1]


def check_file(path: str | os.PathLike) -> tuple[SpecKind | None, list[SpecError]]:
    """The kind of a spec file and all its problems."""
    try:
        doc = read_spec_document(path)
    except SpecError as error:
        return None, [error]
    kind = spec_kind(doc.data)
    if kind is None:
        keys = ", ".join(str(k) for k in list(doc.data)[:5])
        return None, [
            SpecError(
                f"cannot tell what this spec is: a profile starts with the key 'profile', an audit spec "
                f"with the key 'audit' (found keys: {keys})",
                file=str(doc.path),
                line=1,
            )
        ]
    if kind == "profile":
        return kind, _check_profile(doc)
    return kind, _check_audit(doc)


def _check_profile(doc: SpecDocument) -> list[SpecError]:
    profile, errors = parse_model(doc, Profile)
    if errors:
        return errors
    assert isinstance(profile, Profile)
    embedder = profile.matching.embedder
    if embedder != "default" and not profile.resolve(embedder).exists():
        errors.append(
            doc.error(
                ("matching", "embedder"),
                f"embedder folder not found: {profile.resolve(embedder)}",
                hint="use 'default' for the bundled all-MiniLM-L6-v2, or a local "
                "sentence-transformers folder; " + _RELATIVE_HINT,
            )
        )
    return errors


def _get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _check_audit(doc: SpecDocument) -> list[SpecError]:
    audit, errors = parse_model(doc, AuditSpec)
    # File checks run on the raw data, so that they are reported along with schema errors.
    errors += _missing_files(doc)
    if isinstance(audit, AuditSpec):
        errors += _check_out(doc, audit)
    errors.sort(key=lambda e: e.line or 0)
    profile_path = _get(doc.data, "profile")
    if isinstance(profile_path, str) and profile_path.strip():
        resolved = resolve_path(doc.path, profile_path)
        if resolved.is_file():
            linked = _check_linked_profile(doc, resolved)
            errors += linked
            if not linked and isinstance(audit, AuditSpec):
                errors += _check_against_profile(doc, audit, resolved)
    return errors


def _check_out(doc: SpecDocument, audit: AuditSpec) -> list[SpecError]:
    """The report folder must be writable as a folder: found here, not after the whole pipeline ran."""
    try:
        check_out_dir(audit.output_dir())
    except CgGovError as error:
        return [doc.error(("report", "out"), error.message, hint=error.hint)]
    return []


def _missing_files(doc: SpecDocument) -> list[SpecError]:
    """Every path the audit spec names that does not exist."""
    errors: list[SpecError] = []

    def require(loc: Loc, what: str, kind: Literal["file", "folder", "any"]) -> None:
        value = _get(doc.data, *loc)
        if not isinstance(value, str) or not value.strip():
            return  # the schema check reports it
        resolved = resolve_path(doc.path, value)
        ok = {"file": resolved.is_file, "folder": resolved.is_dir, "any": resolved.exists}[kind]()
        if not ok:
            found = " (it is a folder)" if kind == "file" and resolved.is_dir() else ""
            errors.append(doc.error(loc, f"{what} not found: {resolved}{found}", hint=_RELATIVE_HINT))

    require(("profile",), "profile file", "file")
    dictionary = _get(doc.data, "dictionary")
    if isinstance(dictionary, dict):
        model = dictionary.get("model", "default")
        if isinstance(model, str) and model != "default":
            require(("dictionary", "model"), "model folder", "folder")
            gguf = dictionary.get("gguf_file")
            folder = resolve_path(doc.path, model)
            if isinstance(gguf, str) and folder.is_dir() and not (folder / gguf).is_file():
                errors.append(
                    doc.error(
                        ("dictionary", "gguf_file"),
                        f"GGUF file not found: {folder / gguf}",
                        hint="gguf_file is a file name inside the model folder",
                    )
                )
        if isinstance(_get(dictionary, "sae"), dict):
            require(("dictionary", "sae", "path"), "SAE folder", "folder")
        require(("dictionary", "labels"), "labels file", "file")
    benchmarks = _get(doc.data, "benchmarks")
    for index in range(len(benchmarks) if isinstance(benchmarks, list) else 0):
        require(("benchmarks", index, "log"), "eval log", "any")
    models = _get(doc.data, "models")
    for index, model in enumerate(models if isinstance(models, list) else []):
        logs = model.get("logs") if isinstance(model, dict) else None
        for name in (logs if isinstance(logs, dict) else {}):
            require(("models", index, "logs", name), f"eval log of model '{model.get('name')}'", "any")
    require(("reference", "log"), "reference log", "any")
    for index in range(len(benchmarks) if isinstance(benchmarks, list) else 0):
        require(("benchmarks", index, "scorer_check"), "scorer-check file", "file")
    for index, model in enumerate(models if isinstance(models, list) else []):
        checks = model.get("scorer_checks") if isinstance(model, dict) else None
        for name in (checks if isinstance(checks, dict) else {}):
            require(("models", index, "scorer_checks", name), f"scorer-check file of model '{model.get('name')}'",
                    "file")
    labels = _get(doc.data, "labels")
    for index in range(len(labels) if isinstance(labels, list) else 0):
        require(("labels", index), "review sheet", "file")
    return errors


def _check_against_profile(doc: SpecDocument, audit: AuditSpec, resolved: Path) -> list[SpecError]:
    """What the audit says of the profile's behaviours and the suite: every ``measures`` in the profile's
    behaviour vocabulary, every ``family_tags`` entry naming the suite's benchmarks (a tag of a family the
    profile no longer has is left out at run time, with a note in the findings)."""
    from cg_gov.spec._models import load_profile, unknown_behaviour

    try:
        profile = load_profile(resolved)
    except CgGovError:
        return []  # reported by the linked-profile check
    errors: list[SpecError] = []
    vocabulary = profile.behaviour_vocabulary()
    for i, b in enumerate(audit.benchmarks):
        if b.measures is not None and b.measures not in vocabulary:
            errors.append(doc.error(("benchmarks", i, "measures"), unknown_behaviour(b.measures, vocabulary),
                                    hint=f"behaviours come from the profile {resolved.name} and the built-in list"))
    names = [b.name for b in audit.benchmarks]
    for i, tag in enumerate(audit.family_tags):
        for j, b in enumerate(tag.benchmarks):
            if b not in names:
                errors.append(doc.error(("family_tags", i, "benchmarks", j), f"benchmark {b!r} is not in the suite",
                                        hint=f"benchmarks: {', '.join(names)}"))
    return errors


def _check_linked_profile(doc: SpecDocument, resolved: Path) -> list[SpecError]:
    kind, errors = check_file(resolved)
    if kind == "audit":
        return [
            doc.error(
                ("profile",),
                f"{resolved} is an audit spec, not a profile",
                hint="point 'profile' at a file whose top key is 'profile'",
            )
        ]
    if errors:
        summary = doc.error(
            ("profile",),
            f"the profile {resolved} has {len(errors)} problem{'s' if len(errors) != 1 else ''} (listed below)",
        )
        return [summary, *errors]
    return []
