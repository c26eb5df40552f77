"""The family detector (cg_gov.matching._detector) on small planted matrices."""
from __future__ import annotations

import numpy as np
import pytest

from cg_gov.matching import DetectorSettings, Visibility, auroc, auroc_interval, fit_family_detector, visibility


def _planted(seed: int = 0, n_concepts: int = 60, signal: tuple[int, ...] = (7, 11)):
    rng = np.random.default_rng(seed)
    sparse = lambda n: rng.random((n, n_concepts)) * (rng.random((n, n_concepts)) < 0.2)  # noqa: E731
    pos, con, ref = sparse(6), sparse(30), sparse(400)
    for c in signal:
        pos[:, c] += 1.0 + rng.random(6)
    return pos, con, ref


def test_auroc_counts_pairs_with_ties_as_half():
    pos, neg = np.array([3.0, 1.0, 2.0, 2.0]), np.array([2.0, 0.0, 1.0])
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert auroc(pos, neg) == pytest.approx(sum(pairs) / len(pairs))
    assert auroc(pos, np.array([])) is None


def test_auroc_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(1, 1, 40), rng.normal(0, 1, 60)
    lo, hi = auroc_interval(pos, neg, resamples=400, seed=3)
    assert lo < auroc(pos, neg) < hi
    assert (lo, hi) == auroc_interval(pos, neg, resamples=400, seed=3)
    assert auroc_interval(pos[:1], neg) is None


def test_detector_finds_the_planted_concepts_with_normalised_non_negative_weights():
    pos, con, ref = _planted()
    det = fit_family_detector(pos, con, ref)
    assert set(det.concepts[:2]) == {7, 11}
    assert (det.weights >= 0).all() and det.weights.sum() == pytest.approx(1.0)
    assert len(det.concepts) <= DetectorSettings().top_k
    scores = det.score(np.vstack([pos, con]))
    assert auroc(scores[:6], scores[6:]) > 0.95


def test_detector_ignores_what_the_contrast_also_has():
    # concept 3 fires on the exemplars and just as much on the contrast texts: register, not the family
    pos, con, ref = _planted(signal=(7,))
    pos[:, 3] += 2.0
    con[:, 3] += 2.0
    det = fit_family_detector(pos, con, ref)
    assert 7 in det.concepts and 3 not in det.concepts


def test_exclude_and_prior_change_the_choice():
    pos, con, ref = _planted()
    excluded = np.zeros(pos.shape[1], dtype=bool)
    excluded[7] = True
    assert 7 not in fit_family_detector(pos, con, ref, exclude=excluded).concepts
    sim = np.full(pos.shape[1], 0.1)
    sim[11] = 0.9
    top = fit_family_detector(pos, con, ref, sim, DetectorSettings(prior_weight=2.0)).concepts[0]
    assert top == 11


def test_nothing_to_fit_gives_no_concepts():
    pos, con, ref = _planted(signal=())
    pos[:] = 0.0
    det = fit_family_detector(pos, con, ref)
    assert det.concepts == [] and det.weights.sum() == 0.0


def test_visibility_separates_a_planted_family_and_not_noise():
    pos, con, ref = _planted()
    vis = visibility(pos, con, ref, settings=DetectorSettings(resamples=200))
    assert vis.n_pos == 6 and vis.n_neg == 30 + 200
    assert vis.auroc > 0.9 and DetectorSettings().status(vis) == "verified"
    noise_pos, noise_con, noise_ref = _planted(seed=5, signal=())
    vis = visibility(noise_pos, noise_con, noise_ref, settings=DetectorSettings(resamples=200))
    assert DetectorSettings().status(vis) != "verified"
    assert visibility(pos, con, ref, settings=DetectorSettings(resamples=200)) == \
        visibility(pos, con, ref, settings=DetectorSettings(resamples=200))


def test_status_thresholds():
    s = DetectorSettings(verified_at=0.75, weak_at=0.6)
    assert s.status(Visibility(auroc=0.9, ci=(0.8, 0.97), n_pos=5, n_neg=50)) == "verified"
    assert s.status(Visibility(auroc=0.9, ci=(0.7, 0.97), n_pos=5, n_neg=50)) == "weak"
    assert s.status(Visibility(auroc=0.55, ci=(0.3, 0.8), n_pos=5, n_neg=50)) == "unverified"
    assert s.status(Visibility(auroc=None, ci=None, n_pos=1, n_neg=50)) == "unverified"
