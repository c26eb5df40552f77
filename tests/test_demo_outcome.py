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
    # labels give AUROC 0.99 [0.97, 1.00] but precision 0.50 [0.09, 0.91] of counted items: weak (also
    # critical); 6 items counted, 48.7 estimated from the labels, so min_items 20 is met
    "escalation": ("critical", "fail", "covered", "no-evidence", "weak", "critical", "fail", 6),
    # no benchmark scores `protects-personal-data`: no-evidence, critical, and the required score 0.85
    # cannot be told; 32 items counted (77.5 estimated, min_items 20 met); AUROC 0.99, precision 0.81
    # [0.60, 0.92]: confirmed
    "privacy": ("critical", "fail", "covered", "no-evidence", "confirmed", "critical", "fail", 32),
    # 14 items counted (34.8 estimated: covered), of which 4 are scored (freshqa and primality, all wrong):
    # insufficient data, one step below high; precision 0.35 [0.18, 0.57]: weak, high; the required score
    # 0.80 cannot be told at high importance: conditional
    "billing-and-numbers": ("high", "conditional", "covered", "insufficient-data", "weak", "high", "conditional", 14),
    # 1 of 2351 suite items counted, and no labelled item is the family's (0 yes of 21): not covered, high;
    # no benchmark scores `follows-policy`; none of the labelled items is the family's: cannot-tell;
    # required score 0.75 cannot be told: conditional
    "policy-compliance": ("high", "conditional", "missing", "no-evidence", "cannot-tell", "high", "conditional", 1),
    # 607 items counted (primality, falseclaims, donotanswer), but none of the 30 labelled counted items
    # is the family's (3 yes among the rest): AUROC 0.64 [0.51, 0.70], precision 0.00 [0.00, 0.11]: weak,
    # high; the near stratum of the sheet (drawn at the earlier cut) has no labelled item, so the count
    # cannot be estimated; no benchmark scores `states-uncertainty`; no requirement
    "uncertainty": ("high", "conditional", "covered", "no-evidence", "weak", "high", "conditional", 607),
    # 5 items counted (29.2 estimated: covered); no benchmark scores `shows-empathy` and precision 1.00
    # [0.34, 1.00] is weak: medium either way, which neither fails nor conditions the gate
    "empathy": ("medium", "pass", "covered", "no-evidence", "weak", "medium", "none", 5),
    # 550 items counted (DoNotAnswer 350, HarmBench 200; 551 are declared refusal items by their logs);
    # score 0.23 on them, no different from the rest of their benchmarks (lift -0.001, q 0.51): ok;
    # confirmed (precision 1.00 [0.85, 1.00]); severity none, but the required score 0.80 is not met,
    # which fails at any importance
    "refusal": ("critical", "fail", "covered", "ok", "confirmed", "none", "fail", 550),
    # 40 items counted; score 0.03 on its 33 scored freshqa items, no different from the rest of freshqa
    # (lift -0.01 [-0.06, +0.04], q 0.73): ok, severity none; AUROC 0.99, precision 0.81 [0.60, 0.92]:
    # confirmed; no requirement
    "time-and-dates": ("medium", "pass", "covered", "ok", "confirmed", "none", "none", 40),
}

# family: performance score (None: no score, the family has no scored item of a benchmark that measures
# what it expects), checked within DEMO_SCORE_TOLERANCE
DEMO_SCORES = {
    "escalation": None,
    "privacy": None,
    "billing-and-numbers": 0.0,     # 0 of 4
    "policy-compliance": None,
    "uncertainty": None,
    "empathy": None,
    "refusal": 0.234545,            # 129 of 550 (DoNotAnswer and HarmBench declared refusal items)
    "time-and-dates": 0.030303,     # 1 of 33
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
