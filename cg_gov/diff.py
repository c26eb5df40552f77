"""``cg-gov diff OLD NEW``: what changed between two audits, and whether it got worse.

OLD and NEW are report folders (holding ``findings.json`` and, when present,
``manifest.json``) or ``findings.json`` files. Per family the diff gives the
change of coverage status, performance status and severity, the size of each
change (coverage ratio, score, lift) and whether the two confidence intervals
overlap; it lists families added or removed (a profile change) and the inputs
that differ (manifests, dictionary identity, settings).

A family has *regressed* when its severity rose, or its coverage ratio fell by
more than ``threshold`` as a fraction of the old ratio with non-overlapping
intervals, or its performance score fell by more than ``threshold`` (score
units) with non-overlapping intervals. The command exits 1 when any family
regressed, 0 otherwise, 2 on an error.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from cg_gov.errors import EXIT_GATE_FAILED, EXIT_OK, CgGovError
from cg_gov.findings import (Family, Findings, package_version, load_findings, round_floats,
                             severity_rank)
from cg_gov.io import atomic_write_bytes, atomic_write_text, canonical_json

__all__ = ["DIFF_SCHEMA_VERSION", "DEFAULT_THRESHOLD", "ValueChange", "StatusChange", "FamilyDiff",
           "FamilyRef", "InputChange", "AuditSide", "DiffResult", "load_side", "intervals_overlap",
           "diff_findings", "diff_paths", "build_diff_view", "render_diff", "add_diff_arguments",
           "diff_cli"]

DIFF_SCHEMA_VERSION = 1
#: Default regression threshold: 10% of the old coverage ratio, 0.10 of performance score.
DEFAULT_THRESHOLD = 0.1
DIFF_FORMATS = ("json", "html", "pdf")


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
    findings = load_findings(findings_path)
    manifest_path = findings_path.parent / "manifest.json"
    manifest = None
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CgGovError(f"not valid JSON: {exc.msg}", file=str(manifest_path), line=exc.lineno,
                             hint="manifest.json is written by cg-gov audit") from None
        if not isinstance(manifest, dict):
            raise CgGovError("a manifest must be a JSON object", file=str(manifest_path))
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
    return DiffResult(
        threshold=threshold, old=_side(old_path, old, old_manifest), new=_side(new_path, new, new_manifest),
        gate=_status(old.summary.gate, new.summary.gate), families=families, families_added=added,
        families_removed=removed,
        input_changes=_input_changes(_identity(old, old_manifest), _identity(new, new_manifest)),
        regressed=bool(regressions), regressions=regressions)


def diff_paths(old: str | os.PathLike, new: str | os.PathLike,
               threshold: float = DEFAULT_THRESHOLD) -> DiffResult:
    """:func:`diff_findings` on two report folders or findings.json files."""
    old_f, old_m, old_p = load_side(old)
    new_f, new_m, new_p = load_side(new)
    return diff_findings(old_f, new_f, old_m, new_m, threshold, str(old_p), str(new_p))


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

def build_diff_view(result: DiffResult) -> dict[str, Any]:
    """Pre-formatted plain data for ``diff.html.j2``."""
    from cg_gov.report.format import fmt_ci, fmt_num, fmt_signed, truncate

    def value(change: ValueChange, relative: bool = False) -> dict[str, Any]:
        rel = (f"{change.relative * 100:+.0f}%" if change.relative is not None else "n/a")
        return {"old": fmt_num(change.old), "new": fmt_num(change.new),
                "old_ci": fmt_ci(change.old_ci), "new_ci": fmt_ci(change.new_ci),
                "delta": fmt_signed(change.delta), "relative": rel if relative else None,
                "overlap": {True: "overlap", False: "no overlap", None: "n/a"}[change.ci_overlap]}

    def status(change: StatusChange) -> dict[str, Any]:
        return {"old": change.old or "n/a", "new": change.new or "n/a", "changed": change.changed}

    return {
        "title": f"Audit comparison: {result.old.audit_id} \u2192 {result.new.audit_id}",
        "old": result.old.model_dump(), "new": result.new.model_dump(),
        "threshold": f"{result.threshold:g}",
        "threshold_pct": f"{result.threshold * 100:g}%",
        "regressed": result.regressed,
        "verdict": ("REGRESSION: at least one family got worse past the threshold."
                    if result.regressed else "No family got worse past the threshold."),
        "regressions": list(result.regressions),
        "gate": status(result.gate),
        "families": [
            {"id": d.family_id, "direction": d.direction, "regressed": d.regressed,
             "importance": status(d.importance), "severity": status(d.severity),
             "coverage_status": status(d.coverage_status),
             "performance_status": status(d.performance_status),
             "coverage_ratio": value(d.coverage_ratio, relative=True),
             "performance_score": value(d.performance_score), "lift": value(d.lift),
             "reasons": list(d.reasons), "notes": list(d.notes)}
            for d in result.families
        ],
        "families_added": [f.model_dump() for f in result.families_added],
        "families_removed": [f.model_dump() for f in result.families_removed],
        "input_changes": [{"key": c.key, "old": truncate(c.old or "(absent)", 120),
                           "new": truncate(c.new or "(absent)", 120)} for c in result.input_changes],
        "cg_gov_version": result.cg_gov_version,
    }


def render_diff(result: DiffResult, out_dir: str | os.PathLike, formats: Sequence[str] = DIFF_FORMATS,
                template_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write ``diff.json``, ``diff.html`` and ``diff.pdf`` (PDF/A-3b with diff.json embedded)."""
    from cg_gov.report.pdf import PdfAttachment, html_to_pdf
    from cg_gov.report.render import render_html, template_dirs

    unknown = sorted(set(formats) - set(DIFF_FORMATS))
    if unknown:
        raise CgGovError(f"unknown diff format(s) {unknown}", key="--formats",
                         hint=f"choose among {', '.join(DIFF_FORMATS)}")
    out = Path(out_dir)
    text = canonical_json(round_floats(result.model_dump(mode="json")))
    written: dict[str, Path] = {}
    if "json" in formats:
        written["json"] = atomic_write_text(out / "diff.json", text)
    if "html" in formats or "pdf" in formats:
        html, uris = render_html(build_diff_view(result), "diff.html.j2", template_dir)
        if "html" in formats:
            written["html"] = atomic_write_text(out / "diff.html", html)
        if "pdf" in formats:
            pdf = html_to_pdf(html, attachments=[PdfAttachment(
                "diff.json", text.encode("utf-8"), "Machine-readable comparison of two audits", "Data")],
                allowed_data_uris=uris, allowed_dirs=template_dirs(template_dir))
            written["pdf"] = atomic_write_bytes(out / "diff.pdf", pdf)
    return written


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def add_diff_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``cg-gov diff``'s arguments to ``parser``."""
    parser.add_argument("old", metavar="OLD", help="old report folder or findings.json")
    parser.add_argument("new", metavar="NEW", help="new report folder or findings.json")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="write diff.json, diff.html and diff.pdf into DIR")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                        help="regression threshold: a fall of coverage ratio by more than this "
                             "fraction, or of performance score by more than this, with "
                             f"non-overlapping intervals (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--formats", default=",".join(DIFF_FORMATS),
                        help="comma-separated outputs written with --out (default json,html,pdf)")
    parser.add_argument("--template-dir", default=None, metavar="DIR",
                        help="folder with templates overriding the package's (diff.html.j2, report.css)")
    return parser


def _summary_lines(result: DiffResult) -> list[str]:
    lines = [f"old: {result.old.path} (gate {result.old.gate})",
             f"new: {result.new.path} (gate {result.new.gate})"]
    for d in result.families:
        if d.severity.changed or d.coverage_status.changed or d.performance_status.changed or d.regressed:
            mark = "REGRESSED" if d.regressed else d.direction
            lines.append(f"  {d.family_id}: severity {d.severity.old} -> {d.severity.new}, coverage "
                         f"{d.coverage_status.old} -> {d.coverage_status.new}, performance "
                         f"{d.performance_status.old} -> {d.performance_status.new} [{mark}]")
    for f in result.families_added:
        lines.append(f"  + {f.family_id} (added, severity {f.severity})")
    for f in result.families_removed:
        lines.append(f"  - {f.family_id} (removed)")
    if result.input_changes:
        lines.append(f"  {len(result.input_changes)} input/setting change(s)")
    lines.extend(result.regressions)
    lines.append("regressed" if result.regressed else "no regression")
    return lines


def diff_cli(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Run ``cg-gov diff``; returns the exit code (1 when a family regressed, else 0).

    ``args`` is a parsed namespace (from :func:`add_diff_arguments`) or an
    argument list. A :class:`CgGovError` propagates for the CLI to print.
    """
    if not isinstance(args, argparse.Namespace):
        parser = add_diff_arguments(argparse.ArgumentParser(
            prog="cg-gov diff", description="Compare two audits and flag regressions."))
        args = parser.parse_args(None if args is None else list(args))
    result = diff_paths(args.old, args.new, threshold=args.threshold)
    if args.out:
        formats = [f.strip() for f in str(getattr(args, "formats", "json,html,pdf")).split(",") if f.strip()]
        written = render_diff(result, args.out, formats, getattr(args, "template_dir", None))
        for path in written.values():
            print(f"wrote {path}")
    print("\n".join(_summary_lines(result)))
    return EXIT_GATE_FAILED if result.regressed else EXIT_OK
