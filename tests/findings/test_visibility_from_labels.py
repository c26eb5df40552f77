"""A family's visibility status from the owner's labels (``cg_gov.audit._visibility_from``), at its
boundaries: at the cut-off, just below, just above, NaN and missing.

README, "Confirmation by the owner": with labels, visibility is "``confirmed`` (AUROC interval low
end >= 0.75 and precision interval low end >= 0.5) or ``weak``"; without labels it is the
near-miss status (``unconfirmed``, ``weak``, or ``cannot-tell`` with fewer than 8
counter-exemplars). Labelled items none of which is the family's give no AUROC: ``cannot-tell``
("none of the owner's labelled items is the family's", the verdict's wording).

``cg_gov/audit.py`` is outside the files mutmut mutates, so these tests stand in for its mutants.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from cg_gov.audit import _visibility_from
from cg_gov.matching import DetectorSettings
from cg_gov.matching._models import FamilyMatch, FamilyVisibility
from cg_gov.scoring import confirm_membership
from cg_gov.scoring._membership import LabelledSample


def below(x: float) -> float:
    return float(np.nextafter(x, -math.inf))


def above(x: float) -> float:
    return float(np.nextafter(x, math.inf))


S = DetectorSettings()  # verified_at 0.75, min_precision 0.5


def _family(vis: FamilyVisibility | None = None) -> FamilyMatch:
    return FamilyMatch(family="f", threshold=0.3, top_k=8, method="detector", visibility=vis)


def _near_miss(status="unconfirmed", near_miss_auroc=0.8, n_counter=12) -> FamilyVisibility:
    return FamilyVisibility(auroc=0.9, ci=(0.85, 0.95), n_pos=10, n_neg=70, status=status,
                            near_miss_auroc=near_miss_auroc,
                            near_miss_ci=None if near_miss_auroc is None else (0.7, 0.9),
                            n_near_miss=20, n_counter=n_counter, threshold=0.2)


def _labelled(auroc_low=0.8, precision_low=0.6, *, auroc=0.9, n_labelled=40, n_yes=15,
              precision_ci: object = "from-low") -> LabelledSample:
    pci = (precision_low, 0.95) if precision_ci == "from-low" else precision_ci
    aci = None if auroc_low is None else (auroc_low, 0.99)
    return LabelledSample(n_labelled=n_labelled, n_yes=n_yes, by_stratum={}, precision=0.8, precision_ci=pci,
                          elusion=None, elusion_ci=None, estimated=None, estimated_ci=None, auroc=auroc,
                          auroc_ci=aci)


def status(labelled, vis=None, settings=S) -> str:
    return _visibility_from(_family(vis if vis is not None else _near_miss()), labelled, settings)["status"]


class TestConfirmedOnLabels:
    def test_both_low_ends_at_their_cut_offs_is_confirmed(self):
        assert status(_labelled(0.75, 0.5)) == "confirmed"

    def test_auroc_low_end_just_below_is_weak(self):
        assert status(_labelled(below(0.75), 0.9)) == "weak"

    def test_auroc_low_end_just_above_is_confirmed(self):
        assert status(_labelled(above(0.75), 0.5)) == "confirmed"

    def test_precision_low_end_just_below_is_weak(self):
        assert status(_labelled(0.99, below(0.5))) == "weak"

    def test_precision_low_end_just_above_is_confirmed(self):
        assert status(_labelled(0.75, above(0.5))) == "confirmed"

    @pytest.mark.parametrize("low", [math.nan, None])
    def test_no_auroc_interval_or_a_nan_one_is_not_confirmed(self, low):
        assert status(_labelled(low, 0.9)) == "weak"

    def test_a_nan_precision_low_end_is_not_confirmed(self):
        assert status(_labelled(0.9, math.nan)) == "weak"

    def test_the_cut_offs_are_the_settings(self):
        lab = _labelled(0.7, 0.4)
        assert status(lab) == "weak"
        assert status(lab, settings=DetectorSettings(verified_at=0.7, min_precision=0.4)) == "confirmed"
        assert status(lab, settings=DetectorSettings(verified_at=above(0.7), min_precision=0.4)) == "weak"
        assert status(lab, settings=DetectorSettings(verified_at=0.7, min_precision=above(0.4))) == "weak"

    def test_the_labels_decide_whatever_the_near_miss_status(self):
        for before in ("weak", "cannot-tell", "unconfirmed"):
            assert status(_labelled(0.8, 0.6), _near_miss(before)) == "confirmed"
            assert status(_labelled(0.5, 0.6), _near_miss(before)) == "weak"

    def test_the_figures_are_those_of_the_labels(self):
        out = _visibility_from(_family(_near_miss()), _labelled(0.8, 0.6, n_labelled=40, n_yes=15), S)
        assert out["basis"] == "owner-labels" and out["auroc"] == 0.9 and out["ci"] == [0.8, 0.99]
        assert (out["n_pos"], out["n_neg"]) == (15, 25)
        assert out["precision"] == 0.8 and out["precision_ci"] == [0.6, 0.95]
        assert out["n_counter"] == 12 and out["exemplar_auroc"] == 0.9


class TestWithoutAnAuroc:
    def test_labelled_items_none_of_them_the_familys_cannot_tell(self):
        lab = _labelled(None, 0.9, auroc=None, n_yes=0)
        out = _visibility_from(_family(_near_miss("unconfirmed")), lab, S)
        assert out["status"] == "cannot-tell" and out["basis"] == "owner-labels"
        assert (out["n_pos"], out["n_neg"]) == (0, 40)

    def test_no_labelled_item_falls_back_to_the_near_misses(self):
        lab = _labelled(None, 0.9, auroc=None, n_labelled=0, n_yes=0)
        for before in ("unconfirmed", "weak", "cannot-tell"):
            out = _visibility_from(_family(_near_miss(before)), lab, S)
            assert out["status"] == before and out["basis"] == "near-misses"

    def test_no_labels_is_the_near_miss_status_and_figure(self):
        out = _visibility_from(_family(_near_miss("weak", near_miss_auroc=0.55)), None, S)
        assert out["status"] == "weak" and out["basis"] == "near-misses"
        assert out["auroc"] == 0.55 and out["ci"] == [0.7, 0.9] and (out["n_pos"], out["n_neg"]) == (10, 20)

    def test_no_near_miss_figure_has_no_basis(self):
        out = _visibility_from(_family(_near_miss("cannot-tell", near_miss_auroc=None)), None, S)
        assert out["status"] == "cannot-tell" and out["basis"] == "none" and out["ci"] is None

    def test_no_detector_check_cannot_tell(self):
        out = _visibility_from(_family(None), None, S)
        assert out["status"] == "cannot-tell" and out["basis"] == "none"
        assert out["n_counter"] is None and out["exemplar_auroc"] is None


def test_confirmed_from_a_labelled_sample_of_a_sharp_detector():
    """End to end through :func:`confirm_membership`: a detector that ranks the family's items first,
    labelled in every stratum, is confirmed; the same sample with the labels flipped is weak."""
    rng = np.random.default_rng(2)
    n = 600
    truth = rng.random(n) < 0.15
    scores = np.where(truth, 0.5 + rng.random(n), rng.random(n) * 0.45)
    cut = 0.48
    from cg_gov.scoring._membership import strata

    st = strata(scores, cut)
    labels = {}
    for h, k in (("detected", 30), ("near", 15), ("rest", 25)):
        for i in rng.choice(np.flatnonzero(st == h), size=min(k, int((st == h).sum())), replace=False):
            labels[int(i)] = bool(truth[i])
    good = confirm_membership(scores, cut, labels, resamples=200)
    assert good.auroc_ci[0] >= 0.75 and good.precision_ci[0] >= 0.5
    assert status(good) == "confirmed"
    flipped = confirm_membership(scores, cut, {i: not y for i, y in labels.items()}, resamples=200)
    assert status(flipped) == "weak"
