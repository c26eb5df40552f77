"""The family detector on fixed activation matrices (numpy only, no model): the parts a wrong verdict
would hide in. Counter-exemplars must cost a concept its weight (in :func:`fit_family_detector` and
in the contrast :func:`family_detectors` builds); visibility must be cross-validated (a detector that
saw the held-out exemplar scores it higher, so a leak raises the AUROC, the near-miss AUROC and the
recall at the operating point); and the visibility status before the owner's labels sits on the
documented side of each threshold."""
from __future__ import annotations

import numpy as np
import pytest

from cg_gov.matching import (DetectorSettings, Visibility, auroc, auroc_interval, family_detectors, fit_family_detector,
                             visibility)
from cg_gov.matching._match import FamilySignals, ProfileSignals
from cg_gov.spec._models import ConceptFamily

N_CONCEPTS = 24
REGISTER = 3  # fires on the family's exemplars and on its counter-exemplars: register, not the family
TOPIC = 7     # fires on the family's exemplars only


def _rows(n: int, on: dict[int, float], seed: int, other: bool = True) -> np.ndarray:
    """n rows: ``on`` (concept -> level, jittered) on every row and, with ``other``, sparse activity
    on concepts 16-23 (text the exemplars never show, so no detector here keeps those)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, N_CONCEPTS))
    if other:
        out[:, 16:] = rng.random((n, 8)) * (rng.random((n, 8)) < 0.3)
    for c, level in on.items():
        out[:, c] += level * (1.0 + 0.1 * rng.random(n))
    return out


# --- counter-exemplars change the weights ------------------------------------------------------

def test_a_concept_that_fires_on_the_counter_exemplars_loses_its_weight():
    pos = _rows(6, {REGISTER: 1.0, TOPIC: 1.0}, seed=1, other=False)
    counter = _rows(4, {REGISTER: 1.2}, seed=2)
    others = _rows(6, {}, seed=3)
    ref = _rows(50, {}, seed=4)
    without = fit_family_detector(pos, others, ref)
    with_counter = fit_family_detector(pos, np.vstack([counter, others]), ref)
    # without the near misses the register concept looks as much like the family as the topic does
    assert set(without.concepts) == {REGISTER, TOPIC} and without.weights[REGISTER] > 0.4
    assert with_counter.weights[REGISTER] < without.weights[REGISTER] - 0.1
    assert with_counter.weights[TOPIC] > without.weights[TOPIC] + 0.1
    # against the near misses alone it is no evidence at all
    only_counter = fit_family_detector(pos, counter, ref)
    assert only_counter.concepts == [TOPIC] and only_counter.effect[REGISTER] == 0.0


def _family(fid: str, exemplars: list[str], counter: list[str] = ()) -> ConceptFamily:
    return ConceptFamily(id=fid, description=f"the {fid} family", exemplars=exemplars,
                         counter_exemplars=list(counter), importance="high")


def _profile_texts():
    """Two families; 'refusal' has counter-exemplars that share its register concept."""
    acts = {}
    for i, row in enumerate(_rows(6, {REGISTER: 1.0, TOPIC: 1.0}, seed=11, other=False)):
        acts[f"refusal {i}"] = row
    for i, row in enumerate(_rows(4, {REGISTER: 1.2}, seed=12)):
        acts[f"polite grant {i}"] = row
    for i, row in enumerate(_rows(6, {12: 1.0, 13: 1.0}, seed=13, other=False)):
        acts[f"billing {i}"] = row
    return acts


def _detectors(families, acts, settings=DetectorSettings(resamples=100)):
    signals = ProfileSignals(
        families={f.id: FamilySignals(similarity=np.zeros(N_CONCEPTS), margin=None, negations=[])
                  for f in families},
        live=np.ones(N_CONCEPTS, dtype=bool), embedder=None)
    return family_detectors(families, signals, lambda texts: np.stack([acts[t] for t in texts]),
                            _rows(60, {}, seed=14), N_CONCEPTS, settings)


def test_family_detectors_fits_against_the_familys_own_counter_exemplars():
    acts = _profile_texts()
    refusal = [t for t in acts if t.startswith("refusal")]
    grants = [t for t in acts if t.startswith("polite grant")]
    billing = _family("billing", [t for t in acts if t.startswith("billing")])
    with_counter = _detectors([_family("refusal", refusal, grants), billing], acts)
    no_counter = _detectors([_family("refusal", refusal), billing], acts)
    w_with, w_without = with_counter["refusal"][0].weights, no_counter["refusal"][0].weights
    assert set(no_counter["refusal"][0].concepts) == {REGISTER, TOPIC} and w_without[REGISTER] > 0.4
    assert w_with[REGISTER] < w_without[REGISTER] - 0.1 and w_with[TOPIC] > w_without[TOPIC] + 0.1
    # the counter-exemplars are negatives of the visibility check too: 4 of them + 6 billing + 30 held-out
    assert with_counter["refusal"][1].n_neg == no_counter["refusal"][1].n_neg + len(grants)


def test_family_detectors_contrasts_with_the_other_families_exemplars_but_not_shared_texts():
    acts = _profile_texts()
    refusal = [t for t in acts if t.startswith("refusal")]
    billing = [t for t in acts if t.startswith("billing")]
    # billing's exemplars are refusal's contrast: billing's topic concepts cannot enter refusal's detector
    dets = _detectors([_family("refusal", refusal), _family("billing", billing)], acts)
    assert not {12, 13} & set(dets["refusal"][0].concepts)
    assert dets["refusal"][1].n_neg == len(billing) + 30
    # a text that is one family's exemplar and another's counter-exemplar stays a positive of its own
    shared = _detectors([_family("refusal", refusal), _family("billing", billing, [refusal[0]])], acts)
    assert shared["refusal"][1].n_neg == len(billing) + 30
    assert shared["billing"][1].n_neg == len(refusal) + 30


# --- visibility is cross-validated ---------------------------------------------------------------

def _paired_exemplars(n_pairs: int = 5):
    """Exemplars in pairs, each pair sharing one concept that fires nowhere else: fitted on every
    exemplar, the detector keeps all those concepts (each fires on 2 exemplars, min_fired) and
    separates perfectly; with an exemplar held out, its partner alone cannot carry the concept, so
    held-out exemplars look like the negatives."""
    pos = np.zeros((2 * n_pairs, N_CONCEPTS))
    for k in range(n_pairs):
        pos[2 * k: 2 * k + 2, k] = [1.0, 1.2]
    return pos, _rows(20, {}, seed=22), _rows(80, {}, seed=23)


def test_a_held_out_exemplar_scores_lower_than_when_it_is_in_the_training_fold():
    pos, con, ref = _paired_exemplars()
    for i in range(len(pos)):
        rest = np.delete(pos, i, axis=0)
        held_out = fit_family_detector(rest, con, ref).score(pos[i:i + 1])[0]
        trained_on = fit_family_detector(pos, con, ref).score(pos[i:i + 1])[0]
        assert held_out == 0.0 and trained_on > 0.1, i


def test_visibility_does_not_fit_on_the_exemplars_it_scores():
    pos, con, ref = _paired_exemplars()
    settings = DetectorSettings(resamples=200, reference_holdout=40)
    everything = fit_family_detector(pos, con, ref)
    leaked = auroc(everything.score(pos), everything.score(np.vstack([con, ref])))
    assert leaked == 1.0  # fitted on every exemplar, the detector separates them perfectly
    assert auroc(everything.score(pos), everything.score(con)) == 1.0
    vis = visibility(pos, con, ref, settings=settings, n_counter=len(con))
    assert vis.n_pos == len(pos) and vis.n_neg == len(con) + 40
    assert (vis.n_near_miss, vis.n_counter) == (len(con), len(con))
    # held out, every score ties: against everything, and against the near misses alone
    assert vis.auroc == 0.5 and vis.near_miss_auroc == 0.5
    # the operating point is never below 0, and no held-out exemplar scores above it
    assert vis.threshold == 0.0 and vis.cv_recall == 0.0 and vis.cv_near_miss_rate == 0.0
    assert settings.status(vis) == "weak"  # enough counter-exemplars; near-miss AUROC below weak_at
    # the same without counter-exemplars of its own: the near-miss check cannot tell
    assert settings.status(visibility(pos, con, ref, settings=settings)) == "cannot-tell"


def test_visibility_of_a_real_signal_survives_cross_validation():
    """The same shape with a concept shared by every exemplar: held out, they are still found."""
    pos, con, ref = _paired_exemplars()
    pos[:, 20] += 1.0
    settings = DetectorSettings(resamples=200, reference_holdout=40)
    vis = visibility(pos, con, ref, settings=settings, n_counter=len(con))
    assert vis.auroc == 1.0 and vis.near_miss_auroc == 1.0
    # the operating point lets through at most max_near_miss_rate of the near misses and every exemplar
    assert vis.threshold is not None and vis.threshold > 0.0
    assert vis.cv_recall == 1.0 and vis.cv_near_miss_rate <= settings.max_near_miss_rate
    # without the owner's labels the best it can be is unconfirmed (never confirmed)
    assert DetectorSettings().status(vis) == "unconfirmed"
    assert DetectorSettings().status(visibility(pos, con, ref, settings=settings)) == "cannot-tell"


# --- the status thresholds -------------------------------------------------------------------

def _vis(near_miss, n_counter=8, auroc_value=0.9, ci=(0.8, 0.97)):
    return Visibility(auroc=auroc_value, ci=ci, n_pos=8, n_neg=60, near_miss_auroc=near_miss,
                      near_miss_ci=None if near_miss is None else (near_miss - 0.1, near_miss + 0.05),
                      n_near_miss=20, n_counter=n_counter)


below = lambda x: float(np.nextafter(x, -np.inf))  # noqa: E731
above = lambda x: float(np.nextafter(x, np.inf))  # noqa: E731


class TestVisibilityStatus:
    """DetectorSettings.status (before the owner's labels): cannot-tell with fewer than
    min_counter_exemplars (8) counter-exemplars or no near-miss AUROC; weak when the near-miss AUROC
    falls below weak_at (0.6); else unconfirmed. Confirmation needs labelled suite items."""

    s = DetectorSettings(weak_at=0.6, min_counter_exemplars=8)

    def test_counter_exemplars_exactly_at_the_minimum_are_judged(self):
        assert self.s.status(_vis(0.9, n_counter=8)) == "unconfirmed"
        assert self.s.status(_vis(0.5, n_counter=8)) == "weak"

    def test_counter_exemplars_just_below_the_minimum_cannot_tell(self):
        assert self.s.status(_vis(0.9, n_counter=7)) == "cannot-tell"
        assert self.s.status(_vis(0.5, n_counter=7)) == "cannot-tell"  # cannot-tell comes before weak
        assert self.s.status(_vis(0.9, n_counter=0)) == "cannot-tell"

    def test_counter_exemplars_just_above_the_minimum_are_judged(self):
        assert self.s.status(_vis(0.9, n_counter=9)) == "unconfirmed"

    def test_near_miss_auroc_exactly_at_weak_at_is_unconfirmed(self):
        assert self.s.status(_vis(0.6)) == "unconfirmed"

    def test_near_miss_auroc_just_below_weak_at_is_weak(self):
        assert self.s.status(_vis(below(0.6))) == "weak"

    def test_near_miss_auroc_just_above_weak_at_is_unconfirmed(self):
        assert self.s.status(_vis(above(0.6))) == "unconfirmed"

    def test_the_exemplar_auroc_does_not_decide(self):
        # v3 read the exemplar AUROC's interval (verified_at); v4 reads the near-miss AUROC only
        assert self.s.status(_vis(0.5, auroc_value=0.99, ci=(0.95, 1.0))) == "weak"
        assert self.s.status(_vis(0.9, auroc_value=0.4, ci=(0.3, 0.5))) == "unconfirmed"
        assert self.s.status(_vis(0.9, auroc_value=None, ci=None)) == "unconfirmed"
        assert self.s.status(_vis(1.0)) != "confirmed"

    @pytest.mark.parametrize("auroc_value, ci", [(None, None), (0.95, None), (0.95, (0.9, 0.99))])
    def test_no_near_miss_auroc_cannot_tell(self, auroc_value, ci):
        assert self.s.status(_vis(None, n_counter=20, auroc_value=auroc_value, ci=ci)) == "cannot-tell"

    def test_a_nan_near_miss_auroc_is_nothing_measurable(self):
        assert self.s.status(_vis(float("nan"), n_counter=20)) == "cannot-tell"

    def test_the_thresholds_are_the_settings(self):
        vis = _vis(0.7, n_counter=5)
        assert DetectorSettings(weak_at=0.6, min_counter_exemplars=5).status(vis) == "unconfirmed"
        assert DetectorSettings(weak_at=0.7, min_counter_exemplars=5).status(vis) == "unconfirmed"
        assert DetectorSettings(weak_at=above(0.7), min_counter_exemplars=5).status(vis) == "weak"
        assert DetectorSettings(weak_at=0.6, min_counter_exemplars=6).status(vis) == "cannot-tell"
        assert DetectorSettings(weak_at=0.6).status(vis) == "cannot-tell"  # the default minimum, 8

    def test_defaults_are_the_documented_ones(self):
        d = DetectorSettings()
        assert (d.verified_at, d.weak_at, d.min_counter_exemplars) == (0.75, 0.6, 8)
        assert (d.min_precision, d.max_near_miss_rate, d.folds) == (0.5, 0.1, 5)
        assert (d.max_reference_rate, d.min_cv_recall) == (None, None)


# --- the arithmetic, against a loop-by-loop reading of the module's formulas ----------------------

def _reference_fit(pos, con, ref, sim, s: DetectorSettings):
    """effect_c = (mean_pos_c - background_c) / scale_c, kept when > 0 and c fires on at least
    min(min_fired, max(1, n_pos - 1)) exemplars; scale_c the RMS over every text used; strength =
    effect x exp(prior_weight z(sim)); the top_k strongest (ties: lower id) weighted strength / scale."""
    n_c = pos.shape[1]
    texts = [*pos, *con, *ref]
    out_effect, strength, scale = [], [], []
    for c in range(n_c):
        mp = sum(r[c] for r in pos) / len(pos)
        mc = sum(r[c] for r in con) / len(con) if len(con) else 0.0
        mr = sum(r[c] for r in ref) / len(ref) if len(ref) else 0.0
        bg = {"contrast": mc, "reference": mr, "max": max(mc, mr)}[s.background]
        sc = (sum(t[c] ** 2 for t in texts) / len(texts)) ** 0.5
        eff = (mp - bg) / sc if sc > 0 else 0.0
        fired = sum(1 for r in pos if r[c] > 0)
        eff = eff if eff > 0 and fired >= min(s.min_fired, max(1, len(pos) - 1)) else 0.0
        out_effect.append(eff)
        scale.append(sc)
    live = [c for c in range(n_c) if sim is not None and sim[c] != 0]
    for c in range(n_c):
        if sim is None or not s.prior_weight:
            z = 0.0
        elif len(live) < 2:
            z = 0.0
        else:
            mu = sum(sim[k] for k in live) / len(live)
            sd = (sum((sim[k] - mu) ** 2 for k in live) / len(live)) ** 0.5 or 1.0
            z = min(3.0, max(-3.0, (sim[c] - mu) / sd)) if sim[c] != 0 else -3.0
        strength.append(out_effect[c] * np.exp(s.prior_weight * z))
    ranked = sorted(range(n_c), key=lambda c: (-strength[c], c))[: s.top_k]
    keep = [c for c in ranked if strength[c] > 0]
    weights = np.zeros(n_c)
    total = sum(strength[c] / scale[c] for c in keep)
    for c in keep:
        weights[c] = strength[c] / scale[c] / total
    return weights, np.array(out_effect)


def _random_texts(seed, n_pos, n_con, n_ref, n_c=12):
    rng = np.random.default_rng(seed)
    act = lambda n, p: rng.random((n, n_c)) * 2 * (rng.random((n, n_c)) < p)  # noqa: E731
    pos = act(n_pos, 0.6)
    pos[:, :3] += 1.0
    sim = rng.uniform(0.1, 0.9, n_c)
    sim[rng.random(n_c) < 0.2] = 0.0
    return pos, act(n_con, 0.4), act(n_ref, 0.3), sim


@pytest.mark.parametrize("settings", [
    DetectorSettings(), DetectorSettings(background="contrast", prior_weight=0.0),
    DetectorSettings(background="reference", prior_weight=1.7, top_k=3),
    DetectorSettings(min_fired=3, top_k=5), DetectorSettings(min_fired=1, prior_weight=0.5)],
    ids=["default", "contrast-no-prior", "reference-top3", "min-fired-3", "min-fired-1"])
@pytest.mark.parametrize("shape", [(6, 10, 30), (2, 5, 8), (4, 0, 9), (5, 7, 0)], ids=str)
def test_fit_matches_the_formulas(settings, shape):
    pos, con, ref, sim = _random_texts(sum(shape), *shape)
    det = fit_family_detector(pos, con, ref, sim, settings)
    weights, effect = _reference_fit(pos, con, ref, sim, settings)
    assert det.effect == pytest.approx(effect, rel=1e-9, abs=1e-12)
    assert det.weights == pytest.approx(weights, rel=1e-9, abs=1e-12)
    assert det.concepts == sorted(np.flatnonzero(weights), key=lambda c: -weights[c])
    no_prior = fit_family_detector(pos, con, ref, None, settings)
    assert no_prior.weights == pytest.approx(_reference_fit(pos, con, ref, None, settings)[0], abs=1e-12)


def test_fit_takes_none_or_empty_negatives_and_sparse_input():
    import scipy.sparse as sp

    pos, con, ref, sim = _random_texts(3, 6, 8, 20)
    empty = np.zeros((0, pos.shape[1]))
    for con_arg, ref_arg, con_ref, ref_ref in [(None, ref, empty, ref), (con, None, con, empty),
                                               (empty, ref, empty, ref), (con, empty, con, empty)]:
        det = fit_family_detector(pos, con_arg, ref_arg, sim)
        weights, effect = _reference_fit(pos, con_ref, ref_ref, sim, DetectorSettings())
        assert det.weights == pytest.approx(weights, abs=1e-12)
        assert det.effect == pytest.approx(effect, abs=1e-12)
    dense = fit_family_detector(pos, con, ref, sim)
    sparse = fit_family_detector(sp.csr_matrix(pos), sp.csr_matrix(con), sp.csr_matrix(ref), sim)
    assert sparse.weights == pytest.approx(dense.weights, abs=1e-15)
    scores = sparse.score(sp.csr_matrix(con))
    assert scores.dtype == np.float64 and scores.shape == (len(con),)
    assert scores == pytest.approx(con @ dense.weights)
    assert dense.score(np.array([[1, 0] * 6], dtype=np.int64)).dtype == np.float64


def test_a_concept_that_is_silent_everywhere_gets_no_weight_and_no_error():
    import warnings

    pos, con, ref, sim = _random_texts(4, 5, 6, 10)
    pos[:, 5] = con[:, 5] = ref[:, 5] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 on the way
        det = fit_family_detector(pos, con, ref, sim)
    assert det.effect[5] == 0.0 and det.weights[5] == 0.0 and np.isfinite(det.weights).all()


def test_z_score_of_the_prior():
    from cg_gov.matching._detector import _zscore

    sim = np.array([0.0, 0.2, 0.4, 0.6, 0.0])
    live = sim[1:4]
    assert _zscore(sim) == pytest.approx(np.r_[-3.0, (live - live.mean()) / live.std(), -3.0])
    assert (_zscore(np.array([0.5, 0.5, 0.0])) == [0.0, 0.0, -3.0]).all()  # no spread: sd taken as 1
    assert (_zscore(np.array([0.0, 0.7, 0.0])) == 0.0).all()  # fewer than 2 live concepts: no prior
    assert _zscore(np.array([0.3, 0.7])) == pytest.approx([-1.0, 1.0])  # 2 live concepts suffice
    wide = np.r_[np.full(40, 0.1), 0.9, -0.9]
    z = _zscore(wide)
    assert z[-2] == 3.0 and z[-1] == -3.0  # clipped to [-3, 3]


# --- the AUROC interval and the visibility check, against loop-by-loop references -----------------

def _reference_interval(pos, neg, resamples, seed, level):
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        p = pos[rng.integers(0, len(pos), len(pos))]
        n = neg[rng.integers(0, len(neg), len(neg))]
        values.append(np.mean([[1.0 if a > b else 0.5 if a == b else 0.0 for b in n] for a in p]))
    return tuple(np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2]))


def test_auroc_interval_matches_a_loop_reference_with_ties():
    rng = np.random.default_rng(5)
    pos, neg = rng.integers(0, 4, 9).astype(float), rng.integers(0, 3, 7).astype(float)
    for level, seed in ((0.95, 0), (0.8, 3)):
        got = auroc_interval(pos, neg, resamples=300, seed=seed, level=level)
        assert got == pytest.approx(_reference_interval(pos, neg, 300, seed, level), abs=1e-12)
    assert auroc_interval(pos, neg, resamples=300) == auroc_interval(pos, neg, resamples=300, seed=0)
    smooth_pos, smooth_neg = rng.normal(0.5, 1, 12), rng.normal(0, 1, 10)  # default: 1000 resamples, seed 0
    assert auroc_interval(smooth_pos, smooth_neg) == \
        pytest.approx(_reference_interval(smooth_pos, smooth_neg, 1000, 0, 0.95), abs=1e-12)
    assert auroc_interval(smooth_pos, smooth_neg) != auroc_interval(smooth_pos, smooth_neg, resamples=1001)
    assert auroc_interval(pos[:2], neg[:2], resamples=50) is not None  # 2 of each is enough
    assert auroc_interval(pos, neg[:1]) is None
    assert auroc(np.array([1, 2]), np.array([2, 0])) == 0.625  # integers, ties half


def _reference_cut(pos_s, near_s, max_rate):
    """The operating point as documented: the lowest cut >= 0 at which at most ``max_rate`` of the near
    misses score above it (searched over 0 and the near-miss scores); None without both."""
    if not len(pos_s) or not len(near_s):
        return None
    for c in sorted({0.0, *(float(x) for x in near_s if x > 0)}):
        if np.mean(np.asarray(near_s) > c) <= max_rate:
            return c
    raise AssertionError("unreachable: the highest near-miss score has none above it")


def _reference_visibility(pos, con, ref, sim, s: DetectorSettings, seed):
    """Folds and held-out reference drawn as the module documents, detectors refitted per fold; the
    near-miss figures from the held-out exemplars and held-out near misses (contrast rows) only."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ref))
    n_held = min(s.reference_holdout, len(ref) // 2)
    held, fit_ref = ref[np.sort(order[:n_held])], ref[np.sort(order[n_held:])]
    if len(pos) < 2 or len(con) + len(held) < 2:
        return None, len(con) + len(held)
    folds = max(2, min(s.folds, len(pos)))
    pos_fold = rng.permutation(len(pos)) % folds
    con_fold = rng.permutation(len(con)) % folds if len(con) else np.zeros(0, dtype=int)
    pos_s, con_s, ref_s = np.zeros(len(pos)), np.zeros(len(con)), np.zeros(len(held))
    for k in range(folds):
        w, _ = _reference_fit(pos[pos_fold != k], con[con_fold != k], fit_ref, sim, s)
        pos_s[pos_fold == k] = pos[pos_fold == k] @ w
        con_s[con_fold == k] = con[con_fold == k] @ w
        ref_s += held @ w / folds
    neg = np.r_[con_s, ref_s]
    cut = _reference_cut(pos_s, con_s, s.max_near_miss_rate)
    near = {
        "near_miss_auroc": auroc(pos_s, con_s) if len(con_s) else None,
        "near_miss_ci": _reference_interval(pos_s, con_s, s.resamples, seed, 0.95) if len(con_s) >= 2 else None,
        "threshold": cut,
        "cv_recall": None if cut is None else float(np.mean(pos_s > cut)),
        "cv_near_miss_rate": None if cut is None else float(np.mean(con_s > cut)),
    }
    return (auroc(pos_s, neg), _reference_interval(pos_s, neg, s.resamples, seed, 0.95), near), len(neg)


@pytest.mark.parametrize("shape, settings", [
    ((7, 9, 30), DetectorSettings(resamples=60, reference_holdout=6, folds=3)),
    ((3, 4, 5), DetectorSettings(resamples=60, reference_holdout=10)),
    ((6, 0, 12), DetectorSettings(resamples=60, reference_holdout=4, folds=1)),
    ((5, 1, 2), DetectorSettings(resamples=60)),
    ((5, 1, 0), DetectorSettings(resamples=60)),
    ((1, 9, 30), DetectorSettings(resamples=60)),
    ((2, 5, 10), DetectorSettings(resamples=60)),
    ((5, 4, 0), DetectorSettings(resamples=60)),
    ((6, 5, 20), DetectorSettings(resamples=60, reference_holdout=8, top_k=2, min_fired=3, prior_weight=2.0,
                                  background="contrast")),
], ids=["3-folds", "small", "no-contrast-one-fold", "2-negatives", "1-negative", "1-exemplar", "2-exemplars",
        "no-reference", "fit-settings"])
def test_visibility_matches_a_loop_reference(shape, settings):
    pos, con, ref, sim = _random_texts(sum(shape) + 1, *shape)
    pos[:, 4] += np.linspace(0.0, 1.0, len(pos))  # something to find, unevenly
    for seed, prior in ((0, None), (4, sim)):
        vis = visibility(pos, con, ref, prior, settings, seed=seed, n_counter=min(3, len(con)))
        want, n_neg = _reference_visibility(pos, con, ref, prior, settings, seed)
        assert (vis.n_pos, vis.n_neg) == (len(pos), n_neg)
        assert (vis.n_near_miss, vis.n_counter) == (len(con), min(3, len(con)))
        if want is None:
            assert vis.auroc is None and vis.ci is None
            assert vis.near_miss_auroc is None and vis.threshold is None and vis.cv_recall is None
        else:
            assert vis.auroc == pytest.approx(want[0], abs=1e-12)
            assert vis.ci == pytest.approx(want[1], abs=1e-12)
            for name, value in want[2].items():
                got = getattr(vis, name)
                assert (got is None) == (value is None), name
                if value is not None:
                    assert got == pytest.approx(value, abs=1e-12), name


def test_visibility_takes_none_for_missing_negatives():
    pos, con, ref, _ = _random_texts(9, 6, 5, 12)
    s = DetectorSettings(resamples=60, reference_holdout=6)
    assert visibility(pos, None, ref, settings=s) == visibility(pos, con[:0], ref, settings=s)
    assert visibility(pos, con, None, settings=s) == visibility(pos, con, ref[:0], settings=s)
    assert visibility(pos, con, None, settings=s).n_neg == len(con)


def test_visibility_uses_the_exclusions_and_the_prior():
    pos, con, ref, sim = _random_texts(8, 6, 8, 30)
    s = DetectorSettings(resamples=60, reference_holdout=10)
    excluded = np.zeros(pos.shape[1], dtype=bool)
    excluded[:3] = True  # the planted concepts
    plain = visibility(pos, con, ref, sim, s)
    assert visibility(pos, con, ref, sim, s, exclude=excluded).auroc < plain.auroc


def test_visibility_without_exemplars_or_before_the_check_keeps_its_counts():
    """Too few exemplars to cross-validate: no figure, but the counts that say why (the near misses and
    the family's own counter-exemplars, which the status reads) are kept; n_counter defaults to 0."""
    pos, con, ref, _ = _random_texts(11, 6, 9, 12)
    s = DetectorSettings(resamples=40, reference_holdout=4)
    one = visibility(pos[:1], con, ref, settings=s, n_counter=5)
    assert (one.auroc, one.near_miss_auroc, one.threshold) == (None, None, None)
    assert (one.n_pos, one.n_neg, one.n_near_miss, one.n_counter) == (1, len(con) + 4, len(con), 5)
    none = visibility(None, con, ref, settings=s)
    assert none == visibility(pos[:0], con, ref, settings=s)
    assert (none.n_pos, none.n_near_miss, none.n_counter, none.auroc) == (0, len(con), 0, None)
    assert visibility(pos, con, ref, settings=s).n_counter == 0


@pytest.mark.parametrize("n_neg", [1, 7, 20, 40, 41])
@pytest.mark.parametrize("max_rate", [0.0, 0.05, 0.1, 0.5, 0.99, 1.0, 1.5])
def test_operating_point_is_the_lowest_cut_keeping_the_near_miss_rate(n_neg, max_rate):
    """The documented cut, against a search over candidate cuts: at most ``max_rate`` of the near misses
    above it, the lowest such, never below 0 (at a rate of 1 or more, every near miss may be above it)."""
    from cg_gov.matching._detector import operating_point

    rng = np.random.default_rng(n_neg)
    near = np.round(rng.normal(0.1, 0.3, n_neg), 2)  # ties and negative scores included
    near[: n_neg // 3] = near[0]
    pos = rng.random(5)
    cut = operating_point(pos, near, max_rate)
    assert cut == _reference_cut(pos, near, max_rate)
    assert cut >= 0.0 and np.mean(near > cut) <= max_rate
    assert operating_point(list(pos), list(near), max_rate) == cut  # plain lists read the same
    assert operating_point(pos, near[:0], max_rate) is None and operating_point(pos[:0], near, max_rate) is None


def test_float32_inputs_are_fitted_in_float64():
    """The detector computes in float64 whatever the inputs' precision: float32 activations and a
    float32 similarity (embeddings are float32) give the weights of the same values held as float64."""
    pos, con, ref, sim = _random_texts(12, 7, 9, 25)
    pos, con, ref, sim = (a.astype(np.float32) for a in (pos, con, ref, sim))
    wide = [a.astype(np.float64) for a in (pos, con, ref, sim)]
    narrow_det, wide_det = fit_family_detector(pos, con, ref, sim), fit_family_detector(*wide)
    assert np.array_equal(narrow_det.weights, wide_det.weights)
    assert np.array_equal(narrow_det.effect, wide_det.effect)
    s = DetectorSettings(resamples=30, reference_holdout=5)
    assert visibility(pos, con, ref, sim, s) == visibility(*wide, s)

