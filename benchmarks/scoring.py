"""Time and memory of cg_gov.scoring on a synthetic suite shaped like the paper's.

Default: 10 benchmarks, 100,000 items, 65,536 concepts, about 100 active
concepts per item with power-law concept frequencies, pass/fail scores, and a
20,000-item reference sample. The whole scoring (metrics, 1,000 bootstrap
resamples, 100 subsampling reruns, adversarial removal) runs in a fresh process
that only loads the data, so its peak resident memory (ru_maxrss) is the
scoring's plus the input's. A straightforward pandas implementation of the same
metrics (long format, groupby benchmark/concept) runs in another fresh process:
one pass on the data as given, plus a few passes with bootstrap weights; its
cost for the whole job (1 + n_bootstrap + n_reruns passes) is extrapolated
linearly from those, since running 1,100 passes would take hours.

    python benchmarks/scoring.py                     # full size
    python benchmarks/scoring.py --items 20000 --concepts 8192
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def synthetic_suite(n_items: int, n_concepts: int, n_bench: int, active: int, n_ref: int,
                    seed: int):
    """Items x concepts activations with power-law concept frequencies, per-benchmark skew."""
    rng = np.random.default_rng(seed)
    rank_weight = 1.0 / np.arange(1, n_concepts + 1) ** 1.1
    base = rank_weight / rank_weight.sum()
    scale = rng.lognormal(0.0, 0.5, n_concepts)

    def draw(n_rows: int, probs_per_row: list[np.ndarray], row_kind: np.ndarray) -> sp.csr_matrix:
        draws = int(active * 1.35)
        cols = np.empty((n_rows, draws), dtype=np.int64)
        for kind, probs in enumerate(probs_per_row):
            rows = np.flatnonzero(row_kind == kind)
            cdf = np.cumsum(probs)
            cdf /= cdf[-1]
            cols[rows] = np.searchsorted(cdf, rng.random((rows.size, draws)))
        cols = np.minimum(cols, n_concepts - 1)
        data = rng.exponential(1.0, cols.shape) * scale[cols] / draws
        m = sp.csr_matrix((data.ravel(), cols.ravel(), np.arange(0, n_rows * draws + 1, draws)),
                          shape=(n_rows, n_concepts))
        m.sum_duplicates()
        return m

    bench_probs = []
    for _ in range(n_bench):
        perm = rng.permutation(n_concepts)
        own = rank_weight[np.argsort(perm)]  # this benchmark's own popularity order
        bench_probs.append(0.5 * base + 0.5 * own / own.sum())
    bench = np.sort(rng.integers(0, n_bench, n_items))
    abar = draw(n_items, bench_probs, bench)
    effect = np.zeros(n_concepts)
    # 300 mid-frequency concepts move the pass rate (frequent ones fire everywhere)
    pool = np.arange(min(200, n_concepts // 10), min(5000, n_concepts))
    planted = rng.choice(pool, min(300, pool.size), replace=False)
    effect[planted] = rng.normal(0.0, 1.0, planted.size)
    logit = rng.normal(0.0, 1.2, n_bench)[bench] + (abar > 0).astype(np.float64) @ effect * 0.3
    scores = (rng.random(n_items) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    reference = draw(n_ref, [base], np.zeros(n_ref, dtype=np.int64))
    names = np.array([f"bench_{b:02d}" for b in range(n_bench)])[bench]
    return abar, scores, names, reference


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load(path: str):
    z = np.load(path, allow_pickle=False)
    abar = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    ref = sp.csr_matrix((z["r_data"], z["r_indices"], z["r_indptr"]), shape=tuple(z["r_shape"]))
    return abar, z["scores"], z["names"].astype(str), ref


def worker_engine(path: str, n_boot: int, n_reruns: int, dtype: str) -> dict:
    from cg_gov.scoring import score_concepts

    abar, scores, names, ref = _load(path)
    rss_input = _maxrss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    point = score_concepts(abar, scores, names, reference=ref, n_bootstrap=0)
    t_point = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = score_concepts(abar, scores, names, reference=ref, n_bootstrap=n_boot,
                         subsample_reruns=n_reruns, adversarial=True, bootstrap_dtype=dtype)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ov = res.overall
    return {
        "point_s": t_point, "whole_s": wall, "whole_cpu_s": cpu,
        "rss_input_mb": rss_input, "rss_peak_mb": _maxrss_mb(),
        "chi_model": point.overall["chi_model"].to_numpy().tolist(),
        "lift": point.overall["lift"].to_numpy().tolist(),
        "n_chi_model": int(ov["chi_model"].notna().sum()),
        "n_lift_q05": int((ov["lift_q"] < 0.05).sum()),
        "n_lift_tested": int(ov["lift_p"].notna().sum()),
        "n_lift_p_floor": int((ov["lift_p"] <= 1.0 / (n_boot + 1) + 1e-12).sum()),
        "suite_missing": res.suite_missing,
        "missing_by_benchmark": res.missing_by_benchmark.round(1).to_dict(),
        "representation": ov["representation"].value_counts().to_dict(),
        "robustness": res.robustness,
    }


def pandas_pass(long, item_bench, item_score, n_bench: int, n_concepts: int, weight=None,
                n_min: int = 50):
    """All point metrics of method.md with a long frame and groupby (one weighting of the items)."""
    import pandas as pd

    w = 1.0 if weight is None else weight[long["item"].to_numpy()]
    d = long.assign(wa=long["abar"] * w, pos=(long["abar"] > 0) * w)
    d["was"] = d["wa"] * d["score"]
    per = d.groupby(["bench", "concept"]).agg(den_all=("wa", "sum"), support=("pos", "sum"))
    scored = d[d["score"].notna()]
    ps = scored.groupby(["bench", "concept"]).agg(den=("wa", "sum"), num=("was", "sum"),
                                                  ssupp=("pos", "sum"))
    per = per.join(ps)
    total = per.groupby(level="bench")["den_all"].transform("sum")
    per["chi_bench"] = per["den_all"] * n_concepts / total
    per["chi_model"] = per["num"] / per["den"]
    iw = np.ones(len(item_bench)) if weight is None else weight
    items = pd.DataFrame({"bench": item_bench, "w": iw, "ws": iw * item_score})
    items = items[np.isfinite(item_score)]
    sbar = items.groupby("bench")["ws"].sum() / items.groupby("bench")["w"].sum()
    per["lift_num"] = per["num"] - per.index.get_level_values("bench").map(sbar) * per["den"]
    by_c = per.groupby(level="concept")
    chi_bench = by_c["chi_bench"].sum() / n_bench
    chi_model = per[per["ssupp"] >= n_min].groupby(level="concept")["chi_model"].mean()
    lift = by_c["lift_num"].sum() / by_c["den"].sum()
    suite_mean = by_c["den_all"].sum() / iw.sum()
    return chi_bench, chi_model, lift, suite_mean


def worker_pandas(path: str, n_passes: int) -> dict:
    import pandas as pd

    abar, scores, names, _ = _load(path)
    n_items, n_concepts = abar.shape
    bench_names, bench = np.unique(names, return_inverse=True)
    coo = abar.tocoo()
    long = pd.DataFrame({"bench": bench[coo.row].astype(np.int16), "concept": coo.col,
                         "item": coo.row, "abar": coo.data, "score": scores[coo.row]})
    t0 = time.perf_counter()
    _, chi_model, lift, _ = pandas_pass(long, bench, scores, len(bench_names), n_concepts)
    t_point = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    times = []
    for _ in range(n_passes):
        weight = np.zeros(n_items)
        for b in range(len(bench_names)):
            idx = np.flatnonzero(bench == b)
            np.add.at(weight, idx[rng.integers(0, idx.size, idx.size)], 1.0)
        t0 = time.perf_counter()
        pandas_pass(long, bench, scores, len(bench_names), n_concepts, weight=weight)
        times.append(time.perf_counter() - t0)
    full_cm = np.full(n_concepts, np.nan)
    full_cm[chi_model.index.to_numpy()] = chi_model.to_numpy()
    full_lift = np.full(n_concepts, np.nan)
    full_lift[lift.index.to_numpy()] = lift.to_numpy()
    return {"point_s": t_point, "weighted_pass_s": float(np.mean(times)),
            "rss_peak_mb": _maxrss_mb(), "chi_model": full_cm.tolist(),
            "lift": full_lift.tolist()}


def _run_worker(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--concepts", type=int, default=65_536)
    ap.add_argument("--benchmarks", type=int, default=10)
    ap.add_argument("--active", type=int, default=100, help="target active concepts per item")
    ap.add_argument("--reference-items", type=int, default=20_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--reruns", type=int, default=100)
    ap.add_argument("--pandas-passes", type=int, default=2,
                    help="weighted pandas passes timed to extrapolate the baseline")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the pandas baseline (for the growth runs: --items 10000, 30000, 100000, 1000000)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, path, *rest = args.worker
        if kind == "engine":
            result = worker_engine(path, int(rest[0]), int(rest[1]), rest[2])
        else:
            result = worker_pandas(path, int(rest[0]))
        print(json.dumps(result))
        return

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    abar, scores, names, ref = synthetic_suite(args.items, args.concepts, args.benchmarks,
                                               args.active, args.reference_items, args.seed)
    print(f"synthetic suite: {abar.shape[0]:,} items x {abar.shape[1]:,} concepts, "
          f"{args.benchmarks} benchmarks, {abar.nnz / abar.shape[0]:.1f} active concepts/item "
          f"(nnz {abar.nnz:,}), mean score {scores.mean():.3f}; reference {ref.shape[0]:,} items "
          f"({ref.nnz / ref.shape[0]:.1f} active/item); built in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "suite.npz")
        np.savez(path, data=abar.data, indices=abar.indices, indptr=abar.indptr,
                 shape=np.array(abar.shape), r_data=ref.data, r_indices=ref.indices,
                 r_indptr=ref.indptr, r_shape=np.array(ref.shape), scores=scores,
                 names=names.astype("U"))
        del abar, ref
        eng = _run_worker(["--worker", "engine", path, str(args.bootstrap), str(args.reruns),
                           args.dtype])
        if args.no_baseline:
            load_end = os.getloadavg()
            print(f"\ncg_gov.scoring, whole job ({args.items:,} items, {args.concepts:,} concepts, "
                  f"{args.bootstrap} bootstrap resamples [{args.dtype}] + {args.reruns} subsampling reruns + "
                  f"adversarial removal):")
            print(f"  wall {eng['whole_s']:.1f} s, cpu {eng['whole_cpu_s']:.1f} s, peak RSS "
                  f"{eng['rss_peak_mb']:.0f} MB (input alone {eng['rss_input_mb']:.0f} MB); point estimates "
                  f"{eng['point_s']:.2f} s")
            print(f"machine: {os.cpu_count()} cpus, load average {load_start[0]:.2f} at start, "
                  f"{load_end[0]:.2f} at end")
            print(json.dumps({"items": args.items, "concepts": args.concepts, "bootstrap": args.bootstrap,
                              "reruns": args.reruns, "whole_s": round(eng["whole_s"], 1),
                              "cpu_s": round(eng["whole_cpu_s"], 1), "rss_peak_mb": round(eng["rss_peak_mb"]),
                              "rss_input_mb": round(eng["rss_input_mb"]), "point_s": round(eng["point_s"], 2),
                              "load": [round(load_start[0], 2), round(load_end[0], 2)]}))
            return
        pdx = _run_worker(["--worker", "pandas", path, str(args.pandas_passes)])
    load_end = os.getloadavg()

    n_passes = args.bootstrap + args.reruns
    pandas_whole = pdx["point_s"] + n_passes * pdx["weighted_pass_s"]
    diff_cm = np.nanmax(np.abs(np.array(eng["chi_model"], float) - np.array(pdx["chi_model"], float)))
    diff_lift = np.nanmax(np.abs(np.array(eng["lift"], float) - np.array(pdx["lift"], float)))
    print(f"\ncg_gov.scoring, whole job (metrics + {args.bootstrap} bootstrap resamples "
          f"[{args.dtype}] + {args.reruns} subsampling reruns + adversarial removal):")
    print(f"  wall {eng['whole_s']:.1f} s, cpu {eng['whole_cpu_s']:.1f} s, "
          f"peak RSS {eng['rss_peak_mb']:.0f} MB (input alone {eng['rss_input_mb']:.0f} MB)")
    print(f"  point estimates only: {eng['point_s']:.2f} s")
    print("pandas groupby baseline (long format, groupby benchmark/concept):")
    print(f"  point metrics: {pdx['point_s']:.2f} s measured; one weighted (bootstrap) pass: "
          f"{pdx['weighted_pass_s']:.2f} s measured (mean of {args.pandas_passes})")
    print(f"  whole job: {pandas_whole:.0f} s EXTRAPOLATED = point + {n_passes} x weighted pass "
          f"(not run; excludes interval sorting), peak RSS {pdx['rss_peak_mb']:.0f} MB")
    print(f"  agreement with the engine: max |d chi_model| {diff_cm:.2e}, max |d lift| "
          f"{diff_lift:.2e}")
    print(f"speed-up: whole job {pandas_whole / eng['whole_s']:.0f}x (vs extrapolated "
          f"baseline), point metrics {pdx['point_s'] / eng['point_s']:.1f}x (both measured)")
    print(f"machine: {os.cpu_count()} cpus, load average {load_start[0]:.2f} at start, "
          f"{load_end[0]:.2f} at end (other processes compete for the cores)")
    print("\nfindings on the synthetic suite:")
    print(f"  concepts with chi_model: {eng['n_chi_model']:,}; lift tested: "
          f"{eng['n_lift_tested']:,}, q < 0.05: {eng['n_lift_q05']:,} (bootstrap p-values; "
          f"{eng['n_lift_p_floor']:,} at the floor 1/(B+1)); missing from the whole suite: "
          f"{eng['suite_missing']:,}")
    print(f"  missing % by benchmark: {eng['missing_by_benchmark']}")
    print(f"  representation vs reference: {eng['representation']}")
    print(f"  robustness: {json.dumps(eng['robustness'], indent=None)}")


if __name__ == "__main__":
    main()
