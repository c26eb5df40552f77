"""Rendering a diff of two audits: ``diff.json``, ``diff.html`` and ``diff.pdf``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from cg_gov.errors import CgGovError
from cg_gov.findings import round_floats
from cg_gov.findings.diff import DiffResult, StatusChange, ValueChange
from cg_gov.io import canonical_json, write_folder
from cg_gov.report.format import fmt_ci, fmt_num, fmt_signed, truncate
from cg_gov.report.pdf import PdfAttachment, html_to_pdf
from cg_gov.report.render import render_html, template_dirs

__all__ = ["DIFF_FORMATS", "build_diff_view", "render_diff"]

#: Output formats :func:`render_diff` knows.
DIFF_FORMATS = ("json", "html", "pdf")
#: The files a diff writes: a run that does not write one of them removes it.
DIFF_FILES = frozenset({"diff.json", "diff.html", "diff.pdf"})


def build_diff_view(result: DiffResult) -> dict[str, Any]:
    """Pre-formatted plain data for ``diff.html.j2``."""
    def value(change: ValueChange, relative: bool = False) -> dict[str, Any]:
        rel = (f"{change.relative * 100:+.0f}%" if change.relative is not None else "n/a")
        return {"old": fmt_num(change.old), "new": fmt_num(change.new),
                "old_ci": fmt_ci(change.old_ci), "new_ci": fmt_ci(change.new_ci),
                "delta": fmt_signed(change.delta), "relative": rel if relative else None,
                "overlap": {True: "overlap", False: "no overlap", None: "n/a"}[change.ci_overlap]}

    def status(change: StatusChange) -> dict[str, Any]:
        return {"old": change.old or "n/a", "new": change.new or "n/a", "changed": change.changed}

    def ref(f) -> dict[str, Any]:
        return {**f.model_dump(), "verdict": f.verdict or "n/a", "gate_effect": f.gate_effect or "n/a"}

    return {
        "title": f"Audit comparison: {result.old.audit_id} \u2192 {result.new.audit_id}",
        "old": result.old.model_dump(), "new": result.new.model_dump(),
        "threshold": f"{result.threshold:g}",
        "threshold_pct": f"{result.threshold * 100:g}%",
        "regressed": result.regressed,
        "decision": result.verdict,
        "verdict": ("RE-APPROVAL NEEDED: a decision got worse (the gate, a family's verdict, gate effect, "
                    "requirement or visibility, or a family removed or added while failing or conditional)."
                    if result.regressed else
                    "No re-approval needed: no decision got worse (the gate, every family's verdict, gate "
                    "effect, requirements and visibility held or improved)."),
        "regressions": list(result.regressions),
        "gate": status(result.gate),
        "gate_regressed": result.gate_regressed,
        "families": [
            {"id": d.family_id, "direction": d.direction, "regressed": d.regressed,
             "importance": status(d.importance), "severity": status(d.severity),
             "verdict": status(d.verdict), "gate_effect": status(d.gate_effect),
             "requirement_coverage": status(d.requirement_coverage),
             "requirement_performance": status(d.requirement_performance),
             "visibility_status": status(d.visibility_status),
             "coverage_status": status(d.coverage_status),
             "performance_status": status(d.performance_status),
             "coverage_ratio": value(d.coverage_ratio, relative=True),
             "performance_score": value(d.performance_score), "lift": value(d.lift),
             "items_detected": value(d.items_detected, relative=True) if d.items_detected else None,
             "baseline": list(d.baseline),
             "reasons": list(d.reasons), "value_changes": list(d.value_changes), "notes": list(d.notes)}
            for d in result.families
        ],
        "families_added": [ref(f) for f in result.families_added],
        "families_removed": [ref(f) for f in result.families_removed],
        "baseline_changes": [{"what": b.what, "old": b.old, "new": b.new, "text": b.text, "affects": list(b.affects),
                              "moved": list(b.values)} for b in result.baseline_changes],
        "inputs_changed": [{"kind": c.kind, "name": c.name, "old": truncate(c.old or "(absent)", 160),
                            "new": truncate(c.new or "(absent)", 160), "baseline": c.baseline}
                           for c in result.inputs_changed],
        "input_changes": [{"key": c.key, "old": truncate(c.old or "(absent)", 120),
                           "new": truncate(c.new or "(absent)", 120)} for c in result.input_changes],
        "cg_gov_version": result.cg_gov_version,
    }


def render_diff(result: DiffResult, out_dir: str | os.PathLike, formats: Sequence[str] = DIFF_FORMATS,
                template_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write ``diff.json``, ``diff.html`` and ``diff.pdf`` (PDF/A-3b with diff.json embedded), as one
    change of the folder (:func:`cg_gov.io.write_folder`); other files there are kept."""
    unknown = sorted(set(formats) - set(DIFF_FORMATS))
    if unknown:
        raise CgGovError(f"unknown diff format(s) {unknown}", key="--formats",
                         hint=f"choose among {', '.join(DIFF_FORMATS)}")
    out = Path(out_dir)
    text = canonical_json(round_floats(result.model_dump(mode="json")))
    files: dict[str, tuple[str, bytes]] = {}
    if "json" in formats:
        files["json"] = ("diff.json", text.encode("utf-8"))
    if "html" in formats or "pdf" in formats:
        html, uris = render_html(build_diff_view(result), "diff.html.j2", template_dir)
        if "html" in formats:
            files["html"] = ("diff.html", html.encode("utf-8"))
        if "pdf" in formats:
            pdf = html_to_pdf(html, attachments=[PdfAttachment(
                "diff.json", text.encode("utf-8"), "Machine-readable comparison of two audits", "Data")],
                allowed_data_uris=uris, allowed_dirs=template_dirs(template_dir))
            files["pdf"] = ("diff.pdf", pdf)
    folder = write_folder(out, dict(files.values()), DIFF_FILES)
    return {key: folder / name for key, (name, _data) in files.items()}
