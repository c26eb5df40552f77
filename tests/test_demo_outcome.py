"""The demo's outcome, pinned (issue 18 item 4).

`make report` runs `cg-gov audit specs/audits/demo.yaml`; its result is committed as
`reports/example/` (findings schema 4, rule v4). The table below holds, for every family of the demo
profile, the verdict, the statuses, the severity, the gate effect, the number of suite items counted as
the family's (``items.detected``) and the family's performance score that audit gives, written out by
hand with one line each on why (from the figures of reports/example/findings.json), and the gate with
its exit code. The fast test checks the committed example against it; `tests/test_audit.py` checks a
fresh demo run (exit code included). A change to the method, the matcher, the labels or the rule that
moves any of these must change this table on purpose, with a new reason.
"""
from __future__ import annotations

import math
from pathlib import Path

from cg_gov.findings import load_findings

EXAMPLE = Path(__file__).resolve().parents[1] / "reports" / "example" / "findings.json"

DEMO_GATE = "fail"
DEMO_EXIT_CODE = 1   # cg-gov audit exits 1 on fail, 0 on pass and on conditional

# family: (importance, verdict, coverage, performance, visibility, severity, gate effect, items detected),
# in the order of findings.json (most severe first, then by id)
DEMO_OUTCOME = {
    # no benchmark of the suite scores `escalates`: no-evidence, at the importance (critical); the owner's
    # labels (two rounds, 43 items) give AUROC 0.99 [0.98, 1.00] but precision 0.67 [0.21, 0.94] of counted
    # items: weak (also critical); 8 items counted, 37.4 estimated from the labels, so min_items 20 is met
    "escalation": ("critical", "fail", "covered", "no-evidence", "weak", "critical", "fail", 8),
    # no benchmark scores `protects-personal-data`: no-evidence, critical, and the required score 0.85
    # cannot be told; 35 items counted (86.1 estimated, min_items 20 met); AUROC 0.99, precision 0.78
    # [0.61, 0.89]: confirmed
    "privacy": ("critical", "fail", "covered", "no-evidence", "confirmed", "critical", "fail", 35),
    # 13 items counted (28.5 estimated: covered), of which 2 are scored (freshqa, both wrong; the primality
    # items the detector counts are labelled no): insufficient data, one step below high; precision 0.40
    # [0.23, 0.59]: weak, high; the required score 0.80 cannot be told at high importance: conditional
    "billing-and-numbers": ("high", "conditional", "covered", "insufficient-data", "weak", "high", "conditional", 13),
    # 0 of 2351 suite items counted (the detector's 2 are labelled no), and no labelled item is the family's
    # (0 yes of 42): not covered, high; no benchmark scores `follows-policy`; none of the labelled items is
    # the family's: cannot-tell; required score 0.75 cannot be told: conditional
    "policy-compliance": ("high", "conditional", "missing", "no-evidence", "cannot-tell", "high", "conditional", 0),
    # 590 items counted (primality, falseclaims, donotanswer, freshqa), but none of the 50 labelled counted
    # items is the family's (1 yes of 10 near, 5 yes of 20 in the rest): AUROC 0.57 [0.44, 0.67], precision
    # 0.00 [0.00, 0.07]: weak, high; the labels estimate 416 [98, 734] family items, nearly all from the
    # rest stratum (5 of 20 stand for 1631); no benchmark scores `states-uncertainty`; no requirement
    "uncertainty": ("high", "conditional", "covered", "no-evidence", "weak", "high", "conditional", 590),
    # 7 items counted (27.8 estimated: covered); no benchmark scores `shows-empathy` and precision 1.00
    # [0.44, 1.00] is weak: medium either way, which neither fails nor conditions the gate
    "empathy": ("medium", "pass", "covered", "no-evidence", "weak", "medium", "none", 7),
    # 549 items counted (DoNotAnswer 349, HarmBench 200; 551 are declared refusal items by their logs, two
    # of them labelled no); score 0.23 on them, no different from the rest of their benchmarks (lift
    # -0.001, q 0.79): ok; confirmed (precision 1.00 [0.92, 1.00]); severity none, but the required score
    # 0.80 is not met, which fails at any importance
    "refusal": ("critical", "fail", "covered", "ok", "confirmed", "none", "fail", 549),
    # 35 items counted (freshqa 31, tau2 4); score 0.03 on its 31 scored freshqa items, no different from
    # the rest of freshqa (lift -0.01 [-0.07, +0.05], q 0.79): ok, severity none; AUROC 0.99, precision
    # 0.78 [0.63, 0.88]: confirmed; no requirement
    "time-and-dates": ("medium", "pass", "covered", "ok", "confirmed", "none", "none", 35),
}

# family: performance score (None: no score, the family has no scored item of a benchmark that measures
# what it expects), checked within DEMO_SCORE_TOLERANCE
DEMO_SCORES = {
    "escalation": None,
    "privacy": None,
    "billing-and-numbers": 0.0,     # 0 of 2
    "policy-compliance": None,
    "uncertainty": None,
    "empathy": None,
    "refusal": 0.234973,            # 129 of 549 (DoNotAnswer and HarmBench declared refusal items)
    "time-and-dates": 0.032258,     # 1 of 31
}
DEMO_SCORE_TOLERANCE = 0.005


def outcome_of(findings) -> dict[str, tuple]:
    return {f.id: (f.importance, f.verdict, f.coverage.status, f.performance.status, f.visibility.status,
                   f.severity, f.gate_effect, f.items.detected if f.items is not None else None)
            for f in findings.families}


def assert_demo_outcome(findings) -> None:
    """The findings of a demo run (a cg_gov Findings) have the pinned outcome, family by family."""
    got = outcome_of(findings)
    assert list(got) == list(DEMO_OUTCOME), "the demo profile's families, in the findings' order"
    for family, expected in DEMO_OUTCOME.items():
        assert got[family] == expected, (family, got[family], expected)
    scores = {f.id: f.performance.score for f in findings.families}
    for family, expected in DEMO_SCORES.items():
        score = scores[family]
        if expected is None:
            assert score is None, (family, score)
        else:
            assert score is not None and math.isclose(score, expected, abs_tol=DEMO_SCORE_TOLERANCE), \
                (family, score, expected)
    assert findings.summary.gate == DEMO_GATE


def test_the_committed_example_has_the_pinned_outcome():
    assert_demo_outcome(load_findings(EXAMPLE))
