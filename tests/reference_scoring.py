"""A plain, loop-by-loop implementation of method.md, to hold cg_gov.scoring to.

Slow on purpose: Python loops over benchmarks, concepts and resamples, and a
resample is literally a list of item indices (with repeats), scored by the same
code as the original data. Random draws follow the documented scheme of
``cg_gov.scoring._resample`` so that both implementations see the same resamples.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float64)


def layout(scores, benchmarks):
    """Sorted benchmark names, each benchmark's items, and the strata in their fixed order."""
    names = sorted(set(str(b) for b in benchmarks))
    bench_items = {name: [i for i in range(len(benchmarks)) if benchmarks[i] == name]
                   for name in names}
    strata = []
    for name in names:
        scored = [i for i in bench_items[name] if math.isfinite(scores[i])]
        unscored = [i for i in bench_items[name] if not math.isfinite(scores[i])]
        if scored:
            strata.append((name, scored))
        if unscored:
            strata.append((name, unscored))
    return names, bench_items, strata


def metrics(A, scores, names, lists, *, n_min, min_benchmarks, epsilon, fixed_supported=None):
    """Every metric on the data set given by ``lists`` (benchmark -> item indices, repeats allowed)."""
    n_cols = A.shape[1]
    per = {}
    for name in names:
        items = lists[name]
        scored = [i for i in items if math.isfinite(scores[i])]
        total = sum(A[i, c] for i in items for c in range(n_cols))
        sbar = sum(scores[i] for i in scored) / len(scored) if scored else float("nan")
        rows = []
        for c in range(n_cols):
            col_all = [A[i, c] for i in items]
            den = sum(A[i, c] for i in scored)
            num = sum(A[i, c] * scores[i] for i in scored)
            scored_support = sum(1 for i in scored if A[i, c] > epsilon)
            if fixed_supported is None:
                supported = scored_support >= n_min
            else:
                supported = fixed_supported[name][c]
            rows.append({
                "chi_bench": (sum(col_all) / len(items)) / (total / (len(items) * n_cols))
                if total > 0 else float("nan"),
                "chi_model": num / den if den > 0 else float("nan"),
                "den_all": sum(col_all),
                "den": den,
                "num": num,
                "lift_num": sum(A[i, c] * (scores[i] - sbar) for i in scored),
                "support": sum(1 for a in col_all if a > epsilon),
                "scored_support": scored_support,
                "supported": supported,
            })
        per[name] = {"rows": rows, "total": total, "n": len(items)}
    overall = []
    n_all = sum(len(lists[name]) for name in names)
    for c in range(n_cols):
        benches = [per[name]["rows"][c]["chi_bench"] for name in names if per[name]["total"] > 0]
        chi_vals = [per[name]["rows"][c]["chi_model"] for name in names
                    if per[name]["rows"][c]["supported"] and per[name]["rows"][c]["den"] > 0]
        need = min_benchmarks if fixed_supported is None else 1
        den = sum(per[name]["rows"][c]["den"] for name in names)
        lift_num = sum(per[name]["rows"][c]["lift_num"] for name in names)
        num = sum(per[name]["rows"][c]["num"] for name in names)
        overall.append({
            "chi_bench": float(np.mean(benches)) if benches else float("nan"),
            "chi_model": float(np.mean(chi_vals)) if len(chi_vals) >= need else float("nan"),
            "n_supported_benchmarks": len(chi_vals),
            "lift": lift_num / den if den > 0 else float("nan"),
            "performance": num / den if den > 0 else float("nan"),
            "suite_sum": sum(per[name]["rows"][c]["den_all"] for name in names),
            "suite_mean": sum(per[name]["rows"][c]["den_all"] for name in names) / n_all,
            "support": sum(per[name]["rows"][c]["support"] for name in names),
            "scored_support": sum(per[name]["rows"][c]["scored_support"] for name in names),
        })
    return per, overall


def interval(values, alpha):
    v = np.asarray(values, dtype=np.float64)
    if np.isnan(v).all():
        return float("nan"), float("nan")
    return (float(np.nanquantile(v, alpha / 2, method="lower")),
            float(np.nanquantile(v, 1 - alpha / 2, method="higher")))


def p_value(estimate, values, n_boot):
    valid = [v for v in values if not math.isnan(v)]
    if not valid or not math.isfinite(estimate):
        return float("nan")
    if estimate > 0:
        other = sum(1 for v in valid if v <= 0)
    elif estimate < 0:
        other = sum(1 for v in valid if v >= 0)
    else:
        other = len(valid)
    return min(1.0, max(2.0 * other / len(valid), 1.0 / (n_boot + 1)))


def p_value_normal(estimate, values):
    from scipy.stats import norm

    valid = [v for v in values if not math.isnan(v)]
    if len(valid) < 2 or not math.isfinite(estimate):
        return float("nan")
    sd = float(np.std(valid, ddof=1))
    if sd == 0:
        return 1.0 if estimate == 0 else 0.0
    return min(1.0, 2 * float(norm.sf(abs(estimate) / sd)))


def interval_normal(estimate, values, alpha):
    """estimate -/+ z * sd of the valid resamples (ddof=1): the interval of p_value_normal's test."""
    from scipy.stats import norm

    valid = [v for v in values if not math.isnan(v)]
    if len(valid) < 2 or not math.isfinite(estimate):
        return float("nan"), float("nan")
    half = float(norm.ppf(1 - alpha / 2)) * float(np.std(valid, ddof=1))
    return estimate - half, estimate + half


def bh(p):
    p = list(p)
    idx = [i for i, v in enumerate(p) if math.isfinite(v)]
    m = len(idx)
    ranked = sorted(idx, key=lambda i: (p[i], i))
    q = [float("nan")] * len(p)
    for r, i in enumerate(ranked):
        q[i] = min(1.0, min(p[ranked[j]] * m / (j + 1) for j in range(r, m)))
    return q


def log_ratio(suite_mean, ref_mean):
    if suite_mean == 0 and ref_mean == 0:
        return 0.0
    if ref_mean == 0:
        return float("inf")
    if suite_mean == 0:
        return float("-inf")
    return math.log(suite_mean) - math.log(ref_mean)


def representation(ratio, low, high, observed, k):
    if not observed:
        return "unobserved"
    if ratio <= 1 / k and high < 1:
        return "under"
    if ratio >= k and low > 1:
        return "over"
    return "neutral"


def score(abar, scores, benchmarks, *, reference=None, n_min=50, min_benchmarks=1, ratio_k=4.0,
          n_bootstrap=100, alpha=0.05, seed=0, epsilon=0.0, lift_p_method="bootstrap"):
    """Concept-level results as {column: list}, plus the per-benchmark rows."""
    A = dense(abar)
    scores = [float(s) for s in scores]
    benchmarks = [str(b) for b in benchmarks]
    n_cols = A.shape[1]
    names, bench_items, strata = layout(scores, benchmarks)
    lists = {name: list(bench_items[name]) for name in names}
    per, point = metrics(A, scores, names, lists, n_min=n_min, min_benchmarks=min_benchmarks,
                         epsilon=epsilon)
    for c in range(n_cols):
        if point[c]["scored_support"] < n_min:
            point[c]["lift"] = float("nan")
    supported = {name: [per[name]["rows"][c]["supported"] for c in range(n_cols)]
                 for name in names}
    R = None
    if reference is not None:
        R = dense(reference)
        ref_mean = [float(R[:, c].sum() / R.shape[0]) for c in range(n_cols)]

    boot_ss, ref_ss, _, _ = np.random.SeedSequence(seed).spawn(4)
    gens = [np.random.Generator(np.random.PCG64(s)) for s in boot_ss.spawn(len(strata))]
    ref_gen = np.random.Generator(np.random.PCG64(ref_ss))
    chi_b = [[] for _ in range(n_cols)]
    lift_b = [[] for _ in range(n_cols)]
    perf_b = [[] for _ in range(n_cols)]
    ratio_b = [[] for _ in range(n_cols)]
    for _ in range(n_bootstrap):
        res = {name: [] for name in names}
        for (name, items), gen in zip(strata, gens):
            idx = gen.integers(0, len(items), size=len(items))
            res[name].extend(items[j] for j in idx)
        _, boot = metrics(A, scores, names, res, n_min=n_min, min_benchmarks=min_benchmarks,
                          epsilon=epsilon, fixed_supported=supported)
        if R is not None:
            ridx = ref_gen.integers(0, R.shape[0], size=R.shape[0])
        for c in range(n_cols):
            chi_b[c].append(boot[c]["chi_model"])
            lift_b[c].append(boot[c]["lift"])
            perf_b[c].append(boot[c]["performance"])
            if R is not None:
                rmean = sum(R[j, c] for j in ridx) / R.shape[0]
                ratio_b[c].append(log_ratio(boot[c]["suite_mean"], rmean))

    out = {key: [] for key in ("chi_bench", "chi_model", "chi_model_ci_low", "chi_model_ci_high",
                               "n_supported_benchmarks", "lift", "lift_ci_low", "lift_ci_high",
                               "lift_p", "performance", "performance_ci_low",
                               "performance_ci_high", "missing", "n_eff", "support", "scored_support",
                               "suite_mean")}
    if R is not None:
        for key in ("reference_mean", "coverage_ratio", "ratio_ci_low", "ratio_ci_high",
                    "representation"):
            out[key] = []
    for c in range(n_cols):
        p = point[c]
        out["chi_bench"].append(p["chi_bench"])
        out["chi_model"].append(p["chi_model"])
        lo, hi = (interval(chi_b[c], alpha) if math.isfinite(p["chi_model"]) and n_bootstrap
                  else (float("nan"), float("nan")))
        out["chi_model_ci_low"].append(lo)
        out["chi_model_ci_high"].append(hi)
        out["n_supported_benchmarks"].append(p["n_supported_benchmarks"])
        out["lift"].append(p["lift"])
        if math.isfinite(p["lift"]) and n_bootstrap:
            if lift_p_method == "bootstrap":
                lo, hi = interval(lift_b[c], alpha)
                pv = p_value(p["lift"], lift_b[c], n_bootstrap)
            else:
                lo, hi = interval_normal(p["lift"], lift_b[c], alpha)
                pv = p_value_normal(p["lift"], lift_b[c])
        else:
            lo = hi = pv = float("nan")
        out["lift_ci_low"].append(lo)
        out["lift_ci_high"].append(hi)
        out["lift_p"].append(pv)
        perf = p["performance"] if math.isfinite(p["lift"]) else float("nan")
        lo, hi = (interval(perf_b[c], alpha) if math.isfinite(perf) and n_bootstrap
                  else (float("nan"), float("nan")))
        out["performance"].append(perf)
        out["performance_ci_low"].append(lo)
        out["performance_ci_high"].append(hi)
        out["missing"].append(p["support"] == 0)
        scored_vals = [A[i, c] for i in range(A.shape[0]) if math.isfinite(scores[i])]
        s2 = sum(v * v for v in scored_vals)
        out["n_eff"].append(sum(scored_vals) ** 2 / s2 if s2 > 0 else 0.0)
        out["support"].append(p["support"])
        out["scored_support"].append(p["scored_support"])
        out["suite_mean"].append(p["suite_mean"])
        if R is not None:
            observed = p["suite_mean"] > 0 or ref_mean[c] > 0
            if ref_mean[c] > 0:
                ratio = p["suite_mean"] / ref_mean[c]
            else:
                ratio = float("inf") if observed else float("nan")
            if observed and n_bootstrap:
                lo, hi = interval(ratio_b[c], alpha)
                lo, hi = math.exp(lo), math.exp(hi)
            else:
                lo = hi = float("nan")
            out["reference_mean"].append(ref_mean[c])
            out["coverage_ratio"].append(ratio)
            out["ratio_ci_low"].append(lo)
            out["ratio_ci_high"].append(hi)
            out["representation"].append(representation(ratio, lo, hi, observed, ratio_k))
    out["lift_q"] = bh(out["lift_p"])
    rows = {}
    for name in names:
        for c in range(n_cols):
            r = per[name]["rows"][c]
            rows[(name, c)] = {"chi_bench": r["chi_bench"], "chi_model": r["chi_model"],
                               "missing": r["support"] == 0, "support": r["support"],
                               "scored_support": r["scored_support"], "supported": r["supported"]}
    missing_pct = {name: 100.0 * sum(1 for c in range(n_cols) if per[name]["rows"][c]["support"] == 0)
                   / n_cols for name in names}
    return out, rows, missing_pct


def subsampling(abar, scores, benchmarks, *, n_reruns, fraction, n_min, min_benchmarks=1,
                epsilon=0.0, seed=0):
    """Per-concept std (ddof=1) of chi_model and chi_bench over reruns, and their means."""
    A = dense(abar)
    scores = [float(s) for s in scores]
    benchmarks = [str(b) for b in benchmarks]
    n_cols = A.shape[1]
    names, bench_items, _ = layout(scores, benchmarks)
    _, point = metrics(A, scores, names, {n: list(bench_items[n]) for n in names}, n_min=n_min,
                       min_benchmarks=min_benchmarks, epsilon=epsilon)
    sub_ss = np.random.SeedSequence(seed).spawn(4)[2]
    gens = [np.random.Generator(np.random.PCG64(s)) for s in sub_ss.spawn(len(names))]
    cm = [[] for _ in range(n_cols)]
    cb = [[] for _ in range(n_cols)]
    for _ in range(n_reruns):
        lists = {}
        for name, gen in zip(names, gens):
            items = bench_items[name]
            n = len(items)
            k = int(min(math.floor(fraction * n + 0.5), n - 1))
            drop = set(np.argsort(gen.random(n), kind="stable")[:k].tolist())
            lists[name] = [items[j] for j in range(n) if j not in drop]
        _, rerun = metrics(A, scores, names, lists, n_min=n_min, min_benchmarks=min_benchmarks,
                           epsilon=epsilon)
        for c in range(n_cols):
            cm[c].append(rerun[c]["chi_model"])
            cb[c].append(rerun[c]["chi_bench"])

    def std(values):
        v = [x for x in values if math.isfinite(x)]
        return float(np.std(v, ddof=1)) if len(v) >= 2 else float("nan")

    std_cm = [std(cm[c]) if math.isfinite(point[c]["chi_model"]) else float("nan")
              for c in range(n_cols)]
    std_cb = [std(cb[c]) if point[c]["support"] > 0 else float("nan") for c in range(n_cols)]
    fin_cm = [v for v in std_cm if math.isfinite(v)]
    fin_cb = [v for v in std_cb if math.isfinite(v)]
    return {"std_chi_model": std_cm, "std_chi_bench": std_cb,
            "mean_std_chi_model": float(np.mean(fin_cm)) if fin_cm else float("nan"),
            "mean_std_chi_bench": float(np.mean(fin_cb)) if fin_cb else float("nan")}


def adversarial(abar, scores, benchmarks, *, n_concepts, fraction, n_min, min_benchmarks=1,
                epsilon=0.0):
    A = dense(abar)
    scores = [float(s) for s in scores]
    benchmarks = [str(b) for b in benchmarks]
    n_cols = A.shape[1]
    names, bench_items, _ = layout(scores, benchmarks)
    lists = {n: list(bench_items[n]) for n in names}
    per, point = metrics(A, scores, names, lists, n_min=n_min, min_benchmarks=min_benchmarks,
                         epsilon=epsilon)
    chi = [point[c]["chi_model"] for c in range(n_cols)]
    finite = [c for c in range(n_cols) if math.isfinite(chi[c])]
    top = sorted(finite, key=lambda c: (-chi[c], c))[:n_concepts]
    bottom = sorted(finite, key=lambda c: (chi[c], c))[:n_concepts]
    scored = [i for i in range(len(scores)) if math.isfinite(scores[i])]
    k = int(math.floor(fraction * len(scored)))

    def median(values):
        v = [x for x in values if math.isfinite(x)]
        return float(np.median(v)) if v else float("nan")

    before = median(chi)
    result = {"median_chi_model": before}
    for label, chosen in (("top", top), ("bottom", bottom)):
        align = {}
        for i in scored:
            name = benchmarks[i]
            a = 0.0
            for c in chosen:
                row = per[name]["rows"][c]
                if row["supported"] and row["den"] > 0:
                    a += A[i, c] / (point[c]["n_supported_benchmarks"] * row["den"])
            align[i] = a
        cands = sorted((i for i in scored if align[i] > 0), key=lambda i: (-align[i], i))[:k]
        removed = set(cands)
        kept = {n: [i for i in bench_items[n] if i not in removed] for n in names}
        _, after = metrics(A, scores, names, kept, n_min=n_min, min_benchmarks=min_benchmarks,
                           epsilon=epsilon)
        result[f"median_after_{label}_removed"] = median([after[c]["chi_model"]
                                                          for c in range(n_cols)])
        result[f"n_removed_{label}"] = len(removed)
    return result


def families(abar, scores, benchmarks, weights, *, reference=None, n_min=50, ratio_k=4.0,
             n_bootstrap=100, alpha=0.05, seed=0, epsilon=0.0):
    """Family results by building m_F column by column and scoring it like a concept."""
    A = dense(abar)
    fam_names = sorted(weights)
    M = np.zeros((A.shape[0], len(fam_names)))
    for j, name in enumerate(fam_names):
        for i in range(A.shape[0]):
            M[i, j] = sum(w * A[i, c] for c, w in weights[name].items())
    Rm = None
    if reference is not None:
        R = dense(reference)
        Rm = np.zeros((R.shape[0], len(fam_names)))
        for j, name in enumerate(fam_names):
            for i in range(R.shape[0]):
                Rm[i, j] = sum(w * R[i, c] for c, w in weights[name].items())
    out, _, _ = score(M, scores, benchmarks, reference=Rm, n_min=n_min, ratio_k=ratio_k,
                      n_bootstrap=n_bootstrap, alpha=alpha, seed=seed, epsilon=epsilon)
    out["names"] = fam_names
    out["mass"] = M
    return out
