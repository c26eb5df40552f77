"""The family detector on fixed activation matrices (numpy only, no model): the parts a wrong verdict
would hide in. Counter-exemplars must cost a concept its weight (in :func:`fit_family_detector` and
in the contrast :func:`family_detectors` builds); visibility must be cross-validated (a detector that
saw the held-out exemplar scores it higher, so a leak raises the AUROC); and the visibility status
sits on the documented side of each threshold."""
from __future__ import annotations

import numpy as np
import pytest

from cg_gov.matching import DetectorSettings, Visibility, auroc, family_detectors, fit_family_detector, visibility
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
    vis = visibility(pos, con, ref, settings=settings)
    assert vis.n_pos == len(pos) and vis.n_neg == len(con) + 40
    assert vis.auroc == 0.5 and settings.status(vis) == "unverified"  # held out, every score ties


def test_visibility_of_a_real_signal_survives_cross_validation():
    """The same shape with a concept shared by every exemplar: held out, they are still found."""
    pos, con, ref = _paired_exemplars()
    pos[:, 20] += 1.0
    vis = visibility(pos, con, ref, settings=DetectorSettings(resamples=200, reference_holdout=40))
    assert vis.auroc == 1.0 and DetectorSettings().status(vis) == "verified"


# --- the status thresholds -------------------------------------------------------------------

def _vis(auroc_value, ci):
    return Visibility(auroc=auroc_value, ci=ci, n_pos=8, n_neg=60)


below = lambda x: float(np.nextafter(x, -np.inf))  # noqa: E731
above = lambda x: float(np.nextafter(x, np.inf))  # noqa: E731


class TestVisibilityStatus:
    """README: "verified when the interval's lower end reaches 0.75, weak when the AUROC reaches
    0.6, else unverified" (reaches: at the cut-off counts)."""

    s = DetectorSettings(verified_at=0.75, weak_at=0.6)

    def test_lower_end_exactly_at_verified_at_is_verified(self):
        assert self.s.status(_vis(0.9, (0.75, 0.97))) == "verified"

    def test_lower_end_just_below_verified_at_is_weak(self):
        assert self.s.status(_vis(0.9, (below(0.75), 0.97))) == "weak"

    def test_lower_end_just_above_verified_at_is_verified(self):
        assert self.s.status(_vis(0.9, (above(0.75), 0.97))) == "verified"

    def test_auroc_exactly_at_weak_at_is_weak(self):
        assert self.s.status(_vis(0.6, (0.4, 0.8))) == "weak"

    def test_auroc_just_below_weak_at_is_unverified(self):
        assert self.s.status(_vis(below(0.6), (0.4, 0.8))) == "unverified"

    def test_auroc_just_above_weak_at_is_weak(self):
        assert self.s.status(_vis(above(0.6), (0.4, 0.8))) == "weak"

    @pytest.mark.parametrize("auroc_value, ci", [(None, None), (0.95, None), (None, (0.8, 0.99))])
    def test_not_measured_is_unverified(self, auroc_value, ci):
        assert self.s.status(_vis(auroc_value, ci)) == "unverified"

    def test_the_thresholds_are_the_settings(self):
        vis = _vis(0.7, (0.65, 0.8))
        assert DetectorSettings(verified_at=0.65, weak_at=0.6).status(vis) == "verified"
        assert DetectorSettings(verified_at=0.66, weak_at=0.7).status(vis) == "weak"
        assert DetectorSettings(verified_at=0.66, weak_at=above(0.7)).status(vis) == "unverified"

    def test_defaults_are_the_documented_ones(self):
        assert (DetectorSettings().verified_at, DetectorSettings().weak_at) == (0.75, 0.6)
