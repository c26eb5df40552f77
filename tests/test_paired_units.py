"""paired_differences at its edges: options and their errors, the n_min boundary, no bootstrap, a
single stratum, the columns, a difference in either direction, and q against alpha at the cut-off.
Each kills mutants of ``cg_gov/scoring/_paired.py`` that the reference and planted-difference tests
(``tests/test_vendor.py``, ``tests/test_paired_noise.py``) let through (``make mutants``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cg_gov.errors import CgGovError
from cg_gov.scoring import ScoringSettings, paired_differences

COLUMNS = ["family", "model_a", "model_b", "perf_a", "perf_b", "difference", "ci_low", "ci_high", "p", "q",
           "significant", "n_items"]


def _two_families(n_a=60, n_b=8, seed=0, better="B", benchmarks=2):
    """Family 'wide' on n_a items, 'narrow' on n_b; model ``better`` is right on 90% of wide's items
    against the other's 40%, and the two answer the same elsewhere."""
    rng = np.random.default_rng(seed)
    n = n_a + n_b
    dense = np.zeros((n, 2))
    dense[:n_a, 0] = rng.uniform(0.5, 1.5, n_a)
    dense[n_a:, 1] = rng.uniform(0.05, 1.5, n_b)
    bench = np.array([f"b{i % benchmarks}" for i in range(n)])
    same = (rng.random(n) < 0.5).astype(float)
    good = same.copy()
    good[:n_a] = (rng.random(n_a) < 0.9).astype(float)
    weak = same.copy()
    weak[:n_a] = (rng.random(n_a) < 0.4).astype(float)
    scores = {"A": good if better == "A" else weak, "B": weak if better == "A" else good}
    return sp.csr_matrix(dense), scores, bench, {"wide": {0: 1.0}, "narrow": {1: 1.0}}


OPTS = dict(n_min=5, n_bootstrap=200, alpha=0.05, seed=3, epsilon=0.0)


def test_columns_and_float_values_with_a_family_short_of_n_min():
    abar, scores, bench, weights = _two_families()
    out = paired_differences(abar, scores, bench, weights, **{**OPTS, "n_min": 10}).set_index("family")
    assert list(out.reset_index().columns) == COLUMNS
    assert out.loc["narrow", "n_items"] == 8
    for col in ("perf_a", "perf_b", "difference", "ci_low", "ci_high", "p", "q"):
        assert out[col].dtype == np.float64, col
        assert math.isnan(out.loc["narrow", col]) and math.isfinite(out.loc["wide", col]), col
    assert not out.loc["narrow", "significant"]


def test_no_family_gives_the_documented_columns():
    abar, scores, bench, _ = _two_families()
    out = paired_differences(abar, scores, bench, {}, **OPTS)
    assert list(out.columns) == COLUMNS and out.empty


def test_exactly_n_min_items_is_enough():
    abar, scores, bench, weights = _two_families()
    at = paired_differences(abar, scores, bench, weights, **{**OPTS, "n_min": 8}).set_index("family")
    assert math.isfinite(at.loc["narrow", "difference"]) and math.isfinite(at.loc["narrow", "perf_a"])
    above = paired_differences(abar, scores, bench, weights, **{**OPTS, "n_min": 9}).set_index("family")
    assert math.isnan(above.loc["narrow", "difference"])


def test_epsilon_decides_which_items_count():
    abar, scores, bench, weights = _two_families()
    out = paired_differences(abar, scores, bench, weights, **{**OPTS, "epsilon": 0.5}).set_index("family")
    assert out.loc["narrow", "n_items"] == int((abar[:, 1].toarray() > 0.5).sum()) < 8


def test_options_come_from_the_settings_and_a_keyword_overrides():
    abar, scores, bench, weights = _two_families()
    settings = ScoringSettings(n_min=9, bootstrap=150, alpha=0.2, seed=4, epsilon=0.5)
    from_settings = paired_differences(abar, scores, bench, weights, settings=settings)
    spelled = paired_differences(abar, scores, bench, weights, n_min=9, n_bootstrap=150, alpha=0.2, seed=4,
                                 epsilon=0.5)
    assert from_settings.equals(spelled)
    narrower = paired_differences(abar, scores, bench, weights, settings=settings, alpha=0.05)
    wide_lo = from_settings.set_index("family").loc["wide", "ci_low"]
    assert narrower.set_index("family").loc["wide", "ci_low"] < wide_lo  # 95% is wider than 80%


@pytest.mark.parametrize("key, value", [("n_min", 0), ("n_bootstrap", -1), ("alpha", 1.5), ("epsilon", -0.1),
                                        ("lift_p_method", "exact")])
def test_an_option_out_of_its_domain_is_named(key, value):
    abar, scores, bench, weights = _two_families()
    with pytest.raises(CgGovError) as err:
        paired_differences(abar, scores, bench, weights, **{**OPTS, key: value})
    assert err.value.key == key


def test_one_model_is_refused_naming_the_scores():
    abar, scores, bench, weights = _two_families()
    with pytest.raises(CgGovError) as err:
        paired_differences(abar, {"A": scores["A"]}, bench, weights, **OPTS)
    assert err.value.key == "scores" and err.value.message == "paired differences need at least two models"


def test_no_bootstrap_gives_estimates_without_intervals():
    abar, scores, bench, weights = _two_families()
    out = paired_differences(abar, scores, bench, weights, **{**OPTS, "n_bootstrap": 0}).set_index("family")
    assert out.loc["wide", "difference"] < -0.2
    assert out[["ci_low", "ci_high", "p", "q"]].isna().all().all() and not out["significant"].any()
    # one resample is a bootstrap too: its p-value (bootstrap method) and percentile interval exist
    one = paired_differences(abar, scores, bench, weights, **{**OPTS, "n_bootstrap": 1},
                             lift_p_method="bootstrap").set_index("family")
    assert one.loc["wide", ["ci_low", "ci_high", "p", "q"]].notna().all()


def test_a_single_stratum_is_resampled():
    abar, scores, bench, weights = _two_families(benchmarks=1)
    out = paired_differences(abar, scores, bench, weights, **OPTS).set_index("family")
    assert out.loc["wide", "ci_high"] < 0 and out.loc["wide", "significant"]


@pytest.mark.parametrize("better", ["A", "B"])
def test_a_difference_is_significant_in_either_direction(better):
    abar, scores, bench, weights = _two_families(better=better)
    row = paired_differences(abar, scores, bench, weights, **OPTS).set_index("family").loc["wide"]
    assert row["significant"] and row["q"] < 0.05
    assert (row["ci_low"] > 0) if better == "A" else (row["ci_high"] < 0)


def test_q_exactly_at_alpha_is_not_significant():
    """significant needs q < alpha: run once, then set alpha to the q found (and just above it)."""
    abar, scores, bench, weights = _two_families(n_a=40, seed=2)
    first = paired_differences(abar, scores, bench, weights, **OPTS).set_index("family")
    q = float(first.loc["wide", "q"])
    assert 0 < q < 0.05
    at = paired_differences(abar, scores, bench, weights, **{**OPTS, "alpha": q}).set_index("family")
    assert at.loc["wide", "q"] == q and at.loc["wide", "ci_high"] < 0
    assert not at.loc["wide", "significant"]
    above = paired_differences(abar, scores, bench, weights,
                               **{**OPTS, "alpha": float(np.nextafter(q, 1.0))}).set_index("family")
    assert above.loc["wide", "significant"]
