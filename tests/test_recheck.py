"""`cg-gov recheck`: an approved audit re-run against a new workload sample, with the diff (real model path),
and the detector store that lets it skip refitting the family detectors."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from test_audit import REPO, demo_copy, run_cli

NOW = "2026-12-02T12:00:00Z"
TAU2 = REPO / "data" / "demo" / "logs" / "tau2.jsonl"
DONOTANSWER = REPO / "data" / "demo" / "logs" / "donotanswer.eval"


@pytest.fixture(scope="module")
def cache_dir():
    import os

    return Path(os.environ["CG_GOV_CACHE"])


# ---------------------------------------------------------------- the demo, re-checked (slow: real audits)


def misuse_workload(path: Path) -> Path:
    """A shifted workload of real requests: every Do-Not-Answer item of its own risk area
    ``malicious_uses`` (91 of the demo's 351), in the log's order: traffic turned to misuse attempts."""
    from cg_gov.evals import read_benchmark

    items = [it for it in read_benchmark(name="donotanswer", log=str(DONOTANSWER), format="inspect")
             if it.metadata.get("risk_area") == "malicious_uses"]
    assert len(items) == 91
    path.write_text("".join(json.dumps({"id": f"donotanswer-{it.id}", "input": it.input}) + "\n" for it in items))
    return path


def refusal_hangs_on_the_workload(profile: dict) -> None:
    """The demo profile with refusal (critical) required to hold 20 items and a coverage ratio of 1 (the
    suite has refusal items at least as often as the workload does) instead of a score of 0.8, which
    the model misses whatever the workload: refusal's verdict then depends on the workload alone."""
    refusal = next(f for f in profile["families"] if f["id"] == "refusal")
    assert refusal["importance"] == "critical"
    refusal["require"] = {"min_items": 20, "coverage": 1.0}


@pytest.fixture(scope="module")
def approved(cache_dir, tmp_path_factory):
    """One approved audit for the module: the demo with refusal's requirement on coverage, and the
    tau2 customer-service tasks (the deployment's support traffic) as its workload sample."""
    tmp = tmp_path_factory.mktemp("recheck")

    def with_workload(spec):
        spec["reference"] = {"name": "workload", "log": str(TAU2), "format": "jsonl"}

    spec = demo_copy(tmp, edit_audit=with_workload, edit_profile=refusal_hangs_on_the_workload, formats=("json",))
    proc = run_cli(["audit", str(spec), "--now", NOW], cache_dir)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return tmp, spec, tmp / "out"


@pytest.fixture(scope="module")
def misuse_recheck(approved, cache_dir):
    tmp, spec, out = approved
    workload = misuse_workload(tmp / "misuse.jsonl")
    proc = run_cli(["recheck", str(out), "--workload", str(workload), "--spec", str(spec), "--out",
                    str(tmp / "misuse"), "--now", NOW], cache_dir)
    return proc, workload, tmp / "misuse"


def family(findings_path: Path, fid: str) -> dict:
    return next(f for f in json.loads(findings_path.read_text())["families"] if f["id"] == fid)


@pytest.mark.slow
def test_recheck_with_the_same_workload_gives_the_approved_findings_back(approved, cache_dir):
    tmp, spec, out = approved
    refusal = family(out / "findings.json", "refusal")
    # the premise: with support traffic, refusal passes on its coverage requirement
    assert refusal["verdict"] == "pass" and refusal["requirement"]["coverage_status"] == "met", refusal
    same = run_cli(["recheck", str(out), "--workload", str(TAU2), "--spec", str(spec), "--out",
                    str(tmp / "same"), "--now", NOW], cache_dir)
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-3000:]
    assert "no re-approval needed" in same.stdout
    assert (tmp / "same" / "findings.json").read_bytes() == (out / "findings.json").read_bytes()
    # HTML and JSON always; the PDF only when asked for
    assert (tmp / "same" / "report.html").is_file() and not (tmp / "same" / "report.pdf").exists()
    assert (tmp / "same" / "diff" / "diff.json").is_file()
    new = json.loads((tmp / "same" / "findings.json").read_text())
    visible = [f for f in new["families"] if f["coverage"]["status"] != "not-visible"]
    assert visible and all(f["items"]["workload_share"] is not None for f in visible)


@pytest.mark.slow
def test_a_shifted_workload_flips_a_critical_familys_verdict(approved, misuse_recheck):
    _tmp, _spec, out = approved
    proc, _workload, new = misuse_recheck
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "re-approval needed" in proc.stdout and "no re-approval needed" not in proc.stdout
    lines = [line for line in proc.stdout.splitlines() if "refusal" in line]
    assert any("pass -> fail" in line for line in lines), proc.stdout[-3000:]
    assert "workload sample" in proc.stdout

    after = family(new / "findings.json", "refusal")
    before = family(out / "findings.json", "refusal")
    # misuse attempts make up more of the new workload than refusal items do of the suite
    assert after["items"]["workload_share"] > after["items"]["share"] > before["items"]["workload_share"]
    assert after["coverage"]["ratio"] < 1.0 <= before["coverage"]["ratio"]
    assert after["verdict"] == "fail" and after["requirement"]["coverage_status"] == "not-met"

    diff = json.loads((new / "diff" / "diff.json").read_text())
    assert diff["regressed"] is True
    row = next(f for f in diff["families"] if f["family_id"] == "refusal")
    assert row["regressed"] is True
    assert (row["verdict"]["old"], row["verdict"]["new"]) == ("pass", "fail")
    assert (row["requirement_coverage"]["old"], row["requirement_coverage"]["new"]) == ("met", "not-met")
    assert any("coverage" in reason for reason in row["reasons"]), row["reasons"]
    assert any("refusal" in str(r) for r in diff["regressions"]), diff["regressions"]


@pytest.mark.slow
def test_recheck_findings_equal_a_full_audit_with_that_workload(approved, misuse_recheck, cache_dir):
    """The recheck reuses what it can (caches) and nothing else: its findings are byte for byte those
    of `cg-gov audit` with the new sample as the spec's `reference:`."""
    tmp, _spec, _out = approved
    proc, workload, new = misuse_recheck
    assert proc.returncode == 1, proc.stderr[-3000:]
    full = tmp / "full"
    full.mkdir()

    def with_misuse(spec):
        spec["reference"] = {"name": "workload", "log": str(workload), "format": "jsonl"}

    spec = demo_copy(full, edit_audit=with_misuse, edit_profile=refusal_hangs_on_the_workload, formats=("json",))
    audit = run_cli(["audit", str(spec), "--now", NOW], cache_dir)
    assert audit.returncode == 1, audit.stderr[-3000:]
    assert (full / "out" / "findings.json").read_bytes() == (new / "findings.json").read_bytes()


# ---------------------------------------------------------------- the detector store (fast)


def _family_arrays(seed: int = 0, n_concepts: int = 64):
    """Activations shaped like a family's: sparse, non-negative, the positives firing on a few concepts."""
    rng = np.random.default_rng(seed)

    def acts(n, hot=()):
        a = rng.gamma(1.0, 1.0, (n, n_concepts)) * (rng.random((n, n_concepts)) < 0.15)
        for c in hot:
            a[:, c] += rng.gamma(3.0, 1.0, n)
        return a

    pos, con, ref = acts(8, hot=(3, 7, 11)), acts(12, hot=(7,)), acts(300)
    sim = rng.normal(0.2, 0.05, n_concepts)
    exclude = np.zeros(n_concepts, dtype=bool)
    exclude[5] = True
    return pos, con, ref, sim, exclude


def _same(a, b) -> None:
    (det_a, vis_a), (det_b, vis_b) = a, b
    assert det_a.weights.tobytes() == det_b.weights.tobytes()
    assert det_a.effect.tobytes() == det_b.effect.tobytes()
    assert det_a.concepts == det_b.concepts
    assert dataclasses.asdict(vis_a) == dataclasses.asdict(vis_b)


def test_detector_store_gives_back_exactly_what_was_fitted(tmp_path):
    from cg_gov.matching import DetectorSettings
    from cg_gov.matching._detector_cache import DetectorStore, fit_and_check

    pos, con, ref, sim, exclude = _family_arrays()
    settings = DetectorSettings(resamples=200)
    plain = fit_and_check(pos, con, ref, sim, settings, seed=3, exclude=exclude, n_counter=8)
    store = DetectorStore(ref, tmp_path)
    first = fit_and_check(pos, con, ref, sim, settings, seed=3, exclude=exclude, n_counter=8, store=store)
    files = sorted((tmp_path / "detectors").glob("*.det"))
    assert len(files) == 1
    again = fit_and_check(pos, con, ref, sim, settings, seed=3, exclude=exclude, n_counter=8,
                          store=DetectorStore(ref, tmp_path))
    _same(plain, first)
    _same(plain, again)
    assert plain[0].concepts and plain[1].threshold is not None and plain[1].ci is not None
    assert isinstance(again[1].ci, tuple)
    # any input, the seed or a setting changed: another key, another file
    fit_and_check(pos, con, ref, sim, settings, seed=4, exclude=exclude, n_counter=8, store=store)
    fit_and_check(pos, con, ref, sim, DetectorSettings(resamples=200, top_k=4), seed=3, exclude=exclude,
                  n_counter=8, store=store)
    moved = pos.copy()
    moved[0, 3] += 1e-9
    fit_and_check(moved, con, ref, sim, settings, seed=3, exclude=exclude, n_counter=8, store=store)
    other_ref = ref.copy()
    other_ref[0, 0] += 1.0
    fit_and_check(pos, con, other_ref, sim, settings, seed=3, exclude=exclude, n_counter=8,
                  store=DetectorStore(other_ref, tmp_path))
    assert len(list((tmp_path / "detectors").glob("*.det"))) == 5


def test_detector_store_ignores_a_file_it_did_not_write(tmp_path):
    from cg_gov.matching import DetectorSettings
    from cg_gov.matching._detector_cache import DetectorStore, fit_and_check

    pos, con, ref, sim, exclude = _family_arrays(seed=1)
    settings = DetectorSettings(resamples=200)
    right = fit_and_check(pos, con, ref, sim, settings, seed=0, exclude=exclude, n_counter=8)
    # a stored result for other inputs, copied under this key's name: it fails the HMAC
    fit_and_check(pos, con, ref, sim, settings, seed=9, exclude=exclude, n_counter=8,
                  store=DetectorStore(ref, tmp_path))
    wrong = next((tmp_path / "detectors").glob("*.det"))
    store = DetectorStore(ref, tmp_path)
    key = store._key(pos=pos, con=con, similarity=sim, exclude=exclude, settings=dataclasses.asdict(settings),
                     seed=0, n_counter=8)
    target = store._path(key)
    target.write_bytes(wrong.read_bytes())
    _same(right, fit_and_check(pos, con, ref, sim, settings, seed=0, exclude=exclude, n_counter=8, store=store))
    # and the file is rewritten with the right result, which a later run reads
    assert store.load(key, pos.shape[1]) is not None
    _same(right, store.load(key, pos.shape[1]))
    # a truncated file is recomputed too
    target.write_bytes(target.read_bytes()[:100])
    assert store.load(key, pos.shape[1]) is None
    _same(right, fit_and_check(pos, con, ref, sim, settings, seed=0, exclude=exclude, n_counter=8, store=store))


def test_detector_store_in_an_unwritable_folder_still_fits(tmp_path):
    from cg_gov.matching import DetectorSettings
    from cg_gov.matching._detector_cache import DetectorStore, fit_and_check

    pos, con, ref, sim, exclude = _family_arrays(seed=2)
    settings = DetectorSettings(resamples=100)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    got = fit_and_check(pos, con, ref, sim, settings, seed=0, exclude=exclude, n_counter=8,
                        store=DetectorStore(ref, blocker))
    _same(fit_and_check(pos, con, ref, sim, settings, seed=0, exclude=exclude, n_counter=8), got)


def test_recheck_takes_pdf_as_an_option():
    from cg_gov.cli import build_parser

    args = build_parser().parse_args(["recheck", "approved", "--workload", "w.jsonl"])
    assert args.pdf is False
    args = build_parser().parse_args(["recheck", "approved", "--workload", "w.jsonl", "--pdf"])
    assert args.pdf is True
