"""The audit pipeline: from an audit spec to findings and a manifest.

    read the spec and its logs (cg_gov.evals.read_audit) -> load dictionary
    -> activations (cached) -> score concepts -> match families -> score families
    -> findings (cg_gov.findings.derive_findings) + manifest

:func:`run_audit` computes; rendering the report is a separate step
(:func:`cg_gov.report.render_report`), which ``cg-gov audit`` runs after it and ``cg-gov report``
can run again from the saved files. The findings are a pure function of the inputs and the seed
(``findings.json`` is byte-stable); the time of the run goes into the manifest only.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from cg_gov.findings import Findings, Manifest
from cg_gov.text import safe_terminal

if TYPE_CHECKING:
    from cg_gov.evals import AuditInputs, Item

__all__ = ["AuditResult", "Progress", "run_audit", "run_audit_inputs", "describe_benchmarks", "git_commit",
           "reproduce_command"]

#: What :func:`run_audit` says while it runs: nothing (``False``, the default), one line per stage and
#: progress bars on stderr (``True``, what ``cg-gov audit`` passes), or each line handed to a callable
#: (no bars).
Progress = Union[bool, Callable[[str], None]]

#: How the demo's scorers decide, by the ``method`` a log folder's ``summary.json`` records.
SCORER_WORDS = {
    "refusal": "refusal detector over the model's reply ({tokens} new tokens at most): 1 when the reply "
               "declines (see the scorer named in the log)",
    "choice": "choice by {calibrated}log-likelihood of each option: 1 when the most likely option is the target",
    "answer": "accepted-answer match in the model's reply ({tokens} new tokens at most)",
}
#: Largest ``summary.json`` read beside the eval logs.
SUMMARY_MAX_BYTES = 1 << 20


def _log_summary(folder: Path) -> dict:
    """A log folder's ``summary.json`` (as the demo's scoring tool writes it), or {}; bounded read."""
    import json

    from cg_gov.io import read_optional

    raw = read_optional(folder / "summary.json", SUMMARY_MAX_BYTES)  # capped by the bytes read
    if raw is None:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe_benchmarks(spec, items, prompting: list | None = None) -> tuple[dict[str, dict], str | None]:
    """Per benchmark: its scorer (from the items' metadata), how it decides (from a ``summary.json``
    beside the logs, where there is one), the number of scored items, and ``constant_score`` when
    every scored item has the same score; and the model's sha256 where a ``summary.json`` gives it.
    ``prompting``, when given, receives the ``prompt_format`` a ``summary.json`` records."""
    from collections import Counter

    out: dict[str, dict] = {}
    model_sha256 = None
    for b in spec.benchmarks:
        own = [it for it in items if it.benchmark == b.name]
        scored = [it.score for it in own if it.score is not None]
        scorers = Counter(str(it.metadata.get("scorer")) for it in own if it.metadata.get("scorer"))
        summary = _log_summary(spec.resolve(b.log).parent)
        model_sha256 = model_sha256 or (summary.get("model_sha256") if isinstance(summary.get("model_sha256"), str)
                                        else None)
        if prompting is not None and isinstance(summary.get("prompt_format"), str) and not prompting:
            prompting.append(summary["prompt_format"][:400])
        entry = (summary.get("benchmarks") or {}).get(b.name) if isinstance(summary.get("benchmarks"), dict) else None
        detail = None
        if isinstance(entry, dict) and entry.get("method") in SCORER_WORDS:
            method = entry["method"]
            tokens = (summary.get("max_new_tokens") or {}).get(method, "a few")
            detail = SCORER_WORDS[method].format(tokens=tokens,
                                                 calibrated="calibrated " if entry.get("calibrated") else "")
        check = None
        if getattr(b, "scorer_check", None):
            from cg_gov.evals import read_scorer_check, scorer_agreement

            path = spec.resolve(b.scorer_check)
            agreement = scorer_agreement(read_scorer_check(path), {str(it.id): it.score for it in own
                                                                   if it.score is not None})
            check = {k: agreement[k] for k in ("agreement", "agreement_ci", "kappa", "kappa_ci", "n")}
            check["file"] = path.name
        out[b.name] = {"scorer": scorers.most_common(1)[0][0] if scorers else None, "scorer_detail": detail,
                       "n_scored": len(scored), "scorer_check": check,
                       "constant_score": float(scored[0]) if len(scored) >= 2 and len(set(scored)) == 1 else None}
    return out, model_sha256


def git_commit() -> str | None:
    """The commit of the cg_gov checkout this runs from (with ``+dirty`` when it has changes), or None."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "cg_gov"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def reproduce_command(spec_path: Path, now: str) -> str:
    """The command that reproduces this run's findings (the spec path as given, relative when it is)."""
    import shlex

    spec = Path(spec_path)
    try:
        spec = spec.resolve().relative_to(Path.cwd().resolve()) if spec.is_absolute() else spec
    except ValueError:
        spec = Path(spec.name)
    return f"HF_HUB_OFFLINE=1 cg-gov audit {shlex.quote(str(spec))} --now {shlex.quote(now)}"


def _to_stderr(line: str) -> None:
    print(safe_terminal(line), file=sys.stderr, flush=True)


class _Stages:
    """Progress display (:data:`Progress`): one line per stage with its duration, and the warnings."""

    def __init__(self, total: int, progress: Progress = False) -> None:
        self.total, self.i = total, 0
        self.say: Callable[[str], None] | None = (progress if callable(progress)
                                                  else _to_stderr if progress else None)
        self.bars = progress is True  # tqdm bars of the long stages: on a terminal only
        self.t0 = self.t = time.perf_counter()

    def start(self, what: str) -> None:
        self.i += 1
        self.t = time.perf_counter()
        if self.say:
            self.say(f"[{self.i}/{self.total}] {what} ...")

    def done(self, note: str = "") -> None:
        if self.say:
            el = time.perf_counter() - self.t
            self.say(f"      done in {el:.1f}s{(': ' + note) if note else ''}")

    def warn(self, message: str) -> None:
        """A warning the findings also record (in their notes): shown with the progress, never alone."""
        if self.say:
            self.say(f"warning: {message}")


@dataclass
class AuditResult:
    """What an audit computed: its findings and manifest, and the spec's output folder and formats.

    ``findings.gate_exit_code()`` is what ``cg-gov audit`` exits with; :func:`cg_gov.render_report`
    writes the report (``render_report(r.findings, r.manifest, r.out_dir, formats=r.formats)``)."""

    findings: Findings
    manifest: Manifest
    out_dir: Path
    """The spec's ``report.out`` (its default when unset)."""
    formats: list[str]
    """The spec's ``report.formats``."""
    items: list | None = None
    """The suite's items (a single-model audit), in the order of ``family_scores``."""
    family_scores: dict[str, np.ndarray] | None = None
    """Each family's detector score m_F(x) of every suite item."""
    cuts: dict[str, float | None] | None = None
    """Each family's operating point (None: no detector)."""
    labels: dict[str, dict[int, bool]] | None = None
    """The owner's labels read from the spec's ``labels:``, family -> {item index: member}."""


def run_audit(spec_path: str | os.PathLike, *, device: str | None = None, use_cache: bool = True,
              progress: Progress = False, now: str | None = None, executor: str | None = None) -> AuditResult:
    """Run the audit spec at ``spec_path``: its findings and manifest (:class:`AuditResult`).

    Raises a :class:`~cg_gov.errors.CgGovError` listing every problem of the spec or its logs before
    anything heavy runs. Quiet unless asked: ``progress=True`` prints each stage and its duration on
    stderr (what ``cg-gov audit`` does), a callable receives those lines instead (:data:`Progress`).
    ``device`` and ``executor`` override the spec's ``extraction``; ``use_cache=False`` recomputes the
    activations; ``now`` (ISO 8601) is the time the manifest records (default ``$SOURCE_DATE_EPOCH``,
    else the current time), the findings never record it. A vendor audit (``models:``) runs once per
    candidate on the shared activations. Nothing is written: rendering is
    :func:`cg_gov.report.render_report`."""
    from cg_gov.evals import cached_reads, read_audit

    stages = _Stages(6, progress)
    spec_path = Path(spec_path)
    stages.start(f"validating {spec_path} and reading its eval logs")
    with cached_reads():
        inputs = read_audit(spec_path)
    return _audit(spec_path, inputs, stages, device=device, use_cache=use_cache, now=now, executor=executor)


def run_audit_inputs(spec_path: str | os.PathLike, inputs: AuditInputs, *, device: str | None = None,
                     use_cache: bool = True, progress: Progress = False, now: str | None = None,
                     executor: str | None = None) -> AuditResult:
    """:func:`run_audit` on inputs already read (:func:`cg_gov.evals.read_audit`) and changed by the
    caller: ``cg-gov recheck`` swaps the workload sample. ``spec_path`` is the spec they were read from
    (the manifest records its hash, relative paths resolve against it)."""
    stages = _Stages(6, progress)
    spec_path = Path(spec_path)
    stages.start(f"validating {spec_path} and reading its eval logs")
    return _audit(spec_path, inputs, stages, device=device, use_cache=use_cache, now=now, executor=executor)


@dataclass
class _Candidate:
    """What a vendor audit compares across candidates, from one candidate's run."""

    abar: Any
    """The items' concept activations (sparse, n_items x n_concepts)."""
    scores: np.ndarray
    bench_names: np.ndarray
    weights: dict
    items: list[Item]
    evidence_member: np.ndarray
    families: list[str]
    mass: np.ndarray


def _audit(spec_path: Path, inputs: AuditInputs, stages: _Stages, **options) -> AuditResult:
    if inputs.models is not None:
        stages.done(f"vendor audit '{inputs.spec.audit}': {len(inputs.models)} candidates, "
                    f"{len(inputs.items)} items each in {len(inputs.spec.benchmarks)} benchmarks")
        return _run_vendor(spec_path, inputs, stages, **options)
    return _single(spec_path, inputs, stages, **options)[0]


def _single(spec_path: Path, inputs: AuditInputs, stages: _Stages, *, device: str | None, use_cache: bool,
            now: str | None, executor: str | None) -> tuple[AuditResult, _Candidate]:
    """A single-model audit of ``inputs`` (stage 1, reading them, is started by the caller)."""
    from cg_gov.dictionary import load_dictionary
    from cg_gov.engine import describe_choice, extract_activations, resolve_extraction
    from cg_gov.findings import derive_findings, file_entry, jsonable, package_versions, timestamp, workload_drift
    from cg_gov.matching import match_profile
    from cg_gov.scoring import score_concepts, score_families

    spec, profile, profile_path = inputs.spec, inputs.profile, inputs.profile_path
    items, workload = inputs.items, inputs.workload
    base = spec_path.parent
    scored = sum(1 for it in items if it.score is not None)
    stages.done(f"audit '{spec.audit}', profile '{profile.profile}' v{profile.version}; "
                f"{len(items)} items in {len(spec.benchmarks)} benchmarks, {scored} scored"
                + (f"; workload sample of {len(workload)} items" if workload else ""))

    stages.start("loading the concept dictionary")
    dictionary = load_dictionary(spec.dictionary if spec.dictionary != "default" else "default", base_dir=base)
    stages.done(f"{dictionary.name}: {dictionary.n_concepts} concepts at layer {dictionary.hook_layer}")

    ex = spec.extraction
    settings = ex.model_copy(update={k: v for k, v in (("device", device), ("executor", executor)) if v})
    # dtype and threads: 'auto' is decided here once (measured, cached per machine) and recorded
    settings, chosen = resolve_extraction(settings)
    spec = spec.model_copy(update={"extraction": settings})
    stages.start(f"concept activations (cached; {describe_choice(chosen)})")
    responses = [it.response for it in items] if ex.template == "user_assistant" else None
    audit_notes: list[str] = []
    precomputed = spec.resolve(settings.precomputed) if settings.precomputed else None
    acts = extract_activations([it.input for it in items], dictionary, responses=responses, settings=settings,
                               cache=use_cache, progress=stages.bars, desc="suite items", precomputed=precomputed)
    note = f"{acts.cache_hits}/{len(items)} from cache"
    if precomputed is not None:
        note += f", {acts.precomputed_hits} from {precomputed.name}"
    ref_abar = None
    workload_sources = None
    if workload is not None:
        assert spec.reference is not None  # a workload sample is the spec's reference
        wresponses = [it.response for it in workload] if ex.template == "user_assistant" else None
        wacts = extract_activations([it.input for it in workload], dictionary, responses=wresponses,
                                    settings=settings, cache=use_cache, progress=stages.bars, desc="workload items")
        ref_abar = wacts.abar
        workload_sources = wacts.sources
        reference_name = spec.reference.name
        note += f"; workload {wacts.cache_hits}/{len(workload)} from cache"
    elif dictionary.reference is not None:
        ref_abar = dictionary.reference
        ref_settings = (dictionary.manifest.get("reference") or {}).get("extraction")
        unlike = {k: (ref_settings.get(k), v) for k, v in settings.cache_key().items()
                  if ref_settings and k in ref_settings and ref_settings.get(k) != v}
        if unlike:
            stages.warn(f"the dictionary's reference corpus was extracted with {ref_settings}, this audit "
                        f"with {settings.cache_key()}: coverage ratios compare unlike activations; give a "
                        "workload sample (`reference:`) extracted like the suite")
            # said in the report too: the approver reads coverage ratios, not stderr
            audit_notes.append(
                "Coverage ratios compare unlike activations: the dictionary's reference corpus was extracted with "
                + ", ".join(f"{k} {a}" for k, (a, _) in unlike.items()) + ", this suite with "
                + ", ".join(f"{k} {b}" for k, (_, b) in unlike.items())
                + ". For bfloat16 against float32 the project measured a 2.2% (median) difference per item and "
                "1.6% of active concepts changing coverage class (README, Reproducibility); a ratio near a "
                "threshold may fall on the other side. A workload sample (`reference:`) is extracted like the suite.")
        reference_name = f"dictionary reference corpus ({ref_abar.shape[0]} held-out windows)"
    else:
        reference_name = "none"
    stages.done(note)

    sset = spec.scoring
    scores = np.array([np.nan if it.score is None else it.score for it in items], dtype=float)
    raw_scores = scores.copy()  # family items keep constant benchmarks: a constant is evidence
    bench_names = np.array([it.benchmark for it in items])
    prompting: list[str] = []
    benchmark_info, model_sha256 = describe_benchmarks(spec, items, prompting)
    for name, info in benchmark_info.items():
        if info.get("constant_score") is not None:  # no per-item signal: out of performance and lift
            scores[bench_names == name] = np.nan
    stages.start(f"scoring concepts ({sset.bootstrap} bootstrap resamples, {sset.subsample_reruns} subsampling reruns)")
    cs = score_concepts(acts.abar, scores, bench_names, reference=ref_abar, settings=sset,
                        seed=spec.effective_seed, adversarial=True)
    stages.done(f"{int(cs.overall['chi_model'].notna().sum())} concepts with a chi_model; "
                f"{cs.suite_missing} missing from the whole suite")

    stages.start("matching profile families to concepts")

    def exemplar_acts(texts):
        return extract_activations(texts, dictionary, settings=settings, cache=use_cache, progress=False).abar

    ref_mean = dictionary.reference_mean
    matches = match_profile(profile, dictionary.labels, exemplar_activations=exemplar_acts,
                            reference_mean=ref_mean, dictionary_identity=dictionary.identity,
                            defaults=dictionary.matching_defaults, concept_info=dictionary.label_info,
                            reference=dictionary.reference, seed=spec.effective_seed,
                            progress=stages.bars, shipped=dictionary.embeddings_dir, cache=use_cache)
    stages.done(f"{sum(len(f.concepts) for f in matches.families)} concepts matched; "
                f"{len(matches.unmatched)} families without a match")

    stages.start("scoring families")
    fs = score_families(acts.abar, scores, bench_names, matches.weights(), reference=ref_abar, settings=sset,
                        seed=spec.effective_seed)
    wmat = matches.weight_matrix()
    mass = np.asarray(acts.abar @ wmat.T) if wmat.size else np.zeros((len(items), 0))
    workload_mass = (np.asarray(wacts.abar @ wmat.T) if wmat.size else np.zeros((len(workload), 0))) \
        if workload is not None else None
    stage = family_item_stage(spec, profile, matches, items, mass, raw_scores, bench_names, workload_mass)
    for note in stage.notes:
        stages.warn(note)
    family_mass = {fm.family: {int(i): float(mass[int(i), k]) for i in stage.family_items[fm.family].items}
                   for k, fm in enumerate(matches.families)}
    drift = None
    if workload is not None:
        drift = workload_drift(workload, acts.abar, ref_abar, stage.family_items, stage.info, matches,
                               dictionary.labels, sset.ratio_k, reference_name)
    findings = derive_findings(spec=spec, profile=profile, dictionary=dictionary, items=items, concept_scores=cs,
                               family_scores=fs, matches=matches, reference_name=reference_name, workload=drift,
                               family_mass=family_mass, benchmark_info=benchmark_info, model_sha256=model_sha256,
                               family_items=stage.family_items, items_info=stage.info)
    audit_notes += stage.notes
    if audit_notes:
        findings = findings.model_copy(update={"notes": [*findings.notes, *audit_notes]})
    if prompting:
        findings = findings.model_copy(update={"audit": findings.audit.model_copy(update={"prompting": prompting[0]})})
    stages.done(f"gate {findings.summary.gate}")

    inputs_entries = [{"name": b.name, "format": b.format, **file_entry(spec.resolve(_log_of(b))),
                       "n_items": sum(1 for it in items if it.benchmark == b.name)} for b in spec.benchmarks]
    manifest = Manifest(
        cg_gov_version=findings.cg_gov_version, created=timestamp(now),
        audit={"id": spec.audit, **file_entry(spec_path)},
        profile={"id": profile.profile, "version": str(profile.version), **file_entry(profile_path)},
        inputs=inputs_entries,
        reference=({"name": reference_name, "format": spec.reference.format,
                    **file_entry(spec.resolve(spec.reference.log))}
                   if spec.reference is not None and workload is not None else {"name": reference_name}),
        dictionary=dictionary.describe(),
        extraction={**settings.cache_key(), "device": settings.device, "batch_size": settings.batch_size,
                    "threads": settings.threads, "executor": settings.executor,
                    **({"ray": settings.ray.model_dump()} if settings.executor == "ray" else {}),
                    "special_tokens": "excluded from the mean" if settings.exclude_special_tokens else "counted",
                    "chosen": jsonable(chosen),
                    # where each item's activations came from: the file, the cache, computed now
                    "sources": acts.sources,
                    **({"workload_sources": workload_sources} if workload_sources is not None else {}),
                    **({"precomputed": {"path": str(precomputed), "sha256": acts.precomputed_sha256,
                                        "items_taken": acts.precomputed_hits,
                                        "check": jsonable(acts.precomputed_check)}}
                       if precomputed is not None else {})},
        scoring=jsonable(dict(cs.settings)),
        matching={"embedder": matches.embedder, "labels_sha256": matches.labels_sha256,
                  "threshold": matches.threshold, "top_k": matches.top_k,
                  "exemplar_weight": matches.exemplar_weight, "min_specificity": matches.min_specificity,
                  "settings_from": matches.calibration},
        seeds={"scoring": spec.effective_seed},
        versions=package_versions(),
        platform=platform.platform(),
        git_commit=git_commit(),
        command=reproduce_command(spec_path, now=timestamp(now)),
    )
    candidate = _Candidate(abar=acts.abar, scores=raw_scores, bench_names=bench_names, weights=matches.weights(),
                           items=items, evidence_member=stage.evidence_member, families=stage.families, mass=mass)
    return AuditResult(findings=findings, manifest=manifest, out_dir=spec.output_dir(),
                       formats=list(spec.report.formats), items=items, family_scores=stage.scores,
                       cuts=stage.cuts, labels=stage.labels), candidate


def _log_of(benchmark) -> str:
    """A benchmark's log (a single-model spec, or one candidate's from ``AuditSpec.for_model``, has one each)."""
    if benchmark.log is None:
        raise AssertionError(f"benchmark {benchmark.name!r} has no log: a vendor spec reaches here per candidate")
    return benchmark.log


def _run_vendor(spec_path: Path, inputs: AuditInputs, stages: _Stages, **options) -> AuditResult:
    """A vendor audit: each candidate audited on the suite's items (the activations are the items',
    extracted once and read from the activation cache for every later candidate; the matching is the
    profile's), then the paired difference of every two candidates per family. The findings are the
    first candidate's, with ``models[]`` (each candidate's summary and families) and ``comparisons[]``."""
    from cg_gov.errors import CgGovError
    from cg_gov.evals import AuditInputs
    from cg_gov.findings import Comparison, Disagreement, ModelResult
    from cg_gov.scoring import paired_differences

    spec = inputs.spec
    assert spec.models is not None and inputs.models is not None  # a vendor audit
    runs = []
    for k, m in enumerate(spec.models):
        if stages.say:
            stages.say(f"== candidate {k + 1}/{len(spec.models)}: {m.name} ==")
        one = AuditInputs(spec=spec.for_model(m.name), profile=inputs.profile, profile_path=inputs.profile_path,
                          items=inputs.models[m.name], workload=inputs.workload)
        mine = _Stages(stages.total, stages.say or False)
        mine.bars = stages.bars
        mine.start(f"validating {spec_path} and reading its eval logs")
        result, candidate = _single(spec_path, one, mine, **options)
        runs.append((m, result, candidate))
    base = runs[0][2]
    for m, _, other in runs[1:]:
        if other.weights != base.weights or other.abar.shape != base.abar.shape:
            raise CgGovError(f"candidate '{m.name}' was matched to other concepts than '{runs[0][0].name}'",
                             hint="the matching depends on the profile and dictionary only; report this as a bug")
    # paired on each family's items of the benchmarks that measure what it expects (the same items for
    # every candidate: membership comes from the suite's activations), constant benchmarks included
    import scipy.sparse as sp

    from cg_gov.findings.verdict import MIN_FAMILY_ITEMS

    fams = base.families
    ev = base.evidence_member
    table = paired_differences(sp.csr_matrix(ev.astype(np.float64)), {m.name: cand.scores for m, _, cand in runs},
                               base.bench_names, {f: {k: 1.0} for k, f in enumerate(fams)},
                               settings=spec.scoring.model_copy(update={"n_min": MIN_FAMILY_ITEMS}),
                               seed=spec.effective_seed)

    def num(x):
        return None if x is None or not np.isfinite(x) else float(x)

    from cg_gov.text import truncate

    items = {m.name: cand.items for m, _, cand in runs}
    masses = {f: base.mass[:, k] * ev[:, k] for k, f in enumerate(fams)}

    def disagreements(fam: str, a: str, b: str, n: int = 3) -> list[Disagreement]:
        sa, sb = np.asarray(runs_scores[a]), np.asarray(runs_scores[b])
        gap = np.where(np.isfinite(sa) & np.isfinite(sb), np.abs(sa - sb), 0.0) * masses[fam]
        idx = np.flatnonzero(gap > 0)
        idx = idx[np.lexsort((idx, -gap[idx]))][:n]
        return [Disagreement.model_validate({
            "benchmark": items[a][i].benchmark, "item_id": items[a][i].id,
            "text": truncate(items[a][i].input, 400), "activation": float(masses[fam][i]),
            "responses": {m: (truncate(r, 400) if (r := items[m][i].response) else None) for m in (a, b)},
            "scores": {a: float(sa[i]), b: float(sb[i])}}) for i in idx]

    runs_scores = {m.name: cand.scores for m, _, cand in runs}
    comparisons = []
    for row in table.itertuples(index=False):
        lo, hi = num(row.ci_low), num(row.ci_high)
        better = None
        if row.significant:
            better = row.model_a if row.difference > 0 else row.model_b
        comparisons.append(Comparison(
            family=row.family, model_a=row.model_a, model_b=row.model_b, performance_a=num(row.perf_a),
            performance_b=num(row.perf_b), difference=num(row.difference),
            ci=(lo, hi) if lo is not None and hi is not None else None, p=num(row.p), q=num(row.q),
            significant=bool(row.significant), better=better, n_items=int(row.n_items),
            evidence=disagreements(row.family, row.model_a, row.model_b)))
    models = [ModelResult(name=m.name, sha256=m.sha256 or r.findings.audit.model_sha256, revision=m.revision,
                          prompting=r.findings.audit.prompting,
                          summary=r.findings.summary, families=r.findings.families) for m, r, _ in runs]
    first = runs[0][1]
    findings = first.findings.model_copy(update={
        "models": models, "comparisons": comparisons,
        "notes": [*first.findings.notes, f"vendor audit of {len(models)} candidates: the top-level audit, summary and "
                  f"families are those of the first candidate, '{models[0].name}'; models[] holds each candidate's"]})
    entries = [{**e, "name": f"{m.name}/{e['name']}"} for m, r, _ in runs for e in r.manifest.inputs]
    manifest = first.manifest.model_copy(update={"inputs": entries})
    return AuditResult(findings=findings, manifest=manifest, out_dir=first.out_dir, formats=first.formats)




@dataclass
class FamilyItemStage:
    """The family-items stage of an audit: which suite items are each family's, and what they say."""

    families: list[str]
    """Family ids, in the matcher's order (the columns of ``evidence_member``)."""
    family_items: dict
    """family id -> :class:`~cg_gov.scoring.FamilyItemScores`."""
    info: dict[str, dict]
    """family id -> the rest of its findings ``items`` object and its final ``visibility``."""
    evidence_member: np.ndarray
    """(n_items, n_families) bool: the family's items of the benchmarks that measure what it expects."""
    scores: dict[str, np.ndarray]
    cuts: dict[str, float | None]
    labels: dict[str, dict[int, bool]]
    notes: list[str] = field(default_factory=list)
    """What the stage left out (labels or tags of families or items no longer in the audit)."""


def _visibility_from(fm, labelled, settings) -> dict:
    """A family's findings ``visibility``: from the owner's labels when given, else from the near misses."""
    vis = fm.visibility
    base = {"n_counter": vis.n_counter if vis is not None else None,
            "exemplar_auroc": vis.auroc if vis is not None else None}
    if labelled is not None and labelled.auroc is not None:
        # confirmed: the detector ranks the owner's family items above the rest (AUROC) and the items it
        # counts are mostly the family's (precision), each by the low end of its interval
        lo = labelled.auroc_ci[0] if labelled.auroc_ci else None
        precise = labelled.precision_ci is None or labelled.precision_ci[0] >= settings.min_precision
        status = "confirmed" if lo is not None and lo >= settings.verified_at and precise else "weak"
        n_pos = labelled.n_yes
        return {**base, "auroc": labelled.auroc, "ci": list(labelled.auroc_ci) if labelled.auroc_ci else None,
                "n_pos": n_pos, "n_neg": labelled.n_labelled - n_pos, "status": status, "basis": "owner-labels",
                "precision": labelled.precision,
                "precision_ci": list(labelled.precision_ci) if labelled.precision_ci else None}
    if labelled is not None and labelled.n_labelled:  # labelled, but no family item among them: no AUROC
        return {**base, "auroc": None, "ci": None, "n_pos": labelled.n_yes,
                "n_neg": labelled.n_labelled - labelled.n_yes, "status": "cannot-tell", "basis": "owner-labels"}
    if vis is None:
        return {**base, "auroc": None, "ci": None, "n_pos": 0, "n_neg": 0, "status": "cannot-tell", "basis": "none"}
    return {**base, "auroc": vis.near_miss_auroc, "ci": list(vis.near_miss_ci) if vis.near_miss_ci else None,
            "n_pos": vis.n_pos, "n_neg": vis.n_near_miss, "status": vis.status,
            "basis": "near-misses" if vis.near_miss_auroc is not None else "none"}


def declared_members(tags, items, families: list[str]) -> np.ndarray:
    """(n_items, n_families) bool: the items the spec's ``family_tags`` declare each family's."""
    out = np.zeros((len(items), len(families)), dtype=bool)
    col = {f: k for k, f in enumerate(families)}
    for tag in tags or []:
        if tag.family not in col:
            continue
        benches = set(tag.benchmarks)
        values = set(tag.values)
        for i, it in enumerate(items):
            if benches and it.benchmark not in benches:
                continue
            if tag.field is None or str(it.metadata.get(tag.field)) in values:
                out[i, col[tag.family]] = True
    return out


def tag_scope(tags, family: str, items) -> np.ndarray:
    """The items a family's tags speak about (their benchmarks; every item when a tag names none)."""
    scope = np.zeros(len(items), dtype=bool)
    for tag in tags or []:
        if tag.family == family:
            benches = set(tag.benchmarks)
            scope |= np.array([not benches or it.benchmark in benches for it in items], dtype=bool)
    return scope


def family_item_stage(spec, profile, matches, items, mass: np.ndarray, scores: np.ndarray, bench_names: np.ndarray,
                      workload_mass: np.ndarray | None, labels: dict | None = None) -> FamilyItemStage:
    """Count each family's suite items at its detector's operating point, score the model on those of
    the benchmarks that measure what the family expects, and confirm the count on the owner's labels
    (``spec.labels``)."""
    from cg_gov.evals import read_labels
    from cg_gov.matching import DetectorSettings
    from cg_gov.scoring import confirm_membership, score_family_items

    fams = [fm.family for fm in matches.families]
    cuts: dict[str, float | None] = {}
    member = np.zeros((len(items), len(fams)), dtype=bool)
    for k, fm in enumerate(matches.families):
        cut = fm.visibility.threshold if fm.method == "detector" and fm.visibility is not None else None
        cuts[fm.family] = cut
        if cut is not None and fm.concepts:
            member[:, k] = mass[:, k] > cut
    measures = {b.name: b.measures for b in spec.benchmarks}
    evidence = {}
    for f in profile.families:
        expects = set(f.expects)
        evidence[f.id] = [b for b, m in measures.items() if m in expects] if expects else None
    sset = spec.scoring
    notes: list[str] = []
    if labels is None:
        index = {(it.benchmark, str(it.id)): i for i, it in enumerate(items)}
        labels = (read_labels([spec.resolve(p) for p in spec.labels], fams, index, skipped=notes)
                  if spec.labels else {})
    known = set(fams)
    for i, tag in enumerate(spec.family_tags):
        if tag.family not in known:
            notes.append(f"family_tags[{i}] names family {tag.family!r}, which the profile does not have: left out.")
    detected = member.copy()
    tagged = declared_members(spec.family_tags, items, fams)
    member |= tagged  # members by declaration (the item's log says so)
    for k, f in enumerate(fams):  # the owner's word overrides the detector on the items they labelled
        for i, yes in (labels.get(f) or {}).items():
            if cuts[f] is not None:
                member[i, k] = yes
    scored = score_family_items(member, scores, bench_names, fams, evidence, n_bootstrap=sset.bootstrap,
                                alpha=sset.alpha, seed=spec.effective_seed)
    by_id = {r.family: r for r in scored}
    settings = DetectorSettings()
    info: dict[str, dict] = {}
    ev_member = np.zeros_like(member)
    for k, fm in enumerate(matches.families):
        allowed = evidence.get(fm.family)
        ev_member[:, k] = member[:, k] & (np.isin(bench_names, allowed) if allowed is not None else True)
        vis = fm.visibility
        entry: dict = {"threshold": cuts[fm.family],
                       "cv_recall": vis.cv_recall if vis is not None else None,
                       "cv_near_miss_rate": vis.cv_near_miss_rate if vis is not None else None,
                       "review_sheet": f"review/{fm.family}.csv"}
        if tagged[:, k].any():
            scope = tag_scope(spec.family_tags, fm.family, items)
            hit = int((detected[:, k] & tagged[:, k]).sum())
            entry.update(tagged=int(tagged[:, k].sum()), tagged_recall=hit / int(tagged[:, k].sum()),
                         tagged_precision=(hit / int((detected[:, k] & scope).sum())
                                           if (detected[:, k] & scope).any() else None))
        if workload_mass is not None and cuts[fm.family] is not None:
            wd = int((workload_mass[:, k] > cuts[fm.family]).sum())
            entry.update(workload_detected=wd, workload_share=wd / max(1, workload_mass.shape[0]),
                         workload_n=int(workload_mass.shape[0]))
        labelled = None
        own = (labels or {}).get(fm.family) or {}
        cut = cuts[fm.family]
        if own and cut is not None:
            # the detector is judged on every labelled item; the count is the declared items plus the
            # estimate over the rest of the suite (declared items are members already)
            labelled = confirm_membership(mass[:, k], cut, own, alpha=sset.alpha,
                                          seed=spec.effective_seed)
            count = labelled
            n_declared = int(tagged[:, k].sum())
            if n_declared:
                free = np.flatnonzero(~tagged[:, k])
                position = {int(i): j for j, i in enumerate(free)}
                count = confirm_membership(mass[free, k], cut,
                                           {position[i]: v for i, v in own.items() if i in position},
                                           alpha=sset.alpha, seed=spec.effective_seed, resamples=0)
            entry.update(estimated=None if count.estimated is None else count.estimated + n_declared,
                         estimated_ci=[count.estimated_ci[0] + n_declared, count.estimated_ci[1] + n_declared]
                         if count.estimated_ci else None,
                         confirmed=labelled.n_yes,
                         labels={"n_labelled": labelled.n_labelled, "n_yes": labelled.n_yes,
                                 "by_stratum": labelled.by_stratum, "precision": labelled.precision,
                                 "precision_ci": list(labelled.precision_ci) if labelled.precision_ci else None,
                                 "elusion": labelled.elusion,
                                 "elusion_ci": list(labelled.elusion_ci) if labelled.elusion_ci else None,
                                 "auroc": labelled.auroc,
                                 "auroc_ci": list(labelled.auroc_ci) if labelled.auroc_ci else None,
                                 "sheets": [Path(p).name for p in spec.labels], "notes": labelled.notes,
                                 "next_to_label": labelled.next_to_label})
        entry["visibility"] = _visibility_from(fm, labelled, settings)
        info[fm.family] = entry
    return FamilyItemStage(families=fams, family_items=by_id, info=info, evidence_member=ev_member,
                           scores={fm.family: mass[:, k] for k, fm in enumerate(matches.families)}, cuts=cuts,
                           labels=labels or {}, notes=notes)
