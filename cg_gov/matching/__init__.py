"""The matcher: maps a deployment profile's concept families onto a dictionary's concepts.

:func:`match_profile` returns a :class:`ProfileMatch` with, per family, the
assigned concepts, where each came from (detector, label, exemplar, both, pinned), its
label similarity, its opposites-guard margin and its weight w_F(c).
:func:`family_detectors` fits each family's concept detector and measures its visibility
(``_detector.py``). :func:`format_match` is the text of ``cg-gov match``; :class:`Embedder` the sentence
embedder behind the similarity. The calibration helpers measure the threshold and the
exemplar weight against labelled pairs; DICTIONARY.md gives what they measured.
"""
from cg_gov.matching._calibration import (
    CalibrationPair,
    DictionaryPair,
    Metrics,
    choose_operating_point,
    choose_threshold,
    evaluate,
    leave_one_profile_out,
    load_dictionary_pairs,
    load_pairs,
    score_dictionary_pairs,
    score_pairs,
    split_pairs,
)
from cg_gov.matching._embedder import (
    DEFAULT_EMBEDDER,
    Embedder,
    default_model_path,
    get_embedder,
    labels_sha256,
    read_shipped,
    ship_embeddings,
)
from cg_gov.matching._detector import (
    DetectorSettings,
    FamilyDetector,
    Visibility,
    auroc,
    auroc_interval,
    fit_family_detector,
    visibility,
)
from cg_gov.matching._format import NO_MATCH_MESSAGE, format_match
from cg_gov.matching._match import (
    DEFAULT_MIN_SPECIFICITY,
    DEFAULT_READINGS,
    FALLBACK_EXEMPLAR_WEIGHT,
    FALLBACK_THRESHOLD,
    ExemplarActivations,
    FamilySignals,
    ProfileSignals,
    concept_readings,
    exemplar_evidence,
    family_detectors,
    family_score,
    family_similarity,
    match_profile,
    polarity_margin,
    profile_signals,
    resolve_matching_defaults,
)
from cg_gov.matching._models import (ConceptMatch, FamilyMatch, FamilyVisibility, MatchSource, NearMiss,
                                     ProfileMatch, VisibilityStatus)
from cg_gov.matching._text import ANTONYMS, family_texts, label_text, negate, negation_texts

__all__ = [
    "ANTONYMS",
    "DetectorSettings",
    "FamilyDetector",
    "FamilyVisibility",
    "Visibility",
    "VisibilityStatus",
    "auroc",
    "auroc_interval",
    "family_detectors",
    "fit_family_detector",
    "visibility",
    "DEFAULT_MIN_SPECIFICITY",
    "DEFAULT_READINGS",
    "FALLBACK_EXEMPLAR_WEIGHT",
    "FALLBACK_THRESHOLD",
    "NO_MATCH_MESSAGE",
    "DEFAULT_EMBEDDER",
    "CalibrationPair",
    "ConceptMatch",
    "DictionaryPair",
    "Embedder",
    "ExemplarActivations",
    "FamilyMatch",
    "FamilySignals",
    "MatchSource",
    "Metrics",
    "NearMiss",
    "ProfileMatch",
    "ProfileSignals",
    "concept_readings",
    "choose_operating_point",
    "choose_threshold",
    "evaluate",
    "exemplar_evidence",
    "family_score",
    "family_similarity",
    "family_texts",
    "format_match",
    "get_embedder",
    "default_model_path",
    "labels_sha256",
    "read_shipped",
    "ship_embeddings",
    "label_text",
    "leave_one_profile_out",
    "load_dictionary_pairs",
    "load_pairs",
    "match_profile",
    "negate",
    "negation_texts",
    "polarity_margin",
    "profile_signals",
    "resolve_matching_defaults",
    "score_dictionary_pairs",
    "score_pairs",
    "split_pairs",
]
