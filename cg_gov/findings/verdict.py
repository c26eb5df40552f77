"""The verdict on one family, in one place: statuses, severity, gate effect, reasons and caveats.

This module is the one home of the rule (rule v3). The report renders its tables
(:func:`rule_tables`), the README states it in words, and the ``Findings`` model re-derives every
family's verdict with these functions when it loads a file, so no findings file can contradict it.

Inputs per family: importance (critical/high/medium/low), coverage status
(covered/under-represented/missing/not-visible), performance status (ok/weak/insufficient-data),
visibility status (verified/weak/unverified: how well the family's concept detector separates its
own exemplars from counter-exemplars, other families' exemplars and reference text; a family with
no concepts is unverified) and, per stated threshold (``require.coverage``: minimum coverage ratio;
``require.performance``: minimum family score), a requirement status: met (observed >= required),
not-met (observed < required) or cannot-tell (no observed value: performance insufficient-data,
coverage not-visible, or a ratio that is not a finite number).

Severity = the worst of three tables (one step below: critical->high, high->medium, medium->low,
low->low):

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

    visibility   verified weak               unverified
    critical     none     critical           critical
    high         none     high               high
    medium       none     medium             medium
    low          none     low                low

Gate effect: fail when the severity is critical, or any stated requirement is not-met (any
importance), or the family is critical and a stated requirement is cannot-tell; conditional when
not fail and (the severity is high, or the family is high and a stated requirement is
cannot-tell); none otherwise. Summary gate: fail if any family fails (or a suite-level check
fails), else conditional if any family is conditional, else pass.
"""
from __future__ import annotations

import math
from typing import Any, Literal, get_args

from cg_gov.spec import IMPORTANCE_LEVELS
from cg_gov.spec._models import Importance

__all__ = [
    "RULE_VERSION", "IMPORTANCES", "SEVERITIES", "COVERAGE_STATUSES", "PERFORMANCE_STATUSES",
    "VISIBILITY_STATUSES", "REQUIREMENT_STATUSES", "GATE_EFFECTS", "VERDICTS", "GATE_FAILING_SEVERITIES",
    "COVERAGE_SEVERITY", "PERFORMANCE_SEVERITY", "VISIBILITY_SEVERITY", "REASONS", "REASON_ACTIONS",
    "CAVEAT_RULES", "MIN_FAMILY_N_EFF", "SMALL_SUPPORT_N_EFF",
    "Importance", "Severity", "CoverageStatus", "PerformanceStatus", "VisibilityStatus", "RequirementStatus",
    "GateEffect", "Verdict",
    "coverage_status", "performance_status", "requirement_status", "requirement_statuses", "requirement_met",
    "severity", "family_severity", "severity_rank", "one_step_below", "gate_effect", "family_gate_failed",
    "verdict_of", "family_reasons", "reason_kind", "actions_for", "summary_gate", "caveats_for", "rule_tables",
]

#: Version of the rule stated in this module (and in the README's "The verdict and the gate").
RULE_VERSION = 3

Severity = Literal["critical", "high", "medium", "low", "none"]
CoverageStatus = Literal["covered", "under-represented", "missing", "not-visible"]
PerformanceStatus = Literal["ok", "weak", "insufficient-data"]
VisibilityStatus = Literal["verified", "weak", "unverified"]
RequirementStatus = Literal["met", "not-met", "cannot-tell"]
GateEffect = Literal["fail", "conditional", "none"]
Verdict = Literal["fail", "conditional", "pass"]

#: Importance levels, most important first (declared by the spec: a profile's ``importance``).
IMPORTANCES: tuple[str, ...] = IMPORTANCE_LEVELS
SEVERITIES: tuple[str, ...] = get_args(Severity)
COVERAGE_STATUSES: tuple[str, ...] = get_args(CoverageStatus)
PERFORMANCE_STATUSES: tuple[str, ...] = get_args(PerformanceStatus)
VISIBILITY_STATUSES: tuple[str, ...] = get_args(VisibilityStatus)
REQUIREMENT_STATUSES: tuple[str, ...] = get_args(RequirementStatus)
GATE_EFFECTS: tuple[str, ...] = get_args(GateEffect)
VERDICTS: tuple[str, ...] = get_args(Verdict)

#: Severities that fail the gate on their own (requirements fail it at any severity).
GATE_FAILING_SEVERITIES: tuple[str, ...] = ("critical",)

#: Performance needs this many effective items (n_eff) before a family can be called weak or ok.
MIN_FAMILY_N_EFF = 10.0
#: Below this n_eff a family's scores carry the "small-support" caveat.
SMALL_SUPPORT_N_EFF = 30.0


def one_step_below(importance: str) -> str:
    """critical->high, high->medium, medium->low, low->low."""
    i = IMPORTANCES.index(importance)
    return IMPORTANCES[min(i + 1, len(IMPORTANCES) - 1)]


def _table(at_importance: tuple[str, ...], one_below: tuple[str, ...], statuses: tuple[str, ...]
           ) -> dict[str, dict[str, str]]:
    return {imp: {s: (imp if s in at_importance else one_step_below(imp) if s in one_below else "none")
                  for s in statuses} for imp in IMPORTANCES}


#: coverage: covered none; under-represented one step below importance; missing, not-visible at it.
COVERAGE_SEVERITY = _table(("missing", "not-visible"), ("under-represented",), COVERAGE_STATUSES)
#: performance: ok none; weak at the importance; insufficient-data one step below.
PERFORMANCE_SEVERITY = _table(("weak",), ("insufficient-data",), PERFORMANCE_STATUSES)
#: visibility: verified none; weak and unverified at the importance.
VISIBILITY_SEVERITY = _table(("weak", "unverified"), (), VISIBILITY_STATUSES)

#: The reasons of a family's verdict, in the order they are given, each with what would change it.
REASONS: tuple[str, ...] = (
    "requirement not met", "significantly weak", "missing from the suite", "not visible to the dictionary",
    "detector not verified", "cannot tell", "under-represented", "insufficient data", "met", "no finding",
)
REASON_ACTIONS: dict[str, str] = {
    "requirement not met": "raise the model's score on this family (or mitigate), or have the owner revise the requirement",
    "significantly weak": "investigate the failing items; improve or mitigate the model here",
    "missing from the suite": "add benchmarks that exercise this family",
    "not visible to the dictionary": "pin concepts in the profile, or use a dictionary that represents it",
    "detector not verified": "add exemplars and counter-exemplars to the profile; review the matched concepts",
    "cannot tell": "add scored items that exercise this family, so the requirement can be checked",
    "under-represented": "add benchmark items that exercise this family",
    "insufficient data": "add scored items that exercise this family",
    "met": "nothing; review the matched concepts",
    "no finding": "nothing; review the matched concepts",
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
    # ``not >=`` so that an n_eff that is NaN (no measured support) is insufficient-data too
    if score is None or lift_ci is None or n_eff is None or not n_eff >= MIN_FAMILY_N_EFF:
        return "insufficient-data"
    if lift_ci[1] < 0 and q is not None and q < alpha:
        return "weak"
    return "ok"


def _number(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def requirement_status(required: float | None, observed: float | None, checkable: bool = True) -> str | None:
    """met / not-met / cannot-tell for one stated threshold; None when no threshold is stated.

    cannot-tell when the data cannot check it: no observed (finite) value, or ``checkable`` is
    False (coverage not-visible, performance insufficient-data).
    """
    if required is None:
        return None
    value = _number(observed)
    if not checkable or value is None:
        return "cannot-tell"
    return "met" if value >= required else "not-met"


def requirement_statuses(min_coverage_ratio: float | None, min_performance: float | None,
                         ratio: float | None, score: float | None, coverage: str, performance: str
                         ) -> tuple[str | None, str | None]:
    """(coverage requirement status, performance requirement status) of a family."""
    return (requirement_status(min_coverage_ratio, ratio, coverage != "not-visible"),
            requirement_status(min_performance, score, performance != "insufficient-data"))


def requirement_met(statuses: tuple[str | None, ...] | list[str | None]) -> bool | None:
    """False when a stated threshold is not-met, True when every stated one is met, else None."""
    stated = [s for s in statuses if s is not None]
    if "not-met" in stated:
        return False
    if stated and all(s == "met" for s in stated):
        return True
    return None


def severity_rank(value: str) -> int:
    """0 for "critical" up to 4 for "none": sorts the most severe first."""
    return SEVERITIES.index(value)


def severity(importance: str, coverage_status: str, performance_status: str,
             visibility_status: str = "verified") -> str:
    """Severity of a family's finding: the worst of the coverage, performance and visibility tables."""
    try:
        found = (COVERAGE_SEVERITY[importance][coverage_status],
                 PERFORMANCE_SEVERITY[importance][performance_status],
                 VISIBILITY_SEVERITY[importance][visibility_status])
    except KeyError as exc:
        raise ValueError(
            f"unknown importance or status {exc.args[0]!r}: importance is one of {IMPORTANCES}, "
            f"coverage status one of {COVERAGE_STATUSES}, performance status one of "
            f"{PERFORMANCE_STATUSES}, visibility status one of {VISIBILITY_STATUSES}") from None
    return min(found, key=severity_rank)


#: The same function under the name older callers use.
family_severity = severity


def gate_effect(importance: str, family_severity: str, requirements: tuple[str | None, ...] | list[str | None]
                ) -> str:
    """fail / conditional / none for one family, by the rule (see the module's docstring)."""
    stated = [s for s in requirements if s is not None]
    cannot_tell = "cannot-tell" in stated
    if (family_severity in GATE_FAILING_SEVERITIES or "not-met" in stated
            or (importance == "critical" and cannot_tell)):
        return "fail"
    if family_severity == "high" or (importance == "high" and cannot_tell):
        return "conditional"
    return "none"


def family_gate_failed(importance: str, family_severity: str, requirements: tuple[str | None, ...] | list[str | None]
                       ) -> bool:
    """Whether the family's gate effect is fail."""
    return gate_effect(importance, family_severity, requirements) == "fail"


def verdict_of(effect: str) -> str:
    """The verdict cell's word: fail, conditional, or pass (gate effect none)."""
    return {"fail": "fail", "conditional": "conditional", "none": "pass"}[effect]


def summary_gate(effects: list[str], suite_failures: int = 0) -> str:
    """fail if any family fails (or a suite-level check fails), else conditional if any family is, else pass."""
    if suite_failures or "fail" in effects:
        return "fail"
    return "conditional" if "conditional" in effects else "pass"


def _f(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(ci: Any) -> str:
    return f" [{_f(ci[0])}, {_f(ci[1])}]" if ci else ""


def family_reasons(*, coverage: str, performance: str, visibility: str,
                   requirement: dict[str, Any], observed: dict[str, Any],
                   auroc: float | None = None, auroc_ci: Any = None) -> list[str]:
    """The reasons of a family's verdict in words, in the rule's order.

    ``requirement``: {"coverage": (required, status) | None, "performance": (required, status) | None};
    ``observed``: {"coverage": (value, ci), "performance": (value, ci)}.
    """
    out: list[str] = []
    names = {"coverage": "coverage ratio", "performance": "score"}
    stated = {k: v for k, v in requirement.items() if v is not None and v[0] is not None}
    for key, (required, status) in stated.items():
        if status == "not-met":
            value, ci = observed[key]
            out.append(f"requirement not met: {names[key]} required >= {_f(required)}, observed "
                       f"{_f(value)}{_ci(ci)}")
    if performance == "weak":
        out.append("significantly weak")
    if coverage == "missing":
        out.append("missing from the suite")
    if coverage == "not-visible":
        out.append("not visible to the dictionary")
    if visibility != "verified":
        figure = (f"visibility AUROC {_f(auroc)}{_ci(auroc_ci)}" if auroc is not None
                  else "not measured")
        out.append(f"detector not verified ({figure})")
    for key, (required, status) in stated.items():
        if status == "cannot-tell":
            out.append(f"cannot tell: {names[key]} required >= {_f(required)}, the data cannot check it")
    if coverage == "under-represented":
        out.append("under-represented")
    if performance == "insufficient-data":
        out.append("insufficient data")
    if not out:
        out.append("met" if stated else "no finding")
    return out


def reason_kind(reason: str) -> str:
    """The :data:`REASONS` entry a reason sentence starts with."""
    for kind in REASONS:
        if reason == kind or reason.startswith(kind + ":") or reason.startswith(kind + " ("):
            return kind
    raise ValueError(f"not a reason of the rule: {reason!r}; reasons start with one of {REASONS}")


def actions_for(reasons: list[str]) -> list[str]:
    """What would change the verdict, one action per kind of reason, in the reasons' order."""
    out: list[str] = []
    for r in reasons:
        action = REASON_ACTIONS[reason_kind(r)]
        if action not in out:
            out.append(action)
    return out


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


#: The rule's gate effect in words, as the report and README state it.
GATE_RULE_WORDS: tuple[tuple[str, str], ...] = (
    ("fail", "severity is critical, or any stated requirement is not met (any importance), or the family "
             "is critical and a stated requirement cannot be told"),
    ("conditional", "not fail, and severity is high, or the family is high and a stated requirement "
                    "cannot be told"),
    ("none", "otherwise"),
)
__all__ += ["GATE_RULE_WORDS", "exploratory_sections"]


def rule_tables() -> dict[str, Any]:
    """The rule as data, for the report: the three severity tables and the gate-effect rows."""
    return {
        "version": RULE_VERSION,
        "importances": list(IMPORTANCES),
        "severity": [
            {"name": "coverage", "statuses": list(COVERAGE_STATUSES), "table": COVERAGE_SEVERITY},
            {"name": "performance", "statuses": list(PERFORMANCE_STATUSES), "table": PERFORMANCE_SEVERITY},
            {"name": "visibility", "statuses": list(VISIBILITY_STATUSES), "table": VISIBILITY_SEVERITY},
        ],
        "gate": [{"effect": e, "when": w} for e, w in GATE_RULE_WORDS],
    }


def exploratory_sections(sset) -> list[str]:
    """Sentences naming the sections an audit makes exploratory by relaxing the method's defaults
    (``n_min``, ``min_benchmarks``, ``bootstrap`` below those of :class:`~cg_gov.spec.ScoringSettings`)."""
    fields = getattr(sset, "model_fields", None) or type(sset).model_fields
    default = {k: fields[k].default for k in ("n_min", "min_benchmarks", "bootstrap") if k in fields}
    out = []
    if sset.n_min < default.get("n_min", sset.n_min):
        out.append(f"Family performance and the suite-level concept rankings are exploratory: this audit calls "
                   f"a concept or family supported with n_min = {sset.n_min} scored items (method default "
                   f"{default['n_min']}).")
    if sset.min_benchmarks < default.get("min_benchmarks", sset.min_benchmarks):
        out.append(f"The suite-level weakest and strongest concepts are exploratory: this audit ranks concepts "
                   f"supported in {sset.min_benchmarks} benchmark(s) (method default {default['min_benchmarks']}).")
    if 0 < sset.bootstrap < default.get("bootstrap", sset.bootstrap):
        out.append(f"Intervals and p-values are exploratory: {sset.bootstrap} bootstrap resamples (method "
                   f"default {default['bootstrap']}).")
    return out
