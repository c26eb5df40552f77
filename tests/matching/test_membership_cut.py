"""The membership cut (:func:`cg_gov.matching.membership_cut`) on fixed score vectors, and its place
in :func:`visibility`: the near-miss cut, the recall floor that lowers it, the reference-window bound
that raises it (and wins), and the cross-validated scores visibility is computed from."""
from __future__ import annotations

import numpy as np

from cg_gov.matching import DetectorSettings, cross_validated_scores, membership_cut, visibility
from cg_gov.matching._detector import operating_point

POS = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
NEAR = np.array([0.85, 0.75, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
REF = np.linspace(0.0, 0.5, 201)  # 0.0025 apart; the top ten are 0.4775 .. 0.5


def _s(**kw) -> DetectorSettings:
    base = {"max_reference_rate": None, "min_cv_recall": None}
    return DetectorSettings(**(base | kw))


def test_without_floor_or_bound_the_cut_is_the_near_miss_operating_point():
    for rate in (0.05, 0.1, 0.2):
        assert membership_cut(POS, NEAR, REF, _s(max_near_miss_rate=rate)) == operating_point(POS, NEAR, rate)
    # two near misses of ten at 0.85 and 0.75: at 5% (k=0) the cut is the highest near miss
    assert membership_cut(POS, NEAR, REF, _s(max_near_miss_rate=0.05)) == 0.85
    assert membership_cut(POS, NEAR, None, _s()) is not None
    assert membership_cut(np.array([]), NEAR, REF, _s(min_cv_recall=0.5)) is None


def test_the_recall_floor_lowers_the_cut_until_that_share_of_exemplars_is_above_it():
    high = membership_cut(POS, NEAR, REF, _s(max_near_miss_rate=0.05))
    assert (POS > high).mean() == 0.125
    for floor in (0.5, 0.7, 1.0):
        cut = membership_cut(POS, NEAR, REF, _s(max_near_miss_rate=0.05, min_cv_recall=floor))
        assert (POS > cut).mean() >= floor
        # the highest such cut: one step up and the share is below the floor
        above = POS[POS > cut].min()
        assert (POS > above).mean() < floor
    # a floor already met leaves the cut alone
    easy = np.array([2.0, 1.9, 1.8, 1.7])
    assert (membership_cut(easy, NEAR, REF, _s(min_cv_recall=0.5, max_near_miss_rate=0.05))
            == operating_point(easy, NEAR, 0.05))


def test_the_reference_bound_raises_the_cut_and_wins_over_the_floor():
    low_near = np.zeros(10)
    assert membership_cut(POS, low_near, REF, _s()) == 0.0
    for rate in (0.005, 0.01, 0.02):
        cut = membership_cut(POS, low_near, REF, _s(max_reference_rate=rate))
        assert (REF > cut).mean() <= rate
        assert (REF >= cut).mean() > rate  # the lowest such cut
    # the floor would lower the cut to 0.1; the bound keeps at most 1% of the windows above it
    cut = membership_cut(POS, NEAR, REF, _s(min_cv_recall=1.0, max_reference_rate=0.01))
    assert cut == operating_point(POS, REF, 0.01) and cut > 0.45


def test_visibility_takes_its_cut_and_recall_from_the_cross_validated_scores():
    rng = np.random.default_rng(0)
    pos = rng.random((8, 12)) * (rng.random((8, 12)) < 0.5)
    pos[:, 0] += 1.0
    con = rng.random((12, 12)) * (rng.random((12, 12)) < 0.5)
    con[:4, 0] += 0.9  # near misses that share the family's concept
    ref = rng.random((60, 12)) * (rng.random((60, 12)) < 0.3)
    for settings in (_s(resamples=50, reference_holdout=20),
                     _s(resamples=50, reference_holdout=20, min_cv_recall=0.75, max_reference_rate=0.05)):
        vis = visibility(pos, con, ref, settings=settings)
        cv = cross_validated_scores(pos, con, ref, settings=settings)
        assert len(cv.positives) == 8 and len(cv.near_misses) == 12 and len(cv.reference) == 20
        cut = membership_cut(cv.positives, cv.near_misses, cv.reference, settings)
        assert vis.threshold == cut
        assert vis.cv_recall == float((cv.positives > cut).mean())
    assert cross_validated_scores(pos[:1], con, ref) is None
    # a reference bound that binds: no held-out window may score above the cut, which lifts it above
    # the near-miss cut (the bound is computed on the held-out windows' scores, not left out)
    settings = _s(resamples=50, reference_holdout=20, max_near_miss_rate=0.5, max_reference_rate=0.0)
    cv = cross_validated_scores(pos, con, ref, settings=settings)
    bound = membership_cut(cv.positives, cv.near_misses, cv.reference, settings)
    assert bound > membership_cut(cv.positives, cv.near_misses, None, settings)
    assert visibility(pos, con, ref, settings=settings).threshold == bound


def test_visibility_without_enough_exemplars_counts_the_negatives_it_would_have_held_out():
    rng = np.random.default_rng(1)
    one = rng.random((1, 6))
    con = rng.random((3, 6))
    ref = rng.random((7, 6))  # an odd number of windows: half of them, rounded down, would be held out
    vis = visibility(one, con, ref, settings=_s(reference_holdout=200))
    assert vis.auroc is None and vis.n_near_miss == 3
    assert vis.n_neg == 3 + 3 and isinstance(vis.n_neg, int)
    assert visibility(one, con, ref, settings=_s(reference_holdout=2)).n_neg == 3 + 2


def test_the_recall_floor_counts_every_exemplar_from_the_top():
    """The floor is the highest exemplar score below the need-th highest, need = ceil(share x n), at
    least 1 (worked by hand from the docstring)."""
    five = np.array([1.0, 5.0, 3.0, 2.0, 4.0])
    high = np.array([10.0, 9.0])  # near misses above every exemplar: the near-miss cut is 10 at 5%
    settings = _s(max_near_miss_rate=0.05, min_cv_recall=0.6)  # need 3: above 3 lies 2, the floor
    assert membership_cut(five, high, None, settings) == 2.0
    # a share that asks for less than one exemplar still asks for one: the top exemplar (5) stays above
    assert membership_cut(five, high, None, _s(max_near_miss_rate=0.05, min_cv_recall=0.1)) == 4.0


def test_the_reference_bound_needs_reference_scores():
    # no reference windows (None or none): the bound has nothing to bound, the near-miss cut stands
    for ref in (None, np.array([])):
        assert membership_cut(POS, NEAR, ref, _s(max_near_miss_rate=0.05, max_reference_rate=0.01)) == 0.85
    # reference windows that never score above 0: their bound is 0 and never lowers or raises the cut
    quiet = np.array([-1.0, -2.0, 0.0])
    low_near = np.array([0.5, 0.0, 0.0, 0.0])
    assert operating_point(POS, quiet, 0.5) == 0.0
    assert membership_cut(POS, low_near, quiet, _s(max_near_miss_rate=0.0, max_reference_rate=0.5)) == 0.5
