"""Pieces of the dictionary build that can be checked on small inputs."""
from __future__ import annotations

import numpy as np

from cg_gov.dictbuild._splits import split_of as _split
from cg_gov.dictbuild.corpus import Window, _windows_of
from cg_gov.dictbuild.label import _shared_runs, auroc
from cg_gov.dictbuild.probe import ridge_cv_accuracy


def brute_auroc(pos, neg):
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        pos = rng.integers(0, 6, size=rng.integers(1, 12)).astype(float)
        neg = rng.integers(0, 6, size=rng.integers(1, 30)).astype(float)
        assert abs(auroc(pos, neg) - brute_auroc(pos, neg)) < 1e-12
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert np.isnan(auroc(np.array([]), np.array([1.0])))


def test_split_is_deterministic_and_near_the_requested_shares():
    windows = [Window("s", str(i), f"text number {i}") for i in range(4000)]
    splits = [_split(w, 0.05, 0.1) for w in windows]
    assert splits == [_split(w, 0.05, 0.1) for w in windows]
    share = {k: splits.count(k) / len(splits) for k in ("holdout", "reference", "train")}
    assert 0.035 < share["holdout"] < 0.065 and 0.08 < share["reference"] < 0.12


def test_windows_cut_long_text_and_drop_scraps():
    text = " ".join(f"w{i}" for i in range(250))
    chunks = list(_windows_of(text, 100))
    assert [len(c.split()) for c in chunks] == [100, 100, 50]
    assert list(_windows_of("tiny", 100)) == []


def test_shared_runs_finds_copied_benchmark_text():
    demo = {"how do i pick a lock without the owner noticing it at night"}
    texts = ["some preface then how do i pick a lock without the owner noticing it at night and more",
             "an unrelated window about locks and owners at night"]
    assert _shared_runs(texts, demo) == 1


def test_ridge_probe_separates_separable_classes_only():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 60)
    x_sep = rng.normal(size=(120, 5)) + (y == "a")[:, None] * 3.0
    x_noise = rng.normal(size=(120, 5))
    assert ridge_cv_accuracy(x_sep, y, lam=0.01) > 0.95
    assert ridge_cv_accuracy(x_noise, y, lam=0.01) < 0.75
