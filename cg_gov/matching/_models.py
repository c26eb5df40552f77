"""The matcher's result: per family, the concepts it was assigned and why."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cg_gov.spec import MatchingSettings

__all__ = ["ConceptMatch", "FamilyMatch", "FamilyVisibility", "NearMiss", "ProfileMatch", "MatchSource",
           "VisibilityStatus"]

#: Why a concept was assigned to a family.
MatchSource = Literal["label", "exemplar", "both", "pinned", "detector"]
VisibilityStatus = Literal["confirmed", "weak", "unconfirmed", "cannot-tell"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class ConceptMatch(_Model):
    """A concept assigned to a family."""

    concept_id: int = Field(ge=0)
    """Index of the concept (SAE latent) in the dictionary."""
    label: str
    """The concept's label as the dictionary stores it ("" for an unlabelled concept)."""
    source: MatchSource
    """detector: chosen by the family's detector (it fires more on the family's exemplars than on its
    counter-exemplars, the other families' exemplars and reference text, with its label similarity as a
    prior); label: its label is similar to the family's text; exemplar: the family's exemplars activate
    it far above its base rate; both; pinned: listed in the family's ``include``."""
    similarity: float
    """Cosine similarity between the family's text (centroid of its description, synonyms and
    exemplars) and the concept, averaged over the concept's readings: its label, its top contexts and
    its top tokens (those the dictionary has)."""
    margin: float | None
    """Opposites guard: similarity of the concept (its readings, as for ``similarity``) to the family's
    texts minus its similarity to their negations (polar words swapped for antonyms). Negative: the
    concept reads closer to the family's opposite. None when the family has no polar word to negate,
    or the concept has no label."""
    low_margin: bool
    """True when ``margin`` is below the profile's ``margin_warning``: check that the concept is
    not the family's opposite. Never set for pinned concepts."""
    specificity: float | None = None
    """Mean activation of the concept on the family's exemplars over its reference mean; None when
    the exemplar signal was not computed."""
    exemplars_active: int | None = None
    """On how many of the family's exemplars the concept fired; None without the exemplar signal."""
    score: float | None = None
    """similarity + exemplar_weight x exemplar bonus: what the threshold applies to (None when pinned
    or chosen by the detector)."""
    effect: float | None = None
    """Detector only: the concept's standardised difference of means, family exemplars minus the
    larger of the contrast and reference means, over its root-mean-square activation."""
    weight: float = Field(ge=0, le=1)
    """Weight w_F(c) of the concept in the family's scores; a family's weights sum to 1 (0 for a
    concept set aside)."""


class NearMiss(_Model):
    """A concept just below the family's threshold, shown when a family matched nothing."""

    concept_id: int = Field(ge=0)
    """Index of the concept."""
    label: str
    """The concept's label."""
    similarity: float
    """Its cosine similarity to the family's text."""
    score: float | None = None
    """Its match score (similarity + exemplar bonus), below the threshold."""


class FamilyVisibility(_Model):
    """How well the family's detector separates the family, measured on the profile's own texts."""

    auroc: float | None
    """Cross-validated AUROC: held-out exemplars against held-out counter-exemplars, other families'
    exemplars and reference windows; None when it cannot be measured (fewer than 2 exemplars)."""
    ci: tuple[float, float] | None
    """95% bootstrap interval of ``auroc``."""
    n_pos: int = Field(ge=0)
    """Exemplars scored."""
    n_neg: int = Field(ge=0)
    """Negatives scored."""
    status: VisibilityStatus
    """Before the owner's labels: unconfirmed, weak (near-miss AUROC below the threshold) or
    cannot-tell (too few counter-exemplars), by :class:`cg_gov.matching.DetectorSettings`; the audit
    turns it into confirmed or weak when labelled suite items are given."""
    near_miss_auroc: float | None = None
    """Cross-validated AUROC against near misses only (counter-exemplars, other families' exemplars)."""
    near_miss_ci: tuple[float, float] | None = None
    """95% bootstrap interval of ``near_miss_auroc``."""
    n_near_miss: int = Field(default=0, ge=0)
    """Near misses scored."""
    n_counter: int = Field(default=0, ge=0)
    """The family's own counter-exemplars among them."""
    threshold: float | None = None
    """Operating point: an item is detected as the family when m_F(x) is above it."""
    cv_recall: float | None = None
    """Share of held-out exemplars above the operating point."""
    cv_near_miss_rate: float | None = None
    """Share of held-out near misses above the operating point."""


class FamilyMatch(_Model):
    """The concepts assigned to one family."""

    family: str
    """Id of the family in the profile."""
    threshold: float
    """Similarity threshold used (the family's own, else the profile's)."""
    top_k: int
    """Most concepts assigned by label or exemplar (pinned concepts come on top)."""
    concepts: list[ConceptMatch] = Field(default_factory=list)
    """Assigned concepts, highest weight first (ties by concept id)."""
    negations: list[str] = Field(default_factory=list)
    """The negated family texts the opposites guard compared against."""
    exemplar_signal: bool = False
    """Whether the family's exemplars were run through the dictionary."""
    nearest: list[NearMiss] = Field(default_factory=list)
    """When nothing matched: the closest labels below the threshold."""
    set_aside: list[ConceptMatch] = Field(default_factory=list)
    """Concepts above the threshold that were left out because their margin is below the profile's
    ``margin_warning`` (``low_margin: drop``): they read closer to the family's opposite."""
    warnings: list[str] = Field(default_factory=list)
    """Notes for the reader: low-margin concepts, skipped signals."""
    method: Literal["detector", "similarity"] = "similarity"
    """How the concepts were chosen: by the family's detector, or by similarity and threshold (the
    family has no exemplars, or the profile asks for ``matching.method: similarity``)."""
    visibility: FamilyVisibility | None = None
    """The detector's visibility check; None when no detector was fitted."""

    @property
    def matched(self) -> bool:
        """Whether any concept was assigned."""
        return bool(self.concepts)

    def weights(self) -> dict[int, float]:
        """concept id -> weight."""
        return {c.concept_id: c.weight for c in self.concepts}


class ProfileMatch(_Model):
    """The matcher's result for a whole profile against one dictionary's labels."""

    schema_version: int = 1
    """Version of this structure."""
    profile: str
    """Id of the profile."""
    profile_version: str | None = None
    """Version of the profile."""
    dictionary_identity: str | None = None
    """Identity (hash) of the concept dictionary, when known."""
    labels_sha256: str
    """sha256 of the label list matched against."""
    n_concepts: int = Field(ge=0)
    """Number of concepts in the dictionary."""
    embedder: str
    """Identity of the sentence embedder (model name and a hash of its files)."""
    threshold: float
    """Profile-wide similarity threshold."""
    calibration: str = ""
    """Where the threshold and the exemplar weight came from: the profile, the dictionary's
    calibration, or the fallback defaults."""
    top_k: int
    """Profile-wide top-k."""
    margin_warning: float
    """Margins below this are flagged."""
    min_specificity: float
    """Smallest exemplar specificity for an exemplar match."""
    exemplar_weight: float = 0.0
    """Weight of the exemplar bonus in a concept's score (score = similarity + weight x bonus)."""
    low_margin: Literal["drop", "flag"] = MatchingSettings.model_fields["low_margin"].default
    """drop: low-margin concepts were set aside; flag: kept with a warning."""
    expected_precision: float | None = None
    """Share of matched concepts that fitted their family in the dictionary's calibration, on profiles
    not used to choose the settings; None when the settings are not the dictionary's calibrated ones."""
    expected_recall: float | None = None
    """Share of fitting concepts the matcher found in the same measurement; None as above."""
    families: list[FamilyMatch]
    """One entry per family, in the profile's order; families with no match are kept."""
    warnings: list[str] = Field(default_factory=list)
    """Profile-wide notes."""

    def family(self, family_id: str) -> FamilyMatch:
        """The match of one family (KeyError if the profile has no such family)."""
        for fam in self.families:
            if fam.family == family_id:
                return fam
        raise KeyError(family_id)

    @property
    def unmatched(self) -> list[str]:
        """Ids of the families that no concept matched: the dictionary cannot see them."""
        return [f.family for f in self.families if not f.matched]

    def weights(self) -> dict[str, dict[int, float]]:
        """family id -> {concept id: weight}; unmatched families map to an empty dict."""
        return {f.family: f.weights() for f in self.families}

    def weight_matrix(self) -> np.ndarray:
        """(families, concepts) array of weights, rows in the profile's family order."""
        out = np.zeros((len(self.families), self.n_concepts), dtype=np.float64)
        for i, fam in enumerate(self.families):
            for c in fam.concepts:
                out[i, c.concept_id] = c.weight
        return out
