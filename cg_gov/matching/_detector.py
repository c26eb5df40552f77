"""Family detectors: a sparse, non-negative weighting of the dictionary's concepts per family.

The matcher ranks concepts by how their descriptions read against a family's
text. A detector also asks the data: which concepts fire more on the family's
exemplars than on text that must not count (the family's counter-exemplars,
the other families' exemplars, and the dictionary's reference windows, all
rendered as audited items are). A concept's weight is its standardised
difference of means, scaled by a prior from its label similarity:

    effect_c = (mean_pos_c - background_c) / scale_c            (kept when > 0)
    background_c = max(mean over the contrast texts, mean over the reference windows)
    scale_c = root mean square of c's activation over all texts used
    w_c ~ effect_c * exp(prior_weight * z(similarity_c)) / scale_c   for the top_k concepts

where z is the similarity standardised over the live concepts. A concept must
fire on at least ``min_fired`` exemplars. The family's per-item score is
m_F(x) = sum_c w_c abar_c(x), weights summing to 1: the same form the matcher's
weights take, so coverage and performance read it unchanged.

:func:`visibility` measures whether the detector separates the family at all:
exemplars are held out in turn (k-fold), the detector is fitted on the rest
and scores the held-out exemplars against held-out contrast texts and
reference windows; the pooled AUROC with a bootstrap interval is the family's
visibility. It is computed on the profile's own text, so it says what the
dictionary can see of the family as its owner described it, not how well the
suite's items are detected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CrossValidatedScores", "DetectorSettings", "FamilyDetector", "Visibility", "auroc", "auroc_interval",
           "cross_validated_scores", "fit_family_detector", "membership_cut", "operating_point", "visibility"]


@dataclass(frozen=True)
class DetectorSettings:
    """How a family detector is fitted.

    The defaults were chosen on the choosing half of the family-detection benchmark
    (``benchmarks/family_detection.py``: 10 families of real labelled items, a grid over top_k
    8-64, prior_weight 0-2, background, min_fired); the reporting half was not looked at.
    """

    top_k: int = 32
    """Concepts kept per family."""
    prior_weight: float = 1.0
    """Strength of the label-similarity prior (0: the data alone)."""
    min_fired: int = 2
    """A concept must fire on at least this many exemplars (fewer when there are fewer exemplars)."""
    background: str = "max"
    """``max``: the larger of the contrast mean and the reference mean; ``contrast``: the contrast
    texts alone; ``reference``: the reference windows alone."""
    folds: int = 5
    """Folds of the visibility cross-validation (at most the number of exemplars)."""
    reference_holdout: int = 200
    """Reference windows held out of fitting to serve as negatives in the visibility check."""
    resamples: int = 1000
    """Bootstrap resamples of the visibility interval."""
    verified_at: float = 0.75
    """With the owner's labels, visibility is ``confirmed`` when the lower end of the interval of the
    detector's AUROC on the labelled suite items reaches this."""
    min_precision: float = 0.5
    """With the owner's labels, ``confirmed`` also needs the lower end of the Wilson interval of the
    precision among labelled detected items to reach this (most counted items are the family's)."""
    weak_at: float = 0.6
    """Without the owner's labels, visibility is ``weak`` when the near-miss AUROC falls below this."""
    max_near_miss_rate: float = 0.1
    """The operating point: the lowest cut at which at most this share of the near misses (held-out
    counter-exemplars and other families' exemplars) would be detected as the family. 0.1 was chosen
    on the choosing half of ``benchmarks/membership_rules.py`` (median F1 of the counted items, with no
    loss of median precision against the earlier 0.05; 0.05: F1 0.11, precision 0.26, recall 0.08;
    0.1: 0.26, 0.27, 0.29; results in ``benchmarks/results/family_items.md``)."""
    min_counter_exemplars: int = 8
    """Fewer counter-exemplars than this: the near-miss check cannot tell (status ``cannot-tell``)."""
    max_reference_rate: float | None = None
    """The operating point also keeps at most this share of the held-out reference windows (a broad,
    generic negative pool) above the cut (None: no such bound). See :func:`membership_cut`. Measured
    at 0.02, 0.01 and 0.005: no gain on the choosing half, so off by default."""
    min_cv_recall: float | None = None
    """Recall floor: where the near-miss cut would leave fewer than this share of the held-out
    exemplars above it, the cut is lowered until this share is above it (never below the reference
    bound). None: no floor. See :func:`membership_cut`. Measured at 0.5 and 0.7: recall up, median
    precision down on the choosing half (0.17-0.20 against 0.26), so off by default."""

    def status(self, vis: "Visibility") -> str:
        """Visibility before the owner's labels: ``cannot-tell`` (fewer than
        :attr:`min_counter_exemplars` counter-exemplars, or nothing measurable), ``weak`` (near-miss
        AUROC below :attr:`weak_at`), else ``unconfirmed``; confirmation needs labelled suite items."""
        if (vis.n_counter < self.min_counter_exemplars or vis.near_miss_auroc is None
                or not np.isfinite(vis.near_miss_auroc)):
            return "cannot-tell"
        return "weak" if vis.near_miss_auroc < self.weak_at else "unconfirmed"


@dataclass(frozen=True)
class FamilyDetector:
    """The fitted weighting: ``weights`` (C,) non-negative, summing to 1 (all zero when nothing fits)."""

    weights: np.ndarray
    effect: np.ndarray
    concepts: list[int] = field(default_factory=list)

    def score(self, abar: Any) -> np.ndarray:
        """m_F(x) for every row of ``abar`` ((n, C) dense or sparse)."""
        return np.asarray(abar @ self.weights, dtype=np.float64).ravel()


@dataclass(frozen=True)
class Visibility:
    """The cross-validated check of a family's detector on the profile's own texts."""

    auroc: float | None
    """Held-out exemplars against held-out near misses and held-out reference windows."""
    ci: tuple[float, float] | None
    n_pos: int
    n_neg: int
    near_miss_auroc: float | None = None
    """Held-out exemplars against held-out near misses only (counter-exemplars, other families' exemplars)."""
    near_miss_ci: tuple[float, float] | None = None
    n_near_miss: int = 0
    n_counter: int = 0
    """The family's own counter-exemplars among the near misses."""
    threshold: float | None = None
    """The operating point (:func:`operating_point` on the cross-validated scores): an item is detected
    as the family when its score m_F(x) is above it."""
    cv_recall: float | None = None
    """Share of held-out exemplars above the operating point."""
    cv_near_miss_rate: float | None = None
    """Share of held-out near misses above the operating point."""


def operating_point(pos_scores: np.ndarray, near_miss_scores: np.ndarray, max_rate: float) -> float | None:
    """The detection cut of a family: an item is detected when its score is above the cut.

    The cut is the lowest value at which at most ``max_rate`` of the near misses score above it
    (the k-th highest near-miss score, k = floor(max_rate x n) + 1), and never below 0, so an item
    on which none of the family's concepts fires is never detected. None without near misses or
    positives: no operating point can be chosen.
    """
    pos = np.asarray(pos_scores, dtype=np.float64)
    neg = np.sort(np.asarray(near_miss_scores, dtype=np.float64))[::-1]
    if not len(pos) or not len(neg):
        return None
    k = int(np.floor(max_rate * len(neg)))
    cut = float(neg[k]) if k < len(neg) else 0.0
    return max(cut, 0.0)


def membership_cut(pos_scores: np.ndarray, near_miss_scores: np.ndarray, reference_scores: np.ndarray | None,
                   settings: "DetectorSettings") -> float | None:
    """The detection cut of a family under ``settings`` (cross-validated scores of its held-out
    exemplars, near misses and reference windows): the near-miss cut of :func:`operating_point`
    (at most ``max_near_miss_rate`` of the near misses above it); with ``min_cv_recall``, lowered
    where needed so that at least that share of the exemplars is above it; with
    ``max_reference_rate``, raised where needed so that at most that share of the reference windows
    is above it (this bound wins over the recall floor). None where :func:`operating_point` is None.
    """
    pos = np.asarray(pos_scores, dtype=np.float64)
    cut = operating_point(pos, near_miss_scores, settings.max_near_miss_rate)
    if cut is None:
        return None
    if settings.min_cv_recall is not None and len(pos):
        ranked = np.sort(pos)[::-1]
        need = min(len(ranked), max(1, int(np.ceil(settings.min_cv_recall * len(ranked) - 1e-9))))
        # the highest score below the need-th highest exemplar: at least ``need`` exemplars are above it
        below = ranked[ranked < ranked[need - 1]]
        floor = float(below[0]) if len(below) else 0.0
        cut = min(cut, max(floor, 0.0))
    ref = np.asarray(reference_scores if reference_scores is not None else [], dtype=np.float64)
    if settings.max_reference_rate is not None and len(ref):
        cut = max(cut, operating_point(pos, ref, settings.max_reference_rate) or 0.0)
    return float(cut)


@dataclass(frozen=True)
class CrossValidatedScores:
    """Scores of held-out texts under detectors fitted without them (:func:`cross_validated_scores`)."""

    positives: np.ndarray
    """Each exemplar's score under the detector of the fold that held it out."""
    near_misses: np.ndarray
    """Each near miss's (counter-exemplars, other families' exemplars) likewise."""
    reference: np.ndarray
    """Each held-out reference window's score, averaged over the folds' detectors."""


def _dense(x: Any) -> np.ndarray:
    if x is None:
        return np.zeros((0, 0))
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.asarray(x, dtype=np.float64)


def _zscore(sim: np.ndarray) -> np.ndarray:
    live = sim != 0
    if live.sum() < 2:
        return np.zeros_like(sim)
    mu, sd = sim[live].mean(), sim[live].std()
    z = np.where(live, (sim - mu) / (sd if sd > 0 else 1.0), -3.0)
    return np.clip(z, -3.0, 3.0)


def fit_family_detector(positives: Any, contrast: Any, reference: Any, similarity: np.ndarray | None = None,
                        settings: DetectorSettings = DetectorSettings(),
                        exclude: np.ndarray | None = None) -> FamilyDetector:
    """Fit one family's detector.

    ``positives`` (n_p, C): activations of the family's exemplars; ``contrast`` (n_c, C): its
    counter-exemplars and the other families' exemplars; ``reference`` (n_r, C): reference windows
    (any of the last two may have no rows). ``similarity`` (C,): the matcher's similarity of each
    concept to the family (the prior); ``exclude``: a boolean mask of concepts never chosen.
    """
    pos = _dense(positives)
    n_concepts = pos.shape[1]
    con = _dense(contrast) if contrast is not None and np.shape(contrast)[0] else np.zeros((0, n_concepts))
    ref = _dense(reference) if reference is not None and np.shape(reference)[0] else np.zeros((0, n_concepts))
    mean_pos = pos.mean(axis=0)
    mean_con = con.mean(axis=0) if len(con) else np.zeros(n_concepts)
    mean_ref = ref.mean(axis=0) if len(ref) else np.zeros(n_concepts)
    if settings.background == "contrast":
        background = mean_con
    elif settings.background == "reference":
        background = mean_ref
    else:
        background = np.maximum(mean_con, mean_ref)
    pooled = [a for a in (pos, con, ref) if len(a)]
    sq = sum((a ** 2).sum(axis=0) for a in pooled) / sum(len(a) for a in pooled)
    scale = np.sqrt(sq)
    scale = np.where(scale > 0, scale, np.inf)
    effect = (mean_pos - background) / scale
    need = min(settings.min_fired, max(1, pos.shape[0] - 1))
    fired = (pos > 0).sum(axis=0)
    effect = np.where((effect > 0) & (fired >= need), effect, 0.0)
    if exclude is not None:
        effect = np.where(exclude, 0.0, effect)
    prior = np.ones(n_concepts)
    if similarity is not None and settings.prior_weight:
        prior = np.exp(settings.prior_weight * _zscore(np.asarray(similarity, dtype=np.float64)))
    strength = effect * prior
    order = np.lexsort((np.arange(n_concepts), -strength))
    keep = [int(c) for c in order[: settings.top_k] if strength[c] > 0]
    weights = np.zeros(n_concepts)
    if keep:
        raw = strength[keep] / scale[keep]
        weights[keep] = raw / raw.sum()
    return FamilyDetector(weights=weights, effect=effect, concepts=sorted(keep, key=lambda c: -weights[c]))


def auroc(pos_scores: np.ndarray, neg_scores: np.ndarray) -> float | None:
    """Probability that a positive outscores a negative (ties count half); None without both."""
    pos = np.asarray(pos_scores, dtype=np.float64)
    neg = np.asarray(neg_scores, dtype=np.float64)
    if not len(pos) or not len(neg):
        return None
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def auroc_interval(pos_scores: np.ndarray, neg_scores: np.ndarray, *, resamples: int = 1000,
                   seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of :func:`auroc`, positives and negatives resampled separately."""
    pos = np.asarray(pos_scores, dtype=np.float64)
    neg = np.asarray(neg_scores, dtype=np.float64)
    if len(pos) < 2 or len(neg) < 2:
        return None
    rng = np.random.default_rng(seed)
    # Pairwise comparison matrix once; each resample reweights rows and columns by counts.
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    values = np.empty(resamples)
    for b in range(resamples):
        cp = np.bincount(rng.integers(0, len(pos), len(pos)), minlength=len(pos))
        cn = np.bincount(rng.integers(0, len(neg), len(neg)), minlength=len(neg))
        values[b] = cp @ wins @ cn / (len(pos) * len(neg))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def visibility(positives: Any, contrast: Any, reference: Any, similarity: np.ndarray | None = None,
               settings: DetectorSettings = DetectorSettings(), *, seed: int = 0,
               exclude: np.ndarray | None = None, n_counter: int = 0) -> Visibility:
    """Cross-validated AUROC of the family's detector on its own exemplars (see the module doc), the
    same against near misses only, and the operating point chosen on those cross-validated scores.
    ``n_counter``: how many of the ``contrast`` rows are the family's own counter-exemplars."""
    pos = _dense(positives)
    n_pos = pos.shape[0]
    n_concepts = pos.shape[1] if pos.ndim == 2 else 0
    con = _dense(contrast) if contrast is not None and np.shape(contrast)[0] else np.zeros((0, n_concepts))
    ref = _dense(reference) if reference is not None and np.shape(reference)[0] else np.zeros((0, n_concepts))
    cv = cross_validated_scores(pos, con, ref, similarity, settings, seed=seed, exclude=exclude)
    n_neg_total = len(con) + min(settings.reference_holdout, len(ref) // 2)
    if cv is None:
        return Visibility(auroc=None, ci=None, n_pos=n_pos, n_neg=n_neg_total, n_near_miss=len(con),
                          n_counter=n_counter)
    pos_scores, con_scores, ref_scores = cv.positives, cv.near_misses, cv.reference
    neg_scores = np.concatenate([con_scores, ref_scores])
    value = auroc(pos_scores, neg_scores)
    ci = auroc_interval(pos_scores, neg_scores, resamples=settings.resamples, seed=seed)
    cut = membership_cut(pos_scores, con_scores, ref_scores, settings)
    return Visibility(
        auroc=value, ci=ci, n_pos=n_pos, n_neg=len(neg_scores),
        near_miss_auroc=auroc(pos_scores, con_scores),
        near_miss_ci=auroc_interval(pos_scores, con_scores, resamples=settings.resamples, seed=seed),
        n_near_miss=len(con), n_counter=n_counter, threshold=cut,
        cv_recall=None if cut is None else float((pos_scores > cut).mean()),
        cv_near_miss_rate=None if cut is None or not len(con) else float((con_scores > cut).mean()))


def cross_validated_scores(positives: Any, contrast: Any, reference: Any, similarity: np.ndarray | None = None,
                           settings: DetectorSettings = DetectorSettings(), *, seed: int = 0,
                           exclude: np.ndarray | None = None) -> CrossValidatedScores | None:
    """The k-fold scores :func:`visibility` is computed from: exemplars and near misses held out in
    turn, ``settings.reference_holdout`` reference windows held out of every fit. None with fewer than
    2 exemplars or fewer than 2 negatives."""
    pos = _dense(positives)
    n_pos = pos.shape[0]
    n_concepts = pos.shape[1] if pos.ndim == 2 else 0
    con = _dense(contrast) if contrast is not None and np.shape(contrast)[0] else np.zeros((0, n_concepts))
    ref = _dense(reference) if reference is not None and np.shape(reference)[0] else np.zeros((0, n_concepts))
    rng = np.random.default_rng(seed)
    ref_order = rng.permutation(len(ref))
    held_ref = ref[np.sort(ref_order[: min(settings.reference_holdout, len(ref) // 2)])]
    fit_ref = ref[np.sort(ref_order[min(settings.reference_holdout, len(ref) // 2):])]
    n_neg_total = len(con) + len(held_ref)
    if n_pos < 2 or n_neg_total < 2:
        return None
    folds = max(2, min(settings.folds, n_pos))
    pos_fold = rng.permutation(n_pos) % folds
    con_fold = rng.permutation(len(con)) % folds if len(con) else np.zeros(0, dtype=int)
    pos_scores = np.empty(n_pos)
    con_scores = np.empty(len(con))
    ref_scores = np.zeros(len(held_ref))
    for k in range(folds):
        det = fit_family_detector(pos[pos_fold != k], con[con_fold != k], fit_ref, similarity, settings,
                                  exclude=exclude)
        pos_scores[pos_fold == k] = det.score(pos[pos_fold == k])
        if len(con):
            con_scores[con_fold == k] = det.score(con[con_fold == k])
        ref_scores += det.score(held_ref) / folds
    return CrossValidatedScores(positives=pos_scores, near_misses=con_scores, reference=ref_scores)
