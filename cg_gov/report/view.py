"""The report's view model: findings turned into sorted, pre-formatted plain data.

Templates only lay this out: every decision about order, wording and number
format is made here, so the view can be compared as JSON in tests while the
HTML and PDF bytes are free to change with the styling.
"""
from __future__ import annotations

import hashlib
from typing import Any

from cg_gov.findings import (IMPORTANCES, Caveat, ConceptRow, Family, Findings, describe_family,
                             findings_to_json, severity_rank)
from cg_gov.findings._manifest import portable_paths
from cg_gov.findings._schema import item_count
from cg_gov.findings._derive import EVIDENCE_CHARS
from cg_gov.findings.verdict import VERDICT_WORDS, rule_tables
from cg_gov.report import charts
from cg_gov.report.format import (NA, fmt_ci, fmt_int, fmt_num, fmt_pct, fmt_signed, truncate)
from cg_gov.spec import RunSettings

__all__ = ["build_view", "manifest_rows", "document_identity", "verdict_counts", "EVIDENCE_CHARS", "LABEL_CHARS",
           "PRINT_CONCEPTS", "PRINT_EVIDENCE"]

#: Longest concept label shown.
LABEL_CHARS = 120
#: Most manifest rows listed; the rest are in manifest.json.
MANIFEST_ROWS = 200
#: Concepts per family shown in the PDF (the HTML folds the full list under them).
PRINT_CONCEPTS = 8
#: Example items per family shown in the PDF (the HTML shows every one).
PRINT_EVIDENCE = 1
#: Longest prompt or response of an example item in the PDF (the HTML shows EVIDENCE_CHARS).
PRINT_EVIDENCE_CHARS = 240
#: Longest concept label in the PDF's per-family concept tables (one line).
PRINT_LABEL_CHARS = 72
#: Concept rows of each suite-level table shown in the PDF.
PRINT_SUITE_ROWS = 5

COVERAGE_WORDS = {
    "covered": "covered",
    "under-represented": "under-represented",
    "missing": "not covered",
    "not-visible": "not visible to the dictionary",
}
PERFORMANCE_WORDS = {
    "ok": "no significant gap to its benchmarks",
    "weak": "weak",
    "insufficient-data": "insufficient data",
    "no-evidence": "no evidence (no benchmark scores the behaviour it expects)",
}
SOURCE_WORDS = {"detector": "detector", "label": "label", "exemplar": "exemplars", "both": "label + exemplars",
                "pinned": "pinned by profile"}
VISIBILITY_WORDS = {"confirmed": "confirmed", "weak": "weak", "unconfirmed": "unconfirmed", "cannot-tell": "cannot tell"}
#: The terms the report uses; page 1 points here, and every term on page 1 is defined (page-1 terms first).
GLOSSARY = (
    ("verdict", "a family's outcome under the gate rule (method page): PASS, CONDITIONAL (approval needs the "
                "reviewer to accept a condition) or FAIL. It is the only status a family is given in this report"),
    ("deployment gate", "the audit's outcome: FAIL if any family fails (or a suite-level check fails), else "
                        "CONDITIONAL if any family is conditional, else PASS"),
    ("family", "a behaviour the deployment profile says the workflow needs (e.g. refusal), with exemplars and near "
               "misses written by the profile's owner"),
    ("importance", "how much the workflow depends on the family (critical, high, medium, low), set by the profile"),
    ("required", "the thresholds the profile states for the family: a least score, a least number of family items, "
                 "a least coverage ratio"),
    ("score", "the model's mean item score (1 = pass) on the family's items, only from benchmarks whose score "
              "measures the behaviour the family expects"),
    ("n", "the number of scored family items a score rests on"),
    ("95% CI", "a 95% confidence interval [low, high]; every interval in this report is one"),
    ("margin", "observed minus required: negative means the observed value falls short of the threshold"),
    ("family items", "the suite items that exercise a family: those its detector scores above its operating point "
                     "(an item is counted or not), corrected by the owner's labels where they labelled a sample"),
    ("detected", "the number of suite items the family's detector counts"),
    ("estimated (est.)", "the number of family items the owner's labelled sample implies (detected x precision + "
                  "undetected x elusion), with a stratified 95% interval"),
    ("confirmation", "whether a family's counted items can be trusted: confirmed (on the owner's blind labelled "
                     "sample the detector's AUROC interval reaches 0.75 and its precision is adequate), weak (the "
                     "labels show the detector ranks or counts poorly), unconfirmed (no labels yet) or cannot tell "
                     "(no labels and too few near misses, or none of the labelled items is the family's)"),
    ("AUROC", "how well the detector ranks the owner's labelled family items above the others: 0.5 = chance, "
              "1 = perfect"),
    ("precision", "the share of counted items the owner labelled as the family's"),
    ("no evidence", "no benchmark of the suite scores the behaviour the family expects, so the family has no score"),
    ("insufficient data", "too few scored family items (below the audit's n_min) to judge the model on it"),
    ("condition", "what the reviewer accepts (with an owner and a due date) or has resolved before approving a "
                  "conditional family"),
    ("gap finding", "a coverage gap (the suite exercises the family too little) or a performance gap (the model "
                    "scores significantly below its benchmarks' usual level on the family's items): inputs to the "
                    "verdict, never a verdict themselves"),
    ("operating point", "the detector's cut, chosen on the profile's texts so that at most {near_miss_rate} of the "
                        "family's held-out near misses (counter-exemplars, other families' exemplars) would be "
                        "counted"),
    ("exploratory", "a result computed with settings looser than the method's defaults: read it as a lead, not as "
                    "evidence"),
    ("coverage ratio", "with a workload sample: the suite's share of family items over the workload's share"),
    ("lift", "that score minus the mean score of the same benchmarks, in score points (negative = worse than "
             "usual for those benchmarks)"),
    ("q", "the p-value corrected for testing many families (or concepts) at once (Benjamini-Hochberg)"),
    ("chi_bench", "how much the suite covers a concept (the paper's coverage measure, averaged over benchmarks)"),
    ("chi_model", "the model's activation-weighted score on the items where a concept is active"),
    ("n_eff", "the effective number of scored items a score rests on, (sum m)^2 / sum m^2"),
)
SETTING_WORDS = {
    "k": "Over/under-representation factor k",
    "n_min": "Minimum supporting items per benchmark (n_min)",
    "min_benchmarks": "Minimum benchmarks for the suite-level ranking",
    "n_bootstrap": "Bootstrap resamples",
    "alpha": "Significance level (after Benjamini-Hochberg)",
    "seed": "Random seed",
    "epsilon": "Activation threshold for 'missing'",
    "subsample_reruns": "Reruns of the random-subsampling check",
    "subsample_fraction": "Share of each benchmark dropped per subsampling rerun",
    "reference": "Reference sample of the coverage ratios",
    "min_family_n_eff": "Least effective support (n_eff) to judge a family's performance",
    "lift_p_method": "Interval and p-value method of a lift",
    "matching_threshold": "Matcher: score threshold",
    "matching_top_k": "Matcher: most concepts per family",
    "matching_exemplar_weight": "Matcher: weight of the exemplar bonus",
    "extraction_template": "How items were shown to the model",
    "extraction_dtype": "Model dtype of the extraction",
    "max_tokens": "Tokens read per item (longer items truncated)",
}


_VERDICT_ORDER = ("fail", "conditional", "pass")


def _family_sort_key(family: Family) -> tuple[int, int, int, str]:
    """Page 1's order, used everywhere: verdict (fail first), importance, then the rule's severity, id."""
    return (_VERDICT_ORDER.index(family.verdict), IMPORTANCES.index(family.importance),
            severity_rank(family.severity), family.id)


REQUIREMENT_WORDS = {"met": "met", "not-met": "NOT met", "cannot-tell": "cannot tell"}


def _requirement_text(family: Family) -> str:
    req = family.requirement
    parts = []
    if req.min_items is not None:
        parts.append(f"at least {req.min_items} family items: {REQUIREMENT_WORDS[req.items_status or 'cannot-tell']}")
    if req.min_coverage_ratio is not None:
        parts.append(f"coverage ratio >= {fmt_num(req.min_coverage_ratio)}: "
                     f"{REQUIREMENT_WORDS[req.coverage_status or 'cannot-tell']}")
    if req.min_performance is not None:
        parts.append(f"score >= {fmt_num(req.min_performance)}: "
                     f"{REQUIREMENT_WORDS[req.performance_status or 'cannot-tell']}")
    return "; ".join(parts) if parts else "none stated"


def _required_cell(family: Family) -> list[str]:
    req = family.requirement
    out = []
    if req.min_performance is not None:
        out.append(f"score >= {fmt_num(req.min_performance)}")
    if req.min_items is not None:
        out.append(f"items >= {req.min_items}")
    if req.min_coverage_ratio is not None:
        out.append(f"coverage >= {fmt_num(req.min_coverage_ratio)}")
    return out or ["none stated"]


def _pct_ci(ci: Any) -> str:
    return f"[{fmt_pct(ci[0], 1)}, {fmt_pct(ci[1], 1)}]" if ci else ""


def items_text(family: Family) -> str:
    """The family's items in a few words: counted, estimated, per benchmark."""
    items = family.items
    if family.coverage.status == "not-visible":
        return "not counted (no detector)"
    if items is None:
        return "not counted (an audit older than family items)"
    text = f"{fmt_int(items.detected)} of {fmt_int(items.n_suite)} detected"
    if items.estimated is not None:
        ci = items.estimated_ci
        text += f"; about {items.estimated:.0f}" + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else "") + \
            " estimated from labels"
    if items.labels is not None and items.labels.next_to_label:
        text += f"; next: {items.labels.next_to_label.split(':')[0]}"
    return text


def _margin(required: float | None, observed: float | None) -> str:
    if required is None or observed is None:
        return ""
    return f" (margin {fmt_signed(observed - required)})"


def _observed_cell(family: Family) -> list[dict[str, str]]:
    perf, req = family.performance, family.requirement
    score_ci = fmt_ci(perf.score_ci) if perf.score is not None else ""
    if perf.status == "no-evidence":
        score_value = "no evidence"
    else:
        score_value = fmt_num(perf.score)
    rows = [{"what": "score", "value": score_value,
             "ci": score_ci + (f" n = {perf.n_scored}" if perf.score is not None else "")}]
    margin = _margin(req.min_performance, perf.score)
    if margin:
        rows.append({"what": "", "value": margin.strip(" ()"), "ci": ""})
    rows.append({"what": "items", "value": items_text(family), "ci": ""})
    if family.coverage.ratio is not None:
        rows.append({"what": "coverage", "value": fmt_num(family.coverage.ratio), "ci": fmt_ci(family.coverage.ci)})
    return rows


def _score_cell(family: Family) -> str:
    """The observed score with its interval and n, or why there is none."""
    perf = family.performance
    if perf.status == "no-evidence":
        return "no evidence"
    if perf.score is None:
        return f"no score ({PERFORMANCE_WORDS[perf.status]}, n = {perf.n_scored})"
    text = f"{fmt_num(perf.score)} {fmt_ci(perf.score_ci)}, n = {perf.n_scored}"
    return text + (" (insufficient data)" if perf.status == "insufficient-data" else "")


def _margins(family: Family) -> list[str]:
    """Observed minus required, per stated threshold ("n/a" where nothing was observed)."""
    req, perf = family.requirement, family.performance
    out = []
    if req.min_performance is not None:
        out.append("score " + (fmt_signed(perf.score - req.min_performance) if perf.score is not None
                               else "n/a (no score)"))
    if req.min_items is not None:
        count = item_count(family.items)
        out.append("items " + (f"{count - req.min_items:+.0f}" if count is not None else "n/a (not counted)"))
    if req.min_coverage_ratio is not None:
        ratio = family.coverage.ratio
        out.append("coverage " + (fmt_signed(ratio - req.min_coverage_ratio) if ratio is not None
                                  else "n/a (no workload sample)"))
    return out or ["none stated"]


def _items_short(family: Family) -> str:
    items = family.items
    if items is None or family.coverage.status == "not-visible":
        return "not counted (no detector)"
    text = f"{fmt_int(items.detected)} of {fmt_int(items.n_suite)} detected"
    if items.estimated is not None:
        ci = items.estimated_ci
        text += f"; est. {items.estimated:.0f}" + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else "")
    return text


def _confirmation_short(family: Family) -> str:
    vis = family.visibility
    word = VISIBILITY_WORDS[vis.status]
    if vis.auroc is None:
        return word + (" (no labelled family item)" if vis.basis == "owner-labels" else " (no labels)")
    text = f"{word}: AUROC {fmt_num(vis.auroc)} {fmt_ci(vis.ci)}"
    if vis.precision is not None:
        text += f", precision {fmt_num(vis.precision)} {fmt_ci(vis.precision_ci)}"
    return text + (" (near misses, no labels)" if vis.basis == "near-misses" else "")


def verdict_counts(families) -> list[dict[str, Any]]:
    """Families per verdict, fail first (the counts the gate line and page 1 show)."""
    return [{"verdict": v, "label": VERDICT_WORDS[v], "count": sum(1 for f in families if f.verdict == v)}
            for v in ("fail", "conditional", "pass")]


def verdict_counts_text(families) -> str:
    """``fail 3, conditional 3, pass 2``."""
    return ", ".join(f"{c['verdict']} {c['count']}" for c in verdict_counts(families))


def document_identity(findings: Findings) -> dict[str, str]:
    """The document's identity: sha256 of the findings.json bytes this report is rendered from, and its
    first 12 hex digits as the document id (the same bytes :func:`findings_to_json` writes)."""
    digest = hashlib.sha256(findings_to_json(findings).encode("utf-8")).hexdigest()
    return {"id": digest[:12], "findings_sha256": digest}


def _visibility_cell(family: Family) -> str:
    vis = family.visibility
    basis = {"owner-labels": "on the owner's labels", "near-misses": "near misses only, no labels"}.get(vis.basis, "")
    if vis.auroc is None:
        return (f"{VISIBILITY_WORDS[vis.status]}: no family item among {vis.n_neg} labelled"
                if vis.basis == "owner-labels" else f"{VISIBILITY_WORDS[vis.status]} (no labels)")
    prec = (f"; precision {fmt_num(vis.precision)} {fmt_ci(vis.precision_ci)}" if vis.precision is not None else "")
    return f"{VISIBILITY_WORDS[vis.status]}, AUROC {fmt_num(vis.auroc)} {fmt_ci(vis.ci)}{prec} {basis}".strip()


def lift_note(family: Family, n_families: int, alpha: float) -> str | None:
    """In words, when the lift's interval excludes 0 but its q-value does not reach alpha."""
    perf = family.performance
    if perf.ci is None or perf.p is None or perf.q is None or perf.q < alpha:
        return None
    level = f"{(1 - alpha) * 100:g}%"
    if perf.ci[1] < 0:
        side = "below"
    elif perf.ci[0] > 0:
        side = "above"
    else:
        return None
    return (f"lift {side} 0 at {level} (p = {fmt_num(perf.p, 3)}), not significant after correcting for "
            f"{n_families} families (q = {fmt_num(perf.q, 3)})")


def _concept_row(row: ConceptRow) -> dict[str, Any]:
    return {
        "concept_id": row.concept_id,
        "label": truncate(row.label, LABEL_CHARS),
        "chi_model": fmt_num(row.chi_model),
        "lift": fmt_signed(row.lift),
        "lift_ci": fmt_ci(row.lift_ci, signed=True),
        "q": fmt_num(row.lift_q, 3),
        "n_eff": fmt_num(row.n_eff, 1),
        "n_benchmarks": row.n_benchmarks,
        "chi_bench": fmt_num(row.chi_bench, 3),
        "coverage_ratio": fmt_num(row.coverage_ratio),
        "coverage_ratio_ci": fmt_ci(row.coverage_ratio_ci),
    }


def _anchor(family_id: str) -> str:
    return "family-" + "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in family_id)


def _coverage_text(family: Family) -> str:
    cov, items = family.coverage, family.items
    if cov.status == "not-visible":
        return "not visible: the family has no detector (no exemplars or no concept), so its items cannot be counted"
    if items is None:
        return (f"{COVERAGE_WORDS[cov.status]} by the concept mass of an older audit (mass ratio "
                f"{fmt_num(cov.mass_ratio)}); its items were not counted: re-run the audit")
    by = ", ".join(f"{b} {n}" for b, n in sorted(items.by_benchmark.items(), key=lambda kv: (-kv[1], kv[0])) if n)
    text = (f"{COVERAGE_WORDS[cov.status]}: {fmt_int(items.detected)} of {fmt_int(items.n_suite)} suite items "
            f"detected ({fmt_pct(items.share, 1)} {_pct_ci(items.share_ci)})" + (f": {by}" if by else ""))
    if items.workload_share is not None:
        text += f"; workload sample {fmt_pct(items.workload_share, 1)}"
    if items.tagged:
        text += (f"; {fmt_int(items.tagged)} declared by their logs (family_tags), of which the detector counts "
                 f"{fmt_pct(items.tagged_recall)}"
                 + (f", and {fmt_pct(items.tagged_precision)} of what it counts there is declared"
                    if items.tagged_precision is not None else ""))
    if items.labels is not None:
        lab = items.labels
        text += (f". Owner's labels: {lab.n_yes} of {lab.n_labelled} labelled items confirmed; precision among "
                 f"detected {fmt_num(lab.precision)} {fmt_ci(lab.precision_ci)}, elusion among undetected "
                 f"{fmt_num(lab.elusion, 3)} {fmt_ci(lab.elusion_ci, digits=3)}")
    if cov.min_items is not None:
        text += f" (minimum {cov.min_items})"
    return text


def _performance_text(family: Family, note: str | None = None) -> str:
    perf = family.performance
    if perf.status == "no-evidence":
        return (f"no evidence: no benchmark of the suite scores {', '.join(perf.expects)}; the family's items count "
                "for coverage only")
    source = (f" from {', '.join(perf.benchmarks)}" if perf.benchmarks else "")
    if perf.score is None:
        return f"{PERFORMANCE_WORDS[perf.status]}: no scored family item{source}"
    text = (f"{PERFORMANCE_WORDS[perf.status]}: score {fmt_num(perf.score)} {fmt_ci(perf.score_ci)} on "
            f"{perf.n_scored} scored items{source}")
    if not perf.expects:
        text += " (the family states no expected behaviour, so every scored benchmark counts)"
    if perf.lift is not None:
        text += f", lift {fmt_signed(perf.lift)} {fmt_ci(perf.ci, signed=True)}"
    if perf.q is not None:
        text += f", p {fmt_num(perf.p, 3)}, q {fmt_num(perf.q, 3)}"
    if perf.constant_benchmarks:
        text += "; " + ", ".join(f"{b} scores {fmt_num(v)} on every item (in the score, not in the lift)"
                                 for b, v in sorted(perf.constant_benchmarks.items()))
    if note:
        text += f"; {note}"
    return text


def _gap_findings(family: Family) -> list[str]:
    """The family's gap findings (inputs to its verdict), named as such; empty when there is none."""
    out = []
    cov, perf = family.coverage, family.performance
    if cov.status in ("under-represented", "missing"):
        out.append(f"coverage gap: {COVERAGE_WORDS[cov.status]}")
    if perf.status == "weak":
        out.append(f"performance gap: lift {fmt_signed(perf.lift)} {fmt_ci(perf.ci, signed=True)}, "
                   f"q {fmt_num(perf.q, 3)}")
    return out


def _support_text(family: Family) -> str:
    perf = family.performance
    if not perf.n_scored:
        return "no scored items"
    return f"{fmt_int(perf.n_scored)} scored items, effectively {fmt_num(perf.n_eff, 1)}"


def _family_view(family: Family, caveats: dict[str, Caveat], n_families: int = 1,
                 alpha: float = 0.05) -> dict[str, Any]:
    cov, perf = family.coverage, family.performance
    note = lift_note(family, n_families, alpha)
    return {
        "id": family.id,
        "verdict": family.verdict,
        "verdict_label": VERDICT_WORDS[family.verdict],
        "reasons": list(family.reasons),
        "actions": list(family.actions),
        "lift_note": note,
        "required": _required_cell(family),
        "observed": _observed_cell(family),
        "visibility": _visibility_cell(family),
        "visibility_status": family.visibility.status,
        "score_cell": _score_cell(family),
        "margins": _margins(family),
        "items_short": _items_short(family),
        "confirmation": _confirmation_short(family),
        "gap_findings": _gap_findings(family),
        "anchor": _anchor(family.id),
        "description": family.description,
        "importance": family.importance,
        "severity": family.severity,
        "gate_failed": family.gate_failed,
        "sentence": describe_family(family),
        "coverage": {
            "status": cov.status,
            "status_words": COVERAGE_WORDS[cov.status],
            "ratio": fmt_num(cov.ratio),
            "ci": fmt_ci(cov.ci),
            "suite_mean": fmt_num(cov.suite_mean, 4),
            "reference_mean": fmt_num(cov.reference_mean, 4),
            "reference": cov.reference,
        },
        "performance": {
            "status": perf.status,
            "status_words": PERFORMANCE_WORDS[perf.status],
            "score": fmt_num(perf.score),
            "score_ci": fmt_ci(perf.score_ci),
            "lift": fmt_signed(perf.lift),
            "lift_ci": fmt_ci(perf.ci, signed=True),
            "p": fmt_num(perf.p, 3),
            "q": fmt_num(perf.q, 3),
            "n_eff": fmt_num(perf.n_eff, 1),
            "n_scored": fmt_int(perf.n_scored),
        },
        "coverage_text": _coverage_text(family),
        "items_text": items_text(family),
        "performance_text": _performance_text(family, note),
        "support_text": _support_text(family),
        "requirement": _requirement_text(family),
        "requirement_met": family.requirement.met,
        "concepts": [
            {
                "concept_id": c.concept_id,
                "label": truncate(c.label, LABEL_CHARS),
                "label_short": truncate(c.label, PRINT_LABEL_CHARS),
                "fires_on": ", ".join(c.top_tokens[:3]),
                "example": c.example or "",
                "similarity": fmt_num(c.similarity),
                "margin": fmt_signed(c.margin),
                "source": SOURCE_WORDS[c.source],
                "weight": fmt_num(c.weight),
                "coverage_ratio": fmt_num(c.coverage_ratio),
                "chi_model": fmt_num(c.chi_model),
            }
            for c in sorted(family.matched_concepts, key=lambda c: (-c.weight, c.concept_id))[:PRINT_CONCEPTS]
        ],
        "more_concepts": [
            {"concept_id": c.concept_id, "label": truncate(c.label, LABEL_CHARS), "source": SOURCE_WORDS[c.source],
             "weight": fmt_num(c.weight), "similarity": fmt_num(c.similarity), "chi_model": fmt_num(c.chi_model)}
            for c in sorted(family.matched_concepts, key=lambda c: (-c.weight, c.concept_id))[PRINT_CONCEPTS:]
        ],
        "benchmarks": [
            {"name": b.name, "share": fmt_pct(b.share)}
            for b in sorted(family.benchmarks, key=lambda b: (-b.share, b.name))
        ],
        "evidence": [
            {
                "benchmark": e.benchmark,
                "item_id": e.item_id,
                "text": truncate(e.text, EVIDENCE_CHARS),
                "response": truncate(e.response, EVIDENCE_CHARS) if e.response else None,
                "text_short": truncate(e.text, PRINT_EVIDENCE_CHARS),
                "response_short": truncate(e.response, PRINT_EVIDENCE_CHARS) if e.response else None,
                "score": fmt_num(e.score),
                "activation": fmt_num(e.activation, 3),
                "print": i < PRINT_EVIDENCE,
            }
            for i, e in enumerate(sorted(family.evidence, key=lambda e: (-e.activation, e.benchmark, e.item_id)))
        ],
        "caveats": [
            {"id": cid, "title": caveats[cid].title, "number": list(caveats).index(cid) + 1}
            for cid in family.caveats if cid in caveats
        ],
    }


def _charts(findings: Findings) -> list[dict[str, str]]:
    """The report's figures, each with a title, a caption and alt text that states what it shows."""
    out: list[dict[str, str]] = []
    families = sorted(findings.families, key=_family_sort_key)
    if families:
        rows = []
        for f in families:
            perf = f.performance
            why = ("no evidence: no benchmark scores " + (", ".join(perf.expects) or "its behaviour")
                   if perf.status == "no-evidence" else f"no score (n = {perf.n_scored})")
            rows.append(charts.VerdictRow(f.id, perf.score, perf.score_ci, perf.n_scored,
                                          f.requirement.min_performance, f.verdict, why))
        scored = [f"{f.id} {fmt_num(f.performance.score)} {fmt_ci(f.performance.score_ci)} (n = "
                  f"{f.performance.n_scored}), {f.verdict}" for f in families if f.performance.score is not None]
        unscored = [f"{f.id} ({f.verdict})" for f in families if f.performance.score is None]
        alt = ("Dot plot, one row per family: score with 95% interval against the required minimum, verdict at "
               "the right. " + ("Scored: " + "; ".join(scored) + ". " if scored else "")
               + ("No score: " + ", ".join(unscored) + "." if unscored else ""))
        out.append({
            "id": "family-verdicts",
            "title": "Each family's score against its required minimum",
            "caption": "Dot: the model's score on the family's items, with its 95% interval (bar) and the number "
                       "of scored items n; dark tick: the minimum score the profile requires; right: the verdict "
                       "(which also weighs coverage and confirmation, page 1). Families without a score say why.",
            "alt": alt,
            "svg": charts.family_verdict_svg(rows),
        })
    dist = findings.suite_findings.coverage_distribution
    if dist is not None:
        caption = (f"Each of the dictionary's {dist.n_concepts:,} concepts, ordered from most to least exercised by "
                   f"the suite ({sum(b.n_items for b in findings.audit.suite):,} items). {dist.n_zero:,} of "
                   f"{dist.n_concepts:,} concepts are never active.")
        if dist.top_10pct_share is not None:
            caption += (f" The top 10% of concepts hold {fmt_pct(dist.top_10pct_share)} of the "
                        f"suite's coverage.")
        out.append({
            "id": "coverage-distribution",
            "size": "compact",
            "title": "How unevenly the suite covers the dictionary's concepts",
            "caption": caption,
            "alt": "Line chart on a log scale of each concept's coverage by the suite, most covered first. "
                   + caption,
            "svg": charts.coverage_distribution_svg(dist.ranks, dist.chi_bench, dist.n_concepts,
                                                    dist.n_zero, dist.top_1pct_share),
        })
    if findings.audit.suite:
        rows = [(b.name, b.missing_pct) for b in findings.audit.suite]
        n_concepts = fmt_int(findings.audit.dictionary.n_concepts)
        out.append({
            "id": "missing-by-benchmark",
            "size": "compact",
            "title": "Concepts each benchmark never activates",
            "caption": f"Share of the dictionary's {n_concepts} concepts on which no item of the benchmark is "
                       "active (the benchmark's item count n is in the suite table). A high share means the "
                       "benchmark tests a narrow slice of behaviour.",
            "alt": "Horizontal bars, one per benchmark, of the share of concepts it never activates: "
                   + "; ".join(f"{b.name} {b.missing_pct:.1f}% (n = {b.n_items} items)" for b in findings.audit.suite)
                   + ".",
            "svg": charts.missing_by_benchmark_svg(rows),
        })
    points, left_out = [], []
    for f in families:
        ratio, score = f.coverage.ratio, f.performance.score
        if ratio is None or ratio <= 0 or score is None:
            why = ("no detector" if f.coverage.status == "not-visible" else "no workload sample to compare with"
                   if ratio is None else "no family item in the suite" if ratio == 0 else "no score")
            left_out.append(f"{f.id} ({why})")
            continue
        points.append(charts.ScatterPoint(f.id, ratio, f.coverage.ci, score,
                                          f.performance.score_ci, f.verdict,
                                          f.requirement.min_performance))
    if points:
        k = findings.settings.scoring.ratio_k
        caption = ("Each family of the profile with a coverage ratio, with its 95% intervals: right of the dashed "
                   "line the suite tests it more than the reference does; left of the dotted line it is "
                   "under-represented. Lower means the model scores worse on it; a red bar marks the family's "
                   "required minimum score. Colour and the word after each label give the verdict.")
        if left_out:
            caption += " Not plotted: " + "; ".join(left_out) + "."
        out.append({
            "id": "family-scatter",
            "title": "Coverage and performance per family",
            "caption": caption,
            "alt": "Scatter plot of coverage ratio against score per family: "
                   + "; ".join(f"{p.label} ratio {fmt_num(p.ratio)}, score {fmt_num(p.score)}, {p.verdict}"
                               for p in points) + ".",
            "svg": charts.family_scatter_svg(points, k=k),
        })
    return out


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], rows)
    elif isinstance(value, (list, tuple)):
        if not value:
            rows.append((prefix, "[]"))
        for i, item in enumerate(value):
            _flatten(f"{prefix}[{i}]", item, rows)
    elif value is None:
        rows.append((prefix, "null"))
    elif isinstance(value, bool):
        rows.append((prefix, "true" if value else "false"))
    else:
        rows.append((prefix, str(value)))


def manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The manifest flattened into sorted ``(key path, value)`` rows."""
    rows: list[tuple[str, str]] = []
    _flatten("", manifest, rows)
    return rows


def _manifest_view(manifest: dict[str, Any]) -> dict[str, Any]:
    rows = manifest_rows(portable_paths(manifest))
    hashes = [(k, v) for k, v in rows if k.endswith(("sha256", "identity", "hash"))]
    others = [(k, v) for k, v in rows if (k, v) not in hashes]
    shown = (hashes + others)[:MANIFEST_ROWS]
    return {
        "rows": [{"key": k, "value": truncate(v, 200), "is_hash": (k, v) in hashes} for k, v in shown],
        "n_hashes": len(hashes),
        "n_left_out": max(0, len(rows) - MANIFEST_ROWS),
    }


def robustness_rows(rob: dict[str, float | bool], settings: RunSettings) -> list[dict[str, str]]:
    """The robustness checks, each figure formatted by its kind, in words, beside the paper's values.

    Standard deviations and changes are in chi_model / chi_bench units (scores from 0 to 1);
    ``*_pct`` keys already hold percentages; counts are whole numbers.
    """
    rows: list[dict[str, str]] = []
    if not rob:
        return rows
    reruns = rob.get("subsample_reruns")
    drop = f"{settings.scoring.subsample_fraction * 100:.0f}%"
    runs = f"{int(reruns):,} reruns" if isinstance(reruns, (int, float)) and not isinstance(reruns, bool) else "reruns"

    def pct(key: str) -> str:
        v = rob.get(key)
        return "" if v is None or isinstance(v, bool) else f" ({'+' if v > 0 else ''}{v:.2f}% of the median)"

    def count(key: str) -> str:
        v = rob.get(key)
        return "" if v is None or isinstance(v, bool) else f"{int(round(v)):,} items removed; "

    if "subsample_std_chi_model_mean" in rob:
        rows.append({"check": f"Random subsampling (drop {drop} of each benchmark, {runs}): mean standard "
                              "deviation of chi_model over concepts",
                     "ours": f"{rob['subsample_std_chi_model_mean']:.3f} (score units)",
                     "paper": "0.014 (score units)"})
    if "subsample_std_chi_bench_mean" in rob:
        rows.append({"check": f"Random subsampling (drop {drop} of each benchmark, {runs}): mean standard "
                              "deviation of chi_bench over concepts",
                     "ours": f"{rob['subsample_std_chi_bench_mean']:.3f} (coverage units)",
                     "paper": "0.025 (coverage units)"})
    if "adversarial_median_chi_model" in rob:
        rows.append({"check": "Adversarial removal: median chi_model of the supported concepts before removal",
                     "ours": f"{rob['adversarial_median_chi_model']:.3f}", "paper": "(model-specific)"})
    if "adversarial_top_median_change" in rob:
        v = rob["adversarial_top_median_change"]
        rows.append({"check": "Removing the items most aligned with the best concepts (at most 1% of the "
                              "scored items): change of the median chi_model",
                     "ours": f"{count('adversarial_removed_top')}{fmt_signed(v, 3)}{pct('adversarial_top_median_change_pct')}",
                     "paper": "falls"})
    if "adversarial_bottom_median_change" in rob:
        v = rob["adversarial_bottom_median_change"]
        rows.append({"check": "Removing the items most aligned with the worst concepts (at most 1% of the "
                              "scored items): change of the median chi_model",
                     "ours": f"{count('adversarial_removed_bottom')}{fmt_signed(v, 3)}{pct('adversarial_bottom_median_change_pct')}",
                     "paper": "rises"})
    if "direction_ok" in rob:
        rows.append({"check": "Both removals move the median in the paper's directions",
                     "ours": "yes" if rob["direction_ok"] else "NO", "paper": "yes"})
    return rows


def _suite_view(findings: Findings) -> dict[str, Any]:
    suite = findings.suite_findings
    robustness = robustness_rows(suite.robustness, findings.settings)
    dist = suite.coverage_distribution
    missing = suite.missing_from_suite
    return {
        "over_represented": [_concept_row(r) for r in suite.over_represented],
        "under_represented": [_concept_row(r) for r in suite.under_represented],
        "missing": {
            "count": fmt_int(missing.count),
            "pct": fmt_num(missing.pct, 1) + "%" if missing.pct is not None else NA,
            "examples": [{"concept_id": c.concept_id, "label": truncate(c.label, LABEL_CHARS)}
                         for c in missing.examples],
        },
        "weakest": [_concept_row(r) for r in suite.weakest],
        "strongest": [_concept_row(r) for r in suite.strongest],
        "min_benchmarks": str(findings.settings.scoring.min_benchmarks),
        "alpha": str(findings.settings.scoring.alpha),
        "exploratory": [e for e in findings.summary.exploratory if "suite-level" in e],
        "robustness": robustness,
        "skew": None if dist is None else {
            "n_concepts": fmt_int(dist.n_concepts),
            "n_zero": fmt_int(dist.n_zero),
            "top_1pct_share": fmt_pct(dist.top_1pct_share),
            "top_10pct_share": fmt_pct(dist.top_10pct_share),
        },
    }


def _drift_view(findings: Findings) -> dict[str, Any] | None:
    drift = findings.drift
    if drift is None:
        return None
    return {
        "reference": drift.reference,
        "n_items": fmt_int(drift.n_items),
        "families": [
            {"family_id": f.family_id, "traffic_share": fmt_pct(f.traffic_share, 1),
             "coverage_ratio": fmt_num(f.coverage_ratio), "ci": fmt_ci(f.ci), "status": f.status,
             "status_words": COVERAGE_WORDS[f.status]}
            for f in sorted(drift.families, key=lambda f: (-f.traffic_share, f.family_id))
        ],
        "untested_concepts": [
            {"concept_id": c.concept_id, "label": truncate(c.label, LABEL_CHARS),
             "traffic_share": fmt_pct(c.traffic_share, 1), "coverage_ratio": fmt_num(c.coverage_ratio)}
            for c in sorted(drift.untested_concepts, key=lambda c: (-c.traffic_share, c.concept_id))
        ],
    }


def _method_view(findings: Findings) -> dict[str, Any]:
    settings = findings.settings
    scoring = settings.scoring
    recorded = settings.recorded()
    rows = []
    for key in sorted(recorded):
        value = recorded[key]
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, (dict, list)):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) if isinstance(
                value, dict) else ", ".join(map(str, value))
        rows.append({"key": key, "label": SETTING_WORDS.get(key, key.replace("_", " ").capitalize()),
                     "value": truncate(str(value), 160)})
    alpha = scoring.alpha
    level = f"{(1 - alpha) * 100:g}%"
    if scoring.lift_p_method == "bootstrap":
        inference = (f"Lift intervals are {level} bootstrap percentile intervals and their p-values twice the share of "
                     "bootstrap resamples on the other side of 0 (lift_p_method: bootstrap).")
    else:
        inference = (f"Lift intervals are the estimate plus or minus z times the bootstrap standard error (z for "
                     f"{level}, 1.96 at 95%); the p-value is 2 Phi(-|lift| / SE) from the same standard error, so an "
                     f"interval excludes 0 exactly when p is below {alpha:g}. q-values correct the p-values "
                     "with Benjamini-Hochberg across the profile's families (for concepts: across the dictionary's "
                     "concepts). A family is called significantly weak only when its interval lies below 0 and "
                     f"q is below {alpha:g}; an interval that excludes 0 while q does not is said in words.")
    tables = rule_tables()
    severity_tables = [{"name": t["name"], "statuses": t["statuses"],
                        "rows": [{"importance": imp, "cells": [t["table"][imp][st] for st in t["statuses"]]}
                                 for imp in tables["importances"]]} for t in tables["severity"]]
    return {"settings": rows, "inference": inference, "rule_version": tables["version"],
            "severity_tables": severity_tables, "gate_rows": tables["gate"],
            "k": f"{scoring.ratio_k:g}",
            "n_min": str(scoring.n_min),
            "n_bootstrap": str(scoring.bootstrap),
            "reference": next((f.coverage.reference for f in findings.families), "reference sample")}


_GATE_VERDICT = {
    "fail": "The deployment gate FAILED: the failing families below must be resolved, or accepted with "
            "conditions by the reviewer, before this model is approved for this workflow.",
    "conditional": "The deployment gate is CONDITIONAL: no family fails, but the conditions below must be "
                   "accepted (or resolved) by the reviewer before this model is approved for this workflow.",
    "pass": "The deployment gate passed: no family fails or is conditional under the rule on the method page. "
            "Read the remaining findings and caveats before signing.",
}


def _check_text(b) -> str:
    c = b.scorer_check
    if c is None:
        return "not checked"
    kappa = f", kappa {fmt_num(c.kappa)} {fmt_ci(c.kappa_ci)}" if c.kappa is not None else ""
    return f"agrees {fmt_num(c.agreement)} {fmt_ci(c.agreement_ci)}{kappa} with human verdicts on {c.n} items"


def _matrix(findings: Findings) -> dict[str, Any]:
    """Family x benchmark: the family's items in each benchmark, and whether they count for its score."""
    names = [b.name for b in findings.audit.suite]
    rows = []
    for f in findings.families:
        cells = []
        for b in names:
            n = (f.items.by_benchmark.get(b, 0) if f.items is not None else 0)
            use = b in f.performance.benchmarks
            cells.append({"n": n, "use": "coverage + score" if use and n else ("coverage" if n else ""),
                          "scored": use})
        rows.append({"family": f.id, "expects": ", ".join(f.performance.expects) or "any", "cells": cells})
    return {"benchmarks": names, "rows": rows}


def _scorer_text(b) -> str:
    parts = [f"{b.scorer_kind} scorer"] if b.scorer_kind else []
    if b.scorer_detail:
        parts.append(b.scorer_detail)
    elif b.scorer:
        parts.append(f"scorer '{b.scorer}'")
    return "; ".join(parts) if parts else ("no scores (coverage only)" if not b.n_scored else "as in its log")


def date_text(manifest: dict[str, Any]) -> str:
    """The audit's date, saying when it is a pinned timestamp rather than the clock of the run."""
    created = str(manifest.get("created") or NA)
    command = str(manifest.get("command") or "")
    if manifest.get("now_pinned") or "--now" in command or "SOURCE_DATE_EPOCH" in command:
        return (f"{created}, pinned with --now (a fixed timestamp for reproducible output, not the clock time of "
                "the run; manifest.json records how it was run)")
    return created


MODEL_HASH_COVERS = ("sha256 of the model file under review, as recorded by the eval logs' summary.json or the "
                     "audit spec; cg_gov did not hash the weights itself")


def _hash_row(what: str, value: Any, covers: str) -> dict[str, str] | None:
    return None if not value else {"what": what, "hash": str(value), "covers": covers}


def _provenance(findings: Findings, manifest: dict[str, Any], document: dict[str, str]) -> dict[str, Any]:
    """The appendix: what each hash covers, the tool's version and commit, and the command."""
    versions = manifest.get("versions") or {}
    dictionary = manifest.get("dictionary") or {}
    reference = dictionary.get("reference") or {} if isinstance(dictionary, dict) else {}
    extraction = manifest.get("extraction") or {}
    precomputed = extraction.get("precomputed") or {} if isinstance(extraction, dict) else {}
    matching = manifest.get("matching") or {}
    rows = [
        {"what": "findings.json", "hash": document["findings_sha256"],
         "covers": "the findings this report is rendered from (its document id is the first 12 hex digits)"},
        _hash_row("Model", findings.audit.model_sha256, MODEL_HASH_COVERS),
    ]
    for item in manifest.get("inputs") or []:
        if isinstance(item, dict):
            n = f", {item['n_items']} items" if item.get("n_items") is not None else ""
            rows.append(_hash_row(f"Eval log: {item.get('name', '?')}", item.get("sha256"),
                                  f"{item.get('path', 'the log file')} ({item.get('format', 'log')}{n})"))
    for key, what, covers in (("profile", "Deployment profile", "the profile file (families, exemplars, thresholds)"),
                              ("audit", "Audit spec", "the audit spec file (suite, settings)")):
        entry = manifest.get(key) or {}
        if isinstance(entry, dict):
            rows.append(_hash_row(what, entry.get("sha256"), f"{entry.get('path', 'the file')}: {covers}"))
    rows.append(_hash_row("Concept dictionary", findings.audit.dictionary.identity,
                          f"{findings.audit.dictionary.name}: the language model's weights, the hook layer, the "
                          "SAE's weights and config, and the concept labels"))
    rows.append(_hash_row("Reference corpus", reference.get("sha256") if isinstance(reference, dict) else None,
                          "the dictionary's reference texts the coverage ratios compare against"))
    rows.append(_hash_row("Precomputed activations", precomputed.get("sha256") if isinstance(precomputed, dict)
                          else None, f"{precomputed.get('path', '')}: activations read instead of running the model"
                          if isinstance(precomputed, dict) else ""))
    rows.append(_hash_row("Concept-label embeddings", matching.get("labels_sha256") if isinstance(matching, dict)
                          else None, "the concept labels the family matcher embedded"))
    return {
        "created": str(manifest.get("created") or NA),
        "model_sha256": findings.audit.model_sha256 or "not given by the logs or the spec",
        "prompting": findings.audit.prompting,
        "cg_gov_version": findings.cg_gov_version,
        "git_commit": str(manifest.get("git_commit") or "not recorded (not run from a git checkout)"),
        "command": str(manifest.get("command") or "not recorded"),
        "versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or NA,
        "platform": str(manifest.get("platform") or NA),
        "hashes": [r for r in rows if r is not None],
    }


#: The sign-off of a model-approval file.
SIGNOFF_FIELDS = (
    "Conditions accepted (each with an owner and a due date)",
    "Limitations acknowledged (caveats and exploratory results read)",
    "Model owner (name, role, date)",
    "Independent reviewer (name, role, date; independent of the model's developers and the profile's owner)",
    "Approver (name, role, date)",
    "Revalidation date",
    "Signature",
)
#: What calls for a new audit before the revalidation date: the changes ``cg-gov diff`` detects.
REVALIDATION_TRIGGERS = (
    "workload change: the profile's families, importances, thresholds or workload sample change (new profile "
    "version)",
    "model change: a new model file, quantisation or revision (a different model sha256)",
    "suite change: a benchmark added, removed or re-scored, or a scorer check changes (different eval-log hashes)",
    "method change: another concept dictionary, reference corpus, rule version or audit setting",
)


def build_view(findings: Findings, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's view model, as plain JSON-ready data."""
    manifest = portable_paths(dict(manifest or {}))
    audit = findings.audit
    caveats = {c.id: c for c in findings.caveats}
    families = sorted(findings.families, key=_family_sort_key)
    summary = findings.summary
    alpha = findings.settings.scoring.alpha
    views = [_family_view(f, caveats, len(families), alpha) for f in families]
    document = document_identity(findings)
    rate = findings.settings.detector_max_near_miss_rate
    # findings of earlier versions do not record the rate their detectors ran at
    near_miss_words = f"{rate:.0%}" if rate is not None else "the share the audit's cg_gov version sets"
    return {
        "title": f"Governance report: {audit.id}",
        "document": document,
        "meta": {
            "audit_id": audit.id,
            "model": audit.model,
            "model_sha256": audit.model_sha256,
            "model_hash_covers": MODEL_HASH_COVERS,
            "prompting": audit.prompting,
            "profile_id": audit.profile.id,
            "profile_version": audit.profile.version,
            "profile_name": audit.profile.name or audit.profile.id,
            "profile_owner": audit.profile.owner or NA,
            "scope": audit.profile.description or NA,
            "date": str(manifest.get("created") or NA),
            "date_text": date_text(manifest),
            "dictionary_name": audit.dictionary.name,
            "dictionary_identity": audit.dictionary.identity,
            "n_concepts": fmt_int(audit.dictionary.n_concepts),
            "cg_gov_version": findings.cg_gov_version,
            "schema_version": findings.schema_version,
        },
        "executive": {
            "gate": summary.gate,
            "gate_label": VERDICT_WORDS[summary.gate],
            "verdict": _GATE_VERDICT[summary.gate],
            "verdict_counts": verdict_counts(families),
            "verdict_counts_text": verdict_counts_text(families),
            "gate_failures": list(summary.gate_failures),
            "suite_failures": [r for r in summary.gate_failures if not r.startswith("Family '")],
            "conditions": list(summary.conditions),
            "exploratory": list(summary.exploratory),
            "notes": list(findings.notes),
            "headline": list(summary.headline),
            "n_families": len(families),
            "table": views,
            "to_act": [v for v in views if v["reasons"] or v["actions"]],
        },
        "glossary": [{"term": t, "text": d.replace("{near_miss_rate}", near_miss_words)} for t, d in GLOSSARY],
        "near_miss_words": near_miss_words,
        "scope": {
            "suite": [
                {"name": b.name, "n_items": fmt_int(b.n_items), "n_scored": fmt_int(b.n_scored),
                 "mean_score": fmt_num(b.mean_score), "missing_pct": f"{b.missing_pct:.1f}%",
                 "scorer": _scorer_text(b), "what_1_means": b.what_1_means or NA,
                 "measures": b.measures or "coverage only",
                 "check": _check_text(b),
                 "constant": (None if b.constant_score is None else
                              f"every scored item scores {b.constant_score:g}: counts in the score of the families "
                              "whose behaviour it measures, not in their lift")}
                for b in audit.suite
            ],
            "matrix": _matrix(findings),
            "n_items": fmt_int(sum(b.n_items for b in audit.suite)),
            "n_scored": fmt_int(sum(b.n_scored for b in audit.suite)),
            "n_constant": sum(b.n_scored for b in audit.suite if b.constant_score is not None),
        },
        "families": views,
        "print_concepts": PRINT_CONCEPTS,
        "print_evidence": PRINT_EVIDENCE,
        "print_suite_rows": PRINT_SUITE_ROWS,
        "charts": _charts(findings),
        "method": _method_view(findings),
        "caveats": [{"id": c.id, "number": i + 1, "title": c.title, "text": c.text}
                    for i, c in enumerate(findings.caveats)],
        "suite": _suite_view(findings),
        "drift": _drift_view(findings),
        "provenance": _provenance(findings, manifest, document),
        "signoff": {"decisions": ["Approve", "Approve with conditions", "Reject"],
                    "fields": list(SIGNOFF_FIELDS),
                    "triggers": list(REVALIDATION_TRIGGERS),
                    "conditions": list(summary.conditions),
                    "to_accept": [f"{v['id']}: {v['verdict_label']}" for v in views if v["verdict"] != "pass"],
                    "limitations": [f"{i + 1}. {c.title}" for i, c in enumerate(findings.caveats)]
                    + [f"Exploratory: {e}" for e in summary.exploratory]},
        "manifest": _manifest_view(manifest),
    }
