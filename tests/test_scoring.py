"""cg_gov.scoring against the plain reference (tests/reference_scoring.py) and on planted effects."""
from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.stats

import reference_scoring as ref_impl
from cg_gov.errors import CgGovError
from cg_gov import scoring
from cg_gov.scoring import ConceptScores, benjamini_hochberg

#: The options these tests and ``reference_scoring.py`` were written for, where they differ from
#: the method's defaults (``ScoringSettings``): bootstrap p-values, a chi_model from one supporting
#: benchmark, no subsampling unless asked.
TEST_OPTIONS = {"lift_p_method": "bootstrap", "min_benchmarks": 1, "subsample_reruns": 0}


def _with(defaults, function):
    # the signature, not __kwdefaults__: it sees through a wrapper (mutmut's trampolines, `make mutants`)
    params = inspect.signature(function).parameters
    accepted = {k: v for k, v in defaults.items() if k in params}

    def call(*args, **kwargs):
        return function(*args, **{**accepted, **kwargs})
    return call


score_concepts = _with(TEST_OPTIONS, scoring.score_concepts)
score_families = _with(TEST_OPTIONS, scoring.score_families)
subsampling_robustness = _with({"min_benchmarks": 1}, scoring.subsampling_robustness)
adversarial_removal = _with({"min_benchmarks": 1}, scoring.adversarial_removal)

pytestmark = pytest.mark.filterwarnings("error")


def make_suite(seed: int, *, n: int = 140, n_cols: int = 9, continuous: bool = False,
               edge_cases: bool = True):
    """A small random suite; with edge cases: an unscored benchmark, a partly scored one,
    a single-item benchmark, an all-zero item and a concept that never fires."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.1, 0.8, n_cols)
    abar = rng.exponential(1.0, (n, n_cols)) * (rng.random((n, n_cols)) < rate)
    bench = rng.choice(["alpha", "beta", "gamma", "delta"], n).astype(object)
    if continuous:
        scores = np.round(rng.random(n), 3)
    else:
        scores = (rng.random(n) < 0.6).astype(float)
    # concept 1 tends to fire on failed items, concept 2 on passed ones
    abar[:, 1] *= np.where(scores < 0.5, 1.5, 0.3)
    abar[:, 2] *= np.where(scores >= 0.5, 1.5, 0.3)
    if edge_cases:
        abar[:, n_cols - 1] = 0.0
        abar[5] = 0.0
        scores[bench == "delta"] = np.nan
        beta = np.flatnonzero(bench == "beta")
        scores[beta[::3]] = np.nan
        bench[7] = "solo"
        scores[7] = 0.0 if continuous else 1.0
    reference = rng.exponential(1.0, (60, n_cols)) * (rng.random((60, n_cols)) < rate[::-1])
    if edge_cases:
        # a concept seen once in the suite and once in the reference: many resamples
        # see it on neither side
        abar[:, n_cols - 2] = 0.0
        abar[11, n_cols - 2] = 2.0
        reference[:, n_cols - 2] = 0.0
        reference[3, n_cols - 2] = 0.5
    return abar, scores, list(bench), reference


def check_against_reference(fast: ConceptScores, out, rows, missing_pct):
    for key, values in out.items():
        if key.startswith("performance"):
            continue
        got = fast.overall[key].to_numpy()
        if key == "representation":
            assert list(got) == values, key
        elif key == "missing":
            assert list(got) == values, key
        else:
            np.testing.assert_allclose(got.astype(float), np.asarray(values, dtype=float),
                                       rtol=1e-9, atol=1e-12, err_msg=key)
    table = fast.per_benchmark
    assert len(table) == len(rows)
    for key in ("chi_bench", "chi_model", "support", "scored_support"):
        expected = np.array([rows[i][key] for i in table.index], dtype=float)
        np.testing.assert_allclose(table[key].to_numpy(float), expected, rtol=1e-9,
                                   atol=1e-12, err_msg=key)
    for key in ("missing", "supported"):
        assert table[key].tolist() == [rows[i][key] for i in table.index], key
    assert fast.missing_by_benchmark.to_dict() == pytest.approx(missing_pct)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_engine_matches_reference(seed, kind):
    abar, scores, bench, reference = make_suite(seed, continuous=(seed == 2))
    matrix = sp.csr_matrix(abar) if kind == "sparse" else abar
    ref_matrix = sp.csr_matrix(reference) if kind == "sparse" else reference
    opts = dict(n_min=3, min_benchmarks=1, n_bootstrap=60, alpha=0.1, seed=seed + 10)
    fast = score_concepts(matrix, scores, bench, reference=ref_matrix, bootstrap_dtype="float64",
                          **opts)
    out, rows, missing_pct = ref_impl.score(abar, scores, bench, reference=reference, **opts)
    check_against_reference(fast, out, rows, missing_pct)
    assert fast.suite_missing == 1
    assert fast.settings["seed"] == seed + 10


def test_engine_matches_reference_with_min_benchmarks_and_epsilon():
    abar, scores, bench, reference = make_suite(3)
    opts = dict(n_min=4, min_benchmarks=2, n_bootstrap=40, seed=3, epsilon=0.5, ratio_k=1.5,
                lift_p_method="normal")
    fast = score_concepts(abar, scores, bench, reference=reference, bootstrap_dtype="float64",
                          **opts)
    out, rows, missing_pct = ref_impl.score(abar, scores, bench, reference=reference, **opts)
    check_against_reference(fast, out, rows, missing_pct)
    assert (fast.overall["n_supported_benchmarks"] < 2).any()  # the rule is exercised


def test_float32_bootstrap_is_close_to_float64():
    abar, scores, bench, reference = make_suite(4, n=300)
    opts = dict(reference=reference, n_min=3, n_bootstrap=100, seed=4)
    a = score_concepts(abar, scores, bench, bootstrap_dtype="float64", **opts).overall
    b = score_concepts(abar, scores, bench, bootstrap_dtype="float32", **opts).overall
    for key in ("chi_model_ci_low", "chi_model_ci_high", "lift_ci_low", "lift_ci_high",
                "ratio_ci_low", "ratio_ci_high"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-5, err_msg=key)
    pd.testing.assert_series_equal(a["chi_model"], b["chi_model"])


def test_edge_cases_are_defined():
    abar, scores, bench, reference = make_suite(5)
    reference[:, -1] = 0.0
    res = score_concepts(abar, scores, bench, reference=reference, n_min=3, n_bootstrap=30)
    once = res.overall.iloc[-2]
    assert once["representation"] == "neutral"
    assert once["ratio_ci_low"] == 0 and once["ratio_ci_high"] == np.inf
    never = res.overall.iloc[-1]
    assert never["missing"] and never["support"] == 0 and never["n_eff"] == 0
    assert math.isnan(never["chi_model"]) and math.isnan(never["lift"])
    assert never["chi_bench"] == 0 and math.isnan(never["coverage_ratio"])
    assert never["representation"] == "unobserved"
    assert math.isnan(never["lift_p"]) and math.isnan(never["lift_q"])
    # the unscored benchmark: coverage only
    delta = res.per_benchmark.loc["delta"]
    assert delta["chi_model"].isna().all() and (delta["scored_support"] == 0).all()
    assert not delta["supported"].any()
    assert delta["chi_bench"].notna().any()
    assert res.benchmarks.loc["delta", "n_scored"] == 0
    assert math.isnan(res.benchmarks.loc["delta", "mean_score"])
    # the single-item benchmark
    solo = res.per_benchmark.loc["solo"]
    assert res.benchmarks.loc["solo", "n_items"] == 1
    assert res.benchmarks.loc["solo", "n_scored"] == 1
    assert set(solo["support"].unique()) <= {0, 1}
    assert (solo["chi_model"].dropna() == 1.0).all() and solo["supported"].sum() == 0
    # chi_bench averages to 1 over the concepts of every benchmark with activation
    means = res.per_benchmark["chi_bench"].groupby(level="benchmark").mean()
    np.testing.assert_allclose(means.dropna(), 1.0)


def test_benchmark_of_zero_items_and_no_scores_anywhere():
    abar = np.zeros((6, 3))
    abar[:3, 0] = 1.0
    bench = ["a", "a", "a", "b", "b", "b"]
    reference = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    res = score_concepts(abar, [np.nan] * 6, bench, reference=reference, n_min=1,
                         n_bootstrap=20, subsample_reruns=5, adversarial=True)
    assert res.overall["representation"].tolist() == ["neutral", "unobserved", "unobserved"]
    assert res.overall.loc[0, "coverage_ratio"] == pytest.approx(1.0)
    assert res.robustness["subsampling"]["mean_std_chi_model"] is None
    assert res.robustness["adversarial"]["median_chi_model"] is None
    json.dumps(res.robustness, allow_nan=False)
    assert res.overall["chi_model"].isna().all() and res.overall["lift"].isna().all()
    assert res.per_benchmark.loc["b", "chi_bench"].isna().all()  # no activation at all in b
    assert res.overall["chi_bench"].tolist() == [3.0, 0.0, 0.0]  # only a counts
    assert res.missing_by_benchmark.to_dict() == {"a": pytest.approx(200 / 3), "b": 100.0}
    assert res.suite_missing == 2


def test_families_match_reference():
    abar, scores, bench, reference = make_suite(6, n=120, n_cols=10)
    weights = {"refusal": {1: 1.0, 3: 0.5}, "privacy": {2: 2.0}, "empty_mass": {9: 1.0},
               "broad": {c: 1.0 for c in range(9)}}
    opts = dict(n_min=3, n_bootstrap=50, seed=6, alpha=0.1)
    fam = score_families(sp.csr_matrix(abar), scores, bench, weights, reference=reference,
                         **opts)
    out = ref_impl.families(abar, scores, bench, weights, reference=reference, **opts)
    assert list(fam.index) == out["names"]
    pairs = {"coverage": "coverage_ratio", "coverage_ci_low": "ratio_ci_low",
             "coverage_ci_high": "ratio_ci_high", "performance": "performance",
             "performance_ci_low": "performance_ci_low",
             "performance_ci_high": "performance_ci_high", "lift": "lift",
             "lift_ci_low": "lift_ci_low", "lift_ci_high": "lift_ci_high", "lift_p": "lift_p",
             "lift_q": "lift_q", "n_eff": "n_eff", "support": "support",
             "scored_support": "scored_support", "suite_mean": "suite_mean",
             "reference_mean": "reference_mean"}
    for mine, theirs in pairs.items():
        np.testing.assert_allclose(fam[mine].to_numpy(float), np.asarray(out[theirs], float),
                                   rtol=1e-9, atol=1e-12, err_msg=mine)
    assert fam["representation"].tolist() == out["representation"]
    mass = out["mass"]
    j = out["names"].index("refusal")
    top = fam.loc["refusal", "top_items"]
    assert top == sorted(np.flatnonzero(mass[:, j] > 0).tolist(),
                         key=lambda i: (-mass[i, j], i))[:10]
    share = fam.loc["refusal", "benchmark_share"]
    assert sum(share.values()) == pytest.approx(1.0)
    b = np.asarray(bench)
    assert share["delta"] == pytest.approx(mass[b == "delta", j].sum() / mass[:, j].sum())
    # a one-concept family is that concept, on the same resamples
    concepts = score_concepts(abar, scores, bench, reference=reference,
                              bootstrap_dtype="float64", **opts).overall
    for mine, theirs in (("lift", "lift"), ("lift_ci_low", "lift_ci_low"),
                         ("coverage_ci_high", "ratio_ci_high")):
        assert fam.loc["privacy", mine] == pytest.approx(concepts.loc[2, theirs], rel=1e-9)
    # method.md's literal weighted mean of concept ratios
    ratio = concepts["coverage_ratio"]
    assert fam.loc["refusal", "coverage_weighted_mean"] == pytest.approx(
        (ratio[1] * 1.0 + ratio[3] * 0.5) / 1.5)
    assert math.isnan(fam.loc["empty_mass", "performance"])


def test_families_without_reference_or_weights():
    abar, scores, bench, _ = make_suite(14, n=80, n_cols=5)
    fam = score_families(abar, scores, bench, {"b": {1: 1.0}, "a": {}}, n_min=3, n_bootstrap=20)
    assert list(fam.index) == ["a", "b"]
    assert "coverage" not in fam.columns and "representation" not in fam.columns
    assert math.isnan(fam.loc["a", "lift"]) and fam.loc["a", "support"] == 0
    assert fam.loc["a", "top_items"] == [] and fam.loc["b", "lift_ci_low"] < fam.loc["b", "lift"]
    assert score_families(abar, scores, bench, {}).empty


def test_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, cg_gov.scoring; "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'sae_lens')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_subsampling_matches_reference():
    abar, scores, bench, _ = make_suite(7, n=100, n_cols=6)
    opts = dict(n_min=3, seed=7)
    res = score_concepts(abar, scores, bench, n_bootstrap=0, subsample_reruns=12,
                         subsample_fraction=0.25, bootstrap_dtype="float64", **opts)
    out = ref_impl.subsampling(abar, scores, bench, n_reruns=12, fraction=0.25, **opts)
    np.testing.assert_allclose(res.overall["chi_model_subsample_std"], out["std_chi_model"],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.overall["chi_bench_subsample_std"], out["std_chi_bench"],
                               rtol=1e-9, atol=1e-12)
    summary = res.robustness["subsampling"]
    assert summary["mean_std_chi_model"] == pytest.approx(out["mean_std_chi_model"])
    assert summary["mean_std_chi_bench"] == pytest.approx(out["mean_std_chi_bench"])
    alone = subsampling_robustness(abar, scores, bench, n_reruns=12, fraction=0.25,
                                   bootstrap_dtype="float64", **opts)
    assert alone == summary
    json.dumps(alone)


def test_adversarial_matches_reference():
    abar, scores, bench, _ = make_suite(8, n=300, n_cols=12)
    opts = dict(n_concepts=3, fraction=0.02, n_min=3)
    fast = adversarial_removal(abar, scores, bench, **opts)
    slow = ref_impl.adversarial(abar, scores, bench, **opts)
    for key, value in slow.items():
        assert fast[key] == pytest.approx(value, rel=1e-12), key
    assert fast["n_removed_top"] == math.floor(0.02 * fast["n_scored_items"])
    json.dumps(fast)


def planted_suite(seed: int, n: int = 2400, n_cols: int = 20):
    """Four benchmarks of different difficulty; concept 0 fires mostly on failed items."""
    rng = np.random.default_rng(seed)
    bench = np.repeat(["easy", "mid", "hard", "harder"], n // 4)
    p_pass = np.repeat([0.9, 0.7, 0.5, 0.3], n // 4)
    scores = (rng.random(n) < p_pass).astype(float)
    abar = rng.exponential(1.0, (n, n_cols)) * (rng.random((n, n_cols)) < 0.3)
    fires = rng.random(n) < np.where(scores == 0, 0.6, 0.1)
    abar[:, 0] = rng.exponential(1.0, n) * fires
    return abar, scores, bench, rng


def test_planted_failure_concept_has_significant_negative_lift():
    abar, scores, bench, _ = planted_suite(11)
    res = score_concepts(sp.csr_matrix(abar), scores, bench, n_min=30, n_bootstrap=400, seed=1)
    c0 = res.overall.loc[0]
    assert c0["lift"] < -0.2
    assert c0["lift_ci_high"] < 0
    assert c0["lift_q"] < 0.05
    assert c0["chi_model_ci_high"] < res.overall["chi_model"].drop(0).min()
    null = res.overall.drop(0)
    assert (null["lift_q"] < 0.05).sum() <= 1
    assert ((null["lift_ci_low"] < 0) & (null["lift_ci_high"] > 0)).mean() >= 0.8
    normal = score_concepts(sp.csr_matrix(abar), scores, bench, n_min=30, n_bootstrap=400,
                            seed=1, lift_p_method="normal").overall
    assert normal.loc[0, "lift_p"] < 1e-6  # below the bootstrap floor of 1/401
    assert (normal["lift_q"].drop(0) < 0.05).sum() <= 1


def test_planted_under_and_over_representation():
    abar, scores, bench, rng = planted_suite(12, n_cols=6)
    reference = rng.exponential(1.0, (800, 6)) * (rng.random((800, 6)) < 0.3)
    abar[:, 1] *= rng.random(len(abar)) < 0.1  # fires on 3% of suite items, 30% of reference
    abar[:, 2] = rng.exponential(1.0, len(abar)) * (rng.random(len(abar)) < 0.9)
    reference[:, 2] *= rng.random(800) < 0.15  # 27% suite... 90% vs 4.5%
    abar[:, 3] *= rng.random(len(abar)) < 0.5  # 2x less: not beyond k=4
    res = score_concepts(abar, scores, bench, reference=reference, n_min=30, n_bootstrap=300,
                         seed=2)
    rep = res.overall["representation"]
    assert rep[1] == "under" and res.overall.loc[1, "ratio_ci_high"] < 1
    assert rep[2] == "over" and res.overall.loc[2, "ratio_ci_low"] > 1
    assert rep[3] == "neutral" and rep[4] == "neutral" and rep[5] == "neutral"


def test_bootstrap_interval_coverage():
    """Nominal 90% intervals of chi_model and lift cover the truth about 90% of the time."""
    p1 = np.array([0.3, 0.6])  # pass rate where the concept fires, per benchmark
    p0 = np.array([0.7, 0.8])  # elsewhere
    q = 0.4  # firing rate
    mu = q * p1 + (1 - q) * p0
    true_chi = p1.mean()
    true_lift = (q * (p1 - mu)).sum() / (2 * q)
    hits_chi = hits_lift = 0
    reps = 150
    for r in range(reps):
        rng = np.random.default_rng(1000 + r)
        n = 150
        fires = rng.random(2 * n) < q
        b = np.repeat([0, 1], n)
        s = (rng.random(2 * n) < np.where(fires, p1[b], p0[b])).astype(float)
        abar = (rng.exponential(1.0, 2 * n) * fires)[:, None]
        res = score_concepts(abar, s, np.array(["a", "b"])[b], n_min=10, n_bootstrap=200,
                             alpha=0.1, seed=r).overall.loc[0]
        hits_chi += res["chi_model_ci_low"] <= true_chi <= res["chi_model_ci_high"]
        hits_lift += res["lift_ci_low"] <= true_lift <= res["lift_ci_high"]
    assert 0.82 <= hits_chi / reps <= 0.97
    assert 0.82 <= hits_lift / reps <= 0.97


def test_adversarial_direction_on_planted_suite():
    abar, scores, bench, _ = planted_suite(13, n=3000, n_cols=300)
    rng = np.random.default_rng(3)
    # concepts 1..20 fire more on passed items, 21..40 on failed items
    for c in range(1, 41):
        bias = np.where(scores == 1, 0.6, 0.1) if c <= 20 else np.where(scores == 0, 0.6, 0.1)
        abar[:, c] = rng.exponential(1.0, len(scores)) * (rng.random(len(scores)) < bias)
    out = adversarial_removal(sp.csr_matrix(abar), scores, bench, n_concepts=20,
                              fraction=0.01, n_min=10)
    assert out["n_removed_top"] == 30 and out["n_removed_bottom"] == 30
    assert out["direction_top_as_paper"] and out["direction_bottom_as_paper"]


def test_deterministic_and_independent_of_batching(monkeypatch):
    abar, scores, bench, reference = make_suite(9, n=200)
    opts = dict(reference=reference, n_min=3, n_bootstrap=50, seed=5, subsample_reruns=9,
                bootstrap_dtype="float64")
    a = score_concepts(abar, scores, bench, **opts)
    b = score_concepts(abar, scores, bench, **opts)
    pd.testing.assert_frame_equal(a.overall, b.overall)
    import cg_gov.scoring._concepts as concepts_mod
    import cg_gov.scoring._robustness as robustness_mod
    monkeypatch.setattr(concepts_mod, "batch_size", lambda n_cols, requested: 7)
    monkeypatch.setattr(robustness_mod, "batch_size", lambda n_cols, requested: 4)
    c = score_concepts(abar, scores, bench, **opts)
    pd.testing.assert_frame_equal(a.overall, c.overall, rtol=1e-12)
    d = score_concepts(abar, scores, bench, **{**opts, "seed": 6})
    assert not np.allclose(a.overall["lift_ci_low"], d.overall["lift_ci_low"], equal_nan=True)


def test_log_ratio_samples_cases():
    from cg_gov.scoring._concepts import log_ratio_samples

    suite = np.array([[0.0, 0.0, 3.0, 4.0]])
    ref = np.array([[0.0, 2.0, 0.0, 1.0]])
    out = log_ratio_samples(suite, ref, n_suite=10, n_ref=5)
    assert out[0, 0] == 0.0  # seen on neither side: no evidence
    assert out[0, 1] == -np.inf and out[0, 2] == np.inf
    assert out[0, 3] == pytest.approx(math.log((4.0 / 10) / (1.0 / 5)))


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(0)
    p = rng.random(200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p),
                               scipy.stats.false_discovery_control(p, method="bh"))
    with_nan = np.array([0.01, np.nan, 0.04, 0.03])
    q = benjamini_hochberg(with_nan)
    assert math.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], [0.03, 0.04, 0.04])
    assert np.isnan(benjamini_hochberg(np.array([np.nan]))).all()


def test_input_errors_name_the_key():
    abar, scores, bench, reference = make_suite(10, n=30, n_cols=4)
    cases = [
        (dict(abar=-abar - 1), "abar"),
        (dict(scores=np.where(np.isnan(scores), 0, scores) * 2), "scores"),
        (dict(scores=scores[:-1]), "scores"),
        (dict(benchmarks=bench[:-1]), "benchmarks"),
        (dict(reference=reference[:, :3]), "reference"),
        (dict(n_min=0), "n_min"),
        (dict(ratio_k=1.0), "ratio_k"),
        (dict(alpha=1.5), "alpha"),
    ]
    base = dict(abar=abar, scores=scores, benchmarks=bench, reference=reference,
                n_bootstrap=5)
    for change, key in cases:
        args = {**base, **change}
        with pytest.raises(CgGovError) as info:
            score_concepts(args.pop("abar"), args.pop("scores"), args.pop("benchmarks"), **args)
        assert info.value.key == key
    with pytest.raises(CgGovError) as info:
        score_families(abar, scores, bench, {"f": {99: 1.0}})
    assert info.value.key == "weights.f"
    with pytest.raises(CgGovError):
        score_families(abar, scores, bench, {"f": {0: -1.0}})
