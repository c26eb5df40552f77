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
from cg_gov.spec._document import Loc, SpecDocument, format_key_path, parse_model, read_spec_document
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
    errors += _family_names(doc)
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
    errors += _names_and_logs(doc)
    if isinstance(audit, AuditSpec):
        errors += _check_out(doc, audit)
    errors.sort(key=lambda e: e.line or 0)
    profile_path = _get(doc.data, "profile")
    if isinstance(profile_path, str) and profile_path.strip():
        resolved = resolve_path(doc.path, profile_path)
        if resolved.is_file():
            linked = _check_linked_profile(doc, resolved)
            errors += linked
            errors += _includes_in_range(doc, resolved)
            if not linked and isinstance(audit, AuditSpec):
                errors += _check_against_profile(doc, audit, resolved)
    return errors


def _name_key(name: str) -> str:
    """What two names that look alike share: NFKC (fullwidth, ligatures, compatibility letters),
    case folded, white space collapsed."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


#: Alphabets whose letters look alike: a name mixing two of them can imitate another name.
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE")


def _scripts(name: str) -> set[str]:
    """The look-alike alphabets (:data:`_CONFUSABLE_SCRIPTS`) whose letters ``name`` uses."""
    import unicodedata

    found = set()
    for ch in name:
        if ch.isalpha():
            script = unicodedata.name(unicodedata.normalize("NFKC", ch)[:1] or ch, "").split(" ")[0]
            if script in _CONFUSABLE_SCRIPTS:
                found.add(script.capitalize())
    return found


def _name_problems(doc: SpecDocument, entries: list[tuple[Loc, Any]], what: str) -> list[SpecError]:
    """Names holding control, bidi or zero-width characters, and names that look like an earlier one."""
    from cg_gov.text import hidden_characters

    errors: list[SpecError] = []
    seen: dict[str, tuple[Loc, str]] = {}
    for loc, name in entries:
        if not isinstance(name, str):
            continue
        hidden = hidden_characters(name)
        if hidden:
            errors.append(doc.error(loc, f"the {what} {name!r} holds invisible or control characters "
                                         f"({', '.join(hidden[:4])})",
                                    hint="names are read by people: write them with visible characters only"))
            continue
        scripts = _scripts(name)
        if len(scripts) > 1:  # "rеfusal" with a Cyrillic е reads as "refusal" and is another name
            errors.append(doc.error(loc, f"the {what} {name!r} mixes {' and '.join(sorted(scripts))} letters",
                                    hint="write each name in one alphabet: mixed ones can imitate another name"))
            continue
        key = _name_key(name)
        if key in seen and seen[key][1] != name:
            first_loc, first = seen[key]
            errors.append(doc.error(loc, f"the {what} {name!r} looks the same as {first!r} "
                                         f"({format_key_path(first_loc)})",
                                    hint=f"give each {what} a name that reads differently"))
        seen.setdefault(key, (loc, name))
    return errors


def _names_and_logs(doc: SpecDocument) -> list[SpecError]:
    """Benchmark and model names that hide characters or look alike, and one eval log read under two
    benchmark names (its items would count twice)."""
    errors: list[SpecError] = []
    benchmarks = _get(doc.data, "benchmarks")
    benchmarks = benchmarks if isinstance(benchmarks, list) else []
    errors += _name_problems(doc, [(("benchmarks", i, "name"), _get(b, "name")) for i, b in enumerate(benchmarks)],
                             "benchmark name")
    models = _get(doc.data, "models")
    models = models if isinstance(models, list) else []
    errors += _name_problems(doc, [(("models", i, "name"), _get(m, "name")) for i, m in enumerate(models)],
                             "model name")
    logs: list[tuple[Loc, str, Any]] = [(("benchmarks", i, "log"), str(_get(b, "name")), _get(b, "log"))
                                       for i, b in enumerate(benchmarks)]
    groups = [logs] + [[(("models", i, "logs", k), str(k), v) for k, v in (_get(m, "logs") or {}).items()]
                       for i, m in enumerate(models) if isinstance(_get(m, "logs"), dict)]
    for group in groups:
        seen: dict[str, str] = {}
        for loc, name, value in group:
            if not isinstance(value, str) or not value.strip():
                continue
            real = os.path.realpath(resolve_path(doc.path, value))
            if real in seen and seen[real] != name:
                errors.append(doc.error(loc, f"the eval log {real} is also the log of benchmark '{seen[real]}'",
                                        hint="each benchmark reads its own log: one log under two names "
                                             "counts its items twice"))
            seen.setdefault(real, name)
    return errors


def _family_names(doc: SpecDocument) -> list[SpecError]:
    """Family ids and titles that hide characters, and two families whose titles read the same."""
    families = _get(doc.data, "families")
    families = families if isinstance(families, list) else []
    ids: list[tuple[Loc, Any]] = [(("families", i, "id"), _get(f, "id")) for i, f in enumerate(families)]
    errors = _name_problems(doc, ids, "family id")
    titles: list[tuple[Loc, Any]] = [(("families", i, "title"), _get(f, "title")) for i, f in enumerate(families)]
    errors += _name_problems(doc, titles, "family title")
    seen: dict[str, Loc] = {}
    for loc, title in titles:  # the same title twice: the report's reader cannot tell the families apart
        if isinstance(title, str):
            key = _name_key(title)
            if key in seen and _get(doc.data, *seen[key]) == title:
                errors.append(doc.error(loc, f"two families have the title {title!r} "
                                             f"(the other: {format_key_path(seen[key])})",
                                        hint="give each family a title of its own"))
            seen.setdefault(key, loc)
    return errors


def _sae_size(folder: Path) -> int | None:
    """Number of concepts of the SAE in ``folder`` (``d_sae`` of its ``cfg.json``), or None."""
    import json

    from cg_gov.io import read_optional

    raw = read_optional(folder / "cfg.json", 1 << 20)
    try:
        value = json.loads(raw).get("d_sae") if raw is not None else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _dictionary_size(doc: SpecDocument) -> int | None:
    """Number of concepts of the audit's dictionary when its SAE config says so without loading
    anything: the bundled SAE, or an ``sae.path`` folder's ``cfg.json``; None otherwise."""
    dictionary = _get(doc.data, "dictionary")
    sae = _get(dictionary, "sae") if isinstance(dictionary, dict) else None
    if dictionary in (None, "default") or (isinstance(dictionary, dict) and sae is None):
        return _sae_size(Path(__file__).resolve().parent.parent / "data" / "dictionary" / "default" / "sae")
    if isinstance(sae, dict) and isinstance(sae.get("path"), str):
        return _sae_size(resolve_path(doc.path, sae["path"]))
    return None


def _includes_in_range(doc: SpecDocument, profile_path: Path) -> list[SpecError]:
    """Concept ids a profile pins (``include``/``exclude``) beyond the audit's dictionary, when its
    size is known without loading it: found here, not at match time."""
    size = _dictionary_size(doc)
    if size is None:
        return []
    try:
        profile = read_spec_document(profile_path)
    except SpecError:
        return []
    errors = []
    families = _get(profile.data, "families")
    for i, family in enumerate(families if isinstance(families, list) else []):
        for key in ("include", "exclude"):
            pins = _get(family, key)
            for k, concept in enumerate(pins if isinstance(pins, list) else []):
                if isinstance(concept, int) and not isinstance(concept, bool) and not 0 <= concept < size:
                    errors.append(profile.error(("families", i, key, k),
                                                f"concept {concept} is not in the dictionary (0 to {size - 1})",
                                                hint="pin concept ids of the audit's dictionary"))
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
        for j, named in enumerate(tag.benchmarks):
            if named not in names:
                errors.append(doc.error(("family_tags", i, "benchmarks", j), f"benchmark {named!r} is not in the suite",
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
