"""What changed between two audits, decisions first (``cg-gov diff OLD NEW``).

OLD and NEW are report folders (holding ``findings.json`` and, when present, ``manifest.json``) or
``findings.json`` files. The diff compares the *decisions* first: per family the verdict
(pass/conditional/fail), the gate effect, each requirement's status and the visibility status; and
the summary gate. The values behind them (coverage ratio, performance score, lift, items detected,
with their intervals) are listed beside them as the reasons. It lists families added or removed, the
inputs that changed, by name (:mod:`cg_gov.findings._diff_inputs`), and any change of the baseline
the values are measured against (coverage reference, dictionary, rule version).

The rule (re-approval is needed, exit 1, when any of these holds):

- the summary gate got worse (pass -> conditional or fail, conditional -> fail), whatever else holds;
- a family's verdict or gate effect got worse, a requirement went from met to not-met or cannot-tell
  (or cannot-tell to not-met), or its visibility status dropped (:data:`VISIBILITY_RANK`);
- a family was removed while failing or conditional, or added failing or conditional;
- no family of the old audit is in the new one (nothing could be compared);
- a decision changed to a word this cg_gov cannot rank (review it).

A value change alone is not a regression: a value that fell by more than ``threshold`` (a fraction of
the old coverage ratio or item count; score and share units) with non-overlapping intervals is
reported as "worse past the threshold", and a value the baseline change moved as "baseline changed".
A decision that got worse while the baseline changed is still a regression, with the baseline change
named beside it. ``cg-gov diff`` exits 1 when re-approval is needed, 0 otherwise, 2 on an error;
:mod:`cg_gov.report.diff` renders a diff.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from cg_gov.errors import CgGovError
from cg_gov.findings._diff_inputs import (BaselineChange, NamedInput, baseline_changes, field, input_changes,
                                          reference_of, rule_version_of)
from cg_gov.findings._schema import Family, Findings, load_findings, round_floats
from cg_gov.findings.verdict import SEVERITIES
from cg_gov.io import check_regular_file, package_version, read_json_limited

__all__ = ["DIFF_SCHEMA_VERSION", "DEFAULT_THRESHOLD", "VERDICT_RANK", "GATE_EFFECT_RANK", "GATE_RANK",
           "REQUIREMENT_RANK", "VISIBILITY_RANK", "ValueChange", "StatusChange", "FamilyDiff", "FamilyRef",
           "InputChange", "NamedInput", "BaselineChange", "AuditSide", "DiffResult", "load_side",
           "intervals_overlap", "compare_rank", "items_changes", "diff_findings", "diff_paths", "select_model"]

DIFF_SCHEMA_VERSION = 2
#: Default threshold past which a value change is called out: 10% of the old coverage ratio (or item
#: count), 0.10 of performance score, lift or share.
DEFAULT_THRESHOLD = 0.1

#: Rank of each decision word, best first (0 is best); a higher rank is worse.
VERDICT_RANK: dict[str, int] = {"pass": 0, "conditional": 1, "fail": 2}
GATE_EFFECT_RANK: dict[str, int] = {"none": 0, "conditional": 1, "fail": 2}
GATE_RANK: dict[str, int] = {"pass": 0, "conditional": 1, "fail": 2}
REQUIREMENT_RANK: dict[str, int] = {"met": 0, "cannot-tell": 1, "not-met": 2}
#: Visibility, both vocabularies in one table: confirmed (= verified) is best; unconfirmed
#: (= unverified) and cannot-tell next; weak (the detector was measured and separates the family
#: poorly) is worst.
VISIBILITY_RANK: dict[str, int] = {"confirmed": 0, "verified": 0, "unconfirmed": 1, "unverified": 1,
                                   "cannot-tell": 1, "weak": 2}

Direction = Literal["worse", "better", "same"]


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
    """Old value; None when the family did not exist (or the field was not recorded)."""
    new: str | None = None
    """New value."""
    changed: bool = False
    """True when old and new differ."""


class FamilyDiff(_Model):
    """How one family present in both audits changed: its decisions, then the values behind them."""

    family_id: str
    """Family id."""
    importance: StatusChange
    """Importance in the old and new profile."""
    verdict: StatusChange = Field(default_factory=StatusChange)
    """Verdict before and after: pass, conditional or fail."""
    gate_effect: StatusChange = Field(default_factory=StatusChange)
    """Gate effect before and after: none, conditional or fail."""
    requirement_coverage: StatusChange = Field(default_factory=StatusChange)
    """Status of the coverage requirement (met, not-met, cannot-tell; None when none is stated)."""
    requirement_performance: StatusChange = Field(default_factory=StatusChange)
    """Status of the performance requirement."""
    requirement_items: StatusChange = Field(default_factory=StatusChange)
    """Status of the family-items requirement (``require.min_items``)."""
    visibility_status: StatusChange = Field(default_factory=StatusChange)
    """Visibility status before and after (either vocabulary, see ``VISIBILITY_RANK``)."""
    severity: StatusChange
    """Severity before and after."""
    direction: Direction
    """worse when any decision got worse, better when some got better and none worse, else same."""
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
    items_detected: ValueChange | None = None
    """Number of suite items on which the family is detected (``items.detected``), when both audits record it."""
    items_share: ValueChange | None = None
    """Share of the suite's items on which it is detected (``items.share``, ``share_ci``), when both record it."""
    baseline: list[str] = Field(default_factory=list)
    """The baseline changes that affect this family (``coverage reference``, ``dictionary``, ``rule version``)."""
    regressed: bool = False
    """True when a decision got worse (see the module's rule): re-approval is needed."""
    reasons: list[str] = Field(default_factory=list)
    """The decisions that got worse, in plain sentences; empty otherwise."""
    value_changes: list[str] = Field(default_factory=list)
    """The values that changed, each with its intervals and assessment (worse or better past the
    threshold, within noise, below the threshold, baseline changed): the reasons behind the decisions."""
    notes: list[str] = Field(default_factory=list)
    """Other changes that do not count as a regression (a decision that improved, a severity that
    rose without changing the verdict, the profile's importance, the matched concepts)."""


class FamilyRef(_Model):
    """A family present in only one of the two audits."""

    family_id: str
    """Family id."""
    importance: str
    """Its importance."""
    severity: str
    """Its severity in the audit that has it."""
    verdict: str | None = None
    """Its verdict in the audit that has it."""
    gate_effect: str | None = None
    """Its gate effect in the audit that has it."""
    regressed: bool = False
    """True for a family removed while failing or conditional, or added failing or conditional."""
    reason: str | None = None
    """Why, in one sentence (``removed while failing``...); None when it is no regression."""


class InputChange(_Model):
    """A recorded key that differs between the two audits (the detail behind ``inputs_changed``)."""

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
    """Gate result: pass, conditional or fail."""
    reference: str = ""
    """What coverage is measured against (a workload sample, or the dictionary's corpus)."""
    rule_version: str | None = None
    """Rule version the audit records; None when it records none."""
    has_manifest: bool
    """Whether a manifest.json was found beside the findings."""


class DiffResult(_Model):
    """The comparison of two audits (``diff.json``)."""

    schema_version: int = DIFF_SCHEMA_VERSION
    """Version of this file's shape."""
    cg_gov_version: str = Field(default_factory=package_version)
    """Version of cg_gov that wrote it."""
    threshold: float
    """Threshold past which a value change is called out: a fraction of the old coverage ratio or item
    count; score, lift and share units."""
    old: AuditSide
    """The old audit."""
    new: AuditSide
    """The new audit."""
    verdict: Literal["re-approval needed", "no re-approval needed"] = "no re-approval needed"
    """The diff's verdict: re-approval needed exactly when ``regressed`` (the command then exits 1)."""
    gate: StatusChange
    """Summary gate before and after."""
    gate_regressed: bool = False
    """True when the summary gate got worse (pass -> conditional or fail, conditional -> fail)."""
    families: list[FamilyDiff] = Field(default_factory=list)
    """Families present in both audits, regressions first."""
    families_added: list[FamilyRef] = Field(default_factory=list)
    """Families only in the new audit."""
    families_removed: list[FamilyRef] = Field(default_factory=list)
    """Families only in the old audit."""
    baseline_changes: list[BaselineChange] = Field(default_factory=list)
    """Changes of what the values are measured against, each with the families it affects."""
    inputs_changed: list[NamedInput] = Field(default_factory=list)
    """The inputs that differ, by name (model hash, profile version, family text, suite logs,
    workload sample, dictionary, settings, rule version, software)."""
    input_changes: list[InputChange] = Field(default_factory=list)
    """Every recorded key that differs (manifests, identities, settings): the detail of ``inputs_changed``."""
    regressed: bool = False
    """True when re-approval is needed (the command then exits 1)."""
    regressions: list[str] = Field(default_factory=list)
    """One sentence per regression: the decision that got worse, and the values behind it."""


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


def compare_rank(table: Mapping[str, int], old: str | None, new: str | None) -> str:
    """How a decision word changed by ``table``: ``worse``, ``better`` or ``same``; ``unranked`` when it
    changed and either word is not in the table; ``same`` when either is None (not stated there: a
    requirement added or removed is said as a note, and the gate effect carries its consequence)."""
    if old is None or new is None or old == new:
        return "same"
    if old not in table or new not in table:
        return "unranked"
    return "worse" if table[new] > table[old] else "better" if table[new] < table[old] else "same"


def _value_change(old: float | None, new: float | None, old_ci, new_ci) -> ValueChange:
    delta = None if old is None or new is None else new - old
    relative = None
    if delta is not None:
        relative = delta / old if old else (0.0 if delta == 0 else None)
    return ValueChange(old=old, new=new, delta=delta, relative=relative,
                       old_ci=tuple(old_ci) if old_ci else None, new_ci=tuple(new_ci) if new_ci else None,
                       ci_overlap=intervals_overlap(old_ci, new_ci))


def _status(old: Any, new: Any) -> StatusChange:
    old = None if old is None else str(old)
    new = None if new is None else str(new)
    return StatusChange(old=old, new=new, changed=old != new)


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(ci: Sequence[float] | None) -> str:
    return f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else ""


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def items_changes(old: Family | Mapping[str, Any], new: Family | Mapping[str, Any]
                  ) -> tuple[ValueChange | None, ValueChange | None]:
    """(items detected, items share) of a family, each None unless both audits record it (``items``)."""
    a, b = field(old, "items"), field(new, "items")
    detected = share = None
    da, db = _finite(field(a, "detected")), _finite(field(b, "detected"))
    if da is not None and db is not None:
        detected = _value_change(da, db, None, None)
    sa, sb = _finite(field(a, "share")), _finite(field(b, "share"))
    if sa is not None and sb is not None:
        share = _value_change(sa, sb, field(a, "share_ci"), field(b, "share_ci"))
    return detected, share


def _assess(name: str, v: ValueChange | None, threshold: float, relative: bool, baseline: str | None,
            digits: int = 2) -> str | None:
    """One sentence on a value's change, or None when it did not change."""
    if v is None or (v.old is None and v.new is None) or v.delta == 0:
        return None
    text = f"{name} {_num(v.old, digits)}{_ci(v.old_ci)} -> {_num(v.new, digits)}{_ci(v.new_ci)}"
    if v.delta is None:
        return text + (f": baseline changed ({baseline}), not comparable" if baseline else "")
    size = v.relative if relative else v.delta
    text += f" ({v.relative * 100:+.0f}%)" if relative and v.relative is not None else f" ({v.delta:+.{digits}f})"
    if baseline:
        return text + f": baseline changed ({baseline}), not comparable"
    if size is None or abs(size) <= threshold:
        return text + ": below the threshold"
    way = "worse" if size < 0 else "better"
    if v.ci_overlap is False:
        return text + f", intervals apart: {way} past the threshold"
    return text + (", intervals overlap: within noise" if v.ci_overlap else
                   f": {way} past the threshold (no intervals to compare)")


def _requirement_detail(family: Family, which: str) -> str:
    req = family.requirement
    if which == "coverage":
        return (f"coverage ratio required >= {_num(req.min_coverage_ratio)}, observed "
                f"{_num(family.coverage.ratio)}{_ci(family.coverage.ci)}")
    if which == "items":
        items = family.items
        observed = "n/a" if items is None else (f"about {items.estimated:.0f}" if items.estimated is not None
                                                else str(items.detected))
        return f"family items required >= {req.min_items}, observed {observed}"
    return (f"score required >= {_num(req.min_performance)}, observed "
            f"{_num(family.performance.score)}{_ci(family.performance.score_ci)}")


def _decisions(old: Family, new: Family) -> tuple[dict[str, StatusChange], list[str], list[str], Direction]:
    """The family's decisions before and after, the regressions among them (reasons), the other
    changes (notes) and the direction."""
    ch = {"verdict": _status(old.verdict, new.verdict), "gate_effect": _status(old.gate_effect, new.gate_effect),
          "coverage": _status(old.requirement.coverage_status, new.requirement.coverage_status),
          "performance": _status(old.requirement.performance_status, new.requirement.performance_status),
          "items": _status(getattr(old.requirement, "items_status", None),
                           getattr(new.requirement, "items_status", None)),
          "visibility": _status(field(old, "visibility", "status"), field(new, "visibility", "status")),
          "severity": _status(old.severity, new.severity)}
    reasons: list[str] = []
    notes: list[str] = []
    ways: list[str] = []

    def unranked(what: str, c: StatusChange) -> str:
        return f"{what} changed from '{c.old}' to '{c.new}', which this cg_gov cannot rank: review it"

    verdict, effect = ch["verdict"], ch["gate_effect"]
    way_v, way_e = compare_rank(VERDICT_RANK, verdict.old, verdict.new), compare_rank(GATE_EFFECT_RANK, effect.old,
                                                                                       effect.new)
    ways += [way_v, way_e]
    if way_v == "worse":
        reasons.append(f"verdict {verdict.old} -> {verdict.new} (gate effect {effect.old} -> {effect.new})")
    elif way_e == "worse":
        reasons.append(f"gate effect {effect.old} -> {effect.new}")
    reasons += [unranked(w, c) for w, c, way in (("verdict", verdict, way_v), ("gate effect", effect, way_e))
                if way == "unranked"]
    if way_v == "better":
        notes.append(f"verdict improved: {verdict.old} -> {verdict.new}")
    for which in ("coverage", "performance", "items"):
        c = ch[which]
        way = compare_rank(REQUIREMENT_RANK, c.old, c.new)
        ways.append(way)
        if way == "worse":
            reasons.append(f"{which} requirement {c.old} -> {c.new} ({_requirement_detail(new, which)})")
        elif way == "unranked":
            reasons.append(unranked(f"{which} requirement", c))
        elif way == "better":
            notes.append(f"{which} requirement {c.old} -> {c.new}")
        elif c.old is None and c.new is not None:
            notes.append(f"a {which} requirement was added in the profile (now {c.new}: "
                         f"{_requirement_detail(new, which)})")
        elif c.old is not None and c.new is None:
            notes.append(f"the {which} requirement was removed from the profile (it was {c.old})")
    vis = ch["visibility"]
    way = compare_rank(VISIBILITY_RANK, vis.old, vis.new)
    ways.append(way)
    auroc = (f" (AUROC {_num(field(old, 'visibility', 'auroc'))}{_ci(field(old, 'visibility', 'ci'))} -> "
             f"{_num(field(new, 'visibility', 'auroc'))}{_ci(field(new, 'visibility', 'ci'))})")
    if way == "worse":
        reasons.append(f"visibility {vis.old} -> {vis.new}{auroc}")
    elif way == "unranked":
        reasons.append(unranked("visibility", vis))
    elif vis.changed:  # better, or the same rank in the other vocabulary
        notes.append(f"visibility {vis.old} -> {vis.new}{auroc}")
    sev = ch["severity"]
    way = compare_rank({s: -i for i, s in enumerate(SEVERITIES)}, sev.old, sev.new)
    ways.append(way)
    if way == "worse" and not reasons:
        notes.append(f"severity rose from {sev.old} to {sev.new}; the verdict is unchanged ({verdict.new})")
    direction: Direction = ("worse" if "worse" in ways or "unranked" in ways
                            else "better" if "better" in ways else "same")
    return ch, reasons, notes, direction


def _family_diff(old: Family, new: Family, threshold: float, baselines: list[BaselineChange]) -> FamilyDiff:
    ch, reasons, notes, direction = _decisions(old, new)
    touching = [b for b in baselines if new.id in b.affects]
    reference = "coverage reference" if any(b.what == "coverage reference" for b in touching) else None
    dictionary = "dictionary" if any(b.what == "dictionary" for b in touching) else None
    cov_status = _status(old.coverage.status, new.coverage.status)
    perf_status = _status(old.performance.status, new.performance.status)
    ratio = _value_change(old.coverage.ratio, new.coverage.ratio, old.coverage.ci, new.coverage.ci)
    score = _value_change(old.performance.score, new.performance.score,
                          old.performance.score_ci, new.performance.score_ci)
    lift = _value_change(old.performance.lift, new.performance.lift, old.performance.ci, new.performance.ci)
    detected, share = items_changes(old, new)
    values: list[str | None] = [f"{what} {c.old} -> {c.new}" + (f" (baseline changed: {moved})" if moved else "")
              for what, c, moved in (("coverage status", cov_status, dictionary or reference),
                                     ("performance status", perf_status, dictionary)) if c.changed]
    values += [
        _assess("coverage ratio", ratio, threshold, True, dictionary or reference),
        _assess("performance score", score, threshold, False, dictionary),
        _assess("lift", lift, threshold, False, dictionary),
        _assess("items detected", detected, threshold, True, dictionary, digits=0),
        _assess("items share", share, threshold, False, dictionary, digits=3),
    ]
    if old.importance != new.importance:
        notes.append(f"importance changed from {old.importance} to {new.importance} in the profile")
    if {c.concept_id for c in old.matched_concepts} != {c.concept_id for c in new.matched_concepts}:
        notes.append("the family matched a different set of concepts")
    if reasons and touching:
        notes.append("the baseline changed (" + ", ".join(b.what for b in touching) + "): the decision may "
                     "reflect that change; it got worse all the same and needs re-approval")
    return FamilyDiff(
        family_id=new.id, importance=_status(old.importance, new.importance), verdict=ch["verdict"],
        gate_effect=ch["gate_effect"], requirement_coverage=ch["coverage"], requirement_performance=ch["performance"],
        requirement_items=ch["items"],
        visibility_status=ch["visibility"], severity=ch["severity"], direction=direction,
        coverage_status=cov_status, performance_status=perf_status,
        coverage_ratio=ratio, performance_score=score, lift=lift, items_detected=detected, items_share=share,
        baseline=[b.what for b in touching], regressed=bool(reasons), reasons=reasons,
        value_changes=[v for v in values if v], notes=notes)


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
        "model_sha256": audit.model_sha256,
        "profile": audit.profile.model_dump(),
        "dictionary": audit.dictionary.model_dump(),
        "suite": {b.name: {"n_items": b.n_items} for b in audit.suite},
    }, flat)
    _flat("settings", round_floats(findings.settings.recorded()), flat)
    if manifest is not None:
        _flat("manifest", manifest, flat)
    return flat


def _key_changes(old: dict[str, str], new: dict[str, str]) -> list[InputChange]:
    keys = sorted(set(old) | set(new))
    return [InputChange(key=k, old=old.get(k), new=new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _side(path: Path | str, findings: Findings, manifest: Mapping[str, Any] | None) -> AuditSide:
    audit = findings.audit
    ref = reference_of(findings, manifest)
    return AuditSide(path=str(path), audit_id=audit.id, model=audit.model,
                     profile=f"{audit.profile.id} {audit.profile.version}",
                     dictionary=f"{audit.dictionary.name} ({audit.dictionary.identity})",
                     gate=findings.summary.gate,
                     reference=(f"workload sample '{ref['name']}'" if ref["workload"] else ref["name"]),
                     rule_version=rule_version_of(findings, manifest), has_manifest=manifest is not None)


def _one_side_ref(f: Family, added: bool) -> FamilyRef:
    effect = f.gate_effect
    reason = None
    if effect in ("fail", "conditional"):
        state = "failing" if effect == "fail" else "conditional"
        reason = f"added {state}" if added else f"removed while {state}"
    return FamilyRef(family_id=f.id, importance=f.importance, severity=f.severity, verdict=f.verdict,
                     gate_effect=effect, regressed=reason is not None, reason=reason)


def _regression_sentence(d: FamilyDiff) -> str:
    values = [v for v in d.value_changes]
    text = f"Family '{d.family_id}' ({d.importance.new} importance): " + "; ".join(d.reasons) + "."
    if values:
        text += " Values: " + "; ".join(values) + "."
    if d.baseline:
        text += " Baseline changed: " + ", ".join(d.baseline) + "."
    return text


def diff_findings(old: Findings, new: Findings, old_manifest: Mapping[str, Any] | None = None,
                  new_manifest: Mapping[str, Any] | None = None, threshold: float = DEFAULT_THRESHOLD,
                  old_path: str = "old", new_path: str = "new") -> DiffResult:
    """Compare two audits, decisions first; see the module docstring for the rule."""
    if not threshold >= 0:
        raise CgGovError(f"threshold must be >= 0, got {threshold}", key="--threshold",
                         hint="e.g. 0.1: a 10% fall of coverage ratio or 0.1 of performance score")
    old_by_id = {f.id: f for f in old.families}
    new_by_id = {f.id: f for f in new.families}
    common = sorted(set(old_by_id) & set(new_by_id))
    baselines = baseline_changes(old, new, old_manifest, new_manifest, common)
    families = [_family_diff(old_by_id[i], new_by_id[i], threshold, baselines) for i in common]
    families.sort(key=lambda d: (not d.regressed, d.direction != "worse",
                                 -VERDICT_RANK.get(d.verdict.new or "", 3), d.family_id))
    added = [_one_side_ref(new_by_id[i], True) for i in sorted(set(new_by_id) - set(old_by_id))]
    removed = [_one_side_ref(old_by_id[i], False) for i in sorted(set(old_by_id) - set(new_by_id))]

    gate = _status(old.summary.gate, new.summary.gate)
    gate_way = compare_rank(GATE_RANK, gate.old, gate.new)
    regressions = []
    if gate_way in ("worse", "unranked"):
        regressions.append(f"The deployment gate went from {gate.old} to {gate.new}.")
    regressions += [_regression_sentence(d) for d in families if d.regressed]
    for ref, fam in [(r, old_by_id[r.family_id]) for r in removed] + [(r, new_by_id[r.family_id]) for r in added]:
        if ref.regressed:
            regressions.append(f"Family '{ref.family_id}' ({ref.importance} importance) {ref.reason}: "
                               + "; ".join(fam.reasons) + ".")
    if old_by_id and not common:
        # nothing was compared: "no regression" would read as an approval of an audit that checks none
        # of what was approved
        regressions.append(f"No family of the old audit is in the new one ({len(removed)} removed): "
                           "nothing could be compared.")
    return DiffResult(
        threshold=threshold, old=_side(old_path, old, old_manifest), new=_side(new_path, new, new_manifest),
        verdict="re-approval needed" if regressions else "no re-approval needed",
        gate=gate, gate_regressed=gate_way in ("worse", "unranked"), families=families, families_added=added,
        families_removed=removed, baseline_changes=baselines,
        inputs_changed=input_changes(old, new, old_manifest, new_manifest, baselines),
        input_changes=_key_changes(_identity(old, old_manifest), _identity(new, new_manifest)),
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
