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
    models: dict[str, list[Item]] | None = None
    """A vendor audit's items per model, in the spec's order of models; each list in the order of
    ``items`` (which are the first model's): the same benchmarks and ids, each model's scores."""


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
            if _from_environment(exc):  # a setting of this shell, not of the spec: said once, at no spec line
                raise
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


def _from_environment(exc: CgGovError) -> bool:
    """Whether ``exc`` is about an environment variable (``$CG_GOV_...``) rather than the spec."""
    return bool(exc.key) and str(exc.key).lstrip("$").startswith("CG_GOV_") and not exc.file


def input_digest(text: str) -> str:
    """sha256 of an item's text normalised (NFC, line ends, surrounding white space): what two
    candidates' logs must agree on for the same id."""
    import hashlib
    import unicodedata

    normal = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()


def _same_texts(doc, spec: AuditSpec, names: list[str], by_model: dict[str, list[Item]]) -> list[SpecError]:
    """A located error per candidate and benchmark whose log holds another text than the first
    candidate's under the same id: the suite is the items, and a paired comparison of two models on
    different prompts compares nothing."""
    errors: list[SpecError] = []
    first = {(it.benchmark, it.id): input_digest(it.input) for it in by_model[names[0]]}
    for j, name in enumerate(names[1:], start=1):
        for b in spec.benchmarks:
            differ = [it.id for it in by_model[name]
                      if it.benchmark == b.name and (b.name, it.id) in first
                      and input_digest(it.input) != first[(b.name, it.id)]]
            if differ:
                shown = ", ".join(f"'{i[:60]}'" for i in differ[:3])
                more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
                errors.append(doc.error(("models", j, "logs", b.name),
                                        f"model '{name}', benchmark '{b.name}': the item text under id {shown}{more} "
                                        f"differs from model '{names[0]}''s",
                                        hint="every candidate's log must hold the same items (the same text "
                                             "under the same id); re-run the suite on the same data"))
    return errors


def _read_models(path: Path, spec: AuditSpec) -> tuple[list[Item], list[Item] | None,
                                                       dict[str, list[Item]], list[SpecError]]:
    """Each model's items of a vendor audit, aligned on the first model's (benchmark, id) order.

    A missing or extra item is an error located at the model's log of that benchmark, naming the
    model, the benchmark and the id."""
    doc = read_spec_document(path)
    by_model: dict[str, list[Item]] = {}
    errors: list[SpecError] = []
    workload = None
    for m in spec.models or []:
        one = spec.for_model(m.name)
        items, wl, errs = _read_logs(path, one)
        for e in errs:  # logs are located under models[i].logs.<benchmark>, not benchmarks[i].log
            if e.key and e.key.startswith("benchmarks["):
                i = int(e.key[len("benchmarks["):].split("]")[0])
                j = spec.models.index(m)
                errors.append(doc.error(("models", j, "logs", spec.benchmarks[i].name), e.message, hint=e.hint))
            else:
                errors.append(e)
        workload = wl if workload is None else workload
        by_model[m.name] = items
    if errors:
        return [], None, {}, errors
    names = list(by_model)
    errors = _same_texts(doc, spec, names, by_model)
    first = by_model[names[0]]
    order = {(it.benchmark, it.id): k for k, it in enumerate(first)}
    aligned: dict[str, list[Item]] = {names[0]: first}
    for j, name in enumerate(names[1:], start=1):
        mine = {(it.benchmark, it.id): it for it in by_model[name]}
        for b in spec.benchmarks:
            loc = ("models", j, "logs", b.name)
            missing = [i for (bn, i) in order if bn == b.name and (bn, i) not in mine]
            extra = [i for (bn, i) in mine if bn == b.name and (bn, i) not in order]
            for what, ids, other in (("lacks", missing, names[0]), ("has an extra", extra, names[0])):
                if ids:
                    more = f" (and {len(ids) - 1} more)" if len(ids) > 1 else ""
                    errors.append(doc.error(loc, f"model '{name}', benchmark '{b.name}': {what} item id "
                                            f"'{ids[0]}'{more} against model '{other}'",
                                            hint="every model's logs must hold the same item ids"))
        if not errors:
            aligned[name] = [mine[(it.benchmark, it.id)] for it in first]
    return first, workload, aligned, errors


def _check(path: Path) -> tuple[SpecKind | None, AuditInputs | None, list[SpecError]]:
    kind, errors = check_file(path)
    if kind != "audit" or errors:
        return kind, None, errors
    spec, profile, profile_path = load_audit_with_profile(path)
    models = None
    if spec.vendor:
        items, workload, models, errors = _read_models(path, spec)
    else:
        items, workload, errors = _read_logs(path, spec)
    if spec.extraction.precomputed:  # found now, not after the model has loaded
        from cg_gov.io import check_regular_file

        try:
            check_regular_file(spec.resolve(spec.extraction.precomputed), "precomputed activations",
                               kind="activations")
        except CgGovError as exc:
            if _from_environment(exc):
                raise
            errors.append(read_spec_document(path).error(
                ("extraction", "precomputed"), f"{exc.message}: {exc.file}",
                hint="write it with `cg-gov activations export SPEC --out FILE`, or remove the key"))
    if errors:
        return kind, None, errors
    return kind, AuditInputs(spec=spec, profile=profile, profile_path=profile_path, items=items,
                             workload=workload, models=models), []


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
