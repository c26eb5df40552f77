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
from cg_gov.report.view import (_anchor, _confirmation_short, _items_short, _margins, _required_cell,
                                _score_cell, date_text, document_identity, verdict_counts_text, _check_text)

__all__ = ["build_vendor_view"]

_VERDICT_LABEL = {"fail": "FAIL", "conditional": "CONDITIONAL", "pass": "PASS", "n/a": "n/a"}
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


def _own_item(family, activation: float) -> bool:
    """Whether an item is one of the family's own (its detector score above the operating point)."""
    threshold = None if family is None or family.items is None else family.items.threshold
    return threshold is not None and activation > threshold


def recommendation(names: list[str], per_model: dict, comparisons, family_ids: list[str]) -> dict[str, Any]:
    """The selection rule, stated plainly: with two candidates, prefer the one significantly better on at
    least one family and worse on none; name the families both fail. With more, count wins per candidate."""
    both_fail = [f for f in family_ids if all(per_model[n].get(f) is not None and per_model[n][f].verdict == "fail"
                                              for n in names)]
    wins = {n: sorted({c.family for c in comparisons if c.significant and c.better == n}) for n in names}
    losses = {n: sorted({c.family for c in comparisons if c.significant and c.better not in (None, n)
                         and n in (c.model_a, c.model_b)}) for n in names}
    preferred = [n for n in names if wins[n] and not losses[n]]
    fails = f"; both fail {', '.join(both_fail)}" if both_fail and len(names) == 2 else (
        f"; every candidate fails {', '.join(both_fail)}" if both_fail else "")
    if len(preferred) == 1:
        n = preferred[0]
        text = (f"Prefer {n}: significantly better on {len(wins[n])} "
                f"famil{'y' if len(wins[n]) == 1 else 'ies'} ({', '.join(wins[n])}), worse on none{fails}.")
    else:
        parts = [f"{n} better on {len(wins[n])}, worse on {len(losses[n])}" for n in names]
        text = "No candidate is better on some family and worse on none (" + "; ".join(parts) + f"){fails}."
    rule = ("Rule: a candidate is preferred when its paired difference is significant in its favour on at least "
            "one family and against it on none; the gate still applies: a preferred candidate that fails the "
            "gate is not approvable for the workflow.")
    return {"text": text, "rule": rule, "both_fail": both_fail, "wins": wins, "losses": losses}


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
                cells.append({"model": name, "observed": NA, "ci": "", "verdict": "n/a", "verdict_label": "n/a",
                              "margins": [], "reasons": []})
                continue
            score[name] = f.performance.score
            cells.append({"model": name, "observed": _score_cell(f), "ci": "", "margins": _margins(f),
                          "verdict": f.verdict, "verdict_label": _VERDICT_LABEL[f.verdict],
                          "reasons": list(f.reasons)})
        rows.append({"id": fam.id, "anchor": _anchor(fam.id), "importance": fam.importance,
                     "required": _required_cell(fam), "coverage": _items_short(fam),
                     "confirmation": _confirmation_short(fam),
                     "cells": cells, "ranking": _ranking(fam.id, names, score, comps)})
    first_by_id = {f.id: f for f in first}
    comparisons = []
    for c in findings.comparisons or []:
        comparisons.append({
            "family": c.family, "pair": f"{c.model_a} - {c.model_b}",
            "scores": f"{fmt_num(c.performance_a)} vs {fmt_num(c.performance_b)}",
            "difference": NA if c.difference is None else f"{c.difference:+.3f}",
            "ci": fmt_ci(c.ci) if c.ci else "", "q": fmt_num(c.q, 3) if c.q is not None else NA,
            "n_items": c.n_items, "significant": c.significant, "better": c.better,
            "n_listed": len(c.evidence),
            "evidence": [{"benchmark": e.benchmark, "item_id": e.item_id, "text": e.text,
                          "activation": fmt_num(e.activation),
                          "answers": [{"model": n, "score": fmt_num(e.scores.get(n)),
                                       "response": e.responses.get(n) or NA} for n in (c.model_a, c.model_b)]}
                         for e in c.evidence if _own_item(first_by_id.get(c.family), e.activation)]})
    disagree = sorted([c for c in comparisons if c["evidence"]],
                      key=lambda c: (not c["significant"], c["family"], c["pair"]))
    audit = findings.audit
    document = document_identity(findings)
    constant = {m.name: sorted({b for f in m.families for b in f.performance.constant_benchmarks}) for m in models}
    n_comparisons = len(findings.comparisons or [])
    return {
        "title": f"Vendor evaluation: {audit.id}",
        "document": document,
        "recommendation": recommendation(names, per_model, findings.comparisons or [], [f.id for f in order]),
        "correction": (f"q-values are Benjamini-Hochberg adjusted across all {n_comparisons} comparisons (every "
                       f"family x every pair of candidates); a difference is significant when q < "
                       f"{findings.settings.scoring.alpha} and its 95% paired-bootstrap interval excludes 0."),
        "benchmarks": [{"name": b.name, "n_items": b.n_items, "n_scored": b.n_scored, "measures": b.measures or
                        "coverage only", "check": _check_text(b)} for b in audit.suite],
        "candidate_benchmarks": [{"name": m.name, "constant": constant[m.name] or ["none"],
                                  "prompting": m.prompting or "not recorded by its eval logs (unknown); see the "
                                               "candidate's logs listed in manifest.json"} for m in models],
        "caveats": [{"number": i + 1, "title": c.title, "text": c.text} for i, c in enumerate(findings.caveats)],
        "exploratory": list(findings.summary.exploratory),
        "signoff_fields": ["Selection decision (candidate chosen, or none)", "Conditions accepted (owner, due date)",
                           "Limitations acknowledged", "Model owner (name, role, date)",
                           "Independent reviewer (name, role, date)", "Approver (name, role, date)",
                           "Revalidation date", "Signature"],
        "meta": {"audit_id": audit.id, "profile_name": audit.profile.name or audit.profile.id,
                 "profile_id": audit.profile.id, "profile_version": audit.profile.version,
                 "scope": audit.profile.description or NA, "date": date_text(manifest),
                 "owner": audit.profile.owner or NA,
                 "dictionary_name": audit.dictionary.name, "cg_gov_version": findings.cg_gov_version,
                 "schema_version": findings.schema_version,
                 "suite": [{"name": b.name, "n_items": b.n_items, "what_1_means": b.what_1_means or NA}
                           for b in audit.suite]},
        "candidates": [{"name": m.name, "sha256": m.sha256, "revision": m.revision, "gate": m.summary.gate,
                        "gate_label": _VERDICT_LABEL[m.summary.gate], "counts": verdict_counts_text(m.families),
                        "gate_words": _GATE_WORDS[m.summary.gate],
                        "failures": list(m.summary.gate_failures), "conditions": list(m.summary.conditions)}
                       for m in models],
        "passing": [m.name for m in models if m.summary.gate != "fail"],
        "names": names,
        "rows": rows,
        "comparisons": comparisons,
        "significant": [c for c in comparisons if c["significant"]],
        "disagreements": disagree,
        "alpha": findings.settings.scoring.alpha,
        "command": manifest.get("command"),
        "git_commit": manifest.get("git_commit"),
        "notes": list(findings.notes),
    }
