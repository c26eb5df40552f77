"""The inputs of two audits by name, and the changes of their comparison baseline (for ``cg-gov diff``).

An audit's inputs are read from its ``findings.json`` (model, profile, each family's text, suite,
dictionary, settings) and, where both audits have one, from the ``manifest.json`` beside it (file
hashes of the profile, the suite's eval logs and the workload sample; extraction and matching
settings; package versions). Each differing input is listed under a plain name
(``model hash``, ``suite log 'harmbench'``, ``workload sample``, ``setting k``...).

Three changes move the *baseline* values are measured against, so a value's change across them is no
evidence that the model or the suite changed:

- the coverage reference: the dictionary's corpus (or none) on one side, a workload sample on the
  other, or two different corpora. A new sample of the same kind (workload to workload) is an input
  change, not a baseline change: coverage against the workload is what a re-check measures;
- the dictionary (its identity): concepts, matches and every family's values change;
- the rule version, when both audits record one: the verdicts are derived by another rule.

Every value is read defensively (``.get``), so files written before or after a key was added compare.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from cg_gov.spec import RunSettings

__all__ = ["InputKind", "NamedInput", "BaselineChange", "field", "named_inputs", "input_changes",
           "reference_of", "baseline_changes"]

InputKind = Literal["model", "profile", "family-text", "audit-spec", "suite-log", "workload", "dictionary",
                    "setting", "rule", "software"]

#: manifest.scoring keys that findings.settings already records under its own name, or that count the
#: data rather than set the method: left out of the named settings so one change is listed once.
_SCORING_SKIP = frozenset({"alpha", "epsilon", "lift_p_method", "min_benchmarks", "n_bootstrap", "n_min", "ratio_k",
                           "seed", "subsample_fraction", "subsample_reruns", "n_items", "n_scored_items",
                           "n_reference_items", "n_benchmarks", "n_concepts"})
#: manifest.matching keys findings.settings records as ``matching_*``.
_MATCHING_SKIP = frozenset({"threshold", "top_k", "exemplar_weight"})
#: manifest.extraction keys that are in findings.settings, or are how the run was scheduled (threads,
#: batches, timing probes), which does not change a finding.
_EXTRACTION_SKIP = frozenset({"template", "dtype", "max_tokens", "chosen", "threads", "batch_size", "executor",
                              "ray"})
#: findings.settings keys named elsewhere (the reference is the workload sample; the rule its own input).
_SETTINGS_SKIP = frozenset({"reference", "rule_version"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class NamedInput(_Model):
    """An input of the audit that differs between the two audits, by name."""

    kind: InputKind
    """What sort of input: model, profile, family-text, audit-spec, suite-log, workload, dictionary,
    setting, rule or software."""
    name: str
    """Its plain name (``model hash``, ``profile version``, ``family 'refusal' text``,
    ``suite log 'harmbench'``, ``workload sample``, ``dictionary``, ``setting k``, ``rule version``)."""
    old: str | None = None
    """Value in the old audit, as text; None when absent there."""
    new: str | None = None
    """Value in the new audit, as text; None when absent there."""
    baseline: bool = False
    """True when this change moves the comparison baseline (see :class:`BaselineChange`)."""


class BaselineChange(_Model):
    """A change of what the values are measured against: their changes are not regressions."""

    what: Literal["coverage reference", "dictionary", "rule version"]
    """Which baseline changed."""
    old: str
    """The old baseline, in words."""
    new: str
    """The new baseline, in words."""
    affects: list[str] = Field(default_factory=list)
    """Families present in both audits whose values (or verdicts, for the rule) it affects."""
    values: list[str] = Field(default_factory=list)
    """Which of their values it moves (``coverage ratio``, ``performance score``...)."""
    text: str
    """The change stated in one sentence."""


def field(obj: Any, *path: str) -> Any:
    """``obj.path[0].path[1]...`` on models or dicts; None where a key is absent (read new keys with it)."""
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    return obj


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _family_text(family: Any) -> str | None:
    """The family's description, and a hash of its exemplars where the findings record them."""
    parts = {k: field(family, k) for k in ("exemplars", "counter_exemplars", "text_sha256")}
    parts = {k: v for k, v in parts.items() if v not in (None, [], "")}
    description = field(family, "description") or ""
    if not parts:
        return description
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{description} (exemplars {digest})"


def rule_version_of(findings: Any, manifest: Mapping[str, Any] | None) -> str | None:
    """The rule version the audit records (``settings.rule_version`` or the manifest's), else None."""
    value = field(findings, "settings", "rule_version")
    if value is None and manifest:
        value = manifest.get("rule_version")
    return None if value is None else str(value)


def reference_of(findings: Any, manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    """The coverage reference: ``{"workload": bool, "name": str, "sha256": str | None}``."""
    ref = manifest.get("reference") if manifest else None
    ref = ref if isinstance(ref, Mapping) else {}
    name = field(findings, "settings", "reference") or ref.get("name")
    if name is None:
        names = {field(f, "coverage", "reference") for f in field(findings, "families") or []}
        name = next(iter(sorted(n for n in names if n)), None)
    workload = field(findings, "drift") is not None or bool(ref.get("sha256") or ref.get("path"))
    return {"workload": workload, "name": str(name or "none"), "sha256": ref.get("sha256")}


def _reference_words(ref: Mapping[str, Any]) -> str:
    if ref["workload"]:
        return f"workload sample '{ref['name']}'"
    return "no reference" if ref["name"] == "none" else f"'{ref['name']}' (no workload sample)"


def _flat(prefix: str, value: Any, out: dict[str, str | None], skip: frozenset[str] = frozenset()) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            if str(key) not in skip:
                _flat(f"{prefix}.{key}", value[key], out)
    else:
        out[prefix] = _text(value)


def named_inputs(findings: Any, manifest: Mapping[str, Any] | None, with_manifest: bool
                 ) -> dict[str, tuple[str, str | None]]:
    """``{name: (kind, value)}`` of one audit's inputs. Manifest-only inputs (file hashes, package
    versions) are read only when ``with_manifest`` (both audits have a manifest), so a missing
    manifest does not read as a change of every file."""
    audit = field(findings, "audit")
    out: dict[str, tuple[str, str | None]] = {
        "model": ("model", field(audit, "model")),
        "model hash": ("model", field(audit, "model_sha256")),
        "profile": ("profile", field(audit, "profile", "id")),
        "profile version": ("profile", field(audit, "profile", "version")),
        "dictionary": ("dictionary", _text(field(audit, "dictionary", "identity"))),
        "dictionary name": ("dictionary", field(audit, "dictionary", "name")),
        "rule version": ("rule", rule_version_of(findings, manifest)),
    }
    ref = reference_of(findings, manifest)
    out["coverage reference"] = ("workload", _reference_words(ref))
    for family in field(findings, "families") or []:
        out[f"family '{family.id}' text"] = ("family-text", _family_text(family))
    run_settings = field(findings, "settings")
    recorded = run_settings.recorded() if isinstance(run_settings, RunSettings) else run_settings or {}
    for key, value in sorted(recorded.items()):
        if key not in _SETTINGS_SKIP:
            out[f"setting {key}"] = ("setting", _text(value))
    m = manifest if with_manifest and manifest else None
    if m is None:
        for bench in field(audit, "suite") or []:
            out[f"suite log '{bench.name}'"] = ("suite-log", f"{bench.n_items} items")
        return out
    out["workload sample"] = ("workload", ref["sha256"] and f"{ref['name']} (sha256 {ref['sha256']})")
    out["profile file"] = ("profile", _text(field(m, "profile", "sha256")))
    out["audit spec"] = ("audit-spec", _text(field(m, "audit", "sha256")))
    for entry in m.get("inputs") or []:
        if isinstance(entry, Mapping):
            name = entry.get("name") or entry.get("path")
            out[f"suite log '{name}'"] = ("suite-log", f"sha256 {entry.get('sha256')}, {entry.get('n_items')} items")
    settings: dict[str, str | None] = {}
    for section, skip in (("scoring", _SCORING_SKIP), ("matching", _MATCHING_SKIP),
                          ("extraction", _EXTRACTION_SKIP)):
        if isinstance(m.get(section), Mapping):
            _flat(section, m[section], settings, skip)
    out.update({f"setting {k}": ("setting", v) for k, v in settings.items()})
    out["cg_gov version"] = ("software", _text(m.get("cg_gov_version")))
    for pkg, version in sorted((m.get("versions") or {}).items()):
        out[f"package {pkg}"] = ("software", _text(version))
    return out


def baseline_changes(old: Any, new: Any, old_manifest: Mapping[str, Any] | None,
                     new_manifest: Mapping[str, Any] | None, common: list[str]) -> list[BaselineChange]:
    """The baseline changes between two audits, each with the common families it affects."""
    out: list[BaselineChange] = []
    old_fams = {f.id: f for f in old.families}
    new_fams = {f.id: f for f in new.families}
    ref_old, ref_new = reference_of(old, old_manifest), reference_of(new, new_manifest)
    if ref_old["workload"] != ref_new["workload"] or (not ref_old["workload"] and ref_old["name"] != ref_new["name"]):
        measured = [i for i in common if field(old_fams[i], "coverage", "ratio") is not None
                    or field(new_fams[i], "coverage", "ratio") is not None]
        was, now = _reference_words(ref_old), _reference_words(ref_new)
        out.append(BaselineChange(
            what="coverage reference", old=was, new=now, affects=measured,
            values=["coverage ratio", "coverage status", "coverage requirement"],
            text=f"The coverage baseline changed from {was} to {now}: every coverage ratio is now measured "
                 f"against another reference, so the change of a ratio ({len(measured)} families) is no "
                 "evidence that the suite changed."))
    id_old, id_new = old.audit.dictionary.identity, new.audit.dictionary.identity
    if id_old != id_new:
        was, now = f"{old.audit.dictionary.name} ({id_old})", f"{new.audit.dictionary.name} ({id_new})"
        out.append(BaselineChange(
            what="dictionary", old=was, new=now, affects=list(common),
            values=["coverage ratio", "performance score", "lift", "items", "visibility"],
            text=f"The dictionary changed from {was} to {now}: families match other concepts, so every "
                 "family's values are measured on another basis."))
    rv_old, rv_new = rule_version_of(old, old_manifest), rule_version_of(new, new_manifest)
    if rv_old is not None and rv_new is not None and rv_old != rv_new:
        out.append(BaselineChange(
            what="rule version", old=f"rule v{rv_old}", new=f"rule v{rv_new}", affects=list(common),
            values=["verdict", "gate effect", "severity"],
            text=f"The verdicts were derived by rule v{rv_old} and then by rule v{rv_new}: a verdict that "
                 "changed may have changed with the rule."))
    return out


def input_changes(old: Any, new: Any, old_manifest: Mapping[str, Any] | None,
                  new_manifest: Mapping[str, Any] | None, baselines: list[BaselineChange]) -> list[NamedInput]:
    """Each input that differs between the two audits, by name, in a stable order (by kind, then name)."""
    both = old_manifest is not None and new_manifest is not None
    a, b = named_inputs(old, old_manifest, both), named_inputs(new, new_manifest, both)
    what = {c.what for c in baselines}
    baseline_names = {"coverage reference": "coverage reference" in what,
                      "dictionary": "dictionary" in what, "dictionary name": "dictionary" in what,
                      "rule version": "rule version" in what}
    order = list(InputKind.__args__)  # type: ignore[attr-defined]
    out = []

    def kind_of(name: str) -> Any:  # an InputKind: every name is in a or b
        return (a.get(name) or b[name])[0]

    for name in sorted(set(a) | set(b), key=lambda n: (order.index(kind_of(n)), n)):
        kind = kind_of(name)
        va, vb = (a.get(name) or (kind, None))[1], (b.get(name) or (kind, None))[1]
        if kind == "family-text" and (name not in a or name not in b):
            continue  # an added or removed family is listed as such
        if va != vb:
            out.append(NamedInput(kind=kind, name=name, old=va, new=vb, baseline=baseline_names.get(name, False)))
    return out
