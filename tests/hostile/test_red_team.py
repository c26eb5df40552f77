"""The red team's findings 5 to 11 on the landed code, one case each: bounded reads of special
files, escapes in printed text, the out-folder swap, the cache key, silent acceptances and small
message defects. Each runs in a child process under the limits of ``_hostile.py``; none loads the
language model.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from _hostile import FIXTURES, PEAK_LIMIT_MB, assert_one_error, run_batch, run_python, assert_stopped_before_the_model

FINDINGS = FIXTURES / "findings" / "support_assistant.json"


def _with_log(audit_dir: Path, log: str, name: str = "audit.yaml") -> Path:
    spec = audit_dir / name
    spec.write_text((audit_dir / "audit.yaml").read_text().replace("log: logs/refusal.jsonl", f"log: {log}"))
    return spec


# ------------------------------------------------------------------ 5, 9: special files, bounded reads


def test_proc_files_are_refused_up_front_as_logs_specs_precomputed_files_and_diff_inputs(audit_dir, tmp_path):
    """/proc/self/pagemap (a regular file of size 0 that grew to 3.8 GB) and /proc/self/mem (EIO on
    every read): refused by path and type before they are read, with one line; a link to them too."""
    os.symlink("/proc/self/mem", tmp_path / "innocent.jsonl")
    pagemap = _with_log(audit_dir, "/proc/self/pagemap", "pagemap.yaml")
    mem = _with_log(audit_dir, "/proc/self/mem", "mem.yaml")
    linked = _with_log(audit_dir, str(tmp_path / "innocent.jsonl"), "linked.yaml")
    pre = audit_dir / "pre.yaml"
    pre.write_text((audit_dir / "audit.yaml").read_text() + "extraction:\n  precomputed: /proc/self/mem\n")
    shutil.copy(FINDINGS, tmp_path / "findings.json")
    runs = run_batch({
        "pagemap": ["validate", str(pagemap)],
        "mem": ["validate", str(mem)],
        "mem audit": ["audit", str(mem)],
        "linked": ["validate", str(linked)],
        "spec": ["validate", "/proc/self/mem"],
        "precomputed": ["validate", str(pre)],
        "diff": ["diff", str(tmp_path / "findings.json"), "/proc/self/mem"],
        "sys": ["validate", "/sys/kernel/profiling"],
    }, cwd=tmp_path, timeout=90)
    for name in ("pagemap", "mem", "mem audit", "linked"):
        assert_one_error(runs[name], "eval log is a special file (under /proc), not a regular file")
        assert_stopped_before_the_model(runs[name])
    assert_one_error(runs["spec"], "/proc/self/mem", "special file (under /proc)")
    assert_one_error(runs["precomputed"], "extraction.precomputed", "special file (under /proc)")
    assert_one_error(runs["diff"], "/proc/self/mem", "special file (under /proc)")
    assert_one_error(runs["sys"], "special file (under /sys)")


def test_a_log_line_is_bounded_by_the_bytes_read_not_the_whole_line(audit_dir, tmp_path):
    """A 252 MB one-line array was read whole and parsed at 1.57 GB: a line longer than
    $CG_GOV_MAX_RECORD_BYTES (32 MiB) is refused after reading that much; the worst line still
    accepted for parsing (32 MiB of small numbers) stays under the peak bound."""
    huge = audit_dir / "logs" / "huge.jsonl"
    with open(huge, "wb") as fh:
        fh.write(b"[" + b"0," * (20 << 20) + b"0]\n")  # 40 MB on one line
    worst = audit_dir / "logs" / "worst.jsonl"
    with open(worst, "wb") as fh:
        fh.write(b"[" + b"0," * ((32 << 20) // 2 - 2) + b"0]\n")  # just under 32 MiB: parsed, then refused
    runs = run_batch({"huge": ["validate", str(_with_log(audit_dir, "logs/huge.jsonl", "huge.yaml"))]},
                     cwd=tmp_path, timeout=120)
    assert_one_error(runs["huge"], "huge.jsonl:1", "the line is longer than 33,554,432 bytes",
                     "$CG_GOV_MAX_RECORD_BYTES")
    runs = run_batch({"worst": ["validate", str(_with_log(audit_dir, "logs/worst.jsonl", "worst.yaml"))]},
                     cwd=tmp_path, timeout=120)
    assert_one_error(runs["worst"], "worst.jsonl:1", "expected a JSON object, got list")
    assert runs["worst"].peak_mb < PEAK_LIMIT_MB


# ------------------------------------------------------------------ 8, 11: text from files, printed


def test_escape_sequences_from_files_are_shown_not_acted_on(audit_dir, tmp_path):
    """Family ids (diff), item ids (error messages) and names carry ESC, BEL, CR, bidi and
    zero-width characters: every terminal line shows them as \\x1b, \\u202e..."""
    data = json.loads(FINDINGS.read_text())
    evil = "refusal\x1b[2J\x1b]0;pwned\x07\u202e\u200b"
    for family in data["families"]:
        if family["id"] == "refusal":
            family["id"] = evil
    (tmp_path / "new.json").write_text(json.dumps(data))
    log = audit_dir / "logs" / "refusal.jsonl"
    lines = log.read_text().splitlines()
    dup = json.dumps({"id": "r\x1b[31m\r\u202ex", "input": "q", "score": 1})
    log.write_text("\n".join(lines + [dup, dup]) + "\n")
    runs = run_batch({"diff": ["diff", str(FINDINGS), str(tmp_path / "new.json")],
                      "validate": ["validate", str(audit_dir / "audit.yaml")]}, cwd=tmp_path, timeout=60)
    out = runs["diff"].stdout + runs["diff"].stderr
    assert "refusal\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\u200b" in out, out[-2000:]
    line = assert_one_error(runs["validate"], "duplicate id 'r\\x1b[31m\\r\\u202ex'")
    for run in runs.values():
        text = run.stdout + run.stderr
        assert not any(ch in text for ch in "\x1b\x07\r\u202e\u200b"), repr(text[-500:])
    assert line


def test_bidi_and_zero_width_characters_are_visible_in_html(tmp_path):
    data = json.loads(FINDINGS.read_text())
    data["audit"]["model"] = "good\u202egnp.exe\u200b model"
    src = tmp_path / "src"
    src.mkdir()
    (src / "findings.json").write_text(json.dumps(data))
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    runs = run_batch({"report": ["report", str(src), "--out", str(tmp_path / "out"), "--formats", "html"]},
                     cwd=tmp_path, timeout=60)
    assert runs["report"].rc in (0, 1), runs["report"].stderr
    html = (tmp_path / "out" / "report.html").read_text()
    assert "good[U+202E]gnp.exe[U+200B] model" in html
    assert "\u202e" not in html and "\u200b" not in html


# ------------------------------------------------------------------ 7: the out folder


def test_a_symlinked_out_folder_is_refused_and_no_hidden_link_is_left(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "findings.json").write_text("stale\n")
    os.symlink(real, tmp_path / "link")
    os.symlink(real, tmp_path / ".link.cg-gov-old-99999-abcd")  # left by an older cg_gov
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FINDINGS, src / "findings.json")
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    runs = run_batch({"link": ["report", str(src), "--out", str(tmp_path / "link"), "--formats", "html,json"]},
                     cwd=tmp_path, timeout=60)
    assert_one_error(runs["link"], "--out", "is a symbolic link", str(real))
    assert (tmp_path / "link").is_symlink() and (real / "findings.json").read_text() == "stale\n"
    runs = run_batch({"ok": ["report", str(src), "--out", str(tmp_path / "link2"), "--formats", "json"]},
                     cwd=tmp_path, timeout=60)
    assert runs["ok"].rc in (0, 1), runs["ok"].stderr
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden == [".link.cg-gov-old-99999-abcd"]  # beside another folder: not ours to touch
    (tmp_path / "link").unlink()  # the path is a real folder now: the older cg_gov's link beside it goes
    runs = run_batch({"again": ["report", str(src), "--out", str(tmp_path / "link"), "--formats", "json"]},
                     cwd=tmp_path, timeout=60)
    assert runs["again"].rc in (0, 1), runs["again"].stderr
    assert not os.path.lexists(tmp_path / ".link.cg-gov-old-99999-abcd")
    assert (real / "findings.json").read_text() == "stale\n" and (tmp_path / "link" / "findings.json").is_file()


@pytest.mark.parametrize("out", ["/", "/etc", "/usr/share", "/proc/self"])
def test_validate_refuses_system_folders_as_out(audit_dir, tmp_path, out):
    spec = audit_dir / "audit.yaml"
    spec.write_text(spec.read_text() + f"report:\n  out: {out}\n")
    runs = run_batch({"validate": ["validate", str(spec)]}, cwd=tmp_path, timeout=60)
    line = assert_one_error(runs["validate"], "report.out", "cg_gov replaces it whole")
    assert "filesystem root" in line if out == "/" else "a system folder" in line


def test_the_swap_keeps_the_folders_group_and_mode(tmp_path):
    """A shared report folder (setgid, 2770) keeps its mode; one owned by another user (when the
    test runs as root, which can make one) keeps its owner and group: it is written in place."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FINDINGS, src / "findings.json")
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o2770)
    others = tmp_path / "others"
    others.mkdir()
    os.chmod(others, 0o2770)
    as_root = os.geteuid() == 0
    if as_root:
        os.chown(others, 4242, 4242)
    runs = run_batch({"shared": ["report", str(src), "--out", str(shared), "--formats", "json"],
                      "others": ["report", str(src), "--out", str(others), "--formats", "json"]},
                     cwd=tmp_path, timeout=60)
    for name, folder in (("shared", shared), ("others", others)):
        assert runs[name].rc in (0, 1), runs[name].stderr
        assert (folder / "findings.json").read_bytes() == FINDINGS.read_bytes()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o2770, oct(folder.stat().st_mode)
    if as_root:
        assert (others.stat().st_uid, others.stat().st_gid) == (4242, 4242)
    assert not [p for p in tmp_path.iterdir() if ".cg-gov-" in p.name]


# ------------------------------------------------------------------ 6, 11: the cache


_CACHE = r'''
import json, logging, sys, hashlib
import numpy as np, scipy.sparse as sp
from pathlib import Path
from cg_gov.engine import ActivationCache
root = Path(sys.argv[1])
keys = [hashlib.sha256(b"item %d" % i).digest() for i in range(4)]
mean = sp.csr_matrix(np.eye(4, 16, dtype=np.float32))
cache = ActivationCache(root, "ns", 16)
if sys.argv[2] == "save":
    cache.save(keys, np.ones(4, np.int64), mean, mean)
print(json.dumps({"found": len(cache.load(set(keys)))}))
'''


def test_an_empty_cache_key_is_repaired_and_later_runs_reuse_shards(tmp_path):
    """A full disk left a 0-byte .key and every later run dropped all shards: the key is now
    written whole (temporary file, fsync, link) and a short one replaced once, with a warning."""
    root = tmp_path / "activations"
    root.mkdir()
    (root / ".key").write_bytes(b"")
    first = run_python(_CACHE, str(root), "save", cwd=tmp_path, timeout=60)
    assert first.rc == 0, first.stderr
    assert "is 0 bytes, not 32" in first.stderr
    assert len((root / ".key").read_bytes()) == 32
    second = run_python(_CACHE, str(root), "load", cwd=tmp_path, timeout=60)
    assert json.loads(second.stdout.strip().splitlines()[-1]) == {"found": 4}
    assert "key" not in second.stderr
    assert not [p for p in root.iterdir() if p.name.startswith(".key.")]


def test_the_fallback_cache_folder_is_removed_at_exit(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    temp = tmp_path / "tmp"
    temp.mkdir()
    run = run_python(_CACHE, str(blocker / "activations"), "save", cwd=tmp_path, timeout=60,
                     env={"TMPDIR": str(temp)})
    assert run.rc == 0, run.stderr
    assert "using" in run.stderr and "cg_gov-activations-" in run.stderr
    assert list(temp.iterdir()) == []


# ------------------------------------------------------------------ 10, 11: silent acceptances, messages


def test_silent_acceptances_are_located_errors(audit_dir, tmp_path):
    logs = audit_dir / "logs"
    (logs / "dupkey.jsonl").write_text('{"id": "a", "input": "q", "score": 0, "score": 1}\n')
    dupkey = _with_log(audit_dir, "logs/dupkey.jsonl", "dupkey.yaml")
    twice = audit_dir / "twice.yaml"
    twice.write_text((audit_dir / "audit.yaml").read_text().replace("logs/dates.jsonl", "logs/refusal.jsonl"))
    homoglyph = audit_dir / "homoglyph.yaml"
    homoglyph.write_text((audit_dir / "audit.yaml").read_text().replace("name: dates", "name: \uff52efusal"))
    cyrillic = audit_dir / "cyrillic.yaml"
    cyrillic.write_text((audit_dir / "audit.yaml").read_text().replace("name: dates", "name: r\u0435fusal"))
    invisible = audit_dir / "invisible.yaml"
    invisible.write_text((audit_dir / "audit.yaml").read_text().replace("name: dates", 'name: "da\\u200btes"'))
    profile = audit_dir / "titles.yaml"
    profile.write_text("profile: titles\nversion: '1'\nowner: o\ndescription: d\nfamilies:\n"
                       "  - {id: a, title: Refunds, description: x, importance: high}\n"
                       "  - {id: b, title: 'refunds ', description: y, importance: high}\n")
    pins = audit_dir / "pins-profile.yaml"
    pins.write_text((audit_dir / "minimal-profile.yaml").read_text() + "    include: [12, 99999]\n")
    pinned = audit_dir / "pinned.yaml"
    pinned.write_text((audit_dir / "audit.yaml").read_text().replace("minimal-profile.yaml", "pins-profile.yaml"))
    runs = run_batch({
        "dupkey": ["validate", str(dupkey)],
        "twice": ["validate", str(twice)],
        "homoglyph": ["validate", str(homoglyph)],
        "invisible": ["validate", str(invisible)],
        "cyrillic": ["validate", str(cyrillic)],
        "titles": ["validate", str(profile)],
        "pins": ["validate", str(pinned)],
        "chars": (["validate", str(audit_dir / "audit.yaml")], {"CG_GOV_MAX_ITEM_CHARS": "0"}),
    }, cwd=tmp_path, timeout=90)
    assert_one_error(runs["dupkey"], "dupkey.jsonl:1", "score", "names key 'score' twice")
    assert_one_error(runs["twice"], "twice.yaml:", "benchmarks[1].log", "is also the log of benchmark 'refusal'")
    assert_one_error(runs["homoglyph"], "benchmarks[1].name", "'\uff52efusal' looks the same as 'refusal'")
    assert_one_error(runs["cyrillic"], "benchmarks[1].name", "mixes Cyrillic and Latin letters")
    assert_one_error(runs["invisible"], "benchmarks[1].name", "invisible or control characters (U+200B)")
    assert_one_error(runs["titles"], "titles.yaml:", "families[1].title", "looks the same as 'Refunds'")
    assert_one_error(runs["pins"], "pins-profile.yaml:", "include[1]",
                     "concept 99999 is not in the dictionary (0 to 4095)")
    line = assert_one_error(runs["chars"], "$CG_GOV_MAX_ITEM_CHARS must be at least 200, got 0")
    assert "audit.yaml" not in line  # a setting of the shell, not of a spec line


def test_message_defects(audit_dir, tmp_path):
    (audit_dir / "logs" / "over.jsonl").write_text('{"id": "a", "input": "q", "score": 1.0000001}\n')
    over = _with_log(audit_dir, "logs/over.jsonl", "over.yaml")
    pre = audit_dir / "pre.yaml"
    pre.write_text((audit_dir / "audit.yaml").read_text() + "extraction:\n  precomputed: pre.npz\n")
    (audit_dir / "pre.npz").write_bytes(b"x")
    templates = tmp_path / "templates"
    templates.mkdir()
    os.symlink("/etc/hostname" if Path("/etc/hostname").exists() else "/etc/passwd", templates / "report.css")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FINDINGS, src / "findings.json")
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    runs = run_batch({
        "over": ["validate", str(over)],
        "abc": (["validate", str(pre)], {"CG_GOV_MAX_ACTIVATIONS_BYTES": "abc"}),
        "items": (["validate", str(audit_dir / "audit.yaml")], {"CG_GOV_MAX_ITEMS": "many"}),
        "css": ["report", str(src), "--out", str(tmp_path / "out"), "--formats", "html",
                "--template-dir", str(templates)],
    }, cwd=tmp_path, timeout=90)
    assert_one_error(runs["over"], "over.jsonl:1", "score 1.0000001 is outside [0, 1]")
    line = assert_one_error(runs["abc"], "$CG_GOV_MAX_ACTIVATIONS_BYTES must be a whole number of bytes, got 'abc'")
    assert not line.rstrip().endswith("None") and "pre.yaml" not in line
    line = assert_one_error(runs["items"], "$CG_GOV_MAX_ITEMS must be a whole number")
    assert "audit.yaml" not in line
    assert_one_error(runs["css"], "report.css", "a link to a file outside it")
    assert not (tmp_path / "out").exists()


_EIO = r'''
import json, sys
import cg_gov.io
from cg_gov.errors import CgGovError
from cg_gov.evals._common import iter_jsonl
from pathlib import Path
# the path refusal set aside, so that the read itself meets the kernel's EIO
cg_gov.io.SPECIAL_ROOTS = ()
out = {}
for name, read in (("bytes", lambda: cg_gov.io.read_bytes_limited("/proc/self/mem", "spec file", kind="spec")),
                   ("jsonl", lambda: list(iter_jsonl(Path("/proc/self/mem"))))):
    try:
        read()
        out[name] = "read"
    except CgGovError as exc:
        out[name] = exc.render()
print(json.dumps(out))
'''


def test_a_read_that_fails_with_eio_is_one_line(tmp_path):
    """Behind the path check, the reads themselves turn an OSError (here the kernel's EIO on
    /proc/self/mem, which once crashed every reader with a traceback) into one located line."""
    run = run_python(_EIO, cwd=tmp_path, timeout=60)
    assert run.rc == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["bytes"] == ("/proc/self/mem: cannot read spec file: Input/output error (check the file and the disk "
                            "it is on)")
    assert out["jsonl"].startswith("/proc/self/mem: cannot read the eval log: Input/output error")


def test_a_summary_json_linked_to_a_growing_proc_file_is_ignored(audit_dir, tmp_path):
    """``summary.json`` beside the logs is optional: one linked to /proc/self/pagemap (size 0,
    grows without end) is passed over, not read."""
    os.symlink("/proc/self/pagemap", audit_dir / "logs" / "summary.json")
    code = ("import sys, json\nfrom cg_gov.evals import read_audit\nfrom cg_gov.audit import describe_benchmarks\n"
            "inputs = read_audit(sys.argv[1])\nout, sha = describe_benchmarks(inputs.spec, inputs.items)\n"
            "print(json.dumps(sorted(out)))\n")
    run = run_python(code, str(audit_dir / "audit.yaml"), cwd=tmp_path, timeout=60)
    assert run.rc == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == ["dates", "refusal"]
    assert run.peak_mb < PEAK_LIMIT_MB
