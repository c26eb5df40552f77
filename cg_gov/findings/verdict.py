"""The verdict on one family, in one place: statuses, severity, gate effect, reasons and caveats.

This module is the one home of the rule (rule v4). The report renders its tables
(:func:`rule_tables`), the README states it in words, and the ``Findings`` model re-derives every
family's verdict with these functions when it loads a file, so no findings file can contradict it.

Inputs per family: importance (critical/high/medium/low), coverage status
(covered/under-represented/missing/not-visible, from the count of suite items the family's detector
finds, or the count estimated from the owner's labelled sample), performance status
(ok/weak/insufficient-data/no-evidence, on those items, from benchmarks that measure the behaviour
the family expects), visibility status (confirmed/weak/unconfirmed/cannot-tell: how well the
detector's decision agrees with the owner's labels on a sample of suite items; without labels,
unconfirmed or cannot-tell) and, per stated threshold (``require.coverage``: minimum ratio of the
suite's share of family items to the workload's; ``require.min_items``: minimum number of family
items; ``require.performance``: minimum family score), a requirement status: met (observed >=
required), not-met (observed < required) or cannot-tell (no observed value: no workload sample,
performance insufficient-data or no-evidence, coverage not-visible).

Severity = the worst of three tables (one step below: critical->high, high->medium, medium->low,
low->low):

    coverage     covered  under-represented  missing   not-visible
    critical     none     high               critical  critical
    high         none     medium             high      high
    medium       none     low                medium    medium
    low          none     low                low       low

    performance  ok       weak      insufficient-data  no-evidence
    critical     none     critical  high               critical
    high         none     high      medium             high
    medium       none     medium    low                medium
    low          none     low       low                low

    visibility   confirmed  weak      unconfirmed  cannot-tell
    critical     none       critical  high         high
    high         none       high      medium       medium
    medium       none       medium    low          low
    low          none       low       low          low

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
    "CAVEAT_RULES", "MIN_FAMILY_ITEMS", "MIN_FAMILY_N_EFF", "SMALL_SUPPORT_N_EFF",
    "Importance", "Severity", "CoverageStatus", "PerformanceStatus", "VisibilityStatus", "RequirementStatus",
    "GateEffect", "Verdict", "VERDICT_WORDS",
    "coverage_status", "performance_status", "requirement_status", "requirement_statuses", "requirement_met",
    "severity", "family_severity", "severity_rank", "one_step_below", "gate_effect", "family_gate_failed",
    "verdict_of", "family_reasons", "reason_kind", "actions_for", "summary_gate", "caveats_for", "rule_tables",
]

#: Version of the rule stated in this module (and in the README's "The verdict and the gate").
RULE_VERSION = 4

Severity = Literal["critical", "high", "medium", "low", "none"]
CoverageStatus = Literal["covered", "under-represented", "missing", "not-visible"]
PerformanceStatus = Literal["ok", "weak", "insufficient-data", "no-evidence"]
VisibilityStatus = Literal["confirmed", "weak", "unconfirmed", "cannot-tell"]
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

#: How a verdict (a family's, the gate's) is written in reports and charts.
VERDICT_WORDS: dict[str, str] = {v: v.upper() for v in VERDICTS}

#: Severities that fail the gate on their own (requirements fail it at any severity).
GATE_FAILING_SEVERITIES: tuple[str, ...] = ("critical",)

#: Performance needs this many scored family items before a family can be called weak or ok; a family
#: with fewer detected items than this (and no ``require.min_items``) is under-represented.
MIN_FAMILY_ITEMS = 10
#: The same floor under its earlier name (recorded in findings' settings as ``min_family_n_eff``).
MIN_FAMILY_N_EFF = float(MIN_FAMILY_ITEMS)
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
#: performance: ok none; weak and no-evidence at the importance; insufficient-data one step below.
PERFORMANCE_SEVERITY = _table(("weak", "no-evidence"), ("insufficient-data",), PERFORMANCE_STATUSES)
#: visibility: confirmed none; weak at the importance; unconfirmed and cannot-tell one step below.
VISIBILITY_SEVERITY = _table(("weak",), ("unconfirmed", "cannot-tell"), VISIBILITY_STATUSES)

#: The reasons of a family's verdict, in the order they are given, each with what would change it.
REASONS: tuple[str, ...] = (
    "requirement not met", "significantly weak", "not covered", "not visible to the dictionary", "no evidence",
    "detector not confirmed", "cannot tell", "under-represented", "insufficient data", "scorer below floor",
    "met", "no finding",
)
REASON_ACTIONS: dict[str, str] = {
    "requirement not met": "raise the model's score on this family (or mitigate), or have the owner revise the "
                           "requirement",
    "significantly weak": "investigate the failing items; improve or mitigate the model here",
    "not covered": "add benchmark items that exercise this family",
    "not visible to the dictionary": "give the family exemplars and counter-exemplars, or use a dictionary that "
                                     "represents it",
    "no evidence": "add a benchmark that scores the behaviour this family expects on its items",
    "detector not confirmed": "label the family's review sheet (cg-gov review) and list it under labels:",
    "cannot tell": "add what the requirement needs: scored items of this family, or a workload sample",
    "under-represented": "add benchmark items that exercise this family",
    "insufficient data": "add scored items that exercise this family",
    "scorer below floor": "check or replace the scorer of the benchmarks behind this family's score",
    "met": "nothing; review the family's detected items",
    "no finding": "nothing; review the family's detected items",
}

#: When a family cites each caveat: (caveat id, rule in words). :func:`caveats_for` applies them.
CAVEAT_RULES: tuple[tuple[str, str], ...] = (
    ("activation-not-capability", "coverage is covered"),
    ("hard-question-confound", "performance is weak or ok"),
    ("dictionary-coverage", "coverage is not-visible or missing"),
    ("noisy-labels", "at least one concept is matched"),
    ("small-support", f"performance is insufficient-data, or n_eff < {SMALL_SUPPORT_N_EFF:g}"),
)


def coverage_status(visible: bool, count: float | None, min_items: int, ratio: float | None = None,
                    ratio_k: float = 4.0, share_ci_high: float | None = None,
                    workload_share: float | None = None) -> str:
    """covered / under-represented / missing / not-visible for one family.

    not-visible: the family has no detector (no concepts or no operating point), so no item can be
    counted. missing: no suite item is counted as the family (``count`` is the detected count, or
    the count estimated from the owner's labels). under-represented: fewer than ``min_items``
    (``require.min_items``, else :data:`MIN_FAMILY_ITEMS`), or, with a workload sample, the suite's
    share of family items is at most 1/k of the workload's (``ratio``) and the upper end of its
    interval lies below the workload's share.
    """
    if not visible:
        return "not-visible"
    if count is None or not count > 0:
        return "missing"
    if count < min_items:
        return "under-represented"
    if (ratio is not None and workload_share is not None and share_ci_high is not None
            and ratio <= 1.0 / ratio_k and share_ci_high < workload_share):
        return "under-represented"
    return "covered"


def performance_status(score: float | None, lift_ci: list[float] | None, q: float | None, n_scored: float | None,
                       alpha: float, evidence: bool = True) -> str:
    """ok / weak / insufficient-data / no-evidence for one family.

    no-evidence: no benchmark of the suite measures the behaviour the family expects. weak: the
    lift's interval lies below 0 and its Benjamini-Hochberg q-value (across the profile's families)
    is below alpha: the model does worse on the family's items than on other items of the same
    benchmarks. insufficient-data: no score, or fewer than :data:`MIN_FAMILY_ITEMS` scored family
    items.
    """
    if not evidence:
        return "no-evidence"
    if score is None or n_scored is None or not n_scored >= MIN_FAMILY_ITEMS:
        return "insufficient-data"
    if lift_ci is not None and lift_ci[1] < 0 and q is not None and q < alpha:
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
    False (coverage not-visible, performance insufficient-data or no-evidence).
    """
    if required is None:
        return None
    value = _number(observed)
    if not checkable or value is None:
        return "cannot-tell"
    return "met" if value >= required else "not-met"


def requirement_statuses(min_coverage_ratio: float | None, min_performance: float | None,
                         ratio: float | None, score: float | None, coverage: str, performance: str,
                         min_items: int | None = None, count: float | None = None
                         ) -> tuple[str | None, str | None, str | None]:
    """(coverage ratio, performance, item count) requirement statuses of a family."""
    return (requirement_status(min_coverage_ratio, ratio, coverage != "not-visible"),
            requirement_status(min_performance, score, performance not in ("insufficient-data", "no-evidence")),
            requirement_status(min_items, count, coverage != "not-visible"))


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
             visibility_status: str = "confirmed") -> str:
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


def summary_gate(effects: list[str], suite_failures: int = 0) -> Verdict:
    """fail if any family fails (or a suite-level check fails), else conditional if any family is, else pass."""
    if suite_failures or "fail" in effects:
        return "fail"
    return "conditional" if "conditional" in effects else "pass"


def _f(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(ci: Any) -> str:
    return f" [{_f(ci[0])}, {_f(ci[1])}]" if ci else ""


def _visibility_figure(visibility: str, auroc: float | None, auroc_ci: Any, basis: str | None,
                       n_counter: int | None, precision: float | None = None, precision_ci: Any = None) -> str:
    if visibility == "weak" and basis == "owner-labels":
        prec = f", precision of counted items {_f(precision)}{_ci(precision_ci)}" if precision is not None else ""
        return f"weak: on the owner's labelled sample AUROC {_f(auroc)}{_ci(auroc_ci)}{prec}"
    if visibility == "weak":
        return f"weak: near-miss AUROC {_f(auroc)}{_ci(auroc_ci)}, no labelled sample"
    if visibility == "cannot-tell" and basis == "owner-labels":
        return "cannot tell: none of the owner's labelled items is the family's, so the detector cannot be judged"
    if visibility == "cannot-tell":
        few = f"{n_counter} counter-exemplars, 8 needed; " if n_counter is not None else ""
        return f"cannot tell: {few}no labelled sample"
    near = f"; near-miss AUROC {_f(auroc)}{_ci(auroc_ci)}" if auroc is not None else ""
    return f"unconfirmed: no labelled sample{near}"


def family_reasons(*, coverage: str, performance: str, visibility: str,
                   requirement: dict[str, Any], observed: dict[str, Any],
                   auroc: float | None = None, auroc_ci: Any = None, basis: str | None = None,
                   n_counter: int | None = None, n_suite: int | None = None, expects: Any = (),
                   scorer_flags: Any = (), precision: float | None = None, precision_ci: Any = None) -> list[str]:
    """The reasons of a family's verdict in words, in the rule's order.

    ``requirement``: {"coverage": (required, status) | None, "items": ..., "performance": ...};
    ``observed``: {"coverage": (value, ci), "items": (count, ci), "performance": (value, ci)}.
    """
    out: list[str] = []
    names = {"coverage": "coverage ratio (suite share / workload share)", "items": "family items",
             "performance": "score"}
    stated = {k: v for k, v in requirement.items() if v is not None and v[0] is not None}
    for key, (required, status) in stated.items():
        if status == "not-met":
            value, ci = observed[key]
            shown = f"{value:g}" if key == "items" and value is not None else _f(value)
            out.append(f"requirement not met: {names[key]} required >= {required:g}, observed "
                       f"{shown}{_ci(ci)}")
    if performance == "weak":
        out.append("significantly weak")
    if coverage == "missing":
        total = f" of {n_suite}" if n_suite is not None else ""
        out.append(f"not covered: 0{total} suite items detected")
    if coverage == "not-visible":
        out.append("not visible to the dictionary")
    if performance == "no-evidence":
        behaviours = ", ".join(expects) if expects else "the expected behaviour"
        out.append(f"no evidence: no benchmark of the suite scores {behaviours}")
    if visibility != "confirmed" and coverage != "not-visible":
        figure = _visibility_figure(visibility, auroc, auroc_ci, basis, n_counter, precision, precision_ci)
        out.append(f"detector not confirmed ({figure})")
    for key, (required, status) in stated.items():
        if status == "cannot-tell":
            out.append(f"cannot tell: {names[key]} required >= {required:g}, the data cannot check it")
    if coverage == "under-represented":
        out.append("under-represented")
    if performance == "insufficient-data":
        out.append("insufficient data")
    for flag in scorer_flags or ():
        out.append(f"scorer below floor: {flag}")
    if not out:
        out.append("met" if stated else "no finding")
    return out


def reason_kind(reason: str) -> str:
    """The :data:`REASONS` entry a reason sentence starts with."""
    for kind in REASONS:
        if reason == kind or reason.startswith(kind + ":") or reason.startswith(kind + " ("):
            return kind
    raise ValueError(f"not a reason of the rule: {reason!r}; reasons start with one of {REASONS}")


def actions_for(reasons: list[str], context: dict[str, Any] | None = None) -> list[str]:
    """What would change the verdict, one action per kind of reason, in the reasons' order.

    With ``context`` (``family``, ``count``, ``min_items``, ``n_scored``, ``expects``, ``score``,
    ``min_performance``, ``review_sheet``, ``labelled``) the actions name the family, the numbers
    needed and the file to label; without it they are the generic :data:`REASON_ACTIONS`."""
    out: list[str] = []
    c = context or {}
    fam = c.get("family") or "this family"
    expects = ", ".join(c.get("expects") or []) or "the behaviour it expects"
    for r in reasons:
        kind = reason_kind(r)
        action = REASON_ACTIONS[kind]
        if context is not None:
            count = c.get("count") or 0
            need = max(0, int(math.ceil((c.get("min_items") or MIN_FAMILY_ITEMS) - count)))
            if kind == "requirement not met" and r.startswith("requirement not met: score") \
                    and c.get("min_performance") is not None and c.get("score") is not None:
                action = (f"raise the model's score on {fam} items from {c['score']:.2f} to at least "
                          f"{c['min_performance']:.2f} (or mitigate), or have the owner revise the requirement")
            elif kind == "requirement not met" and "family items required" in r:
                action = f"add at least {need} benchmark items that exercise {fam}"
            elif kind in ("not covered", "under-represented") and need > 0:
                action = f"add at least {need} benchmark items that exercise {fam}"
            elif kind == "under-represented":
                action = (f"add benchmark items that exercise {fam} until the suite's share of them is at least "
                          "1/k of the workload's")
            elif kind == "no evidence":
                action = f"add a benchmark whose score measures {expects} on {fam} items (measures: in the audit spec)"
            elif kind == "detector not confirmed":
                sheet = c.get("review_sheet") or f"review/{fam}.csv"
                action = (f"label {sheet} (cg-gov review) and list it under labels:" if not c.get("labelled") else
                          f"sharpen {fam}'s exemplars and counter-exemplars, then label a new sample (cg-gov review)")
            elif kind == "insufficient data":
                more = max(1, MIN_FAMILY_ITEMS - int(c.get("n_scored") or 0))
                action = f"add at least {more} scored {fam} items from benchmarks that measure {expects}"
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
    fields = type(sset).model_fields
    default = {k: fields[k].default for k in ("n_min", "min_benchmarks", "bootstrap")}
    out = []
    if sset.n_min < default["n_min"]:
        out.append(f"Family performance and the suite-level concept rankings are exploratory: this audit calls "
                   f"a concept or family supported with n_min = {sset.n_min} scored items (method default "
                   f"{default['n_min']}).")
    if sset.min_benchmarks < default["min_benchmarks"]:
        out.append(f"The suite-level weakest and strongest concepts are exploratory: this audit ranks concepts "
                   f"supported in {sset.min_benchmarks} benchmark(s) (method default {default['min_benchmarks']}).")
    if 0 < sset.bootstrap < default["bootstrap"]:
        out.append(f"Intervals and p-values are exploratory: {sset.bootstrap} bootstrap resamples (method "
                   f"default {default['bootstrap']}).")
    return out
