"""Trust boundaries (the red team's findings 1 to 4): what cg_gov takes from files it did not write.

- A precomputed-activations file is checked on a random sample of its rows against the engine's
  numbers before any row is used; a file scaled x50 is refused and none of its rows enters the
  signed cache (before, later runs without the file read "58/58 from cache" and kept the poison).
- The converted model records the sha256 of its GGUF source and of each file it holds.
- A vendor audit's candidates must hold the same item texts under the same ids.
- manifest.json records the sha256 of the findings.json written beside it; ``cg-gov report`` and
  ``cg-gov diff`` refuse a pair that does not match, naming both files.

Each case runs in a child process under the memory and time limits of ``_hostile.py``; none loads
the language model (the precomputed check finds the engine's numbers in the cache here; the
recomputing path is tested on the real model in ``tests/test_precomputed.py``).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from _hostile import FIXTURES, PEAK_LIMIT_MB, assert_one_error, run_batch, run_python, assert_stopped_before_the_model

FINDINGS = FIXTURES / "findings" / "support_assistant.json"

_PRECOMPUTED = r'''
import json, sys
import numpy as np, scipy.sparse as sp
from pathlib import Path
from cg_gov.dictionary import load_dictionary
from cg_gov.engine import ActivationCache, extract_activations
from cg_gov.engine._activations import cache_namespace, shard_bytes
from cg_gov.errors import CgGovError
from cg_gov.spec import ExtractionSettings

factor, root = float(sys.argv[1]), Path(sys.argv[2])
settings = ExtractionSettings(dtype="float32", threads=1)
d = load_dictionary("default", load_reference=False)
texts = [f"item {i}: where is my parcel number {i}?" for i in range(58)]
ns = cache_namespace(d, settings)
keys = [ActivationCache.item_key(ns, t, None) for t in texts]
rng = np.random.default_rng(0)
dense = np.where(rng.random((58, d.n_concepts)) < 0.01, rng.random((58, d.n_concepts)), 0).astype(np.float32)
abar = sp.csr_matrix(dense)
mx = sp.csr_matrix((abar.data * 2, abar.indices, abar.indptr), shape=abar.shape)
n_tok = np.arange(1, 59)
# what this machine computed: in the cache
ActivationCache(root / "cache" / "activations", ns, d.n_concepts).save(keys, n_tok, abar, mx)
scaled = lambda m: sp.csr_matrix((m.data * factor, m.indices, m.indptr), shape=m.shape)
(root / "pre.npz").write_bytes(shard_bytes(keys, n_tok, scaled(abar), scaled(mx)))
shards = sorted(p.name for p in (root / "cache").rglob("shard-*.npz"))
try:
    acts = extract_activations(texts, d, settings=settings, cache_dir=root / "cache", precomputed=root / "pre.npz",
                               progress=False)
    outcome = {"taken": acts.precomputed_hits, "sources": acts.sources, "check": acts.precomputed_check}
except CgGovError as exc:
    outcome = {"error": exc.render()}
outcome["cache_unchanged"] = sorted(p.name for p in (root / "cache").rglob("shard-*.npz")) == shards
later = extract_activations(texts, d, settings=settings, cache_dir=root / "cache", progress=False)
outcome["later_from_cache"] = later.cache_hits
outcome["later_ratio"] = float(later.abar.sum() / abar.sum())
print(json.dumps(outcome))
'''


def test_a_precomputed_file_scaled_x50_is_refused_and_never_enters_the_cache(tmp_path):
    run = run_python(_PRECOMPUTED, "50", str(tmp_path), cwd=tmp_path, timeout=120)
    assert run.rc == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert "differ from what the engine computes" in outcome["error"] and "none is used" in outcome["error"]
    assert "pre.npz" in outcome["error"] and "4900.0% (relative), over the bound of 1% for float32" in outcome["error"]
    assert outcome["cache_unchanged"]
    # a later run without the file reads the engine's numbers, not the file's
    assert outcome["later_from_cache"] == 58 and abs(outcome["later_ratio"] - 1) < 1e-6
    assert run.peak_mb < PEAK_LIMIT_MB


def test_a_precomputed_file_within_the_bound_is_taken_and_its_sources_counted(tmp_path):
    run = run_python(_PRECOMPUTED, "1.0001", str(tmp_path), cwd=tmp_path, timeout=120)
    assert run.rc == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["taken"] == 58 and outcome["sources"] == {"precomputed": 58, "cache": 0, "computed": 0}
    assert outcome["check"]["sampled"] == 3 and outcome["check"]["max_relative_difference"] < 1e-3
    assert outcome["check"]["bound"] == 0.01  # float32


def test_a_converted_model_that_changed_is_not_used(tmp_path):
    """Without loading torch: the record of a converted copy, and what each change to it is called
    (the load path that converts again is tested on the real model in tests/test_model.py)."""
    code = r'''
import json, sys
from pathlib import Path
from cg_gov.dictionary._model import converted_problem
from cg_gov.io import sha256_file
folder = Path(sys.argv[1]) / "converted"
folder.mkdir()
(folder / "model.safetensors").write_bytes(b"\x01" * 4096)
(folder / "config.json").write_text("{}")
record = {"source_sha256": "a" * 64, "files": {f.name: sha256_file(f) for f in folder.iterdir()}}
(folder / ".complete").write_text(json.dumps(record))
out = {"intact": converted_problem(folder, "a" * 64), "other source": converted_problem(folder, "b" * 64)}
(folder / "model.safetensors").write_bytes(b"\x03" * 4096)
out["scaled"] = converted_problem(folder, "a" * 64)
(folder / "model.safetensors").write_bytes(b"\x01" * 100)
out["truncated"] = converted_problem(folder, "a" * 64)
(folder / ".complete").write_text("ok\n")
out["old marker"] = converted_problem(folder, "a" * 64)
(folder / ".complete").unlink()
out["none"] = converted_problem(folder, "a" * 64)
print(json.dumps(out))
'''
    run = run_python(code, str(tmp_path), cwd=tmp_path, timeout=60)
    assert run.rc == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["intact"] is None
    assert out["other source"] == "was converted from another GGUF file"
    assert out["scaled"] == out["truncated"] == ("has a model.safetensors that changed since it was written "
                                                 "(sha256 differs)")
    assert "no record of its files" in out["old marker"]
    assert out["none"] == "not converted yet"


def _vendor(tmp_path: Path, second_prompt: str) -> Path:
    profile = FIXTURES / "specs" / "valid" / "minimal-profile.yaml"
    for name, prompt in (("a", "question {i}"), ("b", second_prompt)):
        (tmp_path / f"{name}.jsonl").write_text("".join(
            json.dumps({"id": f"q{i}", "input": prompt.format(i=i), "score": 1}) + "\n" for i in range(5)))
    spec = tmp_path / "vendor.yaml"
    spec.write_text(f"audit: vendor\nprofile: {profile}\nmodels:\n"
                    "  - {name: model-a, logs: {qa: a.jsonl}}\n  - {name: model-b, logs: {qa: b.jsonl}}\n"
                    "benchmarks:\n  - {name: qa, format: jsonl}\n")
    return spec


def test_vendor_candidates_with_other_prompts_under_the_same_ids_are_refused(tmp_path):
    bad = _vendor(tmp_path, "a different question {i}")
    runs = run_batch({"validate": ["validate", str(bad)], "audit": ["audit", str(bad)]}, cwd=tmp_path, timeout=60)
    for name in ("validate", "audit"):
        line = assert_one_error(runs[name], f"{bad}:", "models[1].logs.qa",
                                "the item text under id 'q0', 'q1', 'q2' (and 2 more) differs from model 'model-a''s")
        assert "same text under the same id" in line
    assert_stopped_before_the_model(runs["audit"])  # found before any model loads
    same = tmp_path / "same"
    same.mkdir()
    ok = _vendor(same, "  question {i}\r\n")  # white space and line ends are not a different prompt
    runs = run_batch({"validate": ["validate", str(ok)]}, cwd=tmp_path, timeout=60)
    assert runs["validate"].rc == 0, runs["validate"].stderr


def _report_folder(tmp_path: Path, name: str = "report") -> Path:
    """A report folder as `cg-gov audit` writes it (json only): findings.json and a manifest bound to it."""
    code = ("import json, sys\nfrom cg_gov.report import render_report\n"
            "render_report(json.load(open(sys.argv[1])), {'created': '2026-01-01T00:00:00Z', 'manifest_version': 2},"
            " sys.argv[2], formats=['json'])\n")
    run = run_python(code, str(FINDINGS), str(tmp_path / name), cwd=tmp_path, timeout=60)
    assert run.rc == 0, run.stderr[-3000:]
    return tmp_path / name


def test_the_manifest_binds_the_findings_and_a_forged_pair_is_refused(tmp_path):
    folder = _report_folder(tmp_path)
    findings = (folder / "findings.json").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["findings_sha256"] == hashlib.sha256(findings).hexdigest()
    assert findings == FINDINGS.read_bytes()  # findings.json itself is byte-stable: the hash is in the manifest
    # the red team's forgery: findings edited to pass, the manifest left as it was
    forged = tmp_path / "forged"
    shutil.copytree(folder, forged)
    data = json.loads(findings)
    data["audit"]["model"] = "a better model"
    (forged / "findings.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    # another run's manifest beside these findings
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    other = dict(manifest, findings_sha256="0" * 64)
    (mixed / "manifest.json").write_text(json.dumps(other))
    # a current manifest that records no hash
    unbound = tmp_path / "unbound"
    shutil.copytree(folder, unbound)
    (unbound / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "findings_sha256"}))
    runs = run_batch({
        "report forged": ["report", str(forged), "--out", str(tmp_path / "o1"), "--formats", "html"],
        "report mixed": ["report", str(mixed), "--out", str(tmp_path / "o2"), "--formats", "html"],
        "report unbound": ["report", str(unbound), "--out", str(tmp_path / "o3"), "--formats", "html"],
        "diff forged": ["diff", str(folder), str(forged)],
        "diff mixed": ["diff", str(mixed), str(folder)],
        "report genuine": ["report", str(folder), "--out", str(tmp_path / "o4"), "--formats", "html"],
        "diff genuine": ["diff", str(folder), str(folder)],
    }, cwd=tmp_path, timeout=120)
    for name, where in (("report forged", forged), ("diff forged", forged), ("report mixed", mixed),
                        ("diff mixed", mixed)):
        assert_one_error(runs[name], f"{where / 'manifest.json'}: findings_sha256: the manifest describes other "
                                     f"findings than {where / 'findings.json'}", "use the pair")
    assert_one_error(runs["report unbound"], "records no sha256 of the findings")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    assert runs["report genuine"].rc in (0, 1), runs["report genuine"].stderr
    assert runs["diff genuine"].rc == 0, runs["diff genuine"].stderr
    html = (tmp_path / "o4" / "report.html").read_text()
    assert f"findings.json sha256 <span class=\"mono\">{hashlib.sha256(findings).hexdigest()}</span>" in html


def test_a_manifest_older_than_the_binding_renders_with_a_warning(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FINDINGS, src / "findings.json")
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z", "manifest_version": 1}))
    runs = run_batch({"report": ["report", str(src), "--out", str(tmp_path / "out"), "--formats", "html,json"]},
                     cwd=tmp_path, timeout=60)
    assert runs["report"].rc in (0, 1), runs["report"].stderr
    assert "records no hash of" in runs["report"].stderr and "the pair is not verified" in runs["report"].stderr
    written = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert written["findings_sha256"] == hashlib.sha256((tmp_path / "out" / "findings.json").read_bytes()).hexdigest()
