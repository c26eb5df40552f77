"""From scored inputs to :class:`~cg_gov.findings.Findings`: the verdict applied to each family.

:func:`derive_findings` reads the scoring output as typed rows (:class:`~cg_gov.scoring.ConceptScoreRow`,
:class:`~cg_gov.scoring.BenchmarkScoreRow`, :class:`~cg_gov.scoring.FamilyMass`; a declared column missing from
a scoring frame is an error naming it, never a silent None), applies :mod:`cg_gov.findings.verdict` and
returns the typed findings with the run's :class:`~cg_gov.spec.RunSettings`; :func:`workload_drift` is
the drift section.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cg_gov.errors import CgGovError
from cg_gov.findings._schema import (
    SCHEMA_VERSION,
    UNMEASURED_VISIBILITY,
    AuditInfo,
    DictionaryRef,
    Drift,
    Family,
    Findings,
    ProfileRef,
    SuiteBenchmark,
    SuiteFindings,
    build_summary,
    item_count,
    rule_fields,
)
from cg_gov.findings.verdict import (
    MIN_FAMILY_ITEMS,
    MIN_FAMILY_N_EFF,
    RULE_VERSION,
    caveats_for,
    coverage_status,
    exploratory_sections,
    performance_status,
    severity_rank,
)
from cg_gov.scoring import ConceptScoreRow, ConceptScores, FamilyItemScores, family_mass_rows
from cg_gov.scoring._concepts import require_columns
from cg_gov.spec import AuditSpec, ExtractionSettings, MatchingSettings, Profile, RunSettings, ScoringSettings
from cg_gov.text import truncate

if TYPE_CHECKING:
    from cg_gov.dictionary import ConceptDictionary
    from cg_gov.evals import Item
    from cg_gov.matching import ProfileMatch

__all__ = ["EVIDENCE_CHARS", "EVIDENCE_ITEMS", "EXAMPLE_CHARS", "SUITE_ROWS", "derive_findings", "ranked_by_lift", "workload_drift"]

#: Evidence items shown per family, and the characters kept of each.
EVIDENCE_ITEMS = 4
EVIDENCE_CHARS = 320
#: Characters kept of a matched concept's example context.
EXAMPLE_CHARS = 160
#: Rows of each suite-level list.
SUITE_ROWS = 10


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


# --------------------------------------------------------------------- findings


def _concept_row(r: ConceptScoreRow, labels: Sequence[str], reference: bool) -> dict[str, Any]:
    c = r.concept_id
    row: dict[str, Any] = {"concept_id": c, "label": labels[c] or f"concept {c} (unlabelled)",
                           "chi_model": _finite(r.chi_model), "lift": _finite(r.lift),
                           "lift_ci": _interval(r.lift_ci_low, r.lift_ci_high),
                           "lift_p": _finite(r.lift_p), "lift_q": _finite(r.lift_q),
                           "n_eff": _finite(r.n_eff), "n_benchmarks": int(r.n_supported_benchmarks or 0),
                           "chi_bench": _finite(r.chi_bench)}
    if reference:
        row["coverage_ratio"] = _finite(r.coverage_ratio)
        row["coverage_ratio_ci"] = _interval(r.ratio_ci_low, r.ratio_ci_high)
    if row["chi_model"] is not None:
        row["chi_model"] = min(1.0, max(0.0, row["chi_model"]))
    return row


def _coverage_distribution(ov: pd.DataFrame) -> dict[str, Any]:
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


def share_ratio(fi: FamilyItemScores | None, workload_share: float | None, workload_n: int | None
                ) -> tuple[float | None, list[float] | None]:
    """The suite's share of family items over the workload's, with the suite share's interval divided
    the same way; None without a workload sample. A workload with no family item counts as half an
    item (a continuity correction), so a family the workload does not need reads as amply covered
    rather than unmeasurable."""
    if fi is None or workload_share is None:
        return None, None
    denominator = workload_share if workload_share > 0 else 0.5 / max(1, workload_n or 1)
    ci = [fi.share_ci[0] / denominator, fi.share_ci[1] / denominator] if fi.share_ci else None
    return fi.share / denominator, ci


def run_settings(spec: AuditSpec, matches: ProfileMatch, reference_name: str) -> RunSettings:
    """The typed settings an audit ran with, as findings record them: the spec's scoring settings with
    the audit's effective seed, its extraction's template, dtype and max_tokens, the matcher's resolved
    threshold, top_k and exemplar weight, the reference sample's name and the rule's version."""
    from cg_gov.matching._detector import DetectorSettings  # the audit has imported matching already

    scoring = ScoringSettings.model_validate({**spec.scoring.model_dump(), "seed": spec.effective_seed})
    ex = spec.extraction
    resolved = {"threshold": matches.threshold, "top_k": matches.top_k, "exemplar_weight": matches.exemplar_weight}
    try:
        matching = MatchingSettings.model_validate(resolved)
    except ValidationError as exc:  # a dictionary's calibrated value outside the bounds a profile may set
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err.get("loc") else "matching"
        raise CgGovError(f"the matcher resolved {key} = {resolved.get(key)!r}: {err['msg']}", key=f"matching.{key}",
                         hint="set matching." + key + " in the profile, or correct the dictionary manifest's "
                         "matching values") from None
    return RunSettings(scoring=scoring,
                       extraction=ExtractionSettings(template=ex.template, dtype=ex.dtype, max_tokens=ex.max_tokens),
                       matching=matching, reference=reference_name, min_family_n_eff=MIN_FAMILY_N_EFF,
                       rule_version=RULE_VERSION,
                       detector_max_near_miss_rate=DetectorSettings().max_near_miss_rate)


def derive_findings(*, spec: AuditSpec, profile: Profile, dictionary: ConceptDictionary, items: Sequence[Item],
                    concept_scores: ConceptScores, family_scores: pd.DataFrame, matches: ProfileMatch,
                    reference_name: str, workload: dict[str, Any] | None = None,
                    family_mass: Mapping[str, Mapping[int, float]] | None = None,
                    visibility: Mapping[str, dict[str, Any]] | None = None,
                    benchmark_info: Mapping[str, dict[str, Any]] | None = None,
                    model_sha256: str | None = None,
                    family_items: Mapping[str, FamilyItemScores] | None = None,
                    items_info: Mapping[str, dict[str, Any]] | None = None) -> Findings:
    """Build the :class:`~cg_gov.findings.Findings` of an audit from scored inputs.

    ``family_items`` maps a family id to its :class:`~cg_gov.scoring.FamilyItemScores` (the family's
    items counted and scored: the verdict's basis); ``items_info`` to the rest of its ``items`` object
    (operating point, workload share, labelled sample) and its final ``visibility``.
    ``family_mass`` maps a family id to {item index: m_F(x)} (evidence items are the family's items of
    largest m_F). ``family_scores`` (the concept-mass scores of :func:`~cg_gov.scoring.score_families`)
    only supplies the paper-style soft coverage, shown for reference. ``benchmark_info`` maps a
    benchmark to ``{scorer, scorer_detail, constant_score, measures, scorer_check}``.
    """
    benchmark_info = benchmark_info or {}
    family_mass = family_mass or {}
    visibility = visibility or {}
    family_items = family_items or {}
    items_info = items_info or {}
    settings = run_settings(spec, matches, reference_name)
    sset = settings.scoring
    labels = dictionary.labels
    concept_info = dictionary.label_info
    ov = concept_scores.overall
    has_reference = concept_scores.has_reference
    mass_rows = family_mass_rows(family_scores, reference=has_reference)
    floor = profile.scorer_agreement_floor
    fams = []
    for fam in profile.families:
        fm = matches.family(fam.id)
        mass_row = mass_rows.get(fam.id)
        fi = family_items.get(fam.id)
        info = items_info.get(fam.id, {})
        vis = dict(info.get("visibility") or visibility.get(fam.id) or UNMEASURED_VISIBILITY)
        visible = bool(fm.concepts) and fi is not None and info.get("threshold") is not None
        if not visible:
            vis["status"] = "cannot-tell"
        req = fam.require
        min_items = (req.min_items if req and req.min_items else MIN_FAMILY_ITEMS)
        items_obj = None
        if fi is not None:
            items_obj = {"detected": fi.detected, "by_benchmark": dict(fi.by_benchmark), "share": fi.share,
                         "share_ci": list(fi.share_ci) if fi.share_ci else None, "n_suite": len(items),
                         **{k: v for k, v in info.items() if k != "visibility"}}
        count = item_count(items_obj)
        wshare = info.get("workload_share")
        ratio, ratio_ci = share_ratio(fi, wshare, info.get("workload_n"))
        cov_stat = coverage_status(visible, count, min_items, ratio, sset.ratio_k,
                                   fi.share_ci[1] if fi is not None and fi.share_ci else None, wshare)
        expects = list(fam.expects)
        evidence_names = list(fi.evidence_benchmarks) if fi is not None else []
        score = fi.score if fi is not None else None
        lift_ci = list(fi.lift_ci) if fi is not None and fi.lift_ci else None
        q = fi.lift_q if fi is not None else None
        n_scored = fi.n_scored if fi is not None else 0
        has_evidence = not expects or bool(evidence_names)
        perf_stat = performance_status(score, lift_ci, q, n_scored, sset.alpha, evidence=has_evidence) \
            if visible else ("no-evidence" if not has_evidence else "insufficient-data")
        flags = []
        for b in evidence_names:
            check = (benchmark_info.get(b) or {}).get("scorer_check")
            if check and check.get("agreement") is not None and check["agreement"] < floor:
                flags.append(f"{b} agreed {check['agreement']:.2f} with human verdicts (floor {floor:.2f})")
        matched: list[dict[str, Any]] = []
        for c in fm.concepts:
            r = concept_scores.concept(c.concept_id)
            cinfo = concept_info[c.concept_id] if concept_info is not None else {}
            examples = [str(e) for e in (cinfo.get("examples") or []) if str(e).strip()]
            matched.append({"concept_id": c.concept_id, "label": c.label or labels[c.concept_id],
                            "similarity": float(c.similarity), "margin": _finite(c.margin), "source": c.source,
                            "weight": float(c.weight),
                            "top_tokens": [str(t) for t in (cinfo.get("top_tokens") or [])[:5]],
                            "example": truncate(examples[0], EXAMPLE_CHARS) if examples else None,
                            "coverage_ratio": _finite(r.coverage_ratio),
                            "chi_model": _finite(r.chi_model)})
        for m in matched:
            if m["chi_model"] is not None:
                m["chi_model"] = min(1.0, max(0.0, m["chi_model"]))
        evidence = []
        masses = family_mass.get(fam.id, {})
        members = set(fi.items) if fi is not None else set()
        ev_set = set(evidence_names)
        ranked = sorted(members, key=lambda i: (items[i].benchmark not in ev_set, -masses.get(i, 0.0), i))
        for i in ranked[:EVIDENCE_ITEMS]:
            it = items[int(i)]
            evidence.append({"benchmark": it.benchmark, "item_id": it.id, "text": truncate(it.input, EVIDENCE_CHARS),
                             "response": truncate(it.response, EVIDENCE_CHARS) if it.response else None,
                             "score": it.score, "activation": float(masses.get(int(i), 0.0))})
        suite_mean = _finite(mass_row.suite_mean) if mass_row is not None else None
        ref_mean = _finite(mass_row.reference_mean) if mass_row is not None else None
        mass_ratio = _finite(mass_row.coverage) if mass_row is not None else None
        fams.append({
            "id": fam.id, "description": fam.description, "importance": fam.importance,
            "visibility": vis, "matched_concepts": matched, "items": items_obj,
            "coverage": {"ratio": ratio, "ci": ratio_ci, "status": cov_stat, "min_items": min_items,
                         "suite_mean": suite_mean, "reference_mean": ref_mean,
                         "mass_ratio": mass_ratio if mass_ratio is None or math.isfinite(mass_ratio) else None,
                         "reference": reference_name},
            "performance": {"score": score, "score_ci": list(fi.score_ci) if fi is not None and fi.score_ci else None,
                            "lift": fi.lift if fi is not None else None, "ci": lift_ci, "status": perf_stat,
                            "p": fi.lift_p if fi is not None else None, "q": q,
                            "n_eff": float(n_scored) if fi is not None else None, "n_scored": n_scored,
                            "expects": expects, "benchmarks": evidence_names,
                            "constant_benchmarks": dict(fi.constant_benchmarks) if fi is not None else {},
                            "scorer_flags": flags},
            "requirement": {"min_coverage_ratio": req.coverage if req else None,
                            "min_items": req.min_items if req else None,
                            "min_performance": req.performance if req else None},
            "benchmarks": [{"name": b, "share": n / fi.detected} for b, n in
                           sorted(fi.by_benchmark.items(), key=lambda kv: (-kv[1], kv[0])) if n > 0]
            if fi is not None and fi.detected else [],
            "evidence": evidence,
            "caveats": caveats_for(cov_stat, perf_stat, float(n_scored), matched),
        })
        fams[-1].update(rule_fields(fams[-1]))
    families = [Family.model_validate(f) for f in fams]
    families.sort(key=lambda f: (severity_rank(f.severity), f.id))
    summary = build_summary(families, exploratory=exploratory_sections(sset))

    # suite-level findings, independent of the profile
    weakest, strongest = ranked_by_lift(ov, labels, sset.min_benchmarks, sset.alpha)
    over: Sequence[int] = []
    under: Sequence[int] = []
    if has_reference:
        o = ov[(ov["representation"] == "over") & np.isfinite(ov["coverage_ratio"])]
        over = o.sort_values("coverage_ratio", ascending=False, kind="mergesort").index[:SUITE_ROWS]
        u = ov[ov["representation"] == "under"]
        under = u.sort_values("coverage_ratio", kind="mergesort").index[:SUITE_ROWS]
    missing_ids = [int(i) for i in ov.index[ov["missing"].to_numpy(dtype=bool)]]
    suite = {
        "over_represented": [_concept_row(concept_scores.concept(int(c)), labels, has_reference) for c in over],
        "under_represented": [_concept_row(concept_scores.concept(int(c)), labels, has_reference) for c in under],
        "missing_from_suite": {"count": len(missing_ids), "pct": 100.0 * len(missing_ids) / max(1, len(ov)),
                               "examples": [{"concept_id": c, "label": labels[c]} for c in missing_ids if labels[c]][:SUITE_ROWS]},
        "weakest": [_concept_row(concept_scores.concept(c), labels, has_reference) for c in weakest],
        "strongest": [_concept_row(concept_scores.concept(c), labels, has_reference) for c in strongest],
        "robustness": _robustness(concept_scores.robustness),
        "coverage_distribution": _coverage_distribution(ov),
    }
    suite_rows = []
    for bench in spec.benchmarks:
        br = concept_scores.benchmark(bench.name)
        info = benchmark_info.get(bench.name, {})
        constant = info.get("constant_score")
        suite_rows.append(SuiteBenchmark(name=bench.name, n_items=br.n_items,
                                         n_scored=int(info.get("n_scored", br.n_scored)),
                                         mean_score=constant if constant is not None else _finite(br.mean_score),
                                         missing_pct=float(concept_scores.missing_by_benchmark.get(bench.name, 0.0)),
                                         scorer=info.get("scorer"), scorer_detail=info.get("scorer_detail"),
                                         what_1_means=bench.description, constant_score=constant,
                                         measures=bench.measures, scorer_kind=bench.scorer,
                                         scorer_check=info.get("scorer_check")))
    assert spec.model is not None, "derive_findings takes a single-model audit (AuditSpec.for_model)"
    audit = AuditInfo(id=spec.audit, model=spec.model, model_sha256=model_sha256,
                      profile=ProfileRef(id=profile.profile, version=str(profile.version),
                                         name=profile.title, owner=profile.owner,
                                         description=" ".join(str(profile.description).split()) or None),
                      dictionary=DictionaryRef(identity=dictionary.identity, name=dictionary.name,
                                               n_concepts=dictionary.n_concepts),
                      suite=suite_rows)
    # the current shape, stated: a dict without schema_version is read as a file older than version 1
    findings = Findings(schema_version=SCHEMA_VERSION, audit=audit, summary=summary, families=families,
                        suite_findings=SuiteFindings.model_validate(suite),
                        drift=Drift.model_validate(workload) if workload is not None else None, settings=settings)
    if matches.expected_precision is not None:
        for caveat in findings.caveats:
            if caveat.id == "noisy-labels":
                recall = (f", and it found {matches.expected_recall:.0%} of the concepts that fit"
                          if matches.expected_recall is not None else "")
                caveat.text += (f" Measured for this dictionary: on judged profiles not used to calibrate the "
                                f"matcher, {matches.expected_precision:.0%} of the concepts it matched fitted "
                                f"their family{recall}.")
    return findings


def ranked_by_lift(ov: pd.DataFrame, labels: Sequence[str], min_benchmarks: int, alpha: float
                   ) -> tuple[list[int], list[int]]:
    """(weakest, strongest) concept ids: lift significantly below / above 0 (interval excluding 0 and
    q below alpha), supported in at least ``min_benchmarks`` benchmarks, labelled; by lift. ``ov`` is
    ``ConceptScores.overall``; a column it needs that is missing raises :class:`CgGovError`."""
    require_columns(ov, ("lift", "lift_ci_low", "lift_ci_high", "lift_q", "n_supported_benchmarks"),
                    "ConceptScores.overall")
    ok = (np.isfinite(ov["lift"].to_numpy(float)) & (ov["n_supported_benchmarks"].to_numpy() >= min_benchmarks)
          & (ov["lift_q"].to_numpy(float) < alpha) & np.array([bool(labels[int(i)]) for i in ov.index]))
    sub = ov[ok]
    low = sub[sub["lift_ci_high"] < 0].sort_values(["lift"], kind="mergesort")
    high = sub[sub["lift_ci_low"] > 0].sort_values(["lift"], ascending=False, kind="mergesort")
    return [int(i) for i in low.index[:SUITE_ROWS]], [int(i) for i in high.index[:SUITE_ROWS]]


def workload_drift(workload_items: Sequence[Item], suite_abar: Any, ref_abar: Any,
                   family_items: Mapping[str, FamilyItemScores], items_info: Mapping[str, dict[str, Any]],
                   matches: ProfileMatch, labels: Sequence[str], ratio_k: float, name: str) -> dict[str, Any]:
    """Which families and concepts the workload uses that the suite barely tests, by workload traffic.

    A family's ``traffic_share`` is its share of the workload's family activation mass (how the
    traffic splits across the profile's families); its ``coverage_ratio`` is the suite's share of
    family items over the workload's (the same detector and operating point on both), with the
    interval of the suite share, and its status the family's coverage status against that ratio."""
    wmat = matches.weight_matrix()
    ref_mass = np.asarray(ref_abar @ wmat.T) if wmat.size else np.zeros((ref_abar.shape[0], 0))
    fam_traffic = ref_mass.mean(axis=0) if ref_mass.size else np.zeros(0)
    total = fam_traffic.sum()
    families: list[dict[str, Any]] = []
    for k, fm in enumerate(matches.families):
        fi = family_items.get(fm.family)
        info = items_info.get(fm.family, {})
        wshare = info.get("workload_share")
        ratio, ci = share_ratio(fi, wshare, info.get("workload_n"))
        visible = fi is not None and info.get("threshold") is not None and bool(fm.concepts)
        status = coverage_status(visible, float(fi.detected) if fi is not None else None, 1, ratio, ratio_k,
                                 fi.share_ci[1] if fi is not None and fi.share_ci else None, wshare)
        families.append({"family_id": fm.family, "traffic_share": float(fam_traffic[k] / total) if total > 0 else 0.0,
                         "coverage_ratio": ratio, "ci": ci, "status": status})
    families.sort(key=lambda f: (-f["traffic_share"], f["family_id"]))
    ref_mean = np.asarray(ref_abar.mean(axis=0)).ravel()
    suite_mean = np.asarray(suite_abar.mean(axis=0)).ravel()
    share = ref_mean / ref_mean.sum() if ref_mean.sum() > 0 else ref_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        concept_ratio = np.where(ref_mean > 0, suite_mean / ref_mean, np.nan)
    cand = np.nonzero((ref_mean > 0) & (concept_ratio <= 1.0 / ratio_k) & np.array([bool(l) for l in labels]))[0]
    cand = cand[np.lexsort((cand, -share[cand]))][:15]
    concepts = [{"concept_id": int(c), "label": labels[int(c)], "traffic_share": float(share[c]),
                 "coverage_ratio": float(concept_ratio[c])} for c in cand]
    return {"reference": name, "n_items": len(workload_items), "families": families, "untested_concepts": concepts}
