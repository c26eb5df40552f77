"""The verdict's status functions at their boundaries: at the cut-off, just below, just above, and
with no value. Each test asserts the side the documentation states:

- README "The verdict and the gate": a requirement is "met (observed >= required) | not-met
  (observed < required) | cannot-tell (the data cannot check it: no observed value, e.g. performance
  insufficient-data, or coverage not-visible)"; a ratio that is not a finite number "counts as
  cannot-tell"; "significantly weak" needs "the interval below 0 and q < alpha".
- ``performance_status``'s docstring: insufficient-data with "no score ... or an effective support
  under MIN_FAMILY_N_EFF".
- ``coverage_status``'s docstring (and method.md): under-represented when "the coverage ratio is at
  most 1/k and its bootstrap interval lies below 1".

One class per function, so a change to one function's signature touches one class.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from cg_gov.findings.verdict import MIN_FAMILY_N_EFF, coverage_status, performance_status, requirement_status


def below(x: float) -> float:
    return float(np.nextafter(x, -math.inf))


def above(x: float) -> float:
    return float(np.nextafter(x, math.inf))


ALPHA = 0.05
WEAK_CI = [-0.3, -0.1]  # a lift interval below 0


class TestPerformanceStatus:
    @staticmethod
    def status(*, score=0.6, lift_ci=WEAK_CI, q=0.01, n_eff=50.0, alpha=ALPHA):
        return performance_status(score, lift_ci, q, n_eff, alpha)

    def test_the_baseline_is_weak(self):
        assert self.status() == "weak"

    def test_n_eff_exactly_at_the_floor_is_judged(self):
        assert MIN_FAMILY_N_EFF == 10.0
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

    def test_no_score_or_no_interval_is_insufficient_data(self):
        assert self.status(score=None) == "insufficient-data"
        assert self.status(lift_ci=None) == "insufficient-data"

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


class TestCoverageStatus:
    @staticmethod
    def status(*, n_matched=3, suite_mass=5.0, ratio=AT, ci=(0.1, 0.5), k=K, representation=None):
        return coverage_status(n_matched, suite_mass, ratio, None if ci is None else list(ci), k, representation)

    def test_ratio_exactly_1_over_k_with_interval_below_1_is_under_represented(self):
        assert self.status() == "under-represented"

    def test_ratio_just_above_1_over_k_is_covered(self):
        assert self.status(ratio=above(AT)) == "covered"

    def test_ratio_just_below_1_over_k_is_under_represented(self):
        assert self.status(ratio=below(AT)) == "under-represented"

    def test_interval_upper_end_exactly_1_is_covered(self):
        assert self.status(ci=(0.1, 1.0)) == "covered"

    def test_interval_upper_end_just_below_1_is_under_represented(self):
        assert self.status(ci=(0.1, below(1.0))) == "under-represented"

    def test_k_is_the_one_given(self):
        assert self.status(ratio=0.3, k=3.0) == "under-represented"
        assert self.status(ratio=0.3, k=4.0) == "covered"

    def test_no_ratio_or_no_interval_is_not_under_represented(self):
        assert self.status(ratio=None) == "covered"
        assert self.status(ci=None) == "covered"

    def test_no_concept_is_not_visible_and_no_mass_is_missing(self):
        assert self.status(n_matched=0) == "not-visible"
        assert self.status(suite_mass=0.0) == "missing"
        assert self.status(suite_mass=below(0.0)) == "missing"
        assert self.status(suite_mass=above(0.0), ratio=1.0, ci=(0.5, 2.0)) == "covered"

    def test_the_scorers_representation_flag_is_under_represented(self):
        assert self.status(ratio=1.0, ci=(0.5, 2.0), representation="under") == "under-represented"
