"""Calibrating the matcher against labelled (family, concept label, fits) pairs.

A calibration set is a profile (its families) plus a jsonl file of pairs::

    {"family": "refusal", "label": "decline: go down in value", "fits": false, "kind": "lexical"}

``kind`` says what sort of pair it is (positive, opposite, lexical, same_topic,
unrelated) and is only used to break the figures down. :func:`split_pairs`
cuts the pairs into a calibration half and a held-out half, deterministically
and per family; :func:`choose_threshold` picks the similarity threshold with
the best F1 on the calibration half; :func:`evaluate` reports precision,
recall and F1 of a threshold on any pairs. Pair similarities are computed
with the same functions the matcher uses (:func:`score_pairs`).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from cg_gov.matching._embedder import Embedder, get_embedder
from cg_gov.errors import CgGovError
from cg_gov.matching._match import family_similarity, polarity_margin
from cg_gov.matching._text import family_texts, label_text, negate

__all__ = ["CalibrationPair", "DictionaryPair", "Metrics", "choose_operating_point", "choose_threshold",
           "evaluate", "leave_one_profile_out", "load_dictionary_pairs", "load_pairs", "score_dictionary_pairs",
           "score_pairs", "split_pairs"]

Kind = Literal["positive", "opposite", "lexical", "same_topic", "unrelated"]


class CalibrationPair(BaseModel):
    """One labelled pair: does this concept label fit this family?"""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    family: str
    """Id of a family of the calibration profile."""
    label: str
    """A concept label, written as a dictionary writes them."""
    fits: bool
    """Whether a concept with this label belongs to the family."""
    kind: Literal["positive", "opposite", "lexical", "same_topic", "unrelated"]
    """positive (fits), opposite (means the reverse), lexical (shares a word, not the meaning),
    same_topic (same domain, different thing) or unrelated."""


class Metrics(BaseModel):
    """Precision, recall and F1 of a threshold on a set of pairs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    threshold: float
    """Similarity at or above which a pair is predicted to fit."""
    n: int
    """Number of pairs."""
    precision: float
    """Share of predicted fits that fit."""
    recall: float
    """Share of fits that were predicted."""
    f1: float
    """Harmonic mean of precision and recall."""


class DictionaryPair(BaseModel):
    """One labelled pair on a real dictionary: does concept ``concept_id`` fit this profile's family?"""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    profile: str
    """Id of the profile the family belongs to."""
    family: str
    """Id of the family in that profile."""
    concept_id: int
    """Index of the concept in the dictionary."""
    label: str
    """The concept's label when the pair was judged (a check that the dictionary is the same)."""
    fits: bool
    """Whether a reviewer accepts the concept as evidence of the family (judged from the concept's top
    tokens and top contexts first, its label second)."""
    kind: Kind
    """As in :class:`CalibrationPair`."""
    reason: str | None = None
    """The reviewer's reason, in a few words."""


def _load(path: str | os.PathLike, model: type[BaseModel]) -> list[Any]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(model.model_validate(json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise CgGovError(f"invalid calibration pair: {exc}", file=str(path), line=lineno) from None
    return rows


def load_pairs(path: str | os.PathLike) -> list[CalibrationPair]:
    """Read a jsonl file of calibration pairs."""
    return _load(path, CalibrationPair)


def load_dictionary_pairs(path: str | os.PathLike) -> list[DictionaryPair]:
    """Read a jsonl file of labelled (profile, family, concept) pairs."""
    return _load(path, DictionaryPair)


def _pair_key(pair: CalibrationPair) -> str:
    return hashlib.sha256(f"{pair.family}\x00{pair.label}".encode()).hexdigest()


def split_pairs(pairs: Sequence[CalibrationPair]) -> tuple[list[CalibrationPair], list[CalibrationPair]]:
    """(calibration half, held-out half): within each family, pairs sorted by a hash of
    (family, label) go alternately to each half, so both halves cover every family."""
    calibration, held_out = [], []
    for family in sorted({p.family for p in pairs}):
        ordered = sorted((p for p in pairs if p.family == family), key=_pair_key)
        for i, pair in enumerate(ordered):
            (calibration if i % 2 == 0 else held_out).append(pair)
    return calibration, held_out


def score_pairs(profile: Any, pairs: Sequence[CalibrationPair],
                embedder: Embedder | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, margins) of each pair, as the matcher computes them; margin NaN where the
    family has no negation."""
    emb = embedder or get_embedder(None)
    families = {f.id: f for f in profile.families}
    missing = sorted({p.family for p in pairs} - set(families))
    if missing:
        raise CgGovError(f"calibration pairs name families the profile lacks: {', '.join(missing)}")
    label_vectors = emb.embed([label_text(p.label) for p in pairs])
    sims = np.zeros(len(pairs))
    margins = np.full(len(pairs), np.nan)
    for fid, family in families.items():
        idx = [i for i, p in enumerate(pairs) if p.family == fid]
        if not idx:
            continue
        sims[idx] = family_similarity(emb.embed(family_texts(family)), label_vectors[idx])
        polar = [(t, negate(t)) for t in [family.description, *family.synonyms]]
        polar = [(t, n) for t, n in polar if n and n != t]
        if polar:
            margins[idx] = polarity_margin(emb.embed([t for t, _ in polar]),
                                           emb.embed([n for _, n in polar]), label_vectors[idx])
    return sims, margins


def evaluate(scores: np.ndarray, fits: np.ndarray, threshold: float) -> Metrics:
    """Precision, recall and F1 of ``scores >= threshold`` against ``fits``."""
    scores = np.asarray(scores, dtype=np.float64)
    fits = np.asarray(fits, dtype=bool)
    predicted = scores >= threshold
    tp = int((predicted & fits).sum())
    fp = int((predicted & ~fits).sum())
    fn = int((~predicted & fits).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(threshold=round(float(threshold), 4), n=int(scores.size),
                   precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4))


def choose_threshold(scores: np.ndarray, fits: np.ndarray, *, step: float = 0.01,
                     low: float = 0.05, high: float = 0.95) -> Metrics:
    """The threshold on a ``step`` grid with the highest F1 (ties: the higher threshold)."""
    best: Metrics | None = None
    for t in np.round(np.arange(low, high + step / 2, step), 4):
        m = evaluate(scores, fits, float(t))
        if best is None or m.f1 >= best.f1:
            best = m
    assert best is not None
    return best


def score_dictionary_pairs(signals: dict[str, Any], pairs: Sequence[DictionaryPair],
                           labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, exemplar bonus) of each pair, read from the matcher's own
    :class:`~cg_gov.matching.ProfileSignals` (one per profile id). Raises when a pair's label is not
    the dictionary's label for that concept: the pairs were judged on another dictionary."""
    sims = np.zeros(len(pairs))
    bonus = np.zeros(len(pairs))
    for i, pair in enumerate(pairs):
        if not 0 <= pair.concept_id < len(labels) or labels[pair.concept_id] != pair.label:
            raise CgGovError(
                f"pair {i}: concept {pair.concept_id} of this dictionary is not labelled {pair.label!r}",
                hint="the pairs were judged on another dictionary: label them again for this one")
        fam = signals[pair.profile].families[pair.family]
        sims[i] = fam.similarity[pair.concept_id]
        bonus[i] = 0.0 if fam.bonus is None else fam.bonus[pair.concept_id]
    return sims, bonus


def choose_operating_point(sims: np.ndarray, bonus: np.ndarray, fits: np.ndarray,
                           weights: Sequence[float]) -> tuple[float, Metrics]:
    """(exemplar weight, threshold metrics) with the best F1 of ``sims + weight * bonus`` over the
    given weights and a 0.01 threshold grid (ties: the smaller weight, then the higher threshold)."""
    best: tuple[float, Metrics] | None = None
    for w in sorted(weights):
        m = choose_threshold(sims + w * bonus, fits, high=1.95)
        if best is None or m.f1 > best[1].f1:
            best = (float(w), m)
    assert best is not None
    return best


def leave_one_profile_out(sims: np.ndarray, bonus: np.ndarray, fits: np.ndarray, profiles: Sequence[str],
                          weights: Sequence[float]) -> dict[str, Any]:
    """Held-out figures of :func:`choose_operating_point`: for each profile, the operating point is
    chosen on the other profiles' pairs and applied to this one's. Returns the pooled precision,
    recall and F1 over all held-out pairs, and each fold's operating point and metrics."""
    profiles = np.asarray(profiles)
    fits = np.asarray(fits, dtype=bool)
    folds = {}
    predicted = np.zeros(len(fits), dtype=bool)
    for held in sorted(set(profiles.tolist())):
        train = profiles != held
        w, m = choose_operating_point(sims[train], bonus[train], fits[train], weights)
        score = sims[~train] + w * bonus[~train]
        predicted[~train] = score >= m.threshold
        folds[held] = {"exemplar_weight": w, "threshold": m.threshold,
                       "held_out": evaluate(score, fits[~train], m.threshold).model_dump()}
    pooled = evaluate(predicted.astype(float), fits, 0.5)
    return {"pooled": pooled.model_dump(exclude={"threshold"}), "folds": folds}
