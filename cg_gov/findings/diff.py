"""What changed between two audits, and whether it got worse (``cg-gov diff OLD NEW``).

OLD and NEW are report folders (holding ``findings.json`` and, when present,
``manifest.json``) or ``findings.json`` files. Per family the diff gives the
change of coverage status, performance status and severity, the size of each
change (coverage ratio, score, lift) and whether the two confidence intervals
overlap; it lists families added or removed (a profile change) and the inputs
that differ (manifests, dictionary identity, settings).

A family has *regressed* when its severity rose, or its coverage ratio fell by
more than ``threshold`` as a fraction of the old ratio with non-overlapping
intervals, or its performance score fell by more than ``threshold`` (score
units) with non-overlapping intervals. When no family of the old audit is in the new
one (every family removed), nothing was compared, which counts as a regression too.
``cg-gov diff`` exits 1 when any family regressed, 0 otherwise, 2 on an error; :mod:`cg_gov.report.diff` renders a diff.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from cg_gov.errors import CgGovError
from cg_gov.findings._schema import Family, Findings, load_findings, round_floats
from cg_gov.findings.verdict import severity_rank
from cg_gov.io import check_regular_file, package_version, read_json_limited

__all__ = ["DIFF_SCHEMA_VERSION", "DEFAULT_THRESHOLD", "ValueChange", "StatusChange", "FamilyDiff",
           "FamilyRef", "InputChange", "AuditSide", "DiffResult", "load_side", "intervals_overlap",
           "diff_findings", "diff_paths"]

DIFF_SCHEMA_VERSION = 1
#: Default regression threshold: 10% of the old coverage ratio, 0.10 of performance score.
DEFAULT_THRESHOLD = 0.1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class ValueChange(_Model):
    """A number in the old and the new audit."""

    old: float | None = None
    """Value in the old audit; None when not measured there."""
    new: float | None = None
    """Value in the new audit; None when not measured there."""
    delta: float | None = None
    """new - old, when both exist."""
    relative: float | None = None
    """delta / old, when old is non-zero."""
    old_ci: tuple[float, float] | None = None
    """Old confidence interval."""
    new_ci: tuple[float, float] | None = None
    """New confidence interval."""
    ci_overlap: bool | None = None
    """Whether the two intervals overlap; None when either is missing."""


class StatusChange(_Model):
    """A categorical value in the old and the new audit."""

    old: str | None = None
    """Old value; None when the family did not exist."""
    new: str | None = None
    """New value."""
    changed: bool = False
    """True when old and new differ."""


class FamilyDiff(_Model):
    """How one family present in both audits changed."""

    family_id: str
    """Family id."""
    importance: StatusChange
    """Importance in the old and new profile."""
    severity: StatusChange
    """Severity before and after."""
    direction: Literal["worse", "better", "same"]
    """Direction of the severity change."""
    coverage_status: StatusChange
    """Coverage status before and after."""
    performance_status: StatusChange
    """Performance status before and after."""
    coverage_ratio: ValueChange
    """Coverage ratio before and after."""
    performance_score: ValueChange
    """Performance score before and after."""
    lift: ValueChange
    """Lift before and after."""
    regressed: bool = False
    """True when the family got worse past the threshold (see the module's rule)."""
    reasons: list[str] = Field(default_factory=list)
    """Why it regressed, in plain sentences; empty otherwise."""
    notes: list[str] = Field(default_factory=list)
    """Other notable changes that do not count as a regression."""


class FamilyRef(_Model):
    """A family present in only one of the two audits."""

    family_id: str
    """Family id."""
    importance: str
    """Its importance."""
    severity: str
    """Its severity in the audit that has it."""


class InputChange(_Model):
    """An input, setting or identity that differs between the two audits."""

    key: str
    """Key path (``manifest.inputs[0].sha256``, ``settings.k``, ``audit.dictionary.identity``)."""
    old: str | None = None
    """Old value as text; None when absent."""
    new: str | None = None
    """New value as text; None when absent."""


class AuditSide(_Model):
    """One of the two audits compared."""

    path: str
    """Where its findings were read from."""
    audit_id: str
    """Audit id."""
    model: str
    """Model under review."""
    profile: str
    """Profile id and version."""
    dictionary: str
    """Dictionary name and identity."""
    gate: str
    """Gate result, pass or fail."""
    has_manifest: bool
    """Whether a manifest.json was found beside the findings."""


class DiffResult(_Model):
    """The comparison of two audits (``diff.json``)."""

    schema_version: int = DIFF_SCHEMA_VERSION
    """Version of this file's shape."""
    cg_gov_version: str = Field(default_factory=package_version)
    """Version of cg_gov that wrote it."""
    threshold: float
    """Regression threshold used: fraction of the old coverage ratio, and score units."""
    old: AuditSide
    """The old audit."""
    new: AuditSide
    """The new audit."""
    gate: StatusChange
    """Gate before and after."""
    families: list[FamilyDiff] = Field(default_factory=list)
    """Families present in both audits, regressions first."""
    families_added: list[FamilyRef] = Field(default_factory=list)
    """Families only in the new audit."""
    families_removed: list[FamilyRef] = Field(default_factory=list)
    """Families only in the old audit."""
    input_changes: list[InputChange] = Field(default_factory=list)
    """Inputs, identities and settings that differ."""
    regressed: bool = False
    """True when any family regressed (the command then exits 1)."""
    regressions: list[str] = Field(default_factory=list)
    """One sentence per regression."""


def load_side(path: str | os.PathLike) -> tuple[Findings, dict[str, Any] | None, Path]:
    """Findings, manifest (or None) and the findings path for a report folder or a findings.json."""
    path = Path(path)
    if not path.exists():
        raise CgGovError("not found", file=str(path),
                         hint="pass a report folder or a findings.json written by cg-gov audit")
    findings_path = path / "findings.json" if path.is_dir() else path
    check_regular_file(findings_path, "findings file", kind="findings",
                       hint="pass a report folder or a findings.json written by cg-gov audit")
    manifest_path = findings_path.parent / "manifest.json"
    manifest = None
    if manifest_path.exists():
        manifest, _ = read_json_limited(manifest_path, "manifest.json", kind="findings",
                                        hint="manifest.json is written by cg-gov audit")
        if not isinstance(manifest, dict):
            raise CgGovError("a manifest must be a JSON object", file=str(manifest_path))
        from cg_gov.findings._manifest import check_findings_binding
        from cg_gov.io import read_bytes_limited

        check_findings_binding(manifest, read_bytes_limited(findings_path, "findings file", kind="findings"),
                               findings_file=str(findings_path), manifest_file=str(manifest_path))
    findings = load_findings(findings_path)  # after the binding check: a forged file is named as such
    return findings, manifest, findings_path


def intervals_overlap(a: Sequence[float] | None, b: Sequence[float] | None) -> bool | None:
    """Whether closed intervals ``a`` and ``b`` overlap; None when either is missing."""
    if a is None or b is None:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def _value_change(old: float | None, new: float | None, old_ci, new_ci) -> ValueChange:
    delta = None if old is None or new is None else new - old
    relative = None
    if delta is not None:
        relative = delta / old if old else (0.0 if delta == 0 else None)
    return ValueChange(old=old, new=new, delta=delta, relative=relative,
                       old_ci=tuple(old_ci) if old_ci else None, new_ci=tuple(new_ci) if new_ci else None,
                       ci_overlap=intervals_overlap(old_ci, new_ci))


def _status(old: str | None, new: str | None) -> StatusChange:
    return StatusChange(old=old, new=new, changed=old != new)


def _family_diff(old: Family, new: Family, threshold: float) -> FamilyDiff:
    rank_old, rank_new = severity_rank(old.severity), severity_rank(new.severity)
    direction = "worse" if rank_new < rank_old else "better" if rank_new > rank_old else "same"
    ratio = _value_change(old.coverage.ratio, new.coverage.ratio, old.coverage.ci, new.coverage.ci)
    score = _value_change(old.performance.score, new.performance.score,
                          old.performance.score_ci, new.performance.score_ci)
    lift = _value_change(old.performance.lift, new.performance.lift, old.performance.ci,
                         new.performance.ci)
    reasons, notes = [], []
    if direction == "worse":
        reasons.append(f"severity rose from {old.severity} to {new.severity}")
    if ratio.relative is not None and ratio.relative < -threshold:
        fell = (f"coverage ratio fell by {-ratio.relative * 100:.0f}% "
                f"({old.coverage.ratio:.3g} -> {new.coverage.ratio:.3g})")
        if ratio.ci_overlap is False:
            reasons.append(fell + " and the intervals do not overlap")
        else:
            notes.append(fell + (" but the intervals overlap" if ratio.ci_overlap else
                                 " (no intervals to compare)"))
    if score.delta is not None and score.delta < -threshold:
        fell = f"performance score fell by {-score.delta:.2f} ({score.old:.2f} -> {score.new:.2f})"
        if score.ci_overlap is False:
            reasons.append(fell + " and the intervals do not overlap")
        else:
            notes.append(fell + (" but the intervals overlap" if score.ci_overlap else
                                 " (no intervals to compare)"))
    if lift.delta is not None and lift.delta < -threshold and lift.ci_overlap is False:
        notes.append(f"lift fell by {-lift.delta:.2f} and the intervals do not overlap")
    if old.importance != new.importance:
        notes.append(f"importance changed from {old.importance} to {new.importance} in the profile")
    if {c.concept_id for c in old.matched_concepts} != {c.concept_id for c in new.matched_concepts}:
        notes.append("the family matched a different set of concepts")
    return FamilyDiff(
        family_id=new.id, importance=_status(old.importance, new.importance),
        severity=_status(old.severity, new.severity), direction=direction,
        coverage_status=_status(old.coverage.status, new.coverage.status),
        performance_status=_status(old.performance.status, new.performance.status),
        coverage_ratio=ratio, performance_score=score, lift=lift,
        regressed=bool(reasons), reasons=reasons, notes=notes)


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            _flat(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _flat(f"{prefix}[{i}]", item, out)
        if not value:
            out[prefix] = "[]"
    else:
        out[prefix] = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def _identity(findings: Findings, manifest: Mapping[str, Any] | None) -> dict[str, str]:
    audit = findings.audit
    flat: dict[str, str] = {}
    _flat("audit", {
        "model": audit.model,
        "profile": audit.profile.model_dump(),
        "dictionary": audit.dictionary.model_dump(),
        "suite": {b.name: {"n_items": b.n_items} for b in audit.suite},
    }, flat)
    _flat("settings", round_floats(findings.settings), flat)
    if manifest is not None:
        _flat("manifest", manifest, flat)
    return flat


def _input_changes(old: dict[str, str], new: dict[str, str]) -> list[InputChange]:
    keys = sorted(set(old) | set(new))
    return [InputChange(key=k, old=old.get(k), new=new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _side(path: Path | str, findings: Findings, manifest: Mapping[str, Any] | None) -> AuditSide:
    audit = findings.audit
    return AuditSide(path=str(path), audit_id=audit.id, model=audit.model,
                     profile=f"{audit.profile.id} {audit.profile.version}",
                     dictionary=f"{audit.dictionary.name} ({audit.dictionary.identity})",
                     gate=findings.summary.gate, has_manifest=manifest is not None)


def diff_findings(old: Findings, new: Findings, old_manifest: Mapping[str, Any] | None = None,
                  new_manifest: Mapping[str, Any] | None = None, threshold: float = DEFAULT_THRESHOLD,
                  old_path: str = "old", new_path: str = "new") -> DiffResult:
    """Compare two audits; see the module docstring for the regression rule."""
    if not threshold >= 0:
        raise CgGovError(f"threshold must be >= 0, got {threshold}", key="--threshold",
                         hint="e.g. 0.1: a 10% fall of coverage ratio or 0.1 of performance score")
    old_by_id = {f.id: f for f in old.families}
    new_by_id = {f.id: f for f in new.families}
    families = [_family_diff(old_by_id[i], new_by_id[i], threshold)
                for i in sorted(set(old_by_id) & set(new_by_id))]
    families.sort(key=lambda d: (not d.regressed, d.direction != "worse",
                                 severity_rank(d.severity.new or "none"), d.family_id))

    def ref(f: Family) -> FamilyRef:
        return FamilyRef(family_id=f.id, importance=f.importance, severity=f.severity)

    added = [ref(new_by_id[i]) for i in sorted(set(new_by_id) - set(old_by_id))]
    removed = [ref(old_by_id[i]) for i in sorted(set(old_by_id) - set(new_by_id))]
    regressions = [f"Family '{d.family_id}': " + "; ".join(d.reasons) + "." for d in families if d.regressed]
    if old_by_id and not families:
        # nothing was compared: "no regression" would read as an approval of an audit that checks none
        # of what was approved
        regressions.append(f"No family of the old audit is in the new one ({len(removed)} removed): "
                           "nothing could be compared.")
    return DiffResult(
        threshold=threshold, old=_side(old_path, old, old_manifest), new=_side(new_path, new, new_manifest),
        gate=_status(old.summary.gate, new.summary.gate), families=families, families_added=added,
        families_removed=removed,
        input_changes=_input_changes(_identity(old, old_manifest), _identity(new, new_manifest)),
        regressed=bool(regressions), regressions=regressions)


def select_model(findings: Findings, model: str | None, path: str | os.PathLike) -> Findings:
    """One candidate's findings. A vendor audit (``models[]``) needs ``model``, and gives that
    candidate's summary and families; a single-model audit is returned as it is (``model``, when
    given, must be its model)."""
    if findings.models is None:
        if model is not None and model != findings.audit.model:
            raise CgGovError(f"this audit is of model '{findings.audit.model}', not '{model}'", file=str(path),
                             key="--model", hint="leave --model out for a single-model audit")
        return findings
    names = [m.name for m in findings.models]
    if model is None:
        raise CgGovError(f"a vendor audit of {len(names)} models ({', '.join(names)}): diff compares one model "
                         "at a time", file=str(path), key="--model",
                         hint=f"pass --model NAME, e.g. --model '{names[0]}'")
    if model not in names:
        raise CgGovError(f"no model '{model}' in this vendor audit (models: {', '.join(names)})", file=str(path),
                         key="--model")
    m = findings.models[names.index(model)]
    return findings.model_copy(update={
        "audit": findings.audit.model_copy(update={"model": m.name, "model_sha256": m.sha256}),
        "summary": m.summary, "families": m.families, "models": None, "comparisons": None})


def diff_paths(old: str | os.PathLike, new: str | os.PathLike,
               threshold: float = DEFAULT_THRESHOLD, model: str | None = None) -> DiffResult:
    """:func:`diff_findings` on two report folders or findings.json files; ``model`` picks one
    candidate of a vendor audit on either side (:func:`select_model`)."""
    old_f, old_m, old_p = load_side(old)
    new_f, new_m, new_p = load_side(new)
    old_f, new_f = select_model(old_f, model, old_p), select_model(new_f, model, new_p)
    return diff_findings(old_f, new_f, old_m, new_m, threshold, str(old_p), str(new_p))
