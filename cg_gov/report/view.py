"""The report's view model: findings turned into sorted, pre-formatted plain data.

Templates only lay this out: every decision about order, wording and number
format is made here, so the view can be compared as JSON in tests while the
HTML and PDF bytes are free to change with the styling.
"""
from __future__ import annotations

from typing import Any

from cg_gov.findings import (IMPORTANCES, Caveat, ConceptRow, Family, Findings, describe_family,
                             severity_rank)
from cg_gov.report import charts
from cg_gov.report.format import (NA, fmt_ci, fmt_int, fmt_num, fmt_pct, fmt_signed, truncate)

__all__ = ["build_view", "manifest_rows", "EVIDENCE_CHARS", "LABEL_CHARS"]

#: Longest example text shown in the report (findings.json keeps what the audit wrote).
EVIDENCE_CHARS = 480
#: Longest concept label shown.
LABEL_CHARS = 120
#: Most manifest rows listed; the rest are in manifest.json.
MANIFEST_ROWS = 200

COVERAGE_WORDS = {
    "covered": "covered",
    "under-represented": "under-represented",
    "missing": "missing from the suite",
    "not-visible": "not visible to the dictionary",
}
PERFORMANCE_WORDS = {
    "ok": "no significant gap",
    "weak": "weak",
    "insufficient-data": "insufficient data",
}
SOURCE_WORDS = {"label": "label", "exemplar": "exemplars", "both": "label + exemplars",
                "pinned": "pinned by profile"}
ROBUSTNESS_WORDS = {
    "subsample_std_chi_model_mean": "Random 20% subsampling: mean std of chi_model",
    "subsample_std_chi_bench_mean": "Random 20% subsampling: mean std of chi_bench",
    "adversarial_top_median_change": "Removing items of the best concepts: median chi_model change",
    "adversarial_bottom_median_change": "Removing items of the worst concepts: median chi_model change",
    "direction_ok": "Adversarial removal moves the median in the expected directions",
}
SETTING_WORDS = {
    "k": "Over/under-representation factor k",
    "n_min": "Minimum supporting items per benchmark (n_min)",
    "min_benchmarks": "Minimum benchmarks for the suite-level ranking",
    "n_bootstrap": "Bootstrap resamples",
    "alpha": "Significance level (after Benjamini-Hochberg)",
    "seed": "Random seed",
    "epsilon": "Activation threshold for 'missing'",
}


def _family_sort_key(family: Family) -> tuple[int, int, str]:
    return (severity_rank(family.severity), IMPORTANCES.index(family.importance), family.id)


def _requirement_text(family: Family) -> str:
    req = family.requirement
    parts = []
    if req.min_coverage_ratio is not None:
        parts.append(f"coverage >= {fmt_num(req.min_coverage_ratio)}")
    if req.min_performance is not None:
        parts.append(f"score >= {fmt_num(req.min_performance)}")
    if not parts:
        return "none stated"
    verdict = {True: "met", False: "NOT met", None: "cannot tell"}[req.met]
    return f"{', '.join(parts)}: {verdict}"


def _concept_row(row: ConceptRow) -> dict[str, Any]:
    return {
        "concept_id": row.concept_id,
        "label": truncate(row.label, LABEL_CHARS),
        "chi_model": fmt_num(row.chi_model),
        "lift": fmt_signed(row.lift),
        "lift_ci": fmt_ci(row.lift_ci, signed=True),
        "n_eff": fmt_num(row.n_eff, 1),
        "n_benchmarks": row.n_benchmarks,
        "chi_bench": fmt_num(row.chi_bench, 3),
        "coverage_ratio": fmt_num(row.coverage_ratio),
        "coverage_ratio_ci": fmt_ci(row.coverage_ratio_ci),
    }


def _anchor(family_id: str) -> str:
    return "family-" + "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in family_id)


def _coverage_text(family: Family) -> str:
    cov = family.coverage
    if cov.status == "not-visible":
        return "not visible: no concept of the dictionary matched this family, so nothing could be measured"
    text = (f"{COVERAGE_WORDS[cov.status]}: ratio {fmt_num(cov.ratio)} {fmt_ci(cov.ci)} "
            f"against the {cov.reference}")
    if cov.suite_mean is not None and cov.reference_mean is not None:
        text += (f" (mean activation {fmt_num(cov.suite_mean, 4)} in the suite, "
                 f"{fmt_num(cov.reference_mean, 4)} in the reference)")
    return text


def _performance_text(family: Family) -> str:
    perf = family.performance
    if perf.score is None:
        return f"{PERFORMANCE_WORDS[perf.status]}: no scored item activates this family"
    text = f"{PERFORMANCE_WORDS[perf.status]}: score {fmt_num(perf.score)} {fmt_ci(perf.score_ci)}"
    if perf.lift is not None:
        text += f", lift {fmt_signed(perf.lift)} {fmt_ci(perf.ci, signed=True)}"
    if perf.q is not None:
        text += f", p {fmt_num(perf.p, 3)}, q {fmt_num(perf.q, 3)}"
    return text


def _support_text(family: Family) -> str:
    perf = family.performance
    if not perf.n_scored:
        return "no scored items"
    return f"{fmt_int(perf.n_scored)} scored items, effectively {fmt_num(perf.n_eff, 1)}"


def _family_view(family: Family, caveats: dict[str, Caveat]) -> dict[str, Any]:
    cov, perf = family.coverage, family.performance
    return {
        "id": family.id,
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
        "performance_text": _performance_text(family),
        "support_text": _support_text(family),
        "requirement": _requirement_text(family),
        "requirement_met": family.requirement.met,
        "concepts": [
            {
                "concept_id": c.concept_id,
                "label": truncate(c.label, LABEL_CHARS),
                "fires_on": ", ".join(c.top_tokens[:3]),
                "example": c.example or "",
                "similarity": fmt_num(c.similarity),
                "margin": fmt_signed(c.margin),
                "source": SOURCE_WORDS[c.source],
                "weight": fmt_num(c.weight),
                "coverage_ratio": fmt_num(c.coverage_ratio),
                "chi_model": fmt_num(c.chi_model),
            }
            for c in sorted(family.matched_concepts, key=lambda c: (-c.weight, c.concept_id))
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
                "score": fmt_num(e.score),
                "activation": fmt_num(e.activation, 3),
            }
            for e in sorted(family.evidence, key=lambda e: (-e.activation, e.benchmark, e.item_id))
        ],
        "caveats": [
            {"id": cid, "title": caveats[cid].title, "text": caveats[cid].text}
            for cid in family.caveats if cid in caveats
        ],
    }


def _charts(findings: Findings) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    dist = findings.suite_findings.coverage_distribution
    if dist is not None:
        caption = (f"Each concept of the dictionary, ordered from most to least exercised by the "
                   f"suite. {dist.n_zero:,} of {dist.n_concepts:,} concepts are never active.")
        if dist.top_10pct_share is not None:
            caption += (f" The top 10% of concepts hold {fmt_pct(dist.top_10pct_share)} of the "
                        f"suite's coverage.")
        out.append({
            "id": "coverage-distribution",
            "title": "How unevenly the suite covers the dictionary's concepts",
            "caption": caption,
            "svg": charts.coverage_distribution_svg(dist.ranks, dist.chi_bench, dist.n_concepts,
                                                    dist.n_zero, dist.top_1pct_share),
        })
    if findings.audit.suite:
        rows = [(b.name, b.missing_pct) for b in findings.audit.suite]
        out.append({
            "id": "missing-by-benchmark",
            "title": "Concepts each benchmark never activates",
            "caption": "Share of the dictionary's concepts on which no item of the benchmark is "
                       "active. A high share means the benchmark tests a narrow slice of behaviour.",
            "svg": charts.missing_by_benchmark_svg(rows),
        })
    points, left_out = [], []
    for f in sorted(findings.families, key=_family_sort_key):
        ratio, score = f.coverage.ratio, f.performance.score
        if ratio is None or ratio <= 0 or score is None:
            why = COVERAGE_WORDS[f.coverage.status] if ratio in (None, 0) else "no score"
            left_out.append(f"{f.id} ({why})")
            continue
        points.append(charts.ScatterPoint(f.id, ratio, f.coverage.ci, score,
                                          f.performance.score_ci, f.severity))
    if findings.families:
        k = findings.settings.get("k", 4)
        k = float(k) if isinstance(k, (int, float)) and k > 1 else 4.0
        caption = ("Each family of the profile: right of the dashed line the suite tests it more "
                   "than the reference does; left of the dotted line it is under-represented. "
                   "Lower means the model scores worse on it. Colour = severity.")
        if left_out:
            caption += " Not plotted: " + "; ".join(left_out) + "."
        out.append({
            "id": "family-scatter",
            "title": "Coverage and performance per family",
            "caption": caption,
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
    rows = manifest_rows(manifest)
    hashes = [(k, v) for k, v in rows if k.endswith(("sha256", "identity", "hash"))]
    others = [(k, v) for k, v in rows if (k, v) not in hashes]
    shown = (hashes + others)[:MANIFEST_ROWS]
    return {
        "rows": [{"key": k, "value": truncate(v, 200), "is_hash": (k, v) in hashes} for k, v in shown],
        "n_hashes": len(hashes),
        "n_left_out": max(0, len(rows) - MANIFEST_ROWS),
    }


def _suite_view(findings: Findings) -> dict[str, Any]:
    suite = findings.suite_findings
    robustness = []
    order = list(ROBUSTNESS_WORDS)
    for key in sorted(suite.robustness, key=lambda k: (order.index(k) if k in order else len(order), k)):
        value = suite.robustness[key]
        if isinstance(value, bool):
            shown = "yes" if value else "NO"
        elif "change" in key:
            shown = fmt_pct(value, 1) if abs(value) < 1 else fmt_num(value, 3)
        else:
            shown = fmt_num(value, 3)
        robustness.append({"key": key, "label": ROBUSTNESS_WORDS.get(key, key), "value": shown})
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
    rows = []
    for key in sorted(settings):
        value = settings[key]
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, (dict, list)):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items())) if isinstance(
                value, dict) else ", ".join(map(str, value))
        rows.append({"key": key, "label": SETTING_WORDS.get(key, key), "value": truncate(str(value), 160)})
    k = settings.get("k", 4)
    return {"settings": rows, "k": f"{k:g}" if isinstance(k, (int, float)) else str(k),
            "n_min": str(settings.get("n_min", 50)),
            "n_bootstrap": str(settings.get("n_bootstrap", "several hundred")),
            "reference": next((f.coverage.reference for f in findings.families), "reference sample")}


def build_view(findings: Findings, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's view model, as plain JSON-ready data."""
    audit = findings.audit
    caveats = {c.id: c for c in findings.caveats}
    families = sorted(findings.families, key=_family_sort_key)
    summary = findings.summary
    counts = summary.counts
    at_risk = [f for f in families if f.severity != "none"]
    return {
        "title": f"Governance report: {audit.id}",
        "meta": {
            "audit_id": audit.id,
            "model": audit.model,
            "profile_id": audit.profile.id,
            "profile_version": audit.profile.version,
            "profile_name": audit.profile.name or audit.profile.id,
            "profile_owner": audit.profile.owner or NA,
            "dictionary_name": audit.dictionary.name,
            "dictionary_identity": audit.dictionary.identity,
            "n_concepts": fmt_int(audit.dictionary.n_concepts),
            "cg_gov_version": findings.cg_gov_version,
            "schema_version": findings.schema_version,
        },
        "executive": {
            "gate": summary.gate,
            "gate_label": "FAIL" if summary.gate == "fail" else "PASS",
            "verdict": (
                "The deployment gate FAILED: the findings below must be resolved, or accepted "
                "with conditions by the reviewer, before this model is approved for this workflow."
                if summary.gate == "fail" else
                "The deployment gate passed: no family has a critical or high finding and every "
                "stated requirement is met. Read the remaining findings and caveats before signing."),
            "gate_failures": list(summary.gate_failures),
            "counts": [{"severity": s, "count": getattr(counts, s)}
                       for s in ("critical", "high", "medium", "low", "none")],
            "headline": list(summary.headline),
            "top_findings": [
                {"family_id": f.id, "anchor": _anchor(f.id),
                 "severity": f.severity, "importance": f.importance,
                 "sentence": describe_family(f)}
                for f in at_risk[:8]
            ],
            "n_families": len(families),
        },
        "scope": {
            "suite": [
                {"name": b.name, "n_items": fmt_int(b.n_items), "n_scored": fmt_int(b.n_scored),
                 "mean_score": fmt_num(b.mean_score), "missing_pct": f"{b.missing_pct:.1f}%"}
                for b in audit.suite
            ],
            "n_items": fmt_int(sum(b.n_items for b in audit.suite)),
            "n_scored": fmt_int(sum(b.n_scored for b in audit.suite)),
        },
        "families": [_family_view(f, caveats) for f in families],
        "charts": _charts(findings),
        "method": _method_view(findings),
        "caveats": [{"id": c.id, "title": c.title, "text": c.text} for c in findings.caveats],
        "suite": _suite_view(findings),
        "drift": _drift_view(findings),
        "signoff": {"decisions": ["Approve", "Approve with conditions", "Reject"]},
        "manifest": _manifest_view(manifest or {}),
    }
