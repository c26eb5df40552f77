"""match_profile: assign each family of a deployment profile a weighted set of concepts.

A concept's score for a family is its similarity (mean cosine of its readings: label, top
contexts, top tokens, :func:`concept_readings`, to the centroid of the family's description,
synonyms and exemplars) plus ``exemplar_weight`` x its exemplar bonus (``1 - 1/specificity``
for a concept that the family's exemplars activate more than the dictionary's reference
corpus, :func:`exemplar_evidence`). Concepts that reach the threshold (the family's, else the
profile's, else the dictionary's calibrated one, else :data:`FALLBACK_THRESHOLD`) are
candidates; the ``top_k`` best are kept (ties by concept id); pinned concepts (``include``) come
on top with a score of 1, ``exclude`` removes a concept. Weights are scores divided by their sum.
The opposites guard (:func:`polarity_margin`) sets aside, or flags, a candidate that reads closer
to the family's negation (``low_margin``). Everything is deterministic. How the threshold and
the weight were calibrated, and what was measured, is in README.md ("What the matcher's
calibration measured").
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cg_gov.matching._embedder import Embedder, get_embedder, labels_sha256
from cg_gov.errors import SpecError
from cg_gov.matching._detector import DetectorSettings, FamilyDetector
from cg_gov.matching._detector_cache import DetectorStore, fit_and_check
from cg_gov.matching._models import ConceptMatch, FamilyMatch, FamilyVisibility, NearMiss, ProfileMatch
from cg_gov.matching._text import family_texts, label_text, negate

__all__ = ["DEFAULT_MIN_SPECIFICITY", "ExemplarActivations", "exemplar_evidence", "family_similarity",
           "FamilySignals", "ProfileSignals", "family_score", "match_profile", "profile_signals",
           "resolve_matching_defaults", "FALLBACK_THRESHOLD", "FALLBACK_EXEMPLAR_WEIGHT",
           "READINGS", "DEFAULT_READINGS", "concept_readings",
           "polarity_margin", "family_detectors"]

#: Threshold and exemplar weight when neither the profile nor the dictionary sets them: 0.29 had
#: the best F1 on the calibration half of the descriptive-label pairs
#: (``tests/fixtures/matching/calibration.jsonl``); 0.2 gives the exemplars a say of the same size as
#: the weights chosen for the bundled dictionary (0.1 to 0.2 across held-out profiles).
FALLBACK_THRESHOLD = 0.29
FALLBACK_EXEMPLAR_WEIGHT = 0.2

#: The descriptions of a concept the matcher can compare with a family (see concept_readings).
READINGS = ("label", "contexts", "tokens")
#: The readings the matcher uses: all of them (they had the best AUC on the judged pairs).
DEFAULT_READINGS: tuple[str, ...] = READINGS

#: Smallest exemplar specificity (mean activation on exemplars over reference mean) for an
#: exemplar match: the same factor k = 4 that marks a concept over-represented in method.md.
DEFAULT_MIN_SPECIFICITY = 4.0
_ROUND = 6
_NEAREST = 3

ExemplarActivations = Callable[[Sequence[str]], Any]
"""texts -> (n, C) numpy array or scipy.sparse matrix of per-text mean concept activations."""


def _unit(vec: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def family_similarity(text_vectors: np.ndarray, label_vectors: np.ndarray) -> np.ndarray:
    """Cosine of each label to the centroid of the family's text vectors, ``(C,)`` float64."""
    centroid = _unit(np.asarray(text_vectors, dtype=np.float64).mean(axis=0))
    return np.asarray(label_vectors, dtype=np.float64) @ centroid


def polarity_margin(text_vectors: np.ndarray, negation_vectors: np.ndarray,
                    label_vectors: np.ndarray) -> np.ndarray:
    """Cosine of each label to the centroid of the polar texts minus to that of their negations."""
    return family_similarity(text_vectors, label_vectors) - family_similarity(negation_vectors, label_vectors)


def exemplar_evidence(acts: np.ndarray, background: np.ndarray, *, eps: float,
                      min_specificity: float = DEFAULT_MIN_SPECIFICITY) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(specificity, active, bonus) of every concept for one family's exemplar activations.

    ``acts`` is ``(n, C)``, one row per exemplar; ``background`` is ``(C,)``.
    specificity = mean activation over the exemplars / (background + eps);
    active = on how many exemplars the concept fired; bonus = ``1 - 1/specificity``
    (the share of the exemplar activation its background does not explain) where
    the concept fired on at least ``max(min(2, n), ceil(n / 2))`` exemplars and
    its specificity is at least ``min_specificity``, else 0.
    """
    acts = np.asarray(acts, dtype=np.float64)
    n = acts.shape[0]
    active = (acts > 0).sum(axis=0)
    specificity = acts.mean(axis=0) / (np.asarray(background, dtype=np.float64) + eps)
    need = max(min(2, n), math.ceil(n / 2))
    chosen = (active >= need) & (specificity >= min_specificity)
    bonus = np.where(chosen, 1.0 - 1.0 / np.maximum(specificity, 1e-12), 0.0)
    return specificity, active, bonus


def _dense_rows(matrix: Any, n_rows: int, n_cols: int) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.shape != (n_rows, n_cols):
        raise ValueError(f"exemplar activations have shape {arr.shape}, expected ({n_rows}, {n_cols})")
    return arr


def _check_pins(profile: Any, index: int, family: Any, n_concepts: int) -> None:
    source = getattr(profile, "source_file", None)
    for key in ("include", "exclude"):
        for j, concept in enumerate(getattr(family, key, None) or []):
            if not 0 <= int(concept) < n_concepts:
                raise SpecError(
                    f"concept {concept} does not exist in this dictionary (concepts 0..{n_concepts - 1})",
                    file=str(source) if source else None, key=f"families[{index}].{key}[{j}]",
                    hint="concept ids are dictionary-specific: check them with `cg-gov match`")


def _resolve_embedder(profile: Any, embedder: Embedder | str | None) -> Embedder:
    if isinstance(embedder, Embedder):
        return embedder
    name = embedder if embedder is not None else getattr(getattr(profile, "matching", None), "embedder", None)
    if name is None or str(name).strip().lower() in ("default", "all-minilm-l6-v2"):
        return get_embedder(None)
    resolve = getattr(profile, "resolve", None)
    path = resolve(name) if resolve is not None and not os.path.isabs(str(name)) else name
    return get_embedder(path)


@dataclass(frozen=True)
class FamilySignals:
    """What the matcher knows about every concept for one family, before it selects."""

    similarity: np.ndarray
    """``(C,)`` cosine of each concept to the family's centroid, averaged over the concept's readings
    (0 for unlabelled concepts)."""
    margin: np.ndarray | None
    """``(C,)`` opposites-guard margin, or None when the family has no polar text."""
    negations: list[str]
    """The family's negated texts."""
    specificity: np.ndarray | None = None
    """``(C,)`` exemplar specificity, or None without the exemplar signal."""
    active: np.ndarray | None = None
    """``(C,)`` number of exemplars each concept fired on, or None."""
    bonus: np.ndarray | None = None
    """``(C,)`` exemplar bonus in [0, 1) (0 where the concept is not exemplar-specific), or None."""


@dataclass(frozen=True)
class ProfileSignals:
    """:class:`FamilySignals` of every family of a profile, and what was computed how."""

    families: dict[str, FamilySignals]
    live: np.ndarray
    """``(C,)`` True for concepts with a label."""
    embedder: Embedder
    warnings: list[str] = field(default_factory=list)


def profile_signals(profile: Any, labels: Sequence[str], *, embedder: Embedder | str | None = None,
                    exemplar_activations: ExemplarActivations | None = None,
                    reference_mean: np.ndarray | None = None,
                    cache_dir: str | os.PathLike | None = None,
                    min_specificity: float = DEFAULT_MIN_SPECIFICITY,
                    contrast_families: bool = False,
                    concept_info: Sequence[Mapping[str, Any]] | None = None,
                    readings: Sequence[str] = DEFAULT_READINGS,
                    progress: bool = False, shipped: str | os.PathLike | None = None) -> ProfileSignals:
    """Label similarity, opposites margin and exemplar evidence of every concept for every family.

    :func:`match_profile` selects from these; the calibration code scores labelled
    pairs with them, so both see the same numbers. Arguments as in :func:`match_profile`;
    ``contrast_families`` also divides a family's exemplar activation by the other families'
    (an alternative measured in ``benchmarks/matching_dictionary.py``, not used by the matcher).
    ``readings`` are the descriptions of a concept whose similarities are averaged (see
    :func:`concept_readings`); readings the dictionary lacks are skipped per concept.
    """
    settings = profile.matching
    labels = [str(label or "") for label in labels]
    n_concepts = len(labels)
    families = list(profile.families)
    emb = _resolve_embedder(profile, embedder)
    texts_of_labels = [label_text(label) for label in labels]
    live = np.array([bool(t) for t in texts_of_labels], dtype=bool)
    reading_vectors = concept_readings(emb, labels, concept_info, readings=readings, cache_dir=cache_dir,
                                       progress=progress, shipped=shipped)
    reading_has = [np.abs(v).sum(axis=1) > 0 for v in reading_vectors]

    warnings: list[str] = []
    activations: dict[str, np.ndarray] = {}
    ref = None
    wants_exemplars = bool(settings.use_exemplars) and any(f.exemplars for f in families)
    if wants_exemplars and exemplar_activations is not None:
        if reference_mean is None:
            warnings.append("exemplar signal skipped: the dictionary has no reference means to compare against")
        else:
            ref = np.asarray(reference_mean, dtype=np.float64).ravel()
            if ref.shape != (n_concepts,):
                raise ValueError(f"reference_mean has shape {ref.shape}, expected ({n_concepts},)")
            texts = sorted({t for f in families for t in f.exemplars})
            rows = _dense_rows(exemplar_activations(texts), len(texts), n_concepts)
            by_text = dict(zip(texts, rows))
            for f in families:
                if f.exemplars:
                    activations[f.id] = np.stack([by_text[t] for t in f.exemplars])
    elif wants_exemplars:
        warnings.append("exemplar signal not computed: families are matched by their labels only")

    # Every family text and negation is embedded in one call.
    all_texts: list[str] = []
    polar: dict[str, list[tuple[str, str]]] = {}
    for f in families:
        all_texts += family_texts(f)
        pairs = []
        for text in [f.description, *f.synonyms]:
            neg = negate(text)
            if neg and neg != text:
                pairs.append((text, neg))
        polar[f.id] = pairs
        all_texts += [t for pair in pairs for t in pair]
    unique = sorted(set(all_texts))
    vectors = dict(zip(unique, emb.embed(unique)))

    # The background of a family's exemplars: the reference corpus (and, as an alternative, the
    # other families' exemplars, so that words all of a workflow's exemplars share do not count).
    eps = 1e-9
    backgrounds: dict[str, np.ndarray] = {}
    if ref is not None:
        positive = ref[ref > 0]
        eps = max(eps, 1e-3 * float(positive.mean())) if positive.size else 1e-6
        means = {fid: acts.mean(axis=0) for fid, acts in activations.items()}
        for fid in activations:
            others = [m for other, m in means.items() if other != fid]
            backgrounds[fid] = np.maximum(ref, np.max(others, axis=0)) if contrast_families and others else ref

    out: dict[str, FamilySignals] = {}
    for f in families:
        texts = np.stack([vectors[t] for t in family_texts(f)])
        sim = _mean_over_readings(reading_vectors, reading_has, lambda v: family_similarity(texts, v))
        sim = np.where(live, sim, 0.0)
        pairs = polar[f.id]
        margin = None
        if pairs:
            polar_vectors = np.stack([vectors[t] for t, _ in pairs])
            negated_vectors = np.stack([vectors[n] for _, n in pairs])
            margin = _mean_over_readings(reading_vectors, reading_has,
                                         lambda v: polarity_margin(polar_vectors, negated_vectors, v))
        specificity = active = bonus = None
        if f.id in activations:
            specificity, active, bonus = exemplar_evidence(
                activations[f.id], backgrounds[f.id], eps=eps, min_specificity=min_specificity)
        out[f.id] = FamilySignals(similarity=sim, margin=margin, negations=[n for _, n in pairs],
                                  specificity=specificity, active=active, bonus=bonus)
    return ProfileSignals(families=out, live=live, embedder=emb, warnings=warnings)


def _context_text(text: str) -> str:
    # top contexts mark the peak token as [token]; the embedder reads the plain text
    return str(text).replace("[", "").replace("]", "")


def concept_readings(emb: Embedder, labels: Sequence[str], concept_info: Sequence[Mapping[str, Any]] | None,
                     *, readings: Sequence[str] = DEFAULT_READINGS, cache_dir: str | os.PathLike | None = None,
                     progress: bool = False, shipped: str | os.PathLike | None = None) -> list[np.ndarray]:
    """Unit vectors describing each concept, one ``(C, dim)`` array per available reading:

    - ``label``: the label (:func:`~cg_gov.matching.label_text`);
    - ``contexts``: the mean embedding of the concept's top contexts (``examples`` in its info);
    - ``tokens``: its top tokens (``top_tokens``), joined by commas.

    Rows are zero where a concept lacks the reading; a reading no concept has is dropped.
    Embeddings are cached under ``cache_dir``; ``shipped`` is a folder of embeddings shipped with
    the dictionary (:attr:`ConceptDictionary.embeddings_dir`), read first when their hashes match.
    """
    unknown = sorted(set(readings) - set(READINGS))
    if unknown:
        raise ValueError(f"unknown readings {unknown}; known: {list(READINGS)}")
    info = list(concept_info) if concept_info is not None else [{} for _ in labels]
    if len(info) != len(labels):
        raise ValueError(f"concept_info has {len(info)} entries for {len(labels)} labels")
    out = []
    for reading in readings:
        if reading == "label":
            vec = emb.embed_labels([label_text(label) for label in labels], cache_dir=cache_dir, shipped=shipped)
        elif reading == "contexts":
            groups = [[_context_text(t) for t in (row.get("examples") or [])] if labels[i] else []
                      for i, row in enumerate(info)]
            if not any(groups):
                continue
            vec = emb.embed_contexts(groups, cache_dir=cache_dir, progress=progress, shipped=shipped)
        else:
            texts = [", ".join(str(t).strip() for t in (row.get("top_tokens") or [])[:5] if str(t).strip())
                     if labels[i] else "" for i, row in enumerate(info)]
            if not any(texts):
                continue
            vec = emb.embed_labels(texts, cache_dir=cache_dir, shipped=shipped)
        out.append(np.asarray(vec, dtype=np.float64))
    return out


def _mean_over_readings(vectors: list[np.ndarray], has: list[np.ndarray],
                        cosine: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per concept, the mean of ``cosine(reading)`` over the readings it has (``has``: its nonzero rows)."""
    total = np.zeros(vectors[0].shape[0]) if vectors else np.zeros(0)
    count = np.zeros_like(total)
    for vec, present in zip(vectors, has):
        total += np.where(present, cosine(vec), 0.0)
        count += present
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def family_score(signals: FamilySignals, exemplar_weight: float) -> np.ndarray:
    """The score the threshold applies to: similarity + exemplar_weight x bonus, ``(C,)``."""
    if signals.bonus is None:
        return signals.similarity
    return signals.similarity + float(exemplar_weight) * signals.bonus


_SOURCE_WORDS = {"profile": "from the profile", "dictionary": "calibrated for the dictionary",
                 "fallback": "default (no calibration for this dictionary)"}


def resolve_matching_defaults(settings: Any,
                              defaults: Mapping[str, Any] | None) -> tuple[float, float, dict[str, str]]:
    """(threshold, exemplar weight, source of each) for a profile's matching settings: each from the
    profile when it sets it ("profile"), else from the dictionary's calibration ("dictionary"), else
    the fallback ("fallback")."""
    defaults = defaults or {}
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for key, fallback in (("threshold", FALLBACK_THRESHOLD), ("exemplar_weight", FALLBACK_EXEMPLAR_WEIGHT)):
        own = getattr(settings, key, None)
        if own is not None:
            values[key], sources[key] = float(own), "profile"
        elif defaults.get(key) is not None:
            values[key], sources[key] = float(defaults[key]), "dictionary"
        else:
            values[key], sources[key] = fallback, "fallback"
    return values["threshold"], values["exemplar_weight"], sources


def _as_dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def detector_training_rows(family: Any, families: Sequence[Any], by_text: Mapping[str, np.ndarray],
                           n_concepts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a family's detector is fitted on: its exemplars' activation rows, its near misses' (its own
    counter-exemplars, then the other families' exemplars, none of them one of its exemplars) and the
    mask of the concepts the profile excludes for it."""
    own = list(dict.fromkeys(family.exemplars))
    contrast = [t for t in dict.fromkeys([*getattr(family, "counter_exemplars", []),
                                          *(t for g in families if g.id != family.id for t in g.exemplars)])
                if t not in set(own)]
    pos = np.stack([by_text[t] for t in own])
    con = np.stack([by_text[t] for t in contrast]) if contrast else np.zeros((0, n_concepts))
    excluded = np.zeros(n_concepts, dtype=bool)
    excluded[list(family.exclude)] = True
    return pos, con, excluded


def family_detectors(families: Sequence[Any], signals: ProfileSignals, exemplar_activations: ExemplarActivations,
                     reference: Any, n_concepts: int, settings: DetectorSettings = DetectorSettings(), *,
                     seed: int = 0, cache: bool = False, cache_dir: str | os.PathLike | None = None
                     ) -> dict[str, tuple[FamilyDetector, FamilyVisibility]]:
    """A fitted detector and its visibility for every family with exemplars.

    A family's contrast is its own counter-exemplars and the other families' exemplars (texts it
    shares with its own exemplars left out); its background also includes the reference windows.
    The similarity prior is the matcher's similarity of each concept to the family.
    With ``cache``, each family's fit and check are read from (or written to) the detector store
    under ``cache_dir/detectors`` (default: the cg_gov cache), keyed by their inputs' content
    (:mod:`cg_gov.matching._detector_cache`): the same inputs give the same result either way.
    """
    texts = sorted({t for f in families for t in [*f.exemplars, *getattr(f, "counter_exemplars", [])]})
    if not texts:
        return {}
    by_text = dict(zip(texts, _dense_rows(exemplar_activations(texts), len(texts), n_concepts)))
    ref = _as_dense(reference)
    if ref.ndim != 2 or ref.shape[1] != n_concepts:
        raise ValueError(f"reference has shape {ref.shape}, expected (R, {n_concepts})")
    out: dict[str, tuple[FamilyDetector, FamilyVisibility]] = {}
    store = DetectorStore(ref, cache_dir) if cache else None
    for f in families:
        if not f.exemplars:
            continue
        own = list(dict.fromkeys(f.exemplars))
        pos, con, excluded = detector_training_rows(f, families, by_text, n_concepts)
        sim = signals.families[f.id].similarity
        n_counter = sum(1 for t in dict.fromkeys(getattr(f, "counter_exemplars", [])) if t not in set(own))
        det, vis = fit_and_check(pos, con, ref, sim, settings, seed=seed, exclude=excluded, n_counter=n_counter,
                                 store=store)

        def r4(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        out[f.id] = (det, FamilyVisibility(
            auroc=r4(vis.auroc), ci=None if vis.ci is None else (round(vis.ci[0], 4), round(vis.ci[1], 4)),
            n_pos=vis.n_pos, n_neg=vis.n_neg, status=settings.status(vis),
            near_miss_auroc=r4(vis.near_miss_auroc),
            near_miss_ci=None if vis.near_miss_ci is None else (round(vis.near_miss_ci[0], 4),
                                                                round(vis.near_miss_ci[1], 4)),
            n_near_miss=vis.n_near_miss, n_counter=vis.n_counter,
            threshold=None if vis.threshold is None else float(vis.threshold),
            cv_recall=r4(vis.cv_recall), cv_near_miss_rate=r4(vis.cv_near_miss_rate)))
    return out


def _detector_match(f: Any, sig: FamilySignals, det: FamilyDetector, vis: FamilyVisibility, labels: list[str],
                    live: np.ndarray, margin_warning: float, threshold: float) -> FamilyMatch:
    """The FamilyMatch of a family whose concepts its detector chose (pinned concepts on top)."""
    weights = {c: float(det.weights[c]) for c in det.concepts}
    pinned = sorted(set(f.include))
    if pinned:
        top = max(weights.values(), default=1.0)
        for c in pinned:
            weights[c] = top
    total = sum(weights.values())
    margin = sig.margin
    out, warnings = [], []
    for c in sorted(weights, key=lambda c: (-weights[c], c)):
        src = "pinned" if c in pinned else "detector"
        m = None if margin is None or not live[c] else round(float(margin[c]), _ROUND)
        low = bool(m is not None and m < margin_warning and src != "pinned")
        out.append(ConceptMatch(
            concept_id=c, label=labels[c], source=src, similarity=round(float(sig.similarity[c]), _ROUND),
            margin=m, low_margin=low,
            specificity=None if sig.specificity is None else round(float(sig.specificity[c]), 4),
            exemplars_active=None if sig.active is None else int(sig.active[c]),
            effect=None if src == "pinned" else round(float(det.effect[c]), _ROUND),
            weight=round(weights[c] / total, _ROUND) if total > 0 else 0.0))
        if low:
            warnings.append(f"concept {c} ({labels[c]!r}) reads closer to the family's opposite: "
                            f"margin {m:+.3f} < {margin_warning}")
    if vis.status == "weak":
        auc = "not measurable" if vis.near_miss_auroc is None else f"{vis.near_miss_auroc:.2f}"
        warnings.append(f"the detector does not reliably tell the family's exemplars from its near misses "
                        f"(near-miss AUROC {auc}): its numbers may not describe the family")
    return FamilyMatch(family=f.id, threshold=threshold, top_k=len(det.concepts), concepts=out,
                       negations=sig.negations, exemplar_signal=True, warnings=warnings,
                       method="detector", visibility=vis)


def match_profile(profile: Any, labels: Sequence[str], *, embedder: Embedder | str | None = None,
                  exemplar_activations: ExemplarActivations | None = None,
                  reference_mean: np.ndarray | None = None,
                  cache_dir: str | os.PathLike | None = None,
                  min_specificity: float = DEFAULT_MIN_SPECIFICITY,
                  dictionary_identity: str | None = None,
                  defaults: Mapping[str, Any] | None = None,
                  concept_info: Sequence[Mapping[str, Any]] | None = None,
                  reference: Any = None, detector: DetectorSettings | None = None, seed: int = 0,
                  progress: bool = False, shipped: str | os.PathLike | None = None,
                  cache: bool = False) -> ProfileMatch:
    """Match every family of ``profile`` to concepts of a dictionary with these ``labels``.

    ``labels`` has one entry per concept ("" for dead or unlabelled ones, which
    the label signal never picks). ``embedder`` is an :class:`Embedder`, a
    model name or path, or None for the profile's ``matching.embedder``.
    ``exemplar_activations`` maps texts to an ``(n, C)`` array or sparse matrix
    of concept activations; with ``reference_mean`` (``(C,)``, the mean
    activation of each concept over the dictionary's reference corpus) it adds
    the exemplar signal. Label embeddings are cached under ``cache_dir``.
    ``concept_info`` (one mapping per concept, with ``examples`` and
    ``top_tokens``; :attr:`ConceptDictionary.label_info`) lets the matcher read
    a concept by its top contexts and tokens as well as its label.
    ``shipped``: the dictionary's shipped concept embeddings
    (:attr:`ConceptDictionary.embeddings_dir`), used where their hashes match.
    ``defaults`` are the dictionary's calibrated ``threshold`` and
    ``exemplar_weight`` (:attr:`ConceptDictionary.matching_defaults`), used where
    the profile leaves them unset.
    ``reference`` (``(R, C)``, the dictionary's per-window activations of its reference corpus) with
    ``exemplar_activations`` lets ``matching.method: detector`` fit a detector per family that has
    exemplars (:func:`family_detectors`); other families are matched by similarity.
    Raises :class:`~cg_gov.errors.SpecError` for an ``include``/``exclude`` id
    outside the dictionary.
    """
    settings = profile.matching
    threshold_default, weight_default, sources = resolve_matching_defaults(settings, defaults)
    calibration = "; ".join(f"{key} {_SOURCE_WORDS[src]}" for key, src in sources.items())
    measured: dict[str, Any] = {}
    # the measured figures hold for the calibrated settings only
    if set(sources.values()) == {"dictionary"} and settings.low_margin == "drop":
        measured = dict(((defaults or {}).get("measured") or {}).get("held_out_profiles") or {})
    labels = [str(label or "") for label in labels]
    n_concepts = len(labels)
    families = list(profile.families)
    for index, family in enumerate(families):
        _check_pins(profile, index, family, n_concepts)
    signals = profile_signals(profile, labels, embedder=embedder, exemplar_activations=exemplar_activations,
                              reference_mean=reference_mean, cache_dir=cache_dir,
                              min_specificity=min_specificity, concept_info=concept_info, progress=progress,
                              shipped=shipped)
    emb, live, warnings = signals.embedder, signals.live, list(signals.warnings)
    exemplar_weight = weight_default
    margin_warning = float(settings.margin_warning)
    drop_low = settings.low_margin == "drop"
    detected: dict[str, tuple[FamilyDetector, FamilyVisibility]] = {}
    if getattr(settings, "method", "similarity") == "detector":
        if exemplar_activations is None or reference is None:
            warnings.append("family detectors not fitted (no activation function or no reference corpus): "
                            "families are matched by similarity and their visibility cannot be told")
        else:
            detected = family_detectors(families, signals, exemplar_activations, reference, n_concepts,
                                        detector or DetectorSettings(), seed=seed, cache=cache,
                                        cache_dir=cache_dir)

    results = []
    for f in families:
        sig = signals.families[f.id]
        if f.id in detected:
            results.append(_detector_match(f, sig, *detected[f.id], labels, live, margin_warning,
                                           threshold_default))
            continue
        sim, margin, specificity, active = sig.similarity, sig.margin, sig.specificity, sig.active
        bonus = sig.bonus if sig.bonus is not None else np.zeros(n_concepts)
        threshold = float(f.threshold if f.threshold is not None else threshold_default)
        top_k = int(f.top_k if f.top_k is not None else settings.top_k)
        excluded = np.zeros(n_concepts, dtype=bool)
        excluded[list(f.exclude)] = True
        pinned = sorted(set(f.include))

        score = family_score(sig, exemplar_weight)
        ok = ~excluded & (score >= threshold) & (live | (bonus > 0))
        ok[pinned] = False
        low = np.zeros(n_concepts, dtype=bool)
        if margin is not None:
            low = live & (margin < margin_warning)
        raw: dict[int, float] = {}
        source: dict[int, str] = {}
        set_aside: list[int] = []
        for c in sorted(np.flatnonzero(ok).tolist(), key=lambda c: (-score[c], c)):
            if len(raw) >= top_k:
                break
            if drop_low and low[c]:
                set_aside.append(c)
                continue
            raw[c] = float(score[c])
        for c in [*raw, *set_aside]:
            if sim[c] >= threshold:
                source[c] = "both" if bonus[c] > 0 and exemplar_weight > 0 else "label"
            else:
                source[c] = "exemplar"

        chosen = dict(raw)
        for c in pinned:
            chosen[c] = 1.0
            source[c] = "pinned"
        total = sum(chosen.values())

        def concept(c: int, weight: float) -> ConceptMatch:
            m = None if margin is None or not live[c] else round(float(margin[c]), _ROUND)
            return ConceptMatch(
                concept_id=c, label=labels[c], source=source[c],
                similarity=round(float(sim[c]), _ROUND), margin=m,
                low_margin=bool(m is not None and m < margin_warning and source[c] != "pinned"),
                specificity=None if specificity is None else round(float(specificity[c]), 4),
                exemplars_active=None if active is None else int(active[c]),
                score=round(float(score[c]), _ROUND) if source[c] != "pinned" else None,
                weight=round(weight, _ROUND),
            )

        concepts = [concept(c, chosen[c] / total if total > 0 else 0.0)
                    for c in sorted(chosen, key=lambda c: (-chosen[c], c))]
        aside = [concept(c, 0.0) for c in set_aside]
        family_warnings = []
        for cm in concepts:
            if cm.low_margin:
                family_warnings.append(
                    f"concept {cm.concept_id} ({cm.label!r}) may mean the opposite of the family: "
                    f"margin {cm.margin:+.3f} < {margin_warning}")
        nearest = []
        if not concepts:
            below = live & ~excluded & (score < threshold)
            order = sorted(np.flatnonzero(below).tolist(), key=lambda c: (-score[c], c))[:_NEAREST]
            nearest = [NearMiss(concept_id=c, label=labels[c], similarity=round(float(sim[c]), _ROUND),
                                score=round(float(score[c]), _ROUND)) for c in order]
        unmeasured = None
        if getattr(settings, "method", "similarity") == "detector":
            unmeasured = FamilyVisibility(auroc=None, ci=None, n_pos=len(f.exemplars), n_neg=0,
                                          status="cannot-tell")
            family_warnings.append("no detector was fitted (it needs exemplars and the dictionary's reference "
                                   "corpus): concepts chosen by similarity alone, no operating point, visibility "
                                   "cannot be told")
        results.append(FamilyMatch(
            family=f.id, threshold=threshold, top_k=top_k, concepts=concepts,
            negations=sig.negations, exemplar_signal=sig.bonus is not None,
            nearest=nearest, set_aside=aside, warnings=family_warnings, visibility=unmeasured,
        ))

    return ProfileMatch(
        profile=str(getattr(profile, "profile", "profile")),
        profile_version=getattr(profile, "version", None),
        dictionary_identity=dictionary_identity,
        labels_sha256=labels_sha256(labels), n_concepts=n_concepts, embedder=emb.identity,
        threshold=threshold_default, calibration=calibration, top_k=int(settings.top_k),
        margin_warning=float(settings.margin_warning), min_specificity=float(min_specificity),
        exemplar_weight=exemplar_weight, low_margin="drop" if drop_low else "flag",
        expected_precision=measured.get("precision"), expected_recall=measured.get("recall"), families=results,
        warnings=warnings,
    )
