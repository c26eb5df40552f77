"""Settings of the forward pass chosen by measurement on the machine: ``dtype: auto`` and
``threads: auto`` (``ExtractionSettings``).

dtype
    A few matmuls of the embedded model's shapes (576 x 1536, 64 tokens), timed in float32 and
    bfloat16, alternately. bfloat16 is taken only where it is clearly faster
    (:data:`BF16_MIN_SPEEDUP`): CPUs with AMX or AVX512-BF16, GPUs. Elsewhere (most CPUs) bfloat16
    matmuls are emulated and run many times slower than float32, so float32 is taken. The probe stops
    as soon as bfloat16 is clearly slower, so it stays under a second where bfloat16 is slow.
threads
    The forward pass is a long chain of small parallel regions; when another process takes one of
    the cores, a team of one thread per core waits at every region's barrier for the thread that
    lost its core, and throughput can collapse (a 1 x 96-token forward was measured at 6.2 s with 2
    threads against 0.39 s with 1 thread). The candidates are the usable cores and one fewer; each
    runs a short chain of the model's ops idle and beside a busy process that this probe starts
    (and stops), and the count with the best worst case is taken.

Both decisions are cached per machine (CPU model, usable cores, torch version, device) under
``$CG_GOV_CACHE/machine/`` and reported with their measurements, so a run records why it ran as it
did (``manifest.json``'s ``extraction.chosen``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cg_gov.io import atomic_write_bytes
from cg_gov.spec import ExtractionSettings

__all__ = ["BF16_MIN_SPEEDUP", "machine_key", "resolve_extraction", "measure_dtype", "measure_threads"]

log = logging.getLogger(__name__)

#: bfloat16 is chosen only when its probe runs at least this many times faster than float32's.
BF16_MIN_SPEEDUP = 1.25
#: Version of the decision rule and probe: part of the cache file's key.
PROBE_VERSION = 1
_D_MODEL, _D_FF, _ROWS = 576, 1536, 64
_MAX_CACHE_BYTES = 1 << 16


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", "rb") as f:
            head = f.read(1 << 16).decode("utf-8", "replace")
        for line in head.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def machine_key(device: str = "cpu") -> dict[str, Any]:
    """What a cached decision is valid for: CPU model, usable cores, torch version, device. On a CPU the
    version is read from the installed package's metadata, so that a run whose activations all come
    from the cache never imports torch (seconds of a re-check)."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        version = None
    if version is None or not device.startswith("cpu"):
        import torch

        version = torch.__version__
    key: dict[str, Any] = {"cpu": _cpu_model(), "arch": platform.machine(), "cores": usable_cores(),
                           "torch": version, "device": device, "probe": PROBE_VERSION}
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            key["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return key


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))
    elif device == "mps":  # pragma: no cover - no mps here
        torch.mps.synchronize()


def measure_dtype(device: str = "cpu", rounds: int = 3) -> dict[str, Any]:
    """Time the model's matmul shapes in float32 and bfloat16 (best of ``rounds``, alternating) and
    say which to use. Stops as soon as bfloat16 is clearly the slower, so the probe stays well under
    a second where bfloat16 is emulated."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(0)
    a32 = torch.randn(_ROWS, _D_MODEL, generator=gen).to(device)
    w32 = torch.randn(_D_MODEL, _D_FF, generator=gen).to(device)
    a16, w16 = a32.to(torch.bfloat16), w32.to(torch.bfloat16)

    def once(a, w, rows: int = _ROWS) -> float:
        _sync(device)
        t = time.perf_counter()
        (a[:rows] @ w).relu_() @ w.T
        _sync(device)
        return time.perf_counter() - t

    with torch.inference_mode():
        once(a32, w32, 8)  # warm-up (allocations, kernel selection) on a small slice
        once(a16, w16, 8)
        best32 = best16 = float("inf")
        t_start = time.perf_counter()
        for _ in range(max(1, rounds)):
            best32 = min(best32, once(a32, w32))
            best16 = min(best16, once(a16, w16))
            if best16 > 2 * best32:
                break  # clearly slower: no need for more rounds
        took = time.perf_counter() - t_start
    speedup = best32 / best16 if best16 > 0 else float("inf")
    chosen = "bfloat16" if speedup >= BF16_MIN_SPEEDUP else "float32"
    return {"chosen": chosen, "float32_ms": round(best32 * 1e3, 3), "bfloat16_ms": round(best16 * 1e3, 3),
            "bfloat16_speedup": round(speedup, 3), "rule": f"bfloat16 if >= {BF16_MIN_SPEEDUP}x float32",
            "probe_s": round(took, 3)}


_BUSY = "import time\nt = time.time() + {s}\nwhile time.time() < t:\n    pass\n"


def busy_process(seconds: float) -> subprocess.Popen:
    """A process that keeps one core busy for ``seconds`` (the caller stops it)."""
    return subprocess.Popen([sys.executable, "-c", _BUSY.format(s=float(seconds))],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _chain(dtype, steps: int = 8) -> float:
    """A short chain of the model's per-layer ops on a 1 x 64-token batch: many small parallel
    regions, which is what a competing process hurts."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(_ROWS, _D_MODEL, generator=gen).to(dtype)
    w1 = (torch.randn(_D_MODEL, _D_FF, generator=gen) / 24).to(dtype)
    w2 = (torch.randn(_D_FF, _D_MODEL, generator=gen) / 40).to(dtype)
    t = time.perf_counter()
    with torch.inference_mode():
        for _ in range(steps):
            h = torch.nn.functional.silu(x @ w1) @ w2
            x = torch.nn.functional.layer_norm(x + h, (_D_MODEL,))
    return time.perf_counter() - t


def measure_threads(dtype: str = "float32") -> dict[str, Any]:
    """Time of a short chain of the model's ops with each candidate thread count (all usable cores,
    and one fewer), idle and beside a busy process started here; the count with the best worst case
    wins. A candidate already beaten by 2x idle is not timed under contention."""
    import torch

    n = usable_cores()
    candidates = sorted({n, max(1, n - 1)})
    if len(candidates) == 1:
        return {"chosen": candidates[0], "candidates": {}, "rule": "one usable core"}
    td = getattr(torch, dtype)
    before = torch.get_num_threads()
    times: dict[int, dict[str, float]] = {}
    t_start = time.perf_counter()
    try:
        for c in candidates:
            torch.set_num_threads(c)
            _chain(td, 1)
            times[c] = {"idle_s": _chain(td)}
        best_idle = min(t["idle_s"] for t in times.values())
        busy = busy_process(30)
        try:
            time.sleep(0.05)
            for c in candidates:
                if times[c]["idle_s"] > 2 * best_idle:
                    continue
                torch.set_num_threads(c)
                times[c]["contended_s"] = _chain(td)
        finally:
            busy.kill()
            busy.wait()
    finally:
        torch.set_num_threads(before)
    worst = {c: max(t.values()) if "contended_s" in t else float("inf") for c, t in times.items()}
    chosen = min(candidates, key=lambda c: (worst[c], c))
    return {"chosen": chosen,
            "candidates": {str(c): {k: round(v, 4) for k, v in t.items()} for c, t in times.items()},
            "rule": "the count whose slower of idle and contended times is least",
            "probe_s": round(time.perf_counter() - t_start, 3)}


# ---------------------------------------------------------------- cache


def _cache_file(key: dict[str, Any], cache_dir: str | os.PathLike | None) -> Path:
    from cg_gov.io import cache_dir as default_cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir or default_cache_dir()) / "machine" / f"{digest}.json"


def _read(path: Path) -> dict[str, Any]:
    from cg_gov.io import read_optional

    raw = read_optional(path, _MAX_CACHE_BYTES)  # capped by the bytes read, not the size claimed
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def _write(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(data, indent=1, sort_keys=True).encode())
    except OSError as exc:  # an unwritable cache only costs a new measurement next time
        log.info("machine decisions not cached: %s", exc)


def resolve_extraction(settings: ExtractionSettings, *, cache_dir: str | os.PathLike | None = None
                       ) -> tuple[ExtractionSettings, dict[str, Any]]:
    """``settings`` with ``dtype`` and ``threads`` made concrete, and how each was chosen
    (``{"dtype": {...}, "threads": {...}}``, each with ``setting`` and ``from``: spec, measured or
    cached). A concrete setting is kept as given."""
    device = settings.device
    chosen: dict[str, Any] = {}
    update: dict[str, Any] = {}
    need_dtype = settings.dtype == "auto"
    need_threads = settings.threads == "auto" and device == "cpu"
    data: dict[str, Any] = {}
    path = None
    if need_dtype or need_threads:
        key = machine_key(device)
        path = _cache_file(key, cache_dir)
        data = _read(path)
        if data.get("key") != key:
            data = {"key": key}
    dirty = False
    if need_dtype:
        rec = data.get("dtype")
        if not (isinstance(rec, dict) and rec.get("chosen") in ("float32", "bfloat16")):
            rec = measure_dtype(device)
            data["dtype"], dirty, origin = rec, True, "measured"
        else:
            origin = "cached"
        update["dtype"] = rec["chosen"]
        chosen["dtype"] = {"setting": "auto", "from": origin, **rec}
    else:
        chosen["dtype"] = {"setting": settings.dtype, "chosen": settings.dtype, "from": "spec"}
    dtype = update.get("dtype", settings.dtype)
    if need_threads:
        slot = f"threads_{dtype}"
        rec = data.get(slot)
        if not (isinstance(rec, dict) and isinstance(rec.get("chosen"), int) and rec["chosen"] >= 1):
            rec = measure_threads(dtype)
            data[slot], dirty, origin = rec, True, "measured"
        else:
            origin = "cached"
        update["threads"] = int(rec["chosen"])
        chosen["threads"] = {"setting": "auto", "from": origin, **rec}
    elif settings.threads == "auto":
        chosen["threads"] = {"setting": "auto", "chosen": None, "from": f"not used on {device}"}
    else:
        chosen["threads"] = {"setting": settings.threads, "chosen": settings.threads, "from": "spec"}
    if dirty and path is not None:
        _write(path, data)
    return settings.model_copy(update=update), chosen


def describe_choice(chosen: dict[str, Any]) -> str:
    """One line for a stage: the dtype and threads and why."""
    d = chosen.get("dtype", {})
    parts = [str(d.get("chosen"))]
    if d.get("setting") == "auto":
        parts[0] += (f" (auto, {d.get('from')}: bfloat16 ran {d.get('bfloat16_speedup')}x float32's speed "
                     f"on this machine)")
    t = chosen.get("threads", {})
    if t.get("chosen") is not None:
        parts.append(f"{t['chosen']} thread{'s' if t['chosen'] != 1 else ''}"
                     + (f" (auto, {t.get('from')})" if t.get("setting") == "auto" else ""))
    return ", ".join(parts)
