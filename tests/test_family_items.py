"""Family items: counting, scoring on the behaviour's evidence, and confirmation on labels (no model)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cg_gov.findings.verdict import MIN_FAMILY_ITEMS, coverage_status, performance_status, requirement_status
from cg_gov.matching._detector import operating_point
from cg_gov.scoring import confirm_membership, score_family_items, wilson_interval
from cg_gov.scoring._membership import near_size, strata


def _suite(seed: int = 0):
    rng = np.random.default_rng(seed)
    bench = np.array(["a"] * 60 + ["b"] * 50 + ["c"] * 40)
    scores = np.concatenate([rng.integers(0, 2, 60).astype(float), rng.integers(0, 2, 50).astype(float),
                             np.ones(40)])  # c is constant
    member = np.zeros((150, 2), dtype=bool)
    member[rng.choice(150, 40, replace=False), 0] = True
    member[rng.choice(150, 25, replace=False), 1] = True
    return member, scores, bench


def test_point_estimates_equal_an_item_by_item_computation():
    member, scores, bench = _suite()
    evidence = {"f": ["a", "c"], "g": None}
    rows = {r.family: r for r in score_family_items(member, scores, bench, ["f", "g"], evidence, n_bootstrap=50)}
    for j, fam in enumerate(["f", "g"]):
        allowed = evidence[fam] or ["a", "b", "c"]
        ev = [i for i in range(150) if member[i, j] and bench[i] in allowed]
        assert rows[fam].n_scored == len(ev)
        assert rows[fam].score == pytest.approx(np.mean([scores[i] for i in ev]))
        means = {b: scores[bench == b].mean() for b in "abc"}
        lift_items = [i for i in ev if bench[i] != "c"]  # the constant benchmark is out of the lift
        assert rows[fam].lift == pytest.approx(np.mean([scores[i] - means[bench[i]] for i in lift_items]))
        assert rows[fam].detected == int(member[:, j].sum())
        assert rows[fam].by_benchmark == {b: int((member[:, j] & (bench == b)).sum()) for b in "abc"}
    assert rows["f"].evidence_benchmarks == ["a", "c"]
    assert rows["f"].constant_benchmarks == {"c": 1.0}


def test_a_constant_benchmark_counts_in_the_score():
    bench = np.array(["refusals"] * 30 + ["other"] * 30)
    scores = np.concatenate([np.zeros(30), np.ones(30)])
    member = np.ones((60, 1), dtype=bool)
    (row,) = score_family_items(member, scores, bench, ["refusal"], {"refusal": ["refusals"]}, n_bootstrap=100)
    assert row.score == 0.0 and row.n_scored == 30  # 0 of 30 refusals is evidence
    assert row.lift is None and row.lift_ci is None  # no per-item variation: no lift
    assert row.constant_benchmarks == {"refusals": 0.0}


def test_no_matching_benchmark_means_no_evidence_items():
    member, scores, bench = _suite()
    (row, _) = score_family_items(member, scores, bench, ["f", "g"], {"f": [], "g": None}, n_bootstrap=20)
    assert row.n_scored == 0 and row.score is None and row.evidence_benchmarks == []


def test_the_interval_covers_the_estimate_and_is_deterministic():
    member, scores, bench = _suite(3)
    a = score_family_items(member, scores, bench, ["f", "g"], {}, n_bootstrap=300, seed=5)
    b = score_family_items(member, scores, bench, ["f", "g"], {}, n_bootstrap=300, seed=5)
    assert a == b
    for r in a:
        assert r.score_ci[0] <= r.score <= r.score_ci[1]
        assert r.lift_ci[0] < r.lift < r.lift_ci[1]
        assert 0 <= r.lift_p <= 1


def test_a_planted_weakness_is_found_and_a_null_one_is_not():
    rng = np.random.default_rng(1)
    n = 600
    bench = np.array(["a", "b"] * (n // 2))
    fam = rng.random(n) < 0.3
    scores = np.where(fam, rng.random(n) < 0.3, rng.random(n) < 0.8).astype(float)
    null = rng.random(n) < 0.3
    rows = score_family_items(np.column_stack([fam, null]), scores, bench, ["weak", "null"], {}, n_bootstrap=400)
    weak, nul = rows
    assert weak.lift_ci[1] < 0 and weak.lift_q < 0.05
    assert nul.lift_ci[0] < 0 < nul.lift_ci[1] or nul.lift_q >= 0.05


def test_wilson_interval():
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.1 < hi < 0.2
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and 0.8 < lo < 0.9
    assert wilson_interval(0, 0) is None
    # the ends are exact for every n (findings.json must read 0.0, not a rounding residue such as 7e-18)
    for n in range(1, 400):
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0, n


def test_operating_point_keeps_at_most_the_stated_share_of_near_misses():
    neg = np.arange(1, 41, dtype=float) / 100  # 40 near misses, 0.01 .. 0.40
    cut = operating_point(np.array([0.5, 0.6]), neg, 0.05)
    assert (neg > cut).mean() <= 0.05 and (neg >= cut).mean() > 0.05
    assert cut == pytest.approx(0.38)  # 2 of 40 above it
    assert operating_point(np.array([1.0]), np.zeros(10), 0.05) == 0.0  # never below 0
    assert operating_point(np.array([]), neg, 0.05) is None
    assert operating_point(np.array([1.0]), np.array([]), 0.05) is None


def test_strata_split_detected_near_and_rest():
    scores = np.concatenate([np.linspace(1, 2, 10), np.linspace(0.01, 0.5, 100), np.zeros(90)])
    st = strata(scores, 0.9)
    assert (st == "detected").sum() == 10
    assert (st == "near").sum() == near_size(190) == 20
    near_scores = scores[st == "near"]
    assert near_scores.min() >= scores[(st == "rest")].max()


def test_confirmation_estimates_the_count_from_a_stratified_sample():
    rng = np.random.default_rng(0)
    n = 1000
    truth = rng.random(n) < 0.1
    scores = np.where(truth, rng.random(n) + 0.5, rng.random(n) * 0.6)
    cut = 0.55
    st = strata(scores, cut)
    labels = {}
    for h, k in (("detected", 40), ("near", 20), ("rest", 30)):
        for i in rng.choice(np.flatnonzero(st == h), size=min(k, int((st == h).sum())), replace=False):
            labels[int(i)] = bool(truth[i])
    res = confirm_membership(scores, cut, labels, resamples=300)
    assert res.estimated_ci[0] <= truth.sum() <= res.estimated_ci[1]
    det = st == "detected"
    assert res.precision == pytest.approx(np.mean([labels[i] for i in labels if det[i]]))
    assert res.auroc > 0.8 and res.auroc_ci[0] <= res.auroc <= res.auroc_ci[1]
    assert res.n_labelled == len(labels) and res.n_yes == sum(labels.values())
    # the rest stratum (hundreds of items, 30 labelled) adds most to the count's uncertainty
    assert res.next_to_label.startswith("label 90 more items of the rest stratum")


def test_confirmation_without_a_labelled_stratum_cannot_estimate():
    scores = np.concatenate([np.ones(10), np.zeros(100)])
    res = confirm_membership(scores, 0.5, {0: True, 1: False})
    assert res.estimated is None and res.notes
    assert res.precision == 0.5
    # no near item: none scores > 0
    assert res.next_to_label == "label items of the rest stratum (none is labelled yet)"


@pytest.mark.parametrize("count,min_items,expected", [
    (None, 10, "missing"), (0, 10, "missing"), (9, 10, "under-represented"), (10, 10, "covered"),
    (10.0, 20, "under-represented"), (MIN_FAMILY_ITEMS, MIN_FAMILY_ITEMS, "covered")])
def test_coverage_status_is_a_count(count, min_items, expected):
    assert coverage_status(True, count, min_items) == expected
    assert coverage_status(False, count, min_items) == "not-visible"


def test_coverage_status_against_the_workload_share():
    # suite share 0.02 [0.01, 0.03] vs workload share 0.2: ratio 0.1 <= 1/4 and the interval below it
    assert coverage_status(True, 50, 10, ratio=0.1, ratio_k=4, share_ci_high=0.03, workload_share=0.2) \
        == "under-represented"
    assert coverage_status(True, 50, 10, ratio=0.25, ratio_k=4, share_ci_high=0.03, workload_share=0.2) \
        == "under-represented"  # exactly 1/k is under
    assert coverage_status(True, 50, 10, ratio=0.26, ratio_k=4, share_ci_high=0.03, workload_share=0.2) == "covered"
    assert coverage_status(True, 50, 10, ratio=0.1, ratio_k=4, share_ci_high=0.2, workload_share=0.2) == "covered"


@pytest.mark.parametrize("n,expected", [(MIN_FAMILY_ITEMS - 1, "insufficient-data"), (MIN_FAMILY_ITEMS, "ok"),
                                        (None, "insufficient-data"), (math.nan, "insufficient-data")])
def test_performance_needs_scored_items(n, expected):
    assert performance_status(0.5, [-0.1, 0.1], 0.5, n, 0.05) == expected


def test_performance_no_evidence_and_weak():
    assert performance_status(0.5, [-0.3, -0.1], 0.01, 50, 0.05, evidence=False) == "no-evidence"
    assert performance_status(0.5, [-0.3, -0.1], 0.01, 50, 0.05) == "weak"
    assert performance_status(0.5, [-0.3, -0.1], 0.05, 50, 0.05) == "ok"  # q must be below alpha
    assert performance_status(0.5, [-0.3, 0.0], 0.01, 50, 0.05) == "ok"  # the interval must exclude 0
    assert performance_status(0.5, None, None, 50, 0.05) == "ok"  # only constant benchmarks: no lift


@pytest.mark.parametrize("observed,expected", [(20, "met"), (19.99, "not-met"), (None, "cannot-tell"),
                                               (math.nan, "cannot-tell"), (math.inf, "cannot-tell")])
def test_requirement_at_its_bound(observed, expected):
    assert requirement_status(20, observed) == expected
    assert requirement_status(20, observed, checkable=False) == "cannot-tell"
    assert requirement_status(None, observed) is None


def test_share_ratio_against_the_workload():
    from cg_gov.findings._derive import share_ratio
    from cg_gov.scoring import FamilyItemScores

    fi = FamilyItemScores(family="f", detected=20, by_benchmark={}, share=0.1, share_ci=(0.06, 0.15),
                          evidence_benchmarks=[], n_scored=0, score=None, score_ci=None, lift=None, lift_ci=None,
                          lift_p=None)
    assert share_ratio(fi, None, None) == (None, None)
    ratio, ci = share_ratio(fi, 0.2, 100)
    assert ratio == pytest.approx(0.5) and ci == pytest.approx([0.3, 0.75])
    ratio, _ = share_ratio(fi, 0.0, 100)  # no family item in the workload: half an item
    assert ratio == pytest.approx(0.1 / 0.005)
