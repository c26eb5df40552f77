"""An audit spec's inputs, read once: the spec, its profile and every benchmark's items.

:func:`read_audit` is the one entry point of a run: it checks the spec like ``cg-gov validate``
(:func:`cg_gov.spec.check_file`), then reads each eval log once, listing every log that cannot
be read along with the spec's other problems.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cg_gov.errors import CgGovError, SpecError, SpecErrorGroup
from cg_gov.spec import AuditSpec, Loc, Profile, SpecKind, check_file, load_audit_with_profile, read_spec_document

from ._item import Item

__all__ = ["AuditInputs", "check_audit_file", "read_audit"]


@dataclass
class AuditInputs:
    """What an audit reads before any model runs."""

    spec: AuditSpec
    profile: Profile
    profile_path: Path
    items: list[Item]
    """The benchmarks' items, in the spec's order."""
    workload: list[Item] | None
    """The workload sample (``reference:``), when the spec names one."""


def _read_logs(path: Path, spec: AuditSpec) -> tuple[list[Item], list[Item] | None, list[SpecError]]:
    from cg_gov.evals import read_benchmark, read_reference

    doc = read_spec_document(path)
    base = path.parent
    items: list[Item] = []
    workload: list[Item] | None = None
    errors: list[SpecError] = []
    jobs: list[tuple[Loc, Any, Any]] = [(("benchmarks", i, "log"), read_benchmark, b)
                                        for i, b in enumerate(spec.benchmarks)]
    if spec.reference is not None:
        jobs.append((("reference", "log"), read_reference, spec.reference))
    for loc, reader, entry in jobs:
        try:
            read = reader(entry, base)
        except CgGovError as exc:
            if exc.file:
                errors.append(SpecError(exc.message, file=exc.file, line=exc.line, key=exc.key, hint=exc.hint))
            else:
                errors.append(doc.error(loc, exc.message, hint=exc.hint))
            continue
        if loc[0] == "reference":
            workload = read
        else:
            items += read
    return items, workload, errors


def _check(path: Path) -> tuple[SpecKind | None, AuditInputs | None, list[SpecError]]:
    kind, errors = check_file(path)
    if kind != "audit" or errors:
        return kind, None, errors
    spec, profile, profile_path = load_audit_with_profile(path)
    items, workload, errors = _read_logs(path, spec)
    if errors:
        return kind, None, errors
    return kind, AuditInputs(spec=spec, profile=profile, profile_path=profile_path, items=items,
                             workload=workload), []


def check_audit_file(path: str | os.PathLike) -> tuple[SpecKind | None, list[SpecError]]:
    """The kind of a spec file and all its problems, unreadable eval logs included (``cg-gov validate``)."""
    kind, _, errors = _check(Path(path))
    return kind, errors


def read_audit(path: str | os.PathLike) -> AuditInputs:
    """Validate an audit spec and read its inputs, each log once; raises every problem found."""
    kind, inputs, errors = _check(Path(path))
    if kind == "profile" and not errors:
        errors = [SpecError("not an audit spec: top key 'audit' is missing", file=str(path), line=1,
                            hint="this looks like a profile")]
    if errors:
        raise SpecErrorGroup(errors) if len(errors) > 1 else errors[0]
    assert inputs is not None
    return inputs
