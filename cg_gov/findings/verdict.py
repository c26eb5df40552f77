"""The verdict on one family, in one place: statuses, severity, caveats and the gate.

Every rule that turns a family's scores into what the report says lives here, as data where it
can be: the importance levels (the spec's), the status thresholds, the severity tables, the
caveat rules and the gate. The report renders these tables; nothing else restates them.

Severity: one table, read row = importance, column = status. A family's severity is the worse of
what its coverage and its performance say. A blind spot (the suite never exercises the family,
or the dictionary cannot see it) or a measured weakness counts at the family's full importance;
a thin test (under-represented) or a score without enough scored items counts one step lower,
never below "low". A requirement the profile states and the suite does not meet counts at least
at the family's importance.

    coverage     covered  under-represented  missing   not-visible
    critical     none     high               critical  critical
    high         none     medium             high      high
    medium       none     low                medium    medium
    low          none     low                low       low

    performance  ok       weak               insufficient-data
    critical     none     critical           high
    high         none     high               medium
    medium       none     medium             low
    low          none     low                low

Gate: a family fails it when its severity is in :data:`GATE_FAILING_SEVERITIES` or a stated
requirement is not met (a requirement the data cannot check is neither met nor failed).
"""
from __future__ import annotations

from typing import Any, Literal, get_args

from cg_gov.spec import IMPORTANCE_LEVELS
from cg_gov.spec._models import Importance

__all__ = [
    "IMPORTANCES", "SEVERITIES", "COVERAGE_STATUSES", "PERFORMANCE_STATUSES", "GATE_FAILING_SEVERITIES",
    "COVERAGE_SEVERITY", "PERFORMANCE_SEVERITY", "CAVEAT_RULES", "MIN_FAMILY_N_EFF", "SMALL_SUPPORT_N_EFF",
    "Importance", "Severity", "CoverageStatus", "PerformanceStatus",
    "coverage_status", "performance_status", "requirement_met", "severity", "family_severity",
    "severity_rank", "family_gate_failed", "caveats_for",
]

Severity = Literal["critical", "high", "medium", "low", "none"]
CoverageStatus = Literal["covered", "under-represented", "missing", "not-visible"]
PerformanceStatus = Literal["ok", "weak", "insufficient-data"]

#: Importance levels, most important first (declared by the spec: a profile's ``importance``).
IMPORTANCES: tuple[str, ...] = IMPORTANCE_LEVELS
SEVERITIES: tuple[str, ...] = get_args(Severity)
COVERAGE_STATUSES: tuple[str, ...] = get_args(CoverageStatus)
PERFORMANCE_STATUSES: tuple[str, ...] = get_args(PerformanceStatus)

#: Severities that fail the deployment gate on their own. With the tables, "critical" arises
#: only for a critical family that the suite misses, that the dictionary cannot see, or on which
#: the model is significantly weak; a family's own ``require`` thresholds fail the gate at any
#: severity.
GATE_FAILING_SEVERITIES: tuple[str, ...] = ("critical",)

#: Performance needs this many effective items (n_eff) before a family can be called weak or ok.
MIN_FAMILY_N_EFF = 10.0
#: Below this n_eff a family's scores carry the "small-support" caveat.
SMALL_SUPPORT_N_EFF = 30.0

COVERAGE_SEVERITY: dict[str, dict[str, str]] = {
    "critical": {"covered": "none", "under-represented": "high", "missing": "critical",
                 "not-visible": "critical"},
    "high": {"covered": "none", "under-represented": "medium", "missing": "high", "not-visible": "high"},
    "medium": {"covered": "none", "under-represented": "low", "missing": "medium", "not-visible": "medium"},
    "low": {"covered": "none", "under-represented": "low", "missing": "low", "not-visible": "low"},
}
PERFORMANCE_SEVERITY: dict[str, dict[str, str]] = {
    "critical": {"ok": "none", "weak": "critical", "insufficient-data": "high"},
    "high": {"ok": "none", "weak": "high", "insufficient-data": "medium"},
    "medium": {"ok": "none", "weak": "medium", "insufficient-data": "low"},
    "low": {"ok": "none", "weak": "low", "insufficient-data": "low"},
}

#: When a family cites each caveat: (caveat id, rule in words). :func:`caveats_for` applies them.
CAVEAT_RULES: tuple[tuple[str, str], ...] = (
    ("activation-not-capability", "coverage is covered"),
    ("hard-question-confound", "performance is weak or ok"),
    ("dictionary-coverage", "coverage is not-visible or missing"),
    ("noisy-labels", "at least one concept is matched"),
    ("small-support", f"performance is insufficient-data, or n_eff < {SMALL_SUPPORT_N_EFF:g}"),
)


def coverage_status(n_matched: int, suite_mass: float, ratio: float | None, ci: list[float] | None,
                    ratio_k: float, representation: str | None) -> str:
    """covered / under-represented / missing / not-visible for one family.

    not-visible: the matcher found no concept for the family. missing: none of its concepts
    fires on any suite item. under-represented: the coverage ratio is at most 1/k and its
    bootstrap interval lies below 1 (the rule of ``method.md`` for concepts, applied to the
    family's mass).
    """
    if n_matched == 0:
        return "not-visible"
    if not suite_mass > 0:
        return "missing"
    if representation == "under":
        return "under-represented"
    if ratio is not None and ci is not None and ratio <= 1.0 / ratio_k and ci[1] < 1.0:
        return "under-represented"
    return "covered"


def performance_status(score: float | None, lift_ci: list[float] | None, q: float | None, n_eff: float | None,
                       alpha: float) -> str:
    """ok / weak / insufficient-data for one family.

    weak: the lift's interval lies below 0 and its Benjamini-Hochberg q-value (across the
    profile's families) is below alpha: the model does worse where the family is active than on
    other items of the same benchmarks. insufficient-data: no score (fewer than n_min scored
    items carry the family) or an effective support under :data:`MIN_FAMILY_N_EFF`.
    """
    if score is None or lift_ci is None or n_eff is None or n_eff < MIN_FAMILY_N_EFF:
        return "insufficient-data"
    if lift_ci[1] < 0 and q is not None and q < alpha:
        return "weak"
    return "ok"


def requirement_met(min_coverage_ratio: float | None, min_performance: float | None,
                    ratio: float | None, score: float | None) -> bool | None:
    """Whether a family meets its stated requirement; None when the data cannot check it.

    ``ratio`` may be +inf (the suite shows the family and the reference does not): it meets any
    threshold. A NaN or missing ratio, or a missing score, leaves that part unchecked.
    """
    checks = []
    if min_coverage_ratio is not None and ratio is not None and ratio == ratio:
        checks.append(bool(ratio >= min_coverage_ratio))
    if min_performance is not None and score is not None:
        checks.append(score >= min_performance)
    return all(checks) if checks else None


def severity_rank(value: str) -> int:
    """0 for "critical" up to 4 for "none": sorts the most severe first."""
    return SEVERITIES.index(value)


def severity(importance: str, coverage_status: str, performance_status: str) -> str:
    """Severity of a family's finding from the two tables: the worse of the two.

    Returns one of critical/high/medium/low/none.
    """
    try:
        by_coverage = COVERAGE_SEVERITY[importance][coverage_status]
        by_performance = PERFORMANCE_SEVERITY[importance][performance_status]
    except KeyError as exc:
        raise ValueError(
            f"unknown importance or status {exc.args[0]!r}: importance is one of {IMPORTANCES}, "
            f"coverage status one of {COVERAGE_STATUSES}, performance status one of "
            f"{PERFORMANCE_STATUSES}") from None
    return min(by_coverage, by_performance, key=severity_rank)


def family_severity(importance: str, coverage_status: str, performance_status: str,
                    met: bool | None) -> str:
    """:func:`severity`, raised to the family's importance when a stated requirement is not met."""
    sev = severity(importance, coverage_status, performance_status)
    if met is False and severity_rank(sev) > severity_rank(importance):
        sev = importance
    return sev


def family_gate_failed(family_severity: str, requirement_met: bool | None) -> bool:
    """A family fails the gate when its severity is critical or a stated requirement is not met."""
    return family_severity in GATE_FAILING_SEVERITIES or requirement_met is False


def caveats_for(coverage: str, performance: str, n_eff: float | None, matched: list[Any]) -> list[str]:
    """The caveat ids a family cites, by :data:`CAVEAT_RULES`, in that order."""
    out = []
    if coverage == "covered":
        out.append("activation-not-capability")
    if performance in ("weak", "ok"):
        out.append("hard-question-confound")
    if coverage in ("not-visible", "missing"):
        out.append("dictionary-coverage")
    if matched:
        out.append("noisy-labels")
    if performance == "insufficient-data" or (n_eff is not None and n_eff < SMALL_SUPPORT_N_EFF):
        out.append("small-support")
    return out
