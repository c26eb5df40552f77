"""Hostile and broken inputs (issue 15): helpers shared by the cases.

Every case runs ``cg-gov`` (or a small script) in a subprocess bounded by a wall-clock timeout and
an address-space limit set with ``resource`` (RLIMIT_AS), and measures the child's peak resident
memory with ``os.wait4``. No case loads the language model.
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
#: Address space a child may map: the issue's bound on an oversized input is 1 GB of memory; the
#: interpreter with numpy/pydantic maps a few hundred MB more than it touches.
MEM_LIMIT = 1536 << 20
#: Peak resident memory every case must stay under.
PEAK_LIMIT_MB = 1024

#: Prepended to every child: at exit it writes its peak resident memory (VmHWM, kB) where asked.
_HWM = """import atexit as _atexit, os as _os
def _hwm():
    for _line in open("/proc/self/status"):
        if _line.startswith("VmHWM:"):
            open(_os.environ["CG_GOV_HOSTILE_HWM"], "w").write(_line.split()[1])
_atexit.register(_hwm)
"""

CLI = "import sys\nfrom cg_gov.cli import main\nsys.exit(main(sys.argv[1:]))\n"


#: The stage lines of `cg-gov audit` ("[1/6] validating ...", "      done in 0.1s").
_STAGE = re.compile(r"^(\[\d+/\d+\] |done in )")


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float

    def error_lines(self) -> list[str]:
        """stderr lines that are not warnings or progress displays."""
        lines = []
        for line in self.stderr.splitlines():
            line = line.split("\r")[-1].strip()
            if line and not line.startswith("warning:") and not line.startswith("reading ") \
                    and not _STAGE.match(line):
                lines.append(line)
        return lines


def run_python(code: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60,
               mem_limit: int = MEM_LIMIT, kill_after: tuple[float, int] | None = None) -> Run:
    """Run ``python -c code args`` bounded by ``timeout`` seconds and ``mem_limit`` bytes of address
    space; returns its exit code (negative: killed by that signal), output and peak RSS.
    ``kill_after=(seconds, signal)`` sends the signal after that many seconds."""
    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    hwm_file = Path(tempfile.mkstemp(prefix="cg-gov-hwm-")[1])
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO),
                "CG_GOV_CACHE": str(cwd / ".cache"), "CG_GOV_HOSTILE_HWM": str(hwm_file), **(env or {})}
    batch = code is BATCH
    code = _HWM + code
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=full_env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, preexec_fn=limits)
        timers = [threading.Timer(timeout, proc.kill)]
        if kill_after is not None:
            timers.append(threading.Timer(kill_after[0],
                                          lambda: proc.poll() is None and proc.send_signal(kill_after[1])))
        for timer in timers:
            timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            for timer in timers:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        # the child's own peak (VmHWM, written at exit); when it was killed, wait4's figure, which
        # also counts the pytest process it was forked from, so it only bounds the peak from above
        own = hwm_file.read_text().strip()
        hwm_file.unlink()
        peak = int(own) / 1024 if own else usage.ru_maxrss / 1024
        run = Run(proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                  peak, seconds)
    assert seconds < timeout, f"timed out after {timeout}s: {run.stderr[-2000:]}"
    if not batch:
        _record(" ".join(a[:80] for a in args) or code.strip().splitlines()[-1][:80], run)
    return run


def _record(name: str, run: Run) -> None:
    """With $CG_GOV_HOSTILE_RECORD set: one JSON line per case (the figures of the issue's note)."""
    target = os.environ.get("CG_GOV_HOSTILE_RECORD")
    if not target:
        return
    import json

    lines = run.error_lines()
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0], "case": name,
                             "rc": run.rc, "peak_mb": round(run.peak_mb, 1), "seconds": round(run.seconds, 2),
                             "message": lines[-1][:300] if lines else ""}) + "\n")


def run_cli(*args: str, cwd: Path, **kwargs) -> Run:
    return run_python(CLI, *args, cwd=cwd, **kwargs)


#: Runs several cg-gov command lines in one bounded child (an interpreter starts in seconds on a busy
#: machine): per case its exit code, stdout, stderr, seconds and the child's peak RSS so far (VmHWM
#: only grows, so each case's figure bounds its own peak).
BATCH = """
import contextlib, io, json, os, sys, time
from cg_gov.cli import main
cases = json.loads(sys.argv[1])
results = {}
for name, (argv, env) in cases.items():
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    results[name] = [rc, out.getvalue()[-20000:], err.getvalue()[-20000:], hwm / 1024, time.perf_counter() - t0]
print("\x1e" + json.dumps(results))
"""


def run_batch(cases: dict[str, list[str] | tuple[list[str], dict[str, str]]], *, cwd: Path,
              timeout: float = 120, mem_limit: int = MEM_LIMIT) -> dict[str, Run]:
    """Each case (an argv list, or (argv, extra environment)) run by ``cg_gov.cli.main`` in one child
    bounded by ``timeout`` and ``mem_limit``."""
    import json

    spec = {name: (case, {}) if isinstance(case, list) else case for name, case in cases.items()}
    run = run_python(BATCH, json.dumps(spec), cwd=cwd, timeout=timeout, mem_limit=mem_limit)
    assert run.rc == 0 and "\x1e" in run.stdout, (run.rc, run.stderr[-3000:])
    results = json.loads(run.stdout.split("\x1e", 1)[1])
    runs = {name: Run(rc, out, err, peak, seconds) for name, (rc, out, err, peak, seconds) in results.items()}
    for name, case in runs.items():
        _record(name, case)
    return runs


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and mtime (what "nothing was written" compares)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.exists():
            continue
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_size if path.is_file() else -1, st.st_mtime_ns)
    return out


def assert_one_error(run: Run, *needles: str, rc: int = 2) -> str:
    """Exit code ``rc``, no traceback, exactly one error line, holding every needle; returns the line."""
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.rc == rc, (run.rc, run.stdout[-1000:], run.stderr[-3000:])
    lines = run.error_lines()
    assert len(lines) == 1, lines[:5]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert len(lines[0]) < 2000
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb
    return lines[0]


__all__ = ["FIXTURES", "MEM_LIMIT", "PEAK_LIMIT_MB", "REPO", "Run", "assert_one_error", "run_batch", "run_cli",
           "run_python", "snapshot"]


def assert_stopped_before_the_model(run: Run) -> None:
    """The command stopped in its first stage (validating the spec, reading the logs): no dictionary
    or language model was loaded. A structural check, where a wall-clock bound would fail on a busy
    machine without telling anything."""
    assert "[2/" not in run.stderr and "loading the concept dictionary" not in run.stderr, run.stderr[-2000:]
