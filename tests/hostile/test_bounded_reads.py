"""Issue 15.4: every read is bounded.

Non-regular files (FIFOs, devices, folders) are refused before they are opened; specs, eval logs
and findings have size caps (``$CG_GOV_MAX_SPEC_BYTES``, ``$CG_GOV_MAX_LOG_BYTES``,
``$CG_GOV_MAX_FINDINGS_BYTES``); logs are read a line at a time with a record cap
(``$CG_GOV_MAX_ITEMS``) and a progress display; ``.eval`` archives are checked against their
declared unpacked size; item texts are cut to ``$CG_GOV_MAX_ITEM_CHARS`` before tokenising.
Each oversized case runs in a child limited to 1.5 GB of address space and must peak under 1 GB.
"""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

from _hostile import FIXTURES, PEAK_LIMIT_MB, assert_one_error, run_batch, run_python, snapshot


def _point_log(audit_dir: Path, log: str) -> Path:
    """The fixture audit with its first benchmark's log replaced by ``log``."""
    spec = audit_dir / "audit.yaml"
    spec.write_text(spec.read_text().replace("log: logs/refusal.jsonl", f"log: {log}"))
    return spec


def test_devices_fifos_and_folders_are_refused_before_they_are_opened(tmp_path, fifo):
    shutil.copy(FIXTURES / "findings" / "support_assistant.json", tmp_path / "findings.json")
    before = snapshot(tmp_path)
    runs = run_batch({
        "validate /dev/zero": ["validate", "/dev/zero"],
        "audit /dev/zero": ["audit", "/dev/zero"],
        "match /dev/zero": ["match", "/dev/zero"],
        "validate fifo": ["validate", str(fifo)],
        "audit fifo": ["audit", str(fifo)],
        "diff A /dev/zero": ["diff", str(tmp_path / "findings.json"), "/dev/zero"],
        "diff A fifo": ["diff", str(tmp_path / "findings.json"), str(fifo)],
        "report fifo": ["report", str(fifo)],
        "validate folder": ["validate", str(tmp_path)],
    }, cwd=tmp_path, timeout=90)
    for name in ("validate /dev/zero", "audit /dev/zero", "match /dev/zero"):
        assert_one_error(runs[name], "/dev/zero", "is a character device, not a regular file")
    for name in ("validate fifo", "audit fifo", "diff A fifo", "report fifo"):
        assert_one_error(runs[name], str(fifo), "is a named pipe (FIFO), not a regular file")
    assert_one_error(runs["diff A /dev/zero"], "/dev/zero", "character device")
    assert_one_error(runs["validate folder"], str(tmp_path), "is a folder")
    assert snapshot(tmp_path) == before


def test_an_eval_log_that_is_a_fifo_or_a_device_is_named_in_validate(audit_dir, tmp_path):
    os.mkfifo(audit_dir / "logs" / "pipe.jsonl")
    spec = _point_log(audit_dir, "logs/pipe.jsonl")
    dev = audit_dir / "dev.yaml"
    dev.write_text(spec.read_text().replace("log: logs/pipe.jsonl", "log: /dev/zero"))
    runs = run_batch({"fifo": ["validate", str(spec)], "dev": ["validate", str(dev)]}, cwd=tmp_path, timeout=60)
    assert_one_error(runs["fifo"], "pipe.jsonl", "eval log is a named pipe (FIFO)")
    assert_one_error(runs["dev"], "/dev/zero", "eval log is a character device")


def test_oversized_spec_log_and_findings_are_refused_by_size(audit_dir, tmp_path):
    big_spec = tmp_path / "big.yaml"
    with open(big_spec, "wb") as fh:  # sparse: costs no disk
        fh.truncate(5 << 20)
    big_log = audit_dir / "logs" / "big.jsonl"
    with open(big_log, "wb") as fh:
        fh.truncate(300 << 20)
    spec = _point_log(audit_dir, "logs/big.jsonl")
    big_findings = tmp_path / "findings.json"
    with open(big_findings, "wb") as fh:
        fh.truncate(70 << 20)
    before = snapshot(tmp_path)
    runs = run_batch({
        "spec": ["validate", str(big_spec)],
        "log": ["validate", str(spec)],
        "audit": ["audit", str(spec)],
        "findings": ["diff", str(big_findings), str(big_findings)],
        "spec under a lower cap": (["validate", str(audit_dir / "audit.yaml")], {"CG_GOV_MAX_SPEC_BYTES": "100"}),
    }, cwd=tmp_path, timeout=90)
    assert_one_error(runs["spec"], "big.yaml", "5,242,880 bytes, over the limit of 4,194,304", "$CG_GOV_MAX_SPEC_BYTES")
    assert_one_error(runs["log"], "big.jsonl", "over the limit of 268,435,456", "$CG_GOV_MAX_LOG_BYTES")
    assert_one_error(runs["audit"], "big.jsonl", "over the limit")
    assert_one_error(runs["findings"], "findings.json", "over the limit of 67,108,864", "$CG_GOV_MAX_FINDINGS_BYTES")
    assert_one_error(runs["spec under a lower cap"], "audit.yaml", "over the limit of 100")
    assert snapshot(tmp_path) == before


def test_eval_zip_bomb_is_refused_from_its_declared_size(audit_dir, tmp_path):
    bomb = audit_dir / "logs" / "bomb.eval"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("samples/1_epoch_1.json", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(300):  # 300 MB of zeros, about 300 KB packed
                member.write(block)
    assert bomb.stat().st_size < 2 << 20
    spec = audit_dir / "audit.yaml"
    spec.write_text(spec.read_text().replace("log: logs/refusal.jsonl\n    format: jsonl",
                                             "log: logs/bomb.eval\n    format: inspect"))
    runs = run_batch({"validate": ["validate", str(spec)]}, cwd=tmp_path, timeout=90)
    line = assert_one_error(runs["validate"], "bomb.eval", "unpacks to 314,572,800 bytes", "$CG_GOV_MAX_LOG_BYTES")
    assert runs["validate"].seconds < 20, (runs["validate"].seconds, line)


def test_a_huge_item_is_cut_before_tokenising(tmp_path):
    log = tmp_path / "huge.jsonl"
    with open(log, "w") as fh:
        fh.write(json.dumps({"id": "huge", "input": "lorem ipsum dolor sit amet " * 800_000, "score": 1}) + "\n")
        fh.write(json.dumps({"id": "small", "input": "What is 2 + 2?", "score": 0}) + "\n")
    assert log.stat().st_size > 20 << 20
    code = ("import sys\nfrom cg_gov.evals import read_benchmark\n"
            "items = read_benchmark(name='b', log=sys.argv[1], format='jsonl')\n"
            "print([len(i.input) for i in items])\n")
    run = run_python(code, str(log), cwd=tmp_path, timeout=60)
    assert run.rc == 0, run.stderr
    assert run.stdout.strip() == "[20000, 14]"
    assert "1 item of benchmark 'b' cut to 20,000 characters before tokenising" in run.stderr
    assert "$CG_GOV_MAX_ITEM_CHARS" in run.stderr
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb


def test_too_many_items_stop_at_the_cap_with_progress_shown(tmp_path):
    log = tmp_path / "many.jsonl"
    line = '{"id": %d, "input": "q%d ' + "x" * 400 + '", "score": 1}\n'
    with open(log, "w") as fh:
        fh.writelines(line % (i, i) for i in range(45_000))  # about 18 MB: a progress display
    assert log.stat().st_size > 16 << 20
    code = ("import sys\nfrom cg_gov.errors import CgGovError\nfrom cg_gov.evals import read_benchmark\n"
            "try:\n    read_benchmark(name='b', log=sys.argv[1], format='jsonl')\n"
            "except CgGovError as exc:\n    print(exc.render())\n")
    run = run_python(code, str(log), cwd=tmp_path, timeout=90, env={"CG_GOV_MAX_ITEMS": "30000"})
    assert run.rc == 0, run.stderr
    assert "many.jsonl:30001: the eval log holds more than 30,000 records" in run.stdout
    assert "$CG_GOV_MAX_ITEMS" in run.stdout
    assert "reading many.jsonl" in run.stderr  # the progress display
    assert run.peak_mb < PEAK_LIMIT_MB, run.peak_mb
