"""Family items and their confirmation against loop-by-loop readings of the modules' docstrings
(``cg_gov/scoring/_family_items.py``, ``cg_gov/scoring/_membership.py``, ``shared/method.md``
"Family items"): every figure, intervals and p-values included, on small suites with unscored items,
a constant benchmark, a benchmark without scores, restricted evidence and non-default alpha and seed.
The resamples follow the documented scheme (items drawn with replacement within each benchmark, one
seeded stream), so both implementations see the same draws. Fast, numpy only.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from cg_gov.scoring import confirm_membership, score_family_items, wilson_interval
from cg_gov.scoring._membership import STRATA, near_size, strata


# --- the Wilson interval ---------------------------------------------------------------------------

@pytest.mark.parametrize("x, n, alpha, want", [
    (5, 20, 0.05, (0.1119, 0.4687)),   # textbook values (Newcombe 1998, table I style)
    (0, 20, 0.05, (0.0, 0.1611)),
    (20, 20, 0.05, (0.8389, 1.0)),
    (15, 148, 0.05, (0.0624, 0.1605)),
])
def test_wilson_interval_known_values(x, n, alpha, want):
    lo, hi = wilson_interval(x, n, alpha)
    assert (lo, hi) == pytest.approx(want, abs=1e-4)


def test_wilson_interval_formula_and_edges():
    for x, n, alpha in ((3, 7, 0.05), (1, 1, 0.2), (12.5, 40, 0.01)):
        z = norm.ppf(1 - alpha / 2)
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert wilson_interval(x, n, alpha) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)),
                                                             abs=1e-14)
    assert wilson_interval(3, 7) == wilson_interval(3, 7, 0.05)  # 95% by default
    for n in (0, 0.0, -1, math.nan):
        assert wilson_interval(0, n) is None
    # an interval of a proportion stays within [0, 1] where rounding would push it out (16 of 16: 1 + 2e-16)
    for n in (16, 40, 46):
        assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0
    narrow, wide = wilson_interval(5, 20, 0.2), wilson_interval(5, 20, 0.01)
    assert wide[0] < narrow[0] < 0.25 < narrow[1] < wide[1]


# --- score_family_items against a loop reading -----------------------------------------------------

def _bh(p):
    q = [math.nan] * len(p)
    fin = sorted((v, i) for i, v in enumerate(p) if math.isfinite(v))
    m = len(fin)
    run = math.inf
    for rank in range(m, 0, -1):
        v, i = fin[rank - 1]
        run = min(run, v * m / rank)
        q[i] = min(run, 1.0)
    return q


def _reference_family_items(member, scores, bench, families, evidence, n_bootstrap, alpha, seed):
    n = len(scores)
    names = list(dict.fromkeys(bench))
    scored = [math.isfinite(s) for s in scores]
    in_b = {b: [i for i in range(n) if bench[i] == b] for b in names}
    constant = {}
    for b in names:
        vals = [scores[i] for i in in_b[b] if scored[i]]
        if len(vals) >= 2 and all(v == vals[0] for v in vals):
            constant[b] = vals[0]
    bmean = {b: (sum(scores[i] for i in in_b[b] if scored[i]) / max(1, sum(scored[i] for i in in_b[b])))
             for b in names}
    # the resamples: per benchmark, n_b draws of its items with replacement, one stream
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    draws = {b: rng.integers(0, len(in_b[b]), size=(n_bootstrap, len(in_b[b]))) for b in names} \
        if n_bootstrap > 0 and len(families) else {}
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for j, fam in enumerate(families):
        allowed = evidence.get(fam)
        keep = [b for b in names if (allowed is None or b in allowed) and any(scored[i] for i in in_b[b])]
        ev = [i for i in range(n) if member[i][j] and bench[i] in keep and scored[i]]
        ev_lift = [i for i in ev if bench[i] not in constant]
        score = sum(scores[i] for i in ev) / len(ev) if ev else None
        lift = sum(scores[i] - bmean[bench[i]] for i in ev_lift) / len(ev_lift) if ev_lift else None
        perf_s, lift_s = [], []
        for r in range(n_bootstrap if draws else 0):
            items = [in_b[b][k] for b in names for k in draws[b][r]]
            ev_r = [i for i in items if i in ev]
            if ev_r:
                perf_s.append(sum(scores[i] for i in ev_r) / len(ev_r))
            means = {}
            for b in names:
                sc = [scores[in_b[b][k]] for k in draws[b][r] if scored[in_b[b][k]]]
                means[b] = sum(sc) / len(sc) if sc else 0.0
            lift_r = [i for i in items if i in ev_lift]
            if lift_r:
                lift_s.append(sum(scores[i] - means[bench[i]] for i in lift_r) / len(lift_r))
        score_ci = tuple(np.quantile(perf_s, [alpha / 2, 1 - alpha / 2])) if ev and perf_s else None
        lift_ci = lift_p = None
        if ev_lift and len(lift_s) >= 2:
            se = float(np.std(lift_s, ddof=1))
            lift_ci = (lift - z * se, lift + z * se)
            lift_p = 2 * norm.sf(abs(lift) / se) if se > 0 else (0.0 if lift != 0 else 1.0)
        detected = sum(member[i][j] for i in range(n))
        rows.append({
            "family": fam, "detected": detected, "share": detected / n,
            "share_ci": wilson_interval(detected, n, alpha),
            "by_benchmark": {b: sum(member[i][j] for i in in_b[b]) for b in names},
            "evidence_benchmarks": keep, "n_scored": len(ev), "score": score, "score_ci": score_ci,
            "lift": lift, "lift_ci": lift_ci, "lift_p": lift_p,
            "constant_benchmarks": {b: v for b, v in constant.items()
                                    if b in keep and any(member[i][j] for i in in_b[b])},
            "items": [i for i in range(n) if member[i][j]]})
    qs = _bh([r["lift_p"] if r["lift_p"] is not None else math.nan for r in rows])
    for r, q in zip(rows, qs):
        r["lift_q"] = None if math.isnan(q) else q
    return rows


def _suite(seed):
    """76 items in 7 benchmarks: 'a' and 'b' graded 0/1 with unscored items, 'c' constant (all 1),
    'd' never scored, 'e' scores in [0, 1], 'f' two equal scores (constant with the fewest items),
    'g' one scored item and one unscored; 5 families: two random ones ('broad' also holds g's scored
    item), one only on the constant benchmark, one with no item, one with a single item."""
    rng = np.random.default_rng(seed)
    bench = np.array(["a"] * 20 + ["b"] * 18 + ["c"] * 12 + ["d"] * 6 + ["e"] * 16 + ["f"] * 2 + ["g"] * 2)
    scores = np.r_[rng.integers(0, 2, 20), rng.integers(0, 2, 18), np.ones(12), np.full(6, np.nan),
                   np.round(rng.random(16), 2), [0.0, 0.0], [0.7, np.nan]].astype(float)
    scores[[2, 7, 25]] = np.nan  # unscored items of graded benchmarks
    member = np.zeros((76, 5), dtype=bool)
    member[rng.choice(72, 30, replace=False), 0] = True
    member[[72, 74], 0] = True
    member[rng.choice(72, 12, replace=False), 1] = True
    member[38:50, 2] = True  # only the constant benchmark
    member[57, 4] = True  # one item of e
    return member, scores, bench


FAMILIES = ["broad", "narrow", "constant-only", "empty", "single"]


@pytest.mark.parametrize("evidence, n_bootstrap, alpha, seed", [
    ({}, 60, 0.05, 0),
    ({"broad": ["a", "c", "d", "f"], "narrow": ["e", "b"], "constant-only": ["c"], "empty": None}, 45, 0.1, 3),
    ({"broad": [], "narrow": ["zzz"]}, 30, 0.2, 9),
    ({}, 0, 0.05, 0),   # no bootstrap: point estimates only
    ({}, 1, 0.05, 1),   # one resample: a score interval, no standard error
    ({}, 2, 0.05, 4),   # two resamples: the fewest with a standard error
], ids=["every-benchmark", "restricted", "nothing-measures", "no-bootstrap", "one-resample", "two-resamples"])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no 0/0 warning for a family without items
def test_family_items_match_a_loop_reading(evidence, n_bootstrap, alpha, seed):
    member, scores, bench = _suite(seed)
    got = score_family_items(member, scores, bench, FAMILIES, evidence, n_bootstrap=n_bootstrap, alpha=alpha,
                             seed=seed)
    want = _reference_family_items(member.tolist(), scores.tolist(), bench.tolist(), FAMILIES, evidence,
                                   n_bootstrap, alpha, seed)
    assert [r.family for r in got] == FAMILIES
    for g, w in zip(got, want):
        for name, value in w.items():
            have = getattr(g, name)
            if value is None:
                assert have is None, (g.family, name)
            elif isinstance(value, (float, tuple)):
                assert have is not None and tuple(np.atleast_1d(have)) == \
                    pytest.approx(tuple(np.atleast_1d(value)), abs=1e-12), (g.family, name)
            else:
                assert have == value, (g.family, name)
        assert all(type(x) is float for x in (g.score, g.lift, g.lift_p, g.lift_q) if x is not None)


def test_the_seed_moves_the_intervals_and_not_the_estimates():
    member, scores, bench = _suite(5)
    a, b = (score_family_items(member, scores, bench, FAMILIES, {}, n_bootstrap=80, seed=s) for s in (0, 1))
    assert [r.score for r in a] == [r.score for r in b] and [r.lift for r in a] == [r.lift for r in b]
    assert [r.score_ci for r in a] != [r.score_ci for r in b]
    default = score_family_items(member, scores, bench, FAMILIES, {}, n_bootstrap=80)
    assert default == a  # seed 0 and alpha 0.05 by default
    assert default == score_family_items(member, scores, bench, FAMILIES, {}, n_bootstrap=80, alpha=0.05)


def test_defaults_inputs_and_an_empty_suite():
    member, scores, bench = _suite(6)
    default = score_family_items(member, scores, bench, FAMILIES, {})
    assert default == score_family_items(member, scores, bench, FAMILIES, {}, n_bootstrap=1000, alpha=0.05, seed=0)
    assert [r.score_ci for r in default] != \
        [r.score_ci for r in score_family_items(member, scores, bench, FAMILIES, {}, n_bootstrap=1001)]
    # a 0/1 float membership matrix and float32 scores read as the bool matrix and the float64 values
    narrow = scores.astype(np.float32)
    assert score_family_items(member.astype(float), narrow, list(bench), FAMILIES, {}, n_bootstrap=50) == \
        score_family_items(member, narrow.astype(np.float64), bench, FAMILIES, {}, n_bootstrap=50)
    empty = score_family_items(np.zeros((0, 2), dtype=bool), np.zeros(0), [], ["f", "g"], {}, n_bootstrap=20)
    assert [(r.detected, r.share, r.share_ci, r.score, r.lift) for r in empty] == [(0, 0.0, None, None, None)] * 2


@pytest.mark.parametrize("seed", [16, 20])
def test_a_lift_with_no_spread_has_p_0_or_1(seed):
    """SE 0 (every resample gives the same lift): p = 0 for a non-zero lift, 1 for a zero one. With
    two items and two resamples, these seeds draw each item once in both resamples."""
    bench = ["a", "a"]
    scores = np.array([1.0, 0.0])
    member = np.array([[True, True], [False, True]])  # the 1 alone; both items
    one, both = score_family_items(member, scores, bench, ["one", "both"], {}, n_bootstrap=2, seed=seed)
    assert one.lift == 0.5 and one.lift_ci == (0.5, 0.5) and one.lift_p == 0.0 and one.lift_q == 0.0
    assert both.lift == 0.0 and both.lift_ci == (0.0, 0.0) and both.lift_p == 1.0 and both.lift_q == 1.0


def test_only_constant_benchmarks_give_a_score_and_no_lift():
    bench = np.array(["a"] * 10 + ["b"] * 10)
    flat = np.r_[np.zeros(10), np.ones(10)]
    member = np.zeros((20, 1), dtype=bool)
    member[[0, 1, 2, 15], 0] = True
    (row,) = score_family_items(member, flat, bench, ["f"], {}, n_bootstrap=50)
    assert row.score == pytest.approx(0.25) and row.score_ci is not None
    assert row.lift is None and row.lift_ci is None and row.lift_p is None and row.lift_q is None
    assert row.constant_benchmarks == {"a": 0.0, "b": 1.0}


def test_member_of_the_wrong_shape_is_refused():
    member, scores, bench = _suite(0)
    with pytest.raises(ValueError, match=r"member has shape \(76, 3\), expected \(76, 5\)"):
        score_family_items(member[:, :3], scores, bench, FAMILIES, {})


# --- strata and confirm_membership against a loop reading -----------------------------------------

@pytest.mark.parametrize("n_undetected, want", [(0, 0), (5, 5), (20, 20), (21, 20), (400, 20), (401, 21),
                                               (1000, 50)])
def test_near_size(n_undetected, want):
    # 5% of the undetected items, at least 20 (all if fewer)
    assert near_size(n_undetected) == want


def _reference_strata(scores, cut):
    n = len(scores)
    out = ["detected" if s > cut else "rest" for s in scores]
    und = [i for i in range(n) if out[i] == "rest"]
    cand = sorted((i for i in und if scores[i] > 0), key=lambda i: (-scores[i], i))
    for i in cand[: near_size(len(und))]:
        out[i] = "near"
    return out


def test_strata_match_a_loop_reading_with_ties_and_the_cut_on_an_item():
    rng = np.random.default_rng(4)
    scores = np.round(rng.random(300) * 0.6, 2)
    scores[rng.random(300) < 0.3] = 0.0
    for cut in (0.5, float(scores[0]), 0.0, 0.6):
        assert strata(scores, cut).tolist() == _reference_strata(scores.tolist(), cut)
    st = strata(np.array([0.3, 0.5, 0.2]), 0.3)  # an item exactly at the cut is not detected
    assert st.tolist() == ["near", "detected", "near"]


def test_strata_read_float32_scores_as_their_values():
    """A float32 score equal to the cut is not above it (float32(0.3) is 0.30000001 > 0.3 as a value)."""
    scores = np.array([0.3, 0.5, 0.2, 0.0], dtype=np.float32)
    assert strata(scores, 0.3).tolist() == strata(scores.astype(np.float64), 0.3).tolist() == \
        ["detected", "detected", "near", "rest"]


def _w_auroc(s, y, w):
    pos = [i for i in range(len(y)) if y[i]]
    neg = [i for i in range(len(y)) if not y[i]]
    if not pos or not neg:
        return None
    num = sum(w[i] * w[j] * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0) for i in pos for j in neg)
    return num / (sum(w[i] for i in pos) * sum(w[j] for j in neg))


def _reference_confirm(scores, cut, labels, alpha, resamples, seed):
    st = _reference_strata(list(scores), cut)
    idx = sorted(labels)
    y = [bool(labels[i]) for i in idx]
    z = norm.ppf(1 - alpha / 2)
    out = {"n_labelled": len(idx), "n_yes": sum(y), "by_stratum": {}}
    est = var = und_est = und_var = 0.0
    und_size = 0
    complete = True
    weight = {}
    parts = {}
    for h in STRATA:
        size = st.count(h)
        lab = [k for k, i in enumerate(idx) if st[i] == h]
        n_h, y_h = len(lab), sum(y[k] for k in lab)
        out["by_stratum"][h] = {"size": size, "labelled": n_h, "yes": y_h}
        if size == 0:
            continue
        if n_h == 0:
            complete = False
            continue
        for k in lab:
            weight[k] = size / n_h
        p = y_h / n_h
        shrunk = (y_h + 1) / (n_h + 2)
        fpc = (size - n_h) / (size - 1) if size > 1 else 0.0
        v = size ** 2 * shrunk * (1 - shrunk) / n_h * fpc
        parts[h] = (v, n_h, size)
        est += size * p
        var += v
        if h != "detected":
            und_est, und_var, und_size = und_est + size * p, und_var + v, und_size + size
    if complete and idx:
        lo = max(sum(y), est - z * math.sqrt(var))
        hi = min(len(scores) - (len(y) - sum(y)), est + z * math.sqrt(var))
        out["estimated"], out["estimated_ci"] = est, (lo, max(lo, hi))
    else:
        out["estimated"] = out["estimated_ci"] = None
    det = out["by_stratum"]["detected"]
    out["precision"] = det["yes"] / det["labelled"] if det["labelled"] else None
    out["precision_ci"] = wilson_interval(det["yes"], det["labelled"], alpha) if det["labelled"] else None
    bs = out["by_stratum"]
    if und_size and bs["near"]["labelled"] + bs["rest"]["labelled"] and \
            all(bs[h]["labelled"] or not bs[h]["size"] for h in ("near", "rest")):
        e = und_est / und_size
        half = z * math.sqrt(und_var) / und_size
        out["elusion"], out["elusion_ci"] = e, (max(0.0, e - half), min(1.0, e + half))
    else:
        out["elusion"] = out["elusion_ci"] = None
    s = [scores[i] for i in idx]
    w = [weight.get(k, 0.0) for k in range(len(idx))]
    out["auroc"] = _w_auroc(s, y, w) if idx else None
    out["auroc_ci"] = None
    if out["auroc"] is not None and resamples > 0:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
        groups = [[k for k, i in enumerate(idx) if st[i] == h] for h in STRATA]
        values = []
        for _ in range(resamples):
            pick = [g[d] for g in groups if g for d in rng.integers(0, len(g), len(g))]
            v = _w_auroc([s[k] for k in pick], [y[k] for k in pick], [w[k] for k in pick])
            if v is not None:
                values.append(v)
        if len(values) >= 2:
            out["auroc_ci"] = tuple(np.quantile(values, [alpha / 2, 1 - alpha / 2]))
    unlabelled = [h for h in STRATA if bs[h]["size"] and not bs[h]["labelled"]]
    out["next_to_label"] = None
    if unlabelled:
        out["next_to_label"] = f"label items of the {unlabelled[0]} stratum (none is labelled yet)"
    elif parts:
        h = max(parts, key=lambda k: (parts[k][0], -STRATA.index(k)))
        v, n_h, size = parts[h]
        more = min(3 * n_h, size - n_h)
        if v > 0 and more > 0:
            out["next_to_label"] = (f"label {more} more items of the {h} stratum ({n_h} of {size} labelled): it "
                                    "adds most to the uncertainty of the count")
    return out


def _sample(seed, n=400, k=(25, 12, 20), truth_rate=0.12):
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < truth_rate
    scores = np.round(np.where(truth, 0.4 + rng.random(n), rng.random(n) * 0.5), 3)
    scores[rng.random(n) < 0.3] = 0.0
    cut = 0.45
    st = strata(scores, cut)
    labels = {}
    for h, m in zip(STRATA, k):
        pool = np.flatnonzero(st == h)
        for i in rng.choice(pool, size=min(m, len(pool)), replace=False):
            labels[int(i)] = bool(truth[i])
    return scores, cut, labels


@pytest.mark.parametrize("case", ["typical", "alpha-seed", "no-rest-label", "all-yes-detected",
                                  "every-item-labelled", "one-per-stratum", "no-resample", "nothing-detected",
                                  "no-near", "tiny-strata", "mostly-yes", "tie", "almost-all-labelled",
                                  "two-resamples", "elusion-clipped"])
def test_confirmation_matches_a_loop_reading(case):
    alpha, resamples, seed = 0.05, 60, 0
    scores, cut, labels = _sample(1)
    if case == "alpha-seed":
        alpha, seed = 0.1, 7
    elif case == "no-rest-label":
        st = strata(scores, cut)
        labels = {i: y for i, y in labels.items() if st[i] != "rest"}
    elif case == "all-yes-detected":
        st = strata(scores, cut)
        labels = {i: (True if st[i] == "detected" else y) for i, y in labels.items()}
    elif case == "every-item-labelled":
        scores, cut = scores[:40], cut
        labels = {i: bool(scores[i] > 0.3) != (i % 7 == 0) for i in range(40)}
    elif case == "one-per-stratum":
        st = strata(scores, cut)
        labels = {int(np.flatnonzero(st == h)[0]): h != "rest" for h in STRATA}
    elif case == "no-resample":
        resamples = 0
    elif case == "nothing-detected":  # an empty stratum is left out, not missing
        cut = float(scores.max())
        st = strata(scores, cut)
        labels = {i: y for i, y in labels.items() if st[i] != "detected"}
        labels.update({int(np.flatnonzero(st == "near")[0]): True})
    elif case == "no-near":  # nothing undetected scores above 0
        scores = np.where(scores > cut, scores, 0.0)
        st = strata(scores, cut)
        assert not (st == "near").any()
    elif case == "tiny-strata":  # strata of 1 and 2 items: the finite-population correction at its edge
        scores = np.r_[0.9, 0.3, 0.2, np.zeros(30)]
        labels = {0: True, 1: True, 5: False, 9: True, 20: False}
    elif case == "tie":  # detected and near add the same to the uncertainty: the earlier stratum first
        scores = np.r_[np.linspace(0.6, 1.0, 10), np.linspace(0.1, 0.4, 10), np.zeros(30)]
        labels = {0: True, 1: False, 2: True, 3: False, 10: True, 11: False, 12: True, 13: False}
        labels.update({i: False for i in range(20, 50)})
    elif case == "almost-all-labelled":  # one item left to label, in a stratum of 2
        scores = np.r_[0.9, 0.3, 0.2, np.zeros(10)]
        labels = {i: i == 0 for i in range(13) if i != 2}
    elif case == "two-resamples":  # the fewest resamples that give an AUROC interval
        resamples = 2
    elif case == "elusion-clipped":  # most undetected items are the family's: the top clipped at 1
        scores = np.r_[np.linspace(0.6, 1.0, 5), np.linspace(0.1, 0.4, 6), np.zeros(4)]
        labels = {0: True, 5: True, 6: True, 7: True, 11: True, 12: False}
    elif case == "mostly-yes":  # the interval's top clipped at the items not labelled "no"
        scores = np.r_[np.linspace(0.5, 1.0, 25), np.linspace(0.01, 0.2, 5)]
        labels = {i: i != 3 for i in range(0, 30) if i % 5 != 4}
    got = confirm_membership(scores, cut, labels, alpha=alpha, resamples=resamples, seed=seed)
    want = _reference_confirm(scores.tolist(), cut, labels, alpha, resamples, seed)
    for name, value in want.items():
        have = getattr(got, name)
        if value is None:
            assert have is None, name
        elif isinstance(value, (float, tuple)):
            assert have is not None and tuple(np.atleast_1d(have)) == \
                pytest.approx(tuple(np.atleast_1d(value)), abs=1e-12), name
        else:
            assert have == value, name
    assert bool(got.notes) == (want["estimated"] is None)
    if case == "mostly-yes":
        assert got.estimated_ci[1] == len(scores) - sum(not y for y in labels.values())
    if case == "tiny-strata":
        assert [got.by_stratum[h]["size"] for h in STRATA] == [1, 2, 30]
    if case == "tie":
        assert got.next_to_label.startswith("label 6 more items of the detected stratum (4 of 10 labelled)")
    if case == "almost-all-labelled":
        assert got.next_to_label.startswith("label 1 more items of the near stratum (1 of 2 labelled)")
    if case == "two-resamples":
        assert got.auroc_ci is not None
    if case == "elusion-clipped":
        assert got.elusion_ci[1] == 1.0
    if case == "nothing-detected":
        assert got.by_stratum["detected"]["size"] == 0 and got.estimated is not None


def test_confirmation_defaults_and_notes():
    scores, cut, labels = _sample(2)
    default = confirm_membership(scores, cut, labels)
    assert default == confirm_membership(scores, cut, labels, alpha=0.05, resamples=1000, seed=0)
    assert default.auroc_ci != confirm_membership(scores, cut, labels, seed=1).auroc_ci
    st = strata(scores, cut)
    partial = {i: y for i, y in labels.items() if st[i] != "near"}
    res = confirm_membership(scores, cut, partial, resamples=20)
    assert res.notes == ["no labelled item in stratum near: the count cannot be estimated"]
    assert res.elusion is None and res.estimated is None
    assert res.next_to_label == "label items of the near stratum (none is labelled yet)"
    nothing = confirm_membership(scores, cut, {}, resamples=20)
    assert nothing.notes == [] and nothing.estimated is None and nothing.auroc is None and nothing.n_labelled == 0
    assert nothing.precision is None and nothing.precision_ci is None


def test_the_default_resamples_and_the_note_on_every_missing_stratum():
    scores, cut, labels = _sample(3)
    default = confirm_membership(scores, cut, labels)
    assert default.auroc_ci == confirm_membership(scores, cut, labels, resamples=1000).auroc_ci
    assert default.auroc_ci != confirm_membership(scores, cut, labels, resamples=1001).auroc_ci
    st = strata(scores, cut)
    only_detected = {i: y for i, y in labels.items() if st[i] == "detected"}
    res = confirm_membership(scores, cut, only_detected, resamples=20)
    assert res.notes == ["no labelled item in stratum near, rest: the count cannot be estimated"]


@pytest.mark.parametrize("answer", [True, False])
def test_labels_all_of_one_answer_give_no_auroc(answer):
    """An AUROC needs labelled items of the family and others; all yes (or all no) gives none, and the
    visibility status then cannot tell (tests/findings/test_visibility_from_labels.py)."""
    scores, cut, labels = _sample(4)
    res = confirm_membership(scores, cut, {i: answer for i in labels}, resamples=50)
    assert res.auroc is None and res.auroc_ci is None
    assert res.precision == (1.0 if answer else 0.0)
