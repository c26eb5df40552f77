"""Vendor evaluation (issue 17): the paired-difference engine against a loop-by-loop reference, a
planted difference found at its family only, and multi-model audit specs."""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
import scipy.sparse as sp

from cg_gov.scoring import paired_differences, score_families
import reference_scoring as ref


def reference_paired(abar, scores, benchmarks, weights, *, n_min, n_bootstrap, alpha, seed, epsilon,
                     method="normal"):
    """Loop by loop: family mass per item, the scoring engine's strata and seed streams, both models
    scored on the same resampled items, then the interval, p and BH over every (family, pair)."""
    A = ref.dense(abar)
    names = list(scores)
    n = A.shape[0]
    common = [all(math.isfinite(scores[m][i]) for m in names) for i in range(n)]
    first = [scores[names[0]][i] if common[i] else float("nan") for i in range(n)]
    _, _, strata = ref.layout(first, benchmarks)
    fams = sorted(weights)
    mass = [[sum(w * A[i, c] for c, w in weights[f].items()) for f in fams] for i in range(n)]

    def perf(items, m, j):
        num = den = 0.0
        for i in items:
            if common[i]:
                num += mass[i][j] * scores[m][i]
                den += mass[i][j]
        return num / den if den > 0 else float("nan")

    all_items = list(range(n))
    boot_ss = np.random.SeedSequence(seed).spawn(4)[0]
    gens = [np.random.Generator(np.random.PCG64(s)) for s in boot_ss.spawn(len(strata))]
    resamples = []
    for _ in range(n_bootstrap):
        res = []
        for (_, items), gen in zip(strata, gens):
            idx = gen.integers(0, len(items), size=len(items))
            res.extend(items[j] for j in idx)
        resamples.append(res)
    rows = []
    for a, b in combinations(names, 2):
        for j, fam in enumerate(fams):
            support = sum(1 for i in all_items if common[i] and mass[i][j] > epsilon)
            est = perf(all_items, a, j) - perf(all_items, b, j)
            boot = [perf(r, a, j) - perf(r, b, j) for r in resamples]
            if support < n_min:
                est, lo, hi, p = (float("nan"),) * 4
            elif method == "normal":
                lo, hi = ref.interval_normal(est, boot, alpha)
                p = ref.p_value_normal(est, boot)
            else:
                lo, hi = ref.interval(boot, alpha)
                p = ref.p_value(est, boot, n_bootstrap)
            rows.append({"family": fam, "model_a": a, "model_b": b, "difference": est, "ci_low": lo,
                         "ci_high": hi, "p": p, "n_items": support})
    for row, q in zip(rows, ref.bh([r["p"] for r in rows])):
        row["q"] = q
    return rows


def _data(seed=0, n_per=(30, 25, 20), n_concepts=12, n_models=3):
    rng = np.random.default_rng(seed)
    bench = np.array(sum(([f"b{k}"] * n for k, n in enumerate(n_per)), []))
    n = len(bench)
    dense = rng.random((n, n_concepts)) * (rng.random((n, n_concepts)) < 0.35)
    scores = {}
    for m in range(n_models):
        s = (rng.random(n) < 0.4 + 0.1 * m).astype(float)
        s[rng.random(n) < 0.1] = np.nan  # some items unscored (for some models only)
        scores[f"model-{m}"] = s
    weights = {"alpha": {0: 1.0, 3: 0.5}, "beta": {1: 1.0}, "gamma": {2: 0.7, 5: 0.3, 7: 1.0}}
    return sp.csr_matrix(dense), scores, bench, weights


@pytest.mark.parametrize("method", ["normal", "bootstrap"])
def test_paired_differences_match_the_loop_reference(method):
    abar, scores, bench, weights = _data()
    kw = dict(n_min=5, n_bootstrap=60, alpha=0.05, seed=7, epsilon=0.0)
    got = paired_differences(abar, scores, bench, weights, lift_p_method=method, **kw)
    want = reference_paired(abar, scores, bench, weights, method=method, **kw)
    assert len(got) == len(want) == 3 * 3
    for (_, g), w in zip(got.iterrows(), want):
        assert (g["family"], g["model_a"], g["model_b"]) == (w["family"], w["model_a"], w["model_b"])
        assert g["n_items"] == w["n_items"]
        for key in ("difference", "ci_low", "ci_high", "p", "q"):
            assert g[key] == pytest.approx(w[key], rel=1e-9, abs=1e-12, nan_ok=True), key


def test_each_models_performance_is_the_family_scorers():
    """perf_a / perf_b are score_families' performance when both models score the same items."""
    abar, scores, bench, weights = _data(seed=3, n_models=2)
    both = np.isfinite(scores["model-0"]) & np.isfinite(scores["model-1"])
    scores = {m: np.where(both, s, np.nan) for m, s in scores.items()}
    got = paired_differences(abar, scores, bench, weights, n_min=5, n_bootstrap=20, seed=1)
    for m, col in (("model-0", "perf_a"), ("model-1", "perf_b")):
        fs = score_families(abar, scores[m], bench, weights, n_min=5, n_bootstrap=0, seed=1)
        for _, row in got.iterrows():
            assert row[col] == pytest.approx(fs.loc[row["family"], "performance"], rel=1e-12)


def test_a_model_better_on_one_familys_items_only_is_found_there_and_nowhere_else():
    """Planted: items of three families (disjoint concepts) in three benchmarks; model B answers
    like model A (same coin flips) except on the 'billing' items, where it is right 85% of the time
    against A's 45%."""
    rng = np.random.default_rng(11)
    fams = {"billing": [0, 1], "refunds": [2, 3], "privacy": [4, 5]}
    n = 600
    bench = np.array([f"bench{i % 3}" for i in range(n)])
    which = rng.integers(0, 3, size=n)
    dense = np.zeros((n, 6))
    for i, f in enumerate(which):
        c = fams[list(fams)[f]]
        dense[i, c] = rng.uniform(0.5, 1.5, size=2)
    u = rng.random(n)
    a = (u < 0.45).astype(float)
    b = a.copy()
    billing = which == 0
    b[billing] = (rng.random(int(billing.sum())) < 0.85).astype(float)
    weights = {name: {c: 1.0 for c in cs} for name, cs in fams.items()}
    out = paired_differences(sp.csr_matrix(dense), {"A": a, "B": b}, bench, weights, n_min=20,
                             n_bootstrap=400, alpha=0.05, seed=5).set_index("family")
    assert out.loc["billing", "significant"]
    assert out.loc["billing", "difference"] < -0.25 and out.loc["billing", "ci_high"] < 0
    for other in ("refunds", "privacy"):
        assert not out.loc[other, "significant"]
        assert out.loc[other, "difference"] == 0.0  # the same answers on those items
    assert out.loc["billing", "q"] < 0.05


def test_too_few_common_items_give_no_difference():
    abar, scores, bench, weights = _data(n_models=2)
    out = paired_differences(abar, scores, bench, weights, n_min=10_000, n_bootstrap=10, seed=0)
    assert out["difference"].isna().all() and not out["significant"].any()


# --- the multi-model audit spec -------------------------------------------------------------------

import json  # noqa: E402
from pathlib import Path  # noqa: E402

from cg_gov.errors import CgGovError, SpecError, SpecErrorGroup  # noqa: E402
from cg_gov.evals import read_audit  # noqa: E402
from cg_gov.findings import Findings, ModelResult, load_findings  # noqa: E402
from cg_gov.findings.diff import select_model  # noqa: E402

PROFILE = Path(__file__).resolve().parents[1] / "specs" / "profiles" / "customer-support.yaml"


def _log(path: Path, ids, score) -> str:
    path.write_text("".join(json.dumps({"id": i, "input": f"question {i}", "score": score}) + "\n" for i in ids))
    return path.name


def _vendor(tmp_path: Path, *, gemma_ids=("a", "b", "c"), extra=None, both=False, drop_log=False) -> Path:
    ids = ("a", "b", "c")
    logs_a = {"qa": _log(tmp_path / "qa-a.jsonl", ids, 1), "mc": _log(tmp_path / "mc-a.jsonl", ids, 0)}
    logs_b = {"qa": _log(tmp_path / "qa-b.jsonl", gemma_ids, 0), "mc": _log(tmp_path / "mc-b.jsonl", ids, 1)}
    if extra:
        logs_b[extra] = "qa-b.jsonl"
    if drop_log:
        del logs_b["mc"]
    lines = ["audit: vendor-test", f"profile: {PROFILE}"] + (["model: one"] if both else []) + ["models:"]
    for name, logs in (("model-a", logs_a), ("model-b", logs_b)):
        lines += [f"  - name: {name}", "    logs:"] + [f"      {k}: {v}" for k, v in logs.items()]
    lines += ["benchmarks:", "  - {name: qa, format: jsonl}", "  - {name: mc, format: jsonl}"]
    spec = tmp_path / "vendor.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


def _messages(exc: CgGovError) -> list[str]:
    errors = exc.errors if isinstance(exc, SpecErrorGroup) else [exc]
    return [str(e) for e in errors]


def test_a_vendor_spec_reads_each_models_items_aligned(tmp_path):
    inputs = read_audit(_vendor(tmp_path, gemma_ids=("c", "b", "a")))
    assert list(inputs.models) == ["model-a", "model-b"]
    a, b = inputs.models.values()
    assert [(x.benchmark, x.id) for x in a] == [(x.benchmark, x.id) for x in b]
    assert {x.score for x in a if x.benchmark == "qa"} == {1.0} and {x.score for x in b if x.benchmark == "qa"} == {0.0}
    assert inputs.spec.for_model("model-b").benchmarks[0].log == "qa-b.jsonl"


def test_a_missing_or_extra_item_is_located_and_named(tmp_path):
    with pytest.raises(CgGovError) as info:
        read_audit(_vendor(tmp_path, gemma_ids=("a", "b", "z")))
    text = "\n".join(_messages(info.value))
    assert "models[1].logs.qa" in text
    assert "model 'model-b', benchmark 'qa': lacks item id 'c'" in text
    assert "model 'model-b', benchmark 'qa': has an extra item id 'z'" in text


def test_model_logs_must_match_the_benchmarks(tmp_path):
    with pytest.raises(SpecError) as info:
        read_audit(_vendor(tmp_path, drop_log=True))
    assert "model 'model-b' has no log for benchmark 'mc'" in str(info.value)
    assert "models[1].logs" in str(info.value)
    with pytest.raises(SpecError) as info:
        read_audit(_vendor(tmp_path, extra="other"))
    assert "names a log for 'other', which is not a benchmark of the suite" in str(info.value)
    with pytest.raises(SpecError) as info:
        read_audit(_vendor(tmp_path, both=True))
    assert "not both" in str(info.value)


def test_a_single_model_spec_still_needs_each_log(tmp_path):
    _log(tmp_path / "qa.jsonl", ("a",), 1)
    spec = tmp_path / "one.yaml"
    spec.write_text(f"audit: one\nmodel: m\nprofile: {PROFILE}\nbenchmarks:\n  - {{name: qa, format: jsonl}}\n")
    with pytest.raises(SpecError) as info:
        read_audit(spec)
    assert "benchmark 'qa' needs 'log'" in str(info.value) and "benchmarks[0].log" in str(info.value)


FIXTURE = Path(__file__).parent / "fixtures" / "findings" / "support_assistant.json"


def test_findings_without_models_have_no_vendor_keys_and_diff_picks_a_model():
    from cg_gov.findings import findings_to_dict

    single = load_findings(FIXTURE)
    assert "models" not in findings_to_dict(single) and "comparisons" not in findings_to_dict(single)
    worse = [f.model_copy(update={"description": "b"}) for f in single.families]
    vendor = single.model_copy(update={"models": [
        ModelResult(name="a", summary=single.summary, families=single.families),
        ModelResult(name="b", sha256="0" * 64, summary=single.summary, families=worse)], "comparisons": []})
    again = Findings.model_validate(findings_to_dict(vendor))
    assert [m.name for m in again.models] == ["a", "b"]
    with pytest.raises(CgGovError, match="pass --model NAME"):
        select_model(again, None, "x/findings.json")
    with pytest.raises(CgGovError, match="no model 'c'"):
        select_model(again, "c", "x/findings.json")
    picked = select_model(again, "b", "x/findings.json")
    assert picked.audit.model == "b" and picked.models is None and picked.families[0].description == "b"
    assert select_model(single, None, "y") is single


# --- the gate's exit rule: one method, every command -----------------------------------------------

def _vendor_folder(tmp_path: Path, *, second_passes: bool, swap: bool = False) -> Path:
    """A report folder of the committed vendor demo (reports/vendor-example, real output: both candidates
    fail), or of its variant where the profile ranks escalation and privacy high instead of critical and
    Gemma 3 270M meets refusal's required 0.8: Gemma's gate is then conditional, SmolLM2's still fails
    (refusal 0.23). ``swap`` lists Gemma first (the top-level findings are the first candidate's)."""
    from test_diff import VENDOR, _example, _rederive, _write

    data, manifest = _example(VENDOR)
    if second_passes:
        for part in (data, *data["models"]):
            for f in part["families"]:
                if f["id"] in ("escalation", "privacy"):
                    f["importance"] = "high"
        refusal = next(f for f in data["models"][1]["families"] if f["id"] == "refusal")
        refusal["performance"].update(score=0.9, score_ci=[0.87, 0.92], scorer_flags=[])
        for part in data["models"]:
            _rederive(part)
    if swap:
        data["models"].reverse()
    first = data["models"][0]
    data.update(families=first["families"], summary=first["summary"])
    folder = tmp_path / ("variant" if second_passes else "committed") / ("swapped" if swap else "spec-order")
    folder.mkdir(parents=True)
    return _write(folder, data, manifest)


@pytest.mark.parametrize("second_passes, swap, gates, code", [
    (False, False, ["fail", "fail"], 1),              # the committed demo: every candidate fails
    (True, False, ["fail", "conditional"], 0),         # the first fails, the second can be chosen
    (True, True, ["conditional", "fail"], 0),          # the first can be chosen
])
def test_a_vendor_audit_fails_the_gate_only_when_every_candidate_fails(tmp_path, capsys, second_passes, swap,
                                                                       gates, code):
    from cg_gov.cli import main

    folder = _vendor_folder(tmp_path, second_passes=second_passes, swap=swap)
    findings = load_findings(folder / "findings.json")
    assert [m.summary.gate for m in findings.models] == gates
    assert findings.summary.gate == gates[0]  # the top level is the first candidate's
    assert findings.gate_failed() is bool(code) and findings.gate_exit_code() == code
    # `cg-gov report` exits by the same rule as `cg-gov audit` (README, "Vendor evaluation")
    assert main(["report", str(folder), "--out", str(tmp_path / "out"), "--formats", "json"]) == code
    capsys.readouterr()


def test_a_single_model_audit_fails_the_gate_when_its_gate_fails(tmp_path, capsys):
    import copy

    from test_diff import EXAMPLE, FAILING, NOT_PASSING, _example, _rederive, _write

    from cg_gov.cli import main

    data, manifest = _example(EXAMPLE)
    assert load_findings(EXAMPLE).gate_exit_code() == 1  # the demo fails (tests/test_demo_outcome.py)
    assert main(["report", str(EXAMPLE), "--out", str(tmp_path / "fail"), "--formats", "json"]) == 1
    # the demo without its failing families is conditional; without its conditional ones too, it passes
    for gate, dropped in (("conditional", FAILING), ("pass", NOT_PASSING)):
        variant = copy.deepcopy(data)
        variant["families"] = [f for f in variant["families"] if f["id"] not in dropped]
        folder = _write(tmp_path / gate, _rederive(variant), manifest)
        findings = load_findings(folder)
        assert findings.summary.gate == gate and not findings.gate_failed()
        assert findings.gate_exit_code() == 0
        assert main(["report", str(folder), "--out", str(tmp_path / f"{gate}-out"), "--formats", "json"]) == 0
    capsys.readouterr()


# --- the vendor demo, end to end on the real model and the real logs of two models -----------------

@pytest.mark.slow
def test_vendor_demo_compares_two_real_models(tmp_path):
    """cg-gov audit specs/audits/vendor-demo.yaml: SmolLM2-135M-Instruct against Gemma 3 270M on the
    demo items (their activations are the demo's: a session that ran the demo audit serves them
    from its cache)."""
    import re

    from cg_gov.cli import main

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "vendor"
    code = main(["audit", str(repo / "specs" / "audits" / "vendor-demo.yaml"), "--out", str(out),
                 "--now", "2026-11-29T00:00:00Z"])
    findings = load_findings(out / "findings.json")
    assert [m.name for m in findings.models] == ["SmolLM2-135M-Instruct", "Gemma-3-270M"]
    assert code == (1 if all(m.summary.gate == "fail" for m in findings.models) else 0)
    assert code == findings.gate_exit_code()
    assert main(["report", str(out), "--out", str(tmp_path / "again"), "--formats", "json"]) == code
    assert findings.families == findings.models[0].families  # top level: the first candidate
    fams = {f.id for f in findings.families}
    assert {c.family for c in findings.comparisons} == fams and len(findings.comparisons) == len(fams)
    for c in findings.comparisons:
        if c.difference is not None:
            assert c.difference == pytest.approx(c.performance_a - c.performance_b, abs=2e-6)
            assert c.ci[0] <= c.difference <= c.ci[1]
            assert c.significant == (c.q < 0.05 and (c.ci[0] > 0 or c.ci[1] < 0))
        for e in c.evidence:
            assert set(e.scores) == {c.model_a, c.model_b} and e.scores[c.model_a] != e.scores[c.model_b]
    # coverage is the suite's: the same for both candidates; each concept's chi_model is the candidate's
    for a, b in zip(*(sorted(m.families, key=lambda f: f.id) for m in findings.models)):
        assert a.coverage == b.coverage
        suite_side = [c.model_copy(update={"chi_model": None}) for c in a.matched_concepts]
        assert suite_side == [c.model_copy(update={"chi_model": None}) for c in b.matched_concepts]
    assert any(ca.chi_model != cb.chi_model
               for a, b in zip(*(sorted(m.families, key=lambda f: f.id) for m in findings.models))
               for ca, cb in zip(a.matched_concepts, b.matched_concepts))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Which candidates pass the gate" in html and "Verdict per family and candidate" in html
    assert "Recommendation" in html and "Sign-off: selection decision" in html
    assert all(m.name in html for m in findings.models)
    assert re.search(r"Ranking", html)
    # the PDF people attach to a vendor evaluation: the comparison form, findings embedded byte for byte
    from pdfstreams import pdf_streams

    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and (out / "findings.json").read_bytes() in pdf_streams(pdf)
