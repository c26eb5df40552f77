"""The matcher: maps a deployment profile's concept families onto a dictionary's concepts.

:func:`match_profile` returns a :class:`ProfileMatch` with, per family, the
assigned concepts, where each came from (label, exemplar, both, pinned), its
label similarity, its opposites-guard margin and its weight w_F(c).
:func:`match_cli` is ``cg-gov match``. The calibration helpers measure the
label-similarity threshold against labelled pairs.
"""
from cg_gov.matching._calibration import (
    CalibrationPair,
    Metrics,
    choose_threshold,
    evaluate,
    load_pairs,
    score_pairs,
    split_pairs,
)
from cg_gov.matching._cli import NO_MATCH_MESSAGE, add_arguments, format_match, match_cli
from cg_gov.matching._match import (
    DEFAULT_MIN_SPECIFICITY,
    ExemplarActivations,
    family_similarity,
    match_profile,
    polarity_margin,
)
from cg_gov.matching._models import ConceptMatch, FamilyMatch, MatchSource, NearMiss, ProfileMatch
from cg_gov.matching._text import ANTONYMS, family_texts, label_text, negate, negation_texts

__all__ = [
    "ANTONYMS",
    "DEFAULT_MIN_SPECIFICITY",
    "NO_MATCH_MESSAGE",
    "CalibrationPair",
    "ConceptMatch",
    "ExemplarActivations",
    "FamilyMatch",
    "MatchSource",
    "Metrics",
    "NearMiss",
    "ProfileMatch",
    "add_arguments",
    "choose_threshold",
    "evaluate",
    "family_similarity",
    "family_texts",
    "format_match",
    "label_text",
    "load_pairs",
    "match_cli",
    "match_profile",
    "negate",
    "negation_texts",
    "polarity_margin",
    "score_pairs",
    "split_pairs",
]
