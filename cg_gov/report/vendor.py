"""The vendor form of the report: several candidate models on one profile, side by side.

A vendor audit's ``findings.json`` holds ``models[]`` (each candidate's own summary and families,
judged by the one rule of :mod:`cg_gov.findings.verdict`) and ``comparisons[]`` (the paired
difference of every two candidates per family). This view lays out page 1 as a family x model
table (required, observed [95% CI], verdict), the ranking per family with the significant
differences marked, which candidates pass the gate, and the items where the candidates disagree
most. It reuses the single-model report's cells (:mod:`cg_gov.report.view`) and never re-derives a
verdict.
"""
from __future__ import annotations

from typing import Any

from cg_gov.findings import IMPORTANCES, Findings
from cg_gov.findings._manifest import portable_paths
from cg_gov.report.format import NA, fmt_ci, fmt_num
from cg_gov.report.view import _anchor, _observed_cell, _required_cell

__all__ = ["build_vendor_view"]

_GATE_WORDS = {"pass": "passes the gate", "conditional": "passes on conditions", "fail": "fails the gate"}


def _ranking(family: str, names: list[str], score: dict[str, float | None], comps: dict) -> str:
    """Candidates by score, best first: '>' between two whose paired difference is significant, '~' otherwise."""
    ranked = sorted([n for n in names if score.get(n) is not None], key=lambda n: (-score[n], names.index(n)))
    if not ranked:
        return "no score (insufficient data)"
    out = ranked[0]
    for prev, cur in zip(ranked, ranked[1:]):
        c = comps.get((family, prev, cur)) or comps.get((family, cur, prev))
        out += (" > " if c is not None and c.significant else " ~ ") + cur
    missing = [n for n in names if score.get(n) is None]
    return out + (f" (no score: {', '.join(missing)})" if missing else "")


def build_vendor_view(findings: Findings, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The vendor report's view model, as plain JSON-ready data."""
    manifest = portable_paths(dict(manifest or {}))
    models = findings.models or []
    names = [m.name for m in models]
    comps = {(c.family, c.model_a, c.model_b): c for c in findings.comparisons or []}
    per_model = {m.name: {f.id: f for f in m.families} for m in models}
    first = findings.families
    order = sorted(first, key=lambda f: (IMPORTANCES.index(f.importance), f.id))
    rows = []
    for fam in order:
        cells, score = [], {}
        for name in names:
            f = per_model[name].get(fam.id)
            if f is None:
                cells.append({"model": name, "observed": NA, "ci": "", "verdict": "n/a", "reasons": []})
                continue
            obs = _observed_cell(f)[0]
            score[name] = f.performance.score
            cells.append({"model": name, "observed": obs["value"], "ci": obs["ci"], "verdict": f.verdict,
                          "reasons": list(f.reasons)})
        cov = _observed_cell(fam)[1]
        rows.append({"id": fam.id, "anchor": _anchor(fam.id), "importance": fam.importance,
                     "required": _required_cell(fam), "coverage": f"{cov['value']} {cov['ci']}".strip(),
                     "cells": cells, "ranking": _ranking(fam.id, names, score, comps)})
    comparisons = []
    for c in findings.comparisons or []:
        comparisons.append({
            "family": c.family, "pair": f"{c.model_a} - {c.model_b}",
            "scores": f"{fmt_num(c.performance_a)} vs {fmt_num(c.performance_b)}",
            "difference": NA if c.difference is None else f"{c.difference:+.3f}",
            "ci": fmt_ci(c.ci) if c.ci else "", "q": fmt_num(c.q, 3) if c.q is not None else NA,
            "n_items": c.n_items, "significant": c.significant, "better": c.better,
            "evidence": [{"benchmark": e.benchmark, "item_id": e.item_id, "text": e.text,
                          "activation": fmt_num(e.activation),
                          "answers": [{"model": n, "score": fmt_num(e.scores.get(n)),
                                       "response": e.responses.get(n) or NA} for n in (c.model_a, c.model_b)]}
                         for e in c.evidence]})
    disagree = sorted([c for c in comparisons if c["evidence"]],
                      key=lambda c: (not c["significant"], c["family"], c["pair"]))
    audit = findings.audit
    return {
        "title": f"Vendor evaluation: {audit.id}",
        "meta": {"audit_id": audit.id, "profile_name": audit.profile.name or audit.profile.id,
                 "profile_id": audit.profile.id, "profile_version": audit.profile.version,
                 "scope": audit.profile.description or NA, "date": str(manifest.get("created") or NA),
                 "dictionary_name": audit.dictionary.name, "cg_gov_version": findings.cg_gov_version,
                 "schema_version": findings.schema_version,
                 "suite": [{"name": b.name, "n_items": b.n_items, "what_1_means": b.what_1_means or NA}
                           for b in audit.suite]},
        "candidates": [{"name": m.name, "sha256": m.sha256, "revision": m.revision, "gate": m.summary.gate,
                        "gate_words": _GATE_WORDS[m.summary.gate],
                        "failures": list(m.summary.gate_failures), "conditions": list(m.summary.conditions)}
                       for m in models],
        "passing": [m.name for m in models if m.summary.gate != "fail"],
        "names": names,
        "rows": rows,
        "comparisons": comparisons,
        "significant": [c for c in comparisons if c["significant"]],
        "disagreements": disagree,
        "alpha": findings.settings.get("alpha", 0.05),
        "command": manifest.get("command"),
        "notes": list(findings.notes),
    }
