"""The verdict's status functions at their boundaries (rule v4): at the cut-off, just below, just
above, and with no value. Each test asserts the side the documentation states:

- README "The verdict and the gate": a requirement is "met (observed >= required) | not-met |
  cannot-tell (the data cannot check it: no workload sample, performance insufficient-data or
  no-evidence, not visible)"; "significantly weak" needs "the interval below 0 and q < alpha".
- ``performance_status``'s docstring: no-evidence when no benchmark measures the behaviour the
  family expects (checked first); insufficient-data with "no score, or fewer than MIN_FAMILY_ITEMS
  scored family items"; weak when the lift's interval lies below 0 and q < alpha (no interval: not
  weak).
- ``coverage_status``'s docstring: not-visible without a detector; missing when no suite item is
  counted; under-represented below ``min_items`` or, with a workload sample, when the suite's share
  is at most 1/k of the workload's (``ratio``) and the upper end of its interval lies below the
  workload's share.

One class per function, so a change to one function's signature touches one class.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from cg_gov.findings.verdict import (MIN_FAMILY_ITEMS, MIN_FAMILY_N_EFF, coverage_status, performance_status,
                                     requirement_status)


def below(x: float) -> float:
    return float(np.nextafter(x, -math.inf))


def above(x: float) -> float:
    return float(np.nextafter(x, math.inf))


ALPHA = 0.05
WEAK_CI = [-0.3, -0.1]  # a lift interval below 0


class TestPerformanceStatus:
    @staticmethod
    def status(*, score=0.6, lift_ci=WEAK_CI, q=0.01, n_eff=50.0, alpha=ALPHA, evidence=True):
        # n_eff: the number of scored family items (``n_scored``), floor MIN_FAMILY_ITEMS
        return performance_status(score, lift_ci, q, n_eff, alpha, evidence)

    def test_the_baseline_is_weak(self):
        assert self.status() == "weak"

    def test_n_eff_exactly_at_the_floor_is_judged(self):
        assert MIN_FAMILY_N_EFF == MIN_FAMILY_ITEMS == 10
        assert self.status(n_eff=MIN_FAMILY_N_EFF) == "weak"
        assert self.status(n_eff=MIN_FAMILY_N_EFF, lift_ci=[-0.1, 0.2]) == "ok"

    def test_n_eff_just_below_the_floor_is_insufficient_data(self):
        assert self.status(n_eff=below(MIN_FAMILY_N_EFF)) == "insufficient-data"
        assert self.status(n_eff=below(MIN_FAMILY_N_EFF), lift_ci=[-0.1, 0.2]) == "insufficient-data"
        assert self.status(n_eff=1.0) == "insufficient-data"
        assert self.status(n_eff=0.0) == "insufficient-data"

    @pytest.mark.parametrize("n_eff", [None, math.nan])
    def test_no_effective_support_is_insufficient_data(self, n_eff):
        assert self.status(n_eff=n_eff) == "insufficient-data"

    def test_no_score_is_insufficient_data_and_no_interval_is_not_weak(self):
        assert self.status(score=None) == "insufficient-data"
        assert self.status(score=None, lift_ci=[-0.1, 0.2]) == "insufficient-data"
        # v4: a family with a score and enough items but no lift interval is judged, and not weak
        assert self.status(lift_ci=None) == "ok"
        assert self.status(lift_ci=None, q=1e-9) == "ok"

    def test_evidence_is_assumed_unless_said_otherwise(self):
        # no-evidence only when the caller says no benchmark measures the behaviour
        assert performance_status(0.6, WEAK_CI, 0.01, 50.0, ALPHA) == "weak"
        assert performance_status(0.6, [0.1, 0.2], 0.01, 50.0, ALPHA) == "ok"

    def test_no_evidence_comes_first(self):
        assert self.status(evidence=False) == "no-evidence"
        assert self.status(evidence=False, score=None, n_eff=None) == "no-evidence"
        assert self.status(evidence=False, n_eff=below(MIN_FAMILY_ITEMS)) == "no-evidence"
        assert self.status(evidence=False, lift_ci=[0.1, 0.3]) == "no-evidence"

    def test_q_exactly_at_alpha_is_not_weak(self):
        assert self.status(q=ALPHA) == "ok"

    def test_q_just_below_alpha_is_weak(self):
        assert self.status(q=below(ALPHA)) == "weak"

    def test_q_is_compared_with_the_alpha_given(self):
        assert self.status(q=0.03, alpha=0.01) == "ok"
        assert self.status(q=0.03, alpha=0.1) == "weak"

    @pytest.mark.parametrize("q", [None, math.nan])
    def test_no_q_is_not_weak(self, q):
        assert self.status(q=q) == "ok"

    def test_interval_upper_end_exactly_0_is_not_weak(self):
        assert self.status(lift_ci=[-0.3, 0.0]) == "ok"

    def test_interval_upper_end_just_below_0_is_weak(self):
        assert self.status(lift_ci=[-0.3, below(0.0)]) == "weak"

    def test_interval_above_0_is_ok_however_small_q(self):
        assert self.status(lift_ci=[0.1, 0.3], q=1e-9) == "ok"


class TestRequirementStatus:
    def test_observed_equal_to_required_is_met(self):
        assert requirement_status(0.7, 0.7) == "met"
        assert requirement_status(1.0, 1.0) == "met"
        assert requirement_status(0.0, 0.0) == "met"

    def test_observed_just_below_required_is_not_met(self):
        assert requirement_status(0.7, below(0.7)) == "not-met"

    def test_observed_just_above_required_is_met(self):
        assert requirement_status(0.7, above(0.7)) == "met"

    @pytest.mark.parametrize("observed", [None, math.nan, math.inf, -math.inf])
    def test_no_finite_observed_value_is_cannot_tell(self, observed):
        assert requirement_status(0.7, observed) == "cannot-tell"

    def test_not_checkable_is_cannot_tell_whatever_the_value(self):
        assert requirement_status(0.7, 0.9, checkable=False) == "cannot-tell"
        assert requirement_status(0.7, 0.1, checkable=False) == "cannot-tell"

    def test_no_threshold_is_no_requirement(self):
        assert requirement_status(None, 0.5) is None
        assert requirement_status(None, None, checkable=False) is None


K = 4.0
AT = 1.0 / K  # the ratio's cut-off, 0.25
SHARE = 0.2   # the workload's share of family items
MIN = MIN_FAMILY_ITEMS


class TestCoverageStatus:
    """Baseline: visible, enough items, a workload sample with the ratio at 1/k and the upper end of
    the suite share's interval below the workload's share."""

    @staticmethod
    def status(*, visible=True, count=40.0, min_items=MIN, ratio=AT, k=K, share_ci_high=0.1,
               workload_share=SHARE):
        return coverage_status(visible, count, min_items, ratio, k, share_ci_high, workload_share)

    def test_ratio_exactly_1_over_k_with_interval_below_the_workload_share_is_under_represented(self):
        assert self.status() == "under-represented"

    def test_ratio_just_above_1_over_k_is_covered(self):
        assert self.status(ratio=above(AT)) == "covered"

    def test_ratio_just_below_1_over_k_is_under_represented(self):
        assert self.status(ratio=below(AT)) == "under-represented"

    def test_interval_upper_end_exactly_at_the_workload_share_is_covered(self):
        assert self.status(share_ci_high=SHARE) == "covered"

    def test_interval_upper_end_just_below_the_workload_share_is_under_represented(self):
        assert self.status(share_ci_high=below(SHARE)) == "under-represented"

    def test_interval_upper_end_just_above_the_workload_share_is_covered(self):
        assert self.status(share_ci_high=above(SHARE)) == "covered"

    def test_k_is_the_one_given(self):
        assert self.status(ratio=0.3, k=3.0) == "under-represented"
        assert self.status(ratio=0.3, k=4.0) == "covered"

    def test_k_defaults_to_the_methods_4(self):
        # shared/method.md: "k = 4 by default" (ScoringSettings.ratio_k)
        from cg_gov.spec import ScoringSettings

        assert ScoringSettings().ratio_k == K
        assert coverage_status(True, 40.0, MIN, AT, share_ci_high=0.1, workload_share=SHARE) == "under-represented"
        assert coverage_status(True, 40.0, MIN, above(AT), share_ci_high=0.1, workload_share=SHARE) == "covered"

    @pytest.mark.parametrize("field", ["ratio", "share_ci_high", "workload_share"])
    def test_no_workload_sample_is_not_under_represented_by_ratio(self, field):
        # without a workload sample (no ratio, no share, no interval) the ratio rule is not applied
        assert self.status(**{field: None}) == "covered"

    @pytest.mark.parametrize("field", ["ratio", "share_ci_high"])
    def test_a_nan_ratio_or_interval_does_not_make_it_under_represented(self, field):
        assert self.status(**{field: math.nan}) == "covered"

    def test_no_detector_is_not_visible_whatever_the_count(self):
        assert self.status(visible=False) == "not-visible"
        assert self.status(visible=False, count=0) == "not-visible"
        assert self.status(visible=False, count=None) == "not-visible"

    @pytest.mark.parametrize("count", [0, 0.0, None, math.nan, below(0.0)])
    def test_no_counted_item_is_missing(self, count):
        assert self.status(count=count) == "missing"
        assert self.status(count=count, ratio=1.0, share_ci_high=0.5) == "missing"

    def test_count_just_above_0_is_not_missing(self):
        assert self.status(count=above(0.0), ratio=1.0, share_ci_high=0.5) == "under-represented"

    # v3 had the scorer's representation flag; v4's nearest rule: fewer items than the minimum.
    def test_count_exactly_at_min_items_is_covered(self):
        assert self.status(count=MIN, ratio=1.0, share_ci_high=0.5) == "covered"
        assert self.status(count=MIN, workload_share=None) == "covered"

    def test_count_just_below_min_items_is_under_represented(self):
        assert self.status(count=below(MIN), ratio=1.0, share_ci_high=0.5) == "under-represented"
        assert self.status(count=below(MIN), workload_share=None) == "under-represented"
        assert self.status(count=1, workload_share=None) == "under-represented"

    def test_count_just_above_min_items_is_covered(self):
        assert self.status(count=above(MIN), ratio=1.0, share_ci_high=0.5) == "covered"

    def test_min_items_is_the_one_given(self):
        # require.min_items replaces the default floor
        assert self.status(count=20, min_items=25, workload_share=None) == "under-represented"
        assert self.status(count=20, min_items=20, workload_share=None) == "covered"
        assert self.status(count=5, min_items=5, workload_share=None) == "covered"
