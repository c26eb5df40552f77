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
    settings = DetectorSettings(resamples=200)
    pos, con, ref = _planted()
    vis = visibility(pos, con, ref, settings=settings, n_counter=30)
    assert vis.n_pos == 6 and vis.n_neg == 30 + 200 and vis.n_near_miss == 30 and vis.n_counter == 30
    assert vis.auroc > 0.9 and vis.near_miss_auroc > 0.9
    # without the owner's labels a detector that separates its family is at best unconfirmed
    assert settings.status(vis) == "unconfirmed"
    # the operating point, chosen on the cross-validated scores, keeps at most 5% of near misses
    assert vis.threshold is not None and vis.threshold >= 0.0
    assert vis.cv_near_miss_rate <= settings.max_near_miss_rate and vis.cv_recall > 0.5
    noise_pos, noise_con, noise_ref = _planted(seed=5, signal=())
    noise = visibility(noise_pos, noise_con, noise_ref, settings=settings, n_counter=30)
    assert noise.near_miss_auroc < settings.weak_at and settings.status(noise) == "weak"
    # too few counter-exemplars: the near-miss check cannot tell, however well the family separates
    few = visibility(pos, con, ref, settings=settings, n_counter=settings.min_counter_exemplars - 1)
    assert few.near_miss_auroc == vis.near_miss_auroc and settings.status(few) == "cannot-tell"
    assert visibility(pos, con, ref, settings=settings, n_counter=30) == \
        visibility(pos, con, ref, settings=settings, n_counter=30)


def test_visibility_without_enough_exemplars_measures_nothing():
    pos, con, ref = _planted()
    vis = visibility(pos[:1], con, ref, settings=DetectorSettings(resamples=200), n_counter=30)
    assert vis.auroc is None and vis.near_miss_auroc is None and vis.threshold is None
    assert DetectorSettings().status(vis) == "cannot-tell"


def test_status_thresholds():
    s = DetectorSettings(weak_at=0.6, min_counter_exemplars=8)

    def vis(near_miss_auroc, n_counter, auroc=0.9):
        return Visibility(auroc=auroc, ci=(0.8, 0.97), n_pos=5, n_neg=50, near_miss_auroc=near_miss_auroc,
                          near_miss_ci=None, n_near_miss=20, n_counter=n_counter)

    assert s.status(vis(0.9, 10)) == "unconfirmed"
    assert s.status(vis(0.6, 8)) == "unconfirmed"   # weak only below weak_at; 8 counter-exemplars suffice
    assert s.status(vis(0.59, 10)) == "weak"
    assert s.status(vis(0.55, 10, auroc=0.95)) == "weak"  # the near-miss AUROC decides, not the pooled one
    assert s.status(vis(0.9, 7)) == "cannot-tell"   # too few counter-exemplars
    assert s.status(vis(0.3, 7)) == "cannot-tell"
    assert s.status(vis(None, 10)) == "cannot-tell"  # nothing measured
    assert s.status(Visibility(auroc=None, ci=None, n_pos=1, n_neg=50)) == "cannot-tell"
    # confirmation needs the owner's labels: the detector's own check never gives it
    assert all(s.status(vis(a, 100)) != "confirmed" for a in (0.5, 0.75, 0.99, 1.0))


def test_family_detectors_count_each_familys_own_counter_exemplars():
    """The matcher's detectors: a family's near misses are its counter-exemplars and the other families'
    exemplars, but only its own counter-exemplars (not repeating an exemplar) count towards the 8 the
    near-miss check needs."""
    from types import SimpleNamespace

    from cg_gov.matching._match import family_detectors

    n_concepts = 40
    rng = np.random.default_rng(3)
    a_pos = [f"a exemplar {i}" for i in range(6)]
    a_con = [f"a near miss {i}" for i in range(9)] + [a_pos[0]]  # a repeated exemplar is not a near miss
    b_pos = [f"b exemplar {i}" for i in range(6)]
    b_con = [f"b near miss {i}" for i in range(3)]
    rows = {}
    for t in [*a_pos, *a_con, *b_pos, *b_con]:
        row = rng.random(n_concepts) * (rng.random(n_concepts) < 0.2)
        if t in a_pos:
            row[[5, 9]] += 1.5 + rng.random(2)
        if t in b_pos:
            row[[20, 21]] += 1.5 + rng.random(2)
        rows[t] = row

    def activations(texts):
        return np.stack([rows[t] for t in texts])

    families = [SimpleNamespace(id="a", exemplars=a_pos, counter_exemplars=a_con, exclude=[]),
                SimpleNamespace(id="b", exemplars=b_pos, counter_exemplars=b_con, exclude=[])]
    signals = SimpleNamespace(families={f.id: SimpleNamespace(similarity=np.zeros(n_concepts)) for f in families})
    reference = rng.random((300, n_concepts)) * (rng.random((300, n_concepts)) < 0.2)
    settings = DetectorSettings(resamples=200)
    out = family_detectors(families, signals, activations, reference, n_concepts, settings)
    (det_a, vis_a), (det_b, vis_b) = out["a"], out["b"]
    assert {5, 9} <= set(det_a.concepts[:4]) and {20, 21} <= set(det_b.concepts[:4])
    assert (vis_a.n_counter, vis_a.n_near_miss) == (9, 9 + 6)
    assert (vis_b.n_counter, vis_b.n_near_miss) == (3, 3 + 6)
    assert vis_a.near_miss_auroc > 0.9 and vis_a.status == "unconfirmed"
    assert vis_b.near_miss_auroc > 0.9 and vis_b.status == "cannot-tell"  # 3 of the 8 counter-exemplars needed
    for vis in (vis_a, vis_b):
        assert vis.threshold is not None and vis.threshold >= 0.0
