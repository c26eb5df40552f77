"""executor: ray on a local Ray cluster (2 CPUs, bound to 127.0.0.1, started and shut down here):
the Ray path gives the local path's activations on real demo items, fills the same cache, and a
run killed midway recomputes only what is missing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cg_gov.dictionary import load_dictionary
from cg_gov.engine import extract_activations
from cg_gov.spec import ExtractionSettings, RaySettings

try:
    import ray
except ImportError:  # pragma: no cover - the extra is part of `make test`
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed (pip install 'cg-gov[ray]'): "
                               "executor: ray is not tested here")


def _listening_addresses() -> set[str]:
    """The addresses Ray's processes listen on (gcs_server, raylet, workers, this driver)."""
    import psutil

    ours = {os.getpid()}
    for proc in psutil.process_iter(["name", "cmdline"]):
        text = " ".join([proc.info.get("name") or "", *(proc.info.get("cmdline") or [])])
        if "ray" in text or "gcs_server" in text or "raylet" in text:
            ours.add(proc.pid)
    return {c.laddr.ip for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in ours}


@pytest.fixture(scope="module")
def cluster():
    # Ray gives its node 30 s to register; on a 2-core machine shared with other heavy processes
    # that can pass, so the start is tried three times
    for attempt in range(3):
        try:
            from cg_gov.engine._ray import loopback_only

            loopback_only(ray)
            ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
            break
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception on a slow start
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _settings(executor: str, address: str = "local") -> ExtractionSettings:
    return ExtractionSettings(dtype="float32", batch_size=2, max_tokens=64, threads=1, executor=executor,
                              ray=RaySettings(address=address, actors=2, cpus_per_actor=1))


DRIVER = """
import sys
from cg_gov.dictionary import load_dictionary
from cg_gov.engine import extract_activations
from cg_gov.spec import ExtractionSettings, RaySettings
texts = [t for t in open(sys.argv[2], encoding='utf-8').read().split('\\x1e') if t]
s = ExtractionSettings(dtype="float32", batch_size=2, max_tokens=64, threads=1, executor="ray",
                       ray=RaySettings(address=sys.argv[3], actors=1, cpus_per_actor=1))
extract_activations(texts, load_dictionary("default", load_reference=False), settings=s,
                    cache_dir=sys.argv[1], progress=False)
"""


@pytest.mark.slow
@needs_ray
def test_ray_equals_local_and_resumes_after_a_kill(cluster, tmp_path):
    from tests.test_engine import real_texts

    d = load_dictionary("default", load_reference=False)
    texts = real_texts(24)
    local = extract_activations(texts, d, settings=_settings("local"), cache_dir=tmp_path / "local", progress=False)

    # a Ray driver killed midway (SIGKILL) after a few batches reached the cache
    cache = tmp_path / "ray"
    (tmp_path / "texts").write_text("\x1e".join(texts), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(cache), str(tmp_path / "texts"), cluster],
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if len(list(cache.rglob("shard-*.npz"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the Ray run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    done = len(list(cache.rglob("shard-*.npz")))
    assert 2 <= done < len(texts) // 2

    resumed = extract_activations(texts, d, settings=_settings("ray", cluster), cache_dir=cache, progress=False)
    assert resumed.cache_hits == 2 * done                   # only what was missing was computed
    assert len(list(cache.rglob("shard-*.npz"))) == len(texts) // 2
    assert resumed.settings["executor"] == "ray"
    np.testing.assert_array_equal(resumed.n_tokens, local.n_tokens)
    # float32 sums over differently batched items agree to the last bits only: within 1e-5 of the
    # largest value (measured up to 6.7e-6 absolute on a 0.6 scale on an AVX512-BF16 CPU)
    for got, want in ((resumed.abar, local.abar), (resumed.max_act, local.max_act)):
        want = want.toarray()
        assert np.abs(got.toarray() - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))

    # the local executor reads what the Ray run cached, and the other way round
    again = extract_activations(texts, d, settings=_settings("local"), cache_dir=cache, progress=False)
    assert again.cache_hits == len(texts)


def test_missing_ray_names_the_extra(monkeypatch):
    import builtins

    from cg_gov.engine._ray import require_ray
    from cg_gov.errors import MissingDependencyError

    real_import = builtins.__import__
    if ray is None:  # the real case: no Ray here
        with pytest.raises(MissingDependencyError) as err:
            require_ray()
        assert "cg-gov[ray]" in (err.value.hint or "")
        return

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(MissingDependencyError) as err:
        require_ray()
    assert "cg-gov[ray]" in (err.value.hint or "")


AUDIT_ITEMS = 16  # per benchmark


def _small_audit(tmp_path, executor: str, address: str) -> "Path":
    """The demo's profile on the first items of three demo benchmarks, read from the real Inspect
    logs (their real scores), written as JSONL; float32, one thread, the given executor."""
    import json
    from pathlib import Path

    import yaml

    from cg_gov.evals import read_benchmark

    repo = Path(__file__).resolve().parents[1]
    folder = tmp_path / executor
    folder.mkdir()
    benchmarks = []
    for name in ("donotanswer", "falseclaims", "cyberseceval"):
        items = read_benchmark({"name": name, "log": str(repo / "data/demo/logs" / f"{name}.eval"),
                                "format": "inspect"})[:AUDIT_ITEMS]
        log = folder / f"{name}.jsonl"
        log.write_text("".join(json.dumps({"id": it.id, "input": it.input, "score": it.score}) + "\n"
                               for it in items), encoding="utf-8")
        benchmarks.append({"name": name, "log": log.name, "format": "jsonl"})
    spec = {
        "audit": "ray-vs-local", "model": "SmolLM2-135M-Instruct", "dictionary": "default",
        "profile": str(repo / "specs" / "profiles" / "customer-support.yaml"),
        "benchmarks": benchmarks,
        "extraction": {"dtype": "float32", "threads": 1, "batch_size": 4, "max_tokens": 64,
                       "executor": executor,
                       **({"ray": {"address": address, "actors": 2, "cpus_per_actor": 1}}
                          if executor == "ray" else {})},
        "scoring": {"n_min": 2, "min_benchmarks": 1, "bootstrap": 200, "subsample_reruns": 10},
        "report": {"out": "out", "formats": ["json"]},
    }
    path = folder / "audit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
@needs_ray
def test_ray_audit_writes_the_local_audits_findings(cluster, tmp_path):
    """A whole audit (suite items and the profile's exemplars through the executor, scoring,
    matching, verdict) with executor: ray writes the local executor's findings.json byte for byte,
    each computing every activation itself (--no-cache)."""
    from cg_gov.cli import main

    codes = {}
    for executor in ("local", "ray"):
        spec = _small_audit(tmp_path, executor, cluster)
        codes[executor] = main(["audit", str(spec), "--no-cache", "--now", "2026-11-29T00:00:00Z"])
        assert codes[executor] in (0, 1)
    local = (tmp_path / "local" / "out" / "findings.json").read_bytes()
    ray_ = (tmp_path / "ray" / "out" / "findings.json").read_bytes()
    assert local == ray_
    assert codes["local"] == codes["ray"]


@pytest.mark.slow
@needs_ray
def test_the_local_cluster_listens_on_loopback_only(cluster):
    assert cluster.rsplit(":", 1)[0] == "127.0.0.1"
    addresses = _listening_addresses()
    assert addresses and addresses <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, addresses
