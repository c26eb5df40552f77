"""`cg-gov audit`: the whole pipeline, from an audit spec to a governance report.

    validate -> read eval logs -> load dictionary -> activations (cached)
    -> score concepts -> match families -> score families -> findings -> render

Each stage takes the plain objects of the one before. The findings are a
pure function of the inputs and the seed (``findings.json`` is byte-stable);
the time of the run goes into ``manifest.json`` only.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import EXIT_GATE_FAILED, EXIT_OK, CgGovError, SpecError

__all__ = ["AuditResult", "run_audit", "run_audit_cli", "derive_findings"]

EVIDENCE_ITEMS = 4
EVIDENCE_CHARS = 320
EXAMPLE_CHARS = 160
SUITE_ROWS = 10
#: Performance needs this many effective items before a family can be called weak or ok.
MIN_FAMILY_N_EFF = 10.0
#: Lift p-values from the bootstrap's standard error (normal approximation). A
#: bootstrap-fraction p-value cannot fall below 1/(B+1), so with thousands of
#: concepts Benjamini-Hochberg could never reject; the normal form can.
LIFT_P_METHOD = "normal"


class _Stages:
    """Progress display: one line per stage with its duration, on stderr."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.i, self.enabled = total, 0, enabled
        self.t0 = self.t = time.perf_counter()

    def start(self, what: str) -> None:
        self.i += 1
        self.t = time.perf_counter()
        if self.enabled:
            print(f"[{self.i}/{self.total}] {what} ...", file=sys.stderr, flush=True)

    def done(self, note: str = "") -> None:
        if self.enabled:
            el = time.perf_counter() - self.t
            print(f"      done in {el:.1f}s{(': ' + note) if note else ''}", file=sys.stderr, flush=True)


@dataclass
class AuditResult:
    findings: Any
    manifest: dict[str, Any]
    paths: dict[str, Path]
    exit_code: int


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _interval(lo: Any, hi: Any) -> list[float] | None:
    a, b = _finite(lo), _finite(hi)
    if a is None or b is None:
        return None
    return [min(a, b), max(a, b)]


def _truncate(text: str, n: int = EVIDENCE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "\u2026"


# --------------------------------------------------------------------- statuses


def coverage_status(n_matched: int, suite_mass: float, ratio: float | None, ci: list[float] | None,
                    ratio_k: float, representation: str | None) -> str:
    """covered / under-represented / missing / not-visible for one family.

    not-visible: the matcher found no concept for the family. missing: none of
    its concepts fires on any suite item. under-represented: the coverage
    ratio is at most 1/k and its bootstrap interval lies below 1 (the rule of
    ``method.md`` for concepts, applied to the family's mass).
    """
    if n_matched == 0:
        return "not-visible"
    if not suite_mass > 0:
        return "missing"
    if representation == "under":
        return "under-represented"
    if ratio is not None and ci is not None and ratio <= 1.0 / ratio_k and ci[1] < 1.0:
        return "under-represented"
    return "covered"


def performance_status(score: float | None, lift_ci: list[float] | None, q: float | None, n_eff: float | None,
                       alpha: float) -> str:
    """ok / weak / insufficient-data for one family.

    weak: the lift's interval lies below 0 and its Benjamini-Hochberg q-value
    (across the profile's families) is below alpha: the model does worse where
    the family is active than on other items of the same benchmarks.
    insufficient-data: no score (fewer than n_min scored items carry the
    family) or an effective support under MIN_FAMILY_N_EFF.
    """
    if score is None or lift_ci is None or n_eff is None or n_eff < MIN_FAMILY_N_EFF:
        return "insufficient-data"
    if lift_ci[1] < 0 and q is not None and q < alpha:
        return "weak"
    return "ok"


def _caveats_for(cov: str, perf: str, n_eff: float | None, matched: list[Any]) -> list[str]:
    out = []
    if cov == "covered":
        out.append("activation-not-capability")
    if perf in ("weak", "ok"):
        out.append("hard-question-confound")
    if cov in ("not-visible", "missing"):
        out.append("dictionary-coverage")
    if matched:
        out.append("noisy-labels")
    if perf == "insufficient-data" or (n_eff is not None and n_eff < 30):
        out.append("small-support")
    return out


# --------------------------------------------------------------------- findings


def _concept_row(c: int, labels: Sequence[str], ov) -> dict[str, Any]:
    r = ov.loc[c]
    row = {"concept_id": int(c), "label": labels[c] or f"concept {c} (unlabelled)",
           "chi_model": _finite(r.get("chi_model")), "lift": _finite(r.get("lift")),
           "lift_ci": _interval(r.get("lift_ci_low"), r.get("lift_ci_high")),
           "n_eff": _finite(r.get("n_eff")), "n_benchmarks": int(r.get("n_supported_benchmarks", 0) or 0),
           "chi_bench": _finite(r.get("chi_bench"))}
    if "coverage_ratio" in ov.columns:
        row["coverage_ratio"] = _finite(r.get("coverage_ratio"))
        row["coverage_ratio_ci"] = _interval(r.get("ratio_ci_low"), r.get("ratio_ci_high"))
    if row["chi_model"] is not None:
        row["chi_model"] = min(1.0, max(0.0, row["chi_model"]))
    return row


def _coverage_distribution(ov) -> dict[str, Any]:
    """chi_bench of all concepts sorted high to low, sampled at log-spaced ranks (0 = most covered)."""
    chi = np.sort(np.nan_to_num(ov["chi_bench"].to_numpy(dtype=float), nan=0.0))[::-1]
    n = len(chi)
    ranks = sorted(set((np.unique(np.geomspace(1, max(n, 1), num=min(n, 60)).astype(int)) - 1).tolist()))
    total = chi.sum()
    out: dict[str, Any] = {"n_concepts": n, "n_zero": int((chi <= 0).sum()), "ranks": ranks,
                           "chi_bench": [float(chi[r]) for r in ranks]}
    if total > 0:
        out["top_1pct_share"] = min(1.0, float(chi[: max(1, n // 100)].sum() / total))
        out["top_10pct_share"] = min(1.0, float(chi[: max(1, n // 10)].sum() / total))
    return out


def _robustness(rob: dict[str, Any] | None) -> dict[str, float | bool]:
    out: dict[str, float | bool] = {}
    if not rob:
        return out
    sub = rob.get("subsampling") or {}
    adv = rob.get("adversarial") or {}
    for key, src in (("subsample_std_chi_model_mean", sub.get("mean_std_chi_model")),
                     ("subsample_std_chi_bench_mean", sub.get("mean_std_chi_bench")),
                     ("subsample_reruns", sub.get("n_reruns")),
                     ("adversarial_median_chi_model", adv.get("median_chi_model")),
                     ("adversarial_top_median_change", adv.get("change_top")),
                     ("adversarial_top_median_change_pct", adv.get("change_top_pct")),
                     ("adversarial_bottom_median_change", adv.get("change_bottom")),
                     ("adversarial_bottom_median_change_pct", adv.get("change_bottom_pct")),
                     ("adversarial_removed_top", adv.get("n_removed_top")),
                     ("adversarial_removed_bottom", adv.get("n_removed_bottom"))):
        v = _finite(src)
        if v is not None:
            out[key] = v
    if "direction_top_as_paper" in adv:
        out["direction_ok"] = bool(adv["direction_top_as_paper"] and adv["direction_bottom_as_paper"])
    return out


def derive_findings(*, spec, profile, dictionary, items, concept_scores, family_scores, matches,
                    reference_name: str, workload: dict[str, Any] | None = None,
                    family_mass: dict[str, dict[int, float]] | None = None) -> Any:
    """Build the :class:`~cg_gov.findings.Findings` of an audit from scored inputs.

    ``family_mass`` maps a family id to {item index: m_F(x)} for its evidence items.
    """
    family_mass = family_mass or {}
    from .findings import (AuditInfo, DictionaryRef, Findings, ProfileRef, SuiteBenchmark, build_summary,
                           family_gate_failed, severity, severity_rank)

    sset = spec.scoring
    labels = dictionary.labels
    concept_info = getattr(dictionary, "label_info", None)
    ov = concept_scores.overall
    fams = []
    for fam in profile.families:
        fm = matches.family(fam.id)
        row = family_scores.loc[fam.id] if fam.id in family_scores.index else None
        get = (lambda k: row.get(k) if row is not None and k in row.index else None)
        ratio = _finite(get("coverage"))
        cov_ci = _interval(get("coverage_ci_low"), get("coverage_ci_high"))
        suite_mass = _finite(get("support")) or 0.0
        cov_stat = coverage_status(len(fm.concepts), suite_mass, ratio, cov_ci, sset.ratio_k,
                                   get("representation"))
        score = _finite(get("performance"))
        lift = _finite(get("lift"))
        lift_ci = _interval(get("lift_ci_low"), get("lift_ci_high"))
        n_eff = _finite(get("n_eff"))
        q = _finite(get("lift_q"))
        perf_stat = performance_status(score, lift_ci, q, n_eff, sset.alpha) if fm.concepts else "insufficient-data"
        req = fam.require
        met = None
        if req is not None:
            # a requirement the data cannot check (no ratio, no score) is neither met nor failed
            raw_ratio = get("coverage")
            checks = []
            if req.coverage is not None and raw_ratio is not None and not np.isnan(raw_ratio):
                checks.append(bool(raw_ratio >= req.coverage))   # +inf (suite only) meets any threshold
            if req.performance is not None and score is not None:
                checks.append(score >= req.performance)
            if checks:
                met = all(checks)
        sev = severity(fam.importance, cov_stat, perf_stat)
        if met is False and severity_rank(sev) > severity_rank(fam.importance):
            # a requirement the profile states and the suite does not meet counts at the family's importance
            sev = fam.importance
        matched = []
        for c in fm.concepts:
            r = ov.loc[c.concept_id]
            info = concept_info[c.concept_id] if concept_info is not None else {}
            examples = [str(e) for e in (info.get("examples") or []) if str(e).strip()]
            matched.append({"concept_id": c.concept_id, "label": c.label or labels[c.concept_id],
                            "similarity": float(c.similarity), "margin": _finite(c.margin), "source": c.source,
                            "weight": float(c.weight),
                            "top_tokens": [str(t) for t in (info.get("top_tokens") or [])[:5]],
                            "example": _truncate(examples[0], EXAMPLE_CHARS) if examples else None,
                            "coverage_ratio": _finite(r.get("coverage_ratio")) if "coverage_ratio" in ov.columns else None,
                            "chi_model": _finite(r.get("chi_model"))})
        for m in matched:
            if m["chi_model"] is not None:
                m["chi_model"] = min(1.0, max(0.0, m["chi_model"]))
        shares = get("benchmark_share") or {}
        evidence = []
        top = get("top_items")
        for i in (list(top) if top is not None else [])[:EVIDENCE_ITEMS]:
            it = items[int(i)]
            evidence.append({"benchmark": it.benchmark, "item_id": it.id, "text": _truncate(it.input),
                             "score": it.score, "activation": float(family_mass.get(fam.id, {}).get(int(i), 0.0))})
        fams.append({
            "id": fam.id, "description": fam.description, "importance": fam.importance, "severity": sev,
            "gate_failed": family_gate_failed(sev, met), "matched_concepts": matched,
            "coverage": {"ratio": ratio if ratio is None or math.isfinite(ratio) else None, "ci": cov_ci,
                         "status": cov_stat, "suite_mean": _finite(get("suite_mean")),
                         "reference_mean": _finite(get("reference_mean")), "reference": reference_name},
            "performance": {"score": score, "score_ci": _interval(get("performance_ci_low"), get("performance_ci_high")),
                            "lift": lift, "ci": lift_ci, "status": perf_stat, "p": _finite(get("lift_p")), "q": q,
                            "n_eff": n_eff, "n_scored": int(get("scored_support") or 0)},
            "requirement": {"min_coverage_ratio": req.coverage if req else None,
                            "min_performance": req.performance if req else None, "met": met},
            "benchmarks": [{"name": k, "share": float(v)} for k, v in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
                           if _finite(v) and v > 0],
            "evidence": evidence,
            "caveats": _caveats_for(cov_stat, perf_stat, n_eff, matched),
        })
    from .findings import Family

    families = [Family.model_validate(f) for f in fams]
    families.sort(key=lambda f: (severity_rank(f.severity), f.id))
    summary = build_summary(families)

    # suite-level findings, independent of the profile
    supported = ov[ov["chi_model"].notna()] if "chi_model" in ov.columns else ov.iloc[:0]
    labelled = [i for i in supported.index if labels[int(i)]]
    sup = supported.loc[labelled]
    weakest = sup.sort_values(["chi_model"], kind="mergesort").index[:SUITE_ROWS]
    strongest = sup.sort_values(["chi_model"], ascending=False, kind="mergesort").index[:SUITE_ROWS]
    over, under = [], []
    if "representation" in ov.columns:
        o = ov[(ov["representation"] == "over") & np.isfinite(ov["coverage_ratio"])]
        over = o.sort_values("coverage_ratio", ascending=False, kind="mergesort").index[:SUITE_ROWS]
        u = ov[ov["representation"] == "under"]
        under = u.sort_values("coverage_ratio", kind="mergesort").index[:SUITE_ROWS]
    missing_ids = [int(i) for i in ov.index[ov["missing"].to_numpy(dtype=bool)]]
    suite = {
        "over_represented": [_concept_row(int(c), labels, ov) for c in over],
        "under_represented": [_concept_row(int(c), labels, ov) for c in under],
        "missing_from_suite": {"count": len(missing_ids), "pct": 100.0 * len(missing_ids) / max(1, len(ov)),
                               "examples": [{"concept_id": c, "label": labels[c]} for c in missing_ids if labels[c]][:SUITE_ROWS]},
        "weakest": [_concept_row(int(c), labels, ov) for c in weakest],
        "strongest": [_concept_row(int(c), labels, ov) for c in strongest],
        "robustness": _robustness(concept_scores.robustness),
        "coverage_distribution": _coverage_distribution(ov),
    }
    bench = concept_scores.benchmarks
    suite_rows = []
    for b in spec.benchmarks:
        r = bench.loc[b.name]
        suite_rows.append(SuiteBenchmark(name=b.name, n_items=int(r["n_items"]), n_scored=int(r["n_scored"]),
                                         mean_score=_finite(r["mean_score"]),
                                         missing_pct=float(concept_scores.missing_by_benchmark.get(b.name, 0.0))))
    audit = AuditInfo(id=spec.audit, model=spec.model,
                      profile=ProfileRef(id=profile.profile, version=str(profile.version),
                                         name=getattr(profile, "title", None), owner=profile.owner),
                      dictionary=DictionaryRef(identity=dictionary.identity, name=dictionary.name,
                                               n_concepts=dictionary.n_concepts),
                      suite=suite_rows)
    settings = {"k": sset.ratio_k, "n_min": sset.n_min, "min_benchmarks": sset.min_benchmarks,
                "n_bootstrap": sset.bootstrap, "alpha": sset.alpha, "seed": spec.effective_seed, "epsilon": sset.epsilon,
                "subsample_reruns": sset.subsample_reruns, "subsample_fraction": sset.subsample_fraction,
                "reference": reference_name, "min_family_n_eff": MIN_FAMILY_N_EFF,
                "lift_p_method": LIFT_P_METHOD,
                "matching_threshold": matches.threshold, "matching_top_k": matches.top_k,
                "matching_exemplar_weight": matches.exemplar_weight,
                "extraction_template": spec.extraction.template, "extraction_dtype": spec.extraction.dtype,
                "max_tokens": spec.extraction.max_tokens}
    findings = Findings(audit=audit, summary=summary, families=families, suite_findings=suite,
                        drift=workload, settings=settings)
    if matches.expected_precision is not None:
        for caveat in findings.caveats:
            if caveat.id == "noisy-labels":
                recall = (f", and it found {matches.expected_recall:.0%} of the concepts that fit"
                          if matches.expected_recall is not None else "")
                caveat.text += (f" Measured for this dictionary: on judged profiles not used to calibrate the "
                                f"matcher, {matches.expected_precision:.0%} of the concepts it matched fitted "
                                f"their family{recall}.")
    return findings


def _drift(workload_items, suite_abar, ref_abar, family_scores, matches, labels, ratio_k, name) -> dict[str, Any]:
    """Which families and concepts the workload uses that the suite barely tests, by workload traffic."""
    wmat = matches.weight_matrix()
    ref_mass = np.asarray(ref_abar @ wmat.T) if wmat.size else np.zeros((ref_abar.shape[0], 0))
    fam_traffic = ref_mass.mean(axis=0) if ref_mass.size else np.zeros(0)
    total = fam_traffic.sum()
    families = []
    for k, fm in enumerate(matches.families):
        row = family_scores.loc[fm.family] if fm.family in family_scores.index else None
        ratio = _finite(row.get("coverage")) if row is not None else None
        ci = _interval(row.get("coverage_ci_low"), row.get("coverage_ci_high")) if row is not None else None
        status = coverage_status(len(fm.concepts), _finite(row.get("support")) if row is not None else 0.0,
                                 ratio, ci, ratio_k, row.get("representation") if row is not None else None)
        families.append({"family_id": fm.family, "traffic_share": float(fam_traffic[k] / total) if total > 0 else 0.0,
                         "coverage_ratio": ratio, "ci": ci, "status": status})
    families.sort(key=lambda f: (-f["traffic_share"], f["family_id"]))
    ref_mean = np.asarray(ref_abar.mean(axis=0)).ravel()
    suite_mean = np.asarray(suite_abar.mean(axis=0)).ravel()
    share = ref_mean / ref_mean.sum() if ref_mean.sum() > 0 else ref_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref_mean > 0, suite_mean / ref_mean, np.nan)
    cand = np.nonzero((ref_mean > 0) & (ratio <= 1.0 / ratio_k) & np.array([bool(l) for l in labels]))[0]
    cand = cand[np.lexsort((cand, -share[cand]))][:15]
    concepts = [{"concept_id": int(c), "label": labels[c], "traffic_share": float(share[c]),
                 "coverage_ratio": float(ratio[c])} for c in cand]
    return {"reference": name, "n_items": len(workload_items), "families": families, "untested_concepts": concepts}


# --------------------------------------------------------------------- manifest


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("cg-gov", "torch", "transformers", "sae-lens", "sentence-transformers", "numpy", "scipy",
                "pandas", "pydantic", "jinja2", "weasyprint"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _file_entry(path: Path) -> dict[str, Any]:
    from .io import sha256_file

    if path.is_dir():
        import hashlib

        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(sha256_file(f).encode())
        return {"path": str(path), "sha256": h.hexdigest(), "kind": "folder"}
    return {"path": str(path), "sha256": sha256_file(path)}


def _timestamp(now: str | None) -> str:
    if now:
        return now
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.strip().isdigit():
            raise CgGovError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds",
                             hint="unset it or give seconds since 1970")
        return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------- pipeline


def run_audit(spec_path: str | os.PathLike, *, out: str | os.PathLike | None = None, device: str | None = None,
              use_cache: bool = True, progress: bool = True, now: str | None = None,
              formats: Sequence[str] | None = None) -> AuditResult:
    from .dictionary import load_dictionary
    from .engine import ExtractionSettings, extract_activations
    from .evals import read_benchmark, read_reference
    from .matching import match_profile
    from .report import render_report
    from .scoring import score_concepts, score_families
    from .specs import load_audit_with_profile
    from .validate import validate_file

    stages = _Stages(8, progress)
    spec_path = Path(spec_path)
    stages.start(f"validating {spec_path}")
    errors = validate_file(spec_path)
    if errors:
        from .errors import SpecErrorGroup

        raise SpecErrorGroup(errors) if len(errors) > 1 else errors[0]
    spec, profile, profile_path = load_audit_with_profile(spec_path)
    base = spec_path.parent
    stages.done(f"audit '{spec.audit}', profile '{profile.profile}' v{profile.version}")

    stages.start("reading eval logs")
    items = []
    for b in spec.benchmarks:
        items += read_benchmark(b, base)
    workload = read_reference(spec.reference, base) if spec.reference is not None else None
    scored = sum(1 for it in items if it.score is not None)
    stages.done(f"{len(items)} items in {len(spec.benchmarks)} benchmarks, {scored} scored"
                + (f"; workload sample of {len(workload)} items" if workload else ""))

    stages.start("loading the concept dictionary")
    dictionary = load_dictionary(spec.dictionary if spec.dictionary != "default" else "default", base_dir=base)
    stages.done(f"{dictionary.name}: {dictionary.n_concepts} concepts at layer {dictionary.hook_layer}")

    ex = spec.extraction
    settings = ExtractionSettings(template=ex.template, exclude_special_tokens=ex.exclude_special_tokens,
                                  dtype=ex.dtype, device=device or ex.device, batch_size=ex.batch_size,
                                  max_tokens=ex.max_tokens)
    stages.start("concept activations (cached)")
    responses = [it.response for it in items] if ex.template == "user_assistant" else None
    acts = extract_activations([it.input for it in items], dictionary, responses=responses, settings=settings,
                               cache=use_cache, progress=progress, desc="suite items")
    note = f"{acts.cache_hits}/{len(items)} from cache"
    ref_abar = None
    if workload is not None:
        wresponses = [it.response for it in workload] if ex.template == "user_assistant" else None
        wacts = extract_activations([it.input for it in workload], dictionary, responses=wresponses,
                                    settings=settings, cache=use_cache, progress=progress, desc="workload items")
        ref_abar = wacts.abar
        reference_name = spec.reference.name
        note += f"; workload {wacts.cache_hits}/{len(workload)} from cache"
    elif dictionary.reference is not None:
        ref_abar = dictionary.reference
        ref_settings = (dictionary.manifest.get("reference") or {}).get("extraction")
        if ref_settings and any(ref_settings.get(k) != v for k, v in settings.cache_key().items()
                                if k in ref_settings):
            print(f"warning: the dictionary's reference corpus was extracted with {ref_settings}, this audit "
                  f"with {settings.cache_key()}: coverage ratios compare unlike activations; give a workload "
                  "sample (`reference:`) extracted like the suite", file=sys.stderr)
        reference_name = f"dictionary reference corpus ({ref_abar.shape[0]} held-out windows)"
    else:
        reference_name = "none"
    stages.done(note)

    sset = spec.scoring
    scores = np.array([np.nan if it.score is None else it.score for it in items], dtype=float)
    bench_names = np.array([it.benchmark for it in items])
    stages.start(f"scoring concepts ({sset.bootstrap} bootstrap resamples, {sset.subsample_reruns} subsampling reruns)")
    cs = score_concepts(acts.abar, scores, bench_names, reference=ref_abar, n_min=sset.n_min,
                        min_benchmarks=sset.min_benchmarks, ratio_k=sset.ratio_k, n_bootstrap=sset.bootstrap,
                        alpha=sset.alpha, seed=spec.effective_seed, epsilon=sset.epsilon,
                        subsample_reruns=sset.subsample_reruns, subsample_fraction=sset.subsample_fraction,
                        adversarial=True, lift_p_method=LIFT_P_METHOD)
    stages.done(f"{int(cs.overall['chi_model'].notna().sum())} concepts with a chi_model; "
                f"{cs.suite_missing} missing from the whole suite")

    stages.start("matching profile families to concepts")

    def exemplar_acts(texts):
        return extract_activations(texts, dictionary, settings=settings, cache=use_cache, progress=False).abar

    ref_mean = dictionary.reference_mean
    matches = match_profile(profile, dictionary.labels, exemplar_activations=exemplar_acts,
                            reference_mean=ref_mean, dictionary_identity=dictionary.identity,
                            defaults=dictionary.matching_defaults, concept_info=dictionary.label_info,
                            progress=progress)
    stages.done(f"{sum(len(f.concepts) for f in matches.families)} concepts matched; "
                f"{len(matches.unmatched)} families without a match")

    stages.start("scoring families")
    fs = score_families(acts.abar, scores, bench_names, matches.weights(), reference=ref_abar, n_min=sset.n_min,
                        ratio_k=sset.ratio_k, n_bootstrap=sset.bootstrap, alpha=sset.alpha, seed=spec.effective_seed,
                        epsilon=sset.epsilon, lift_p_method=LIFT_P_METHOD)
    drift = None
    if workload is not None:
        drift = _drift(workload, acts.abar, ref_abar, fs, matches, dictionary.labels, sset.ratio_k, reference_name)
    wmat = matches.weight_matrix()
    mass = np.asarray(acts.abar @ wmat.T) if wmat.size else np.zeros((len(items), 0))
    family_mass = {}
    for k, fm in enumerate(matches.families):
        top = fs.loc[fm.family, "top_items"] if fm.family in fs.index else []
        family_mass[fm.family] = {int(i): float(mass[int(i), k]) for i in top}
    findings = derive_findings(spec=spec, profile=profile, dictionary=dictionary, items=items, concept_scores=cs,
                               family_scores=fs, matches=matches, reference_name=reference_name, workload=drift,
                               family_mass=family_mass)
    stages.done(f"gate {findings.summary.gate}")

    stages.start("rendering the report")
    inputs = [{"name": b.name, "format": b.format, **_file_entry(spec.resolve(b.log)),
               "n_items": sum(1 for it in items if it.benchmark == b.name)} for b in spec.benchmarks]
    manifest = {
        "cg_gov_version": findings.cg_gov_version, "created": _timestamp(now),
        "audit": {"id": spec.audit, **_file_entry(spec_path)},
        "profile": {"id": profile.profile, "version": str(profile.version), **_file_entry(profile_path)},
        "inputs": inputs,
        "reference": ({"name": reference_name, "format": spec.reference.format,
                       **_file_entry(spec.resolve(spec.reference.log))} if workload is not None
                      else {"name": reference_name}),
        "dictionary": dictionary.describe(),
        "extraction": {**settings.cache_key(), "device": settings.device, "batch_size": settings.batch_size,
                       "special_tokens": "excluded from the mean" if settings.exclude_special_tokens else "counted"},
        "scoring": dict(cs.settings),
        "matching": {"embedder": matches.embedder, "labels_sha256": matches.labels_sha256,
                     "threshold": matches.threshold, "top_k": matches.top_k,
                     "exemplar_weight": matches.exemplar_weight, "min_specificity": matches.min_specificity,
                     "settings_from": matches.calibration},
        "seeds": {"scoring": spec.effective_seed},
        "versions": _versions(),
        "platform": platform.platform(),
    }
    out_dir = Path(out) if out else spec.output_dir()
    fmts = list(formats) if formats else list(spec.report.formats)
    paths = render_report(findings, _jsonable(manifest), out_dir, formats=fmts)
    stages.done(", ".join(str(p) for p in paths.values()))
    code = EXIT_GATE_FAILED if findings.summary.gate == "fail" else EXIT_OK
    return AuditResult(findings=findings, manifest=manifest, paths=paths, exit_code=code)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def run_audit_cli(args: argparse.Namespace) -> int:
    result = run_audit(args.spec, out=getattr(args, "out", None), device=getattr(args, "device", None),
                       use_cache=not getattr(args, "no_cache", False), now=getattr(args, "now", None))
    s = result.findings.summary
    print(f"gate: {s.gate.upper()}  ({', '.join(f'{k} {v}' for k, v in s.counts.model_dump().items() if v)})")
    for line in s.gate_failures:
        print(f"  - {line}")
    for p in result.paths.values():
        print(f"wrote {p}")
    return result.exit_code
