"""Issue 15.1: the report folder is written whole or not at all.

An interruption (SIGINT, SIGTERM, SIGKILL) at any step of the write leaves the old set or the new
set of report files, never a mix; files of an earlier run that the new run does not write do not
survive; files the user put in the folder are kept; leftovers of a killed run are cleaned (and
anything of the user's they hold is put back) by the next run.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from _hostile import FIXTURES, assert_one_error, run_batch, run_cli, snapshot

OWNED = ("findings.json", "manifest.json", "report.html", "report.pdf")
OLD = {name: f"old {name}\n".encode() for name in OWNED}
NEW = {"findings.json": b'{"new": true}\n', "manifest.json": b'{"new": "manifest"}\n'}  # a json-only run

def _faulty_write(target: Path, k: int, sig: int, inside: bool = False) -> tuple[int, int]:
    """write_folder (a json-only run) in a forked child whose k-th file-system step (rename, link,
    fsync, chmod, the atomic exchange) first sends ``sig`` to the child itself.
    ``inside``: the child stands in the folder (``cg-gov report .``). Returns (exit status as a
    code, steps counted)."""
    import cg_gov.io as cio

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            count = [0]

            def wrap(fn):
                def inner(*a, **kw):
                    count[0] += 1
                    if count[0] == k:
                        os.kill(os.getpid(), sig)
                    return fn(*a, **kw)
                return inner

            if inside:
                os.chdir(target)
            for name in ("rename", "replace", "unlink", "link", "fsync", "chmod", "symlink"):
                setattr(os, name, wrap(getattr(os, name)))
            cio._rename_exchange = wrap(cio._rename_exchange)
            try:
                cio.write_folder(target, NEW, set(OWNED))
            except KeyboardInterrupt:
                code = 130
            os.write(write, str(count[0]).encode())
        except BaseException:  # noqa: BLE001 - report it as a failure of the child
            code = 3
        finally:
            os._exit(code)
    os.close(write)
    _pid, status = os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as fh:
        steps = fh.read().decode() or "0"
    return os.waitstatus_to_exitcode(status), int(steps)


def _old_folder(path: Path) -> None:
    path.mkdir(parents=True)
    for name, data in OLD.items():
        (path / name).write_bytes(data)
    (path / "notes.txt").write_text("the reviewer's notes\n")
    (path / "sign-off").mkdir()
    (path / "sign-off" / "approved.txt").write_text("approved by J.\n")


def _owned(path: Path) -> dict[str, bytes]:
    return {name: (path / name).read_bytes() for name in OWNED if (path / name).exists()}


def _assert_user_files(path: Path) -> None:
    assert (path / "notes.txt").read_text() == "the reviewer's notes\n"
    assert (path / "sign-off" / "approved.txt").read_text() == "approved by J.\n"


def test_fault_at_every_step_leaves_the_old_or_the_new_set(tmp_path):
    from cg_gov.io import write_folder

    probe = tmp_path / "probe" / "report"
    _old_folder(probe)
    code, steps = _faulty_write(probe, 10**6, signal.SIGKILL)
    assert code == 0
    assert _owned(probe) == NEW  # the json-only run removed the old report.html and report.pdf
    _assert_user_files(probe)
    assert steps >= 6
    outcomes = {"old": 0, "new": 0}
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        for k in range(1, steps + 1):
            case = tmp_path / f"{sig.name}-{k}"
            target = case / "report"
            _old_folder(target)
            code, _ = _faulty_write(target, k, sig)
            assert code != 3, (sig, k)
            state = _owned(target)
            assert state in (OLD, NEW), (sig, k, sorted(state))
            outcomes["old" if state == OLD else "new"] += 1
            # the next run cleans what the killed one left and puts back what was the user's
            write_folder(target, NEW, set(OWNED))
            assert _owned(target) == NEW
            _assert_user_files(target)
            assert sorted(p.name for p in case.iterdir()) == ["report"], (sig, k, list(case.iterdir()))
    # both outcomes occur: the swap is the one step that changes what the folder holds
    assert outcomes["old"] and outcomes["new"], outcomes


def test_the_folder_a_run_stands_in_is_written_in_place_and_signals_wait(tmp_path):
    """`cg-gov report .` from inside the report folder: the folder is not swapped (a shell standing in
    it would be left in a deleted folder); SIGINT and SIGTERM at any step leave the old or the new set."""
    from cg_gov.io import write_folder

    probe = tmp_path / "probe"
    _old_folder(probe)
    code, steps = _faulty_write(probe, 10**6, signal.SIGKILL, inside=True)
    assert code == 0 and _owned(probe) == NEW
    inode = probe.stat().st_ino
    for sig in (signal.SIGTERM, signal.SIGINT):
        for k in range(1, steps + 1):
            target = tmp_path / f"{sig.name}-{k}"
            _old_folder(target)
            inode = target.stat().st_ino
            code, _ = _faulty_write(target, k, sig, inside=True)
            assert code != 3, (sig, k)
            assert _owned(target) in (OLD, NEW), (sig, k, sorted(_owned(target)))
            assert target.stat().st_ino == inode  # the same folder, not a swapped-in one
            _assert_user_files(target)
            write_folder(target, NEW, set(OWNED))
            assert sorted(p.name for p in target.iterdir() if p.name.startswith(".")) == []


def test_signals_during_a_real_report_run_leave_one_set(tmp_path):
    """`cg-gov report SRC --out DST` interrupted by each signal at staggered times."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "findings.json").write_bytes((FIXTURES / "findings" / "support_assistant.json").read_bytes())
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z", "cg_gov_version": "test"}))
    dst = tmp_path / "dst"  # one path: the report names the folder it was written to
    _old_folder(dst)
    full = run_cli("report", str(src), "--out", str(dst), "--formats", "json,html", cwd=tmp_path, timeout=120)
    assert full.rc in (0, 1), full.stderr
    new = _owned(dst)
    assert sorted(new) == ["findings.json", "manifest.json", "report.html"]
    _assert_user_files(dst)
    for sig, fraction in [(signal.SIGINT, 0.8), (signal.SIGTERM, 0.9), (signal.SIGKILL, 0.97)]:
        shutil.rmtree(dst)
        _old_folder(dst)
        run = run_cli("report", str(src), "--out", str(dst), "--formats", "json,html", cwd=tmp_path, timeout=120,
                      kill_after=(full.seconds * fraction, sig))
        state = _owned(dst)
        assert state in (OLD, new), (sig, run.rc, sorted(state))
        if run.rc in (0, 1):
            assert state == new
        _assert_user_files(dst)


def test_a_json_only_run_removes_the_old_html_and_pdf(tmp_path):
    """The issue's case: findings.json rewritten while report.html and report.pdf of the last run stayed."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "findings.json").write_bytes((FIXTURES / "findings" / "support_assistant.json").read_bytes())
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    dst = tmp_path / "dst"
    _old_folder(dst)
    (dst / ".report.pdf.k2j3h4.tmp").write_bytes(b"half a pdf")  # left by an older cg_gov killed mid-write
    run = run_cli("report", str(src), "--out", str(dst), "--formats", "json", cwd=tmp_path, timeout=60)
    assert run.rc in (0, 1), run.stderr
    assert sorted(_owned(dst)) == ["findings.json", "manifest.json"]
    assert not (dst / ".report.pdf.k2j3h4.tmp").exists()
    _assert_user_files(dst)


def test_rerendering_in_place_keeps_the_findings_it_read_byte_for_byte(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    findings = (FIXTURES / "findings" / "support_assistant.json").read_bytes()
    (folder / "findings.json").write_bytes(findings)
    (folder / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    (folder / "report.pdf").write_bytes(b"a pdf of older findings")
    run = run_cli("report", str(folder), "--formats", "html", cwd=tmp_path, timeout=60)
    assert run.rc in (0, 1), run.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["findings.json", "manifest.json", "report.html"]
    assert (folder / "findings.json").read_bytes() == findings


def test_out_that_cannot_be_a_folder_is_refused_before_anything_runs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "findings.json").write_bytes((FIXTURES / "findings" / "support_assistant.json").read_bytes())
    (src / "manifest.json").write_text("{}")
    (tmp_path / "taken").write_text("a file\n")
    before = snapshot(tmp_path)
    runs = run_batch({"a file": ["report", str(src), "--out", str(tmp_path / "taken")],
                      "under a file": ["report", str(src), "--out", str(tmp_path / "taken" / "report")],
                      "diff out a file": ["diff", str(src), str(src), "--out", str(tmp_path / "taken")]},
                     cwd=tmp_path, timeout=60)
    for run in runs.values():
        assert_one_error(run, str(tmp_path / "taken"), "--out", "choose a folder")
    assert snapshot(tmp_path) == before


def test_stale_staging_of_a_dead_run_is_cleaned_and_a_live_ones_is_not(tmp_path):
    from cg_gov.io import write_folder

    target = tmp_path / "report"
    _old_folder(target)
    dead = tmp_path / ".report.cg-gov-new-999999999-abcdefgh"  # no such process
    dead.mkdir()
    (dead / "findings.json").write_text("half")
    live = tmp_path / f".report.cg-gov-new-{os.getppid()}-abcdefgh"  # a process that runs
    live.mkdir()
    write_folder(target, NEW, set(OWNED))
    assert not dead.exists() and live.exists()
    assert _owned(target) == NEW
    _assert_user_files(target)
