"""Issues 15.5 and 15.6 for eval logs, findings and the report: one located line instead of a
traceback, and nothing accepted quietly.

Lone surrogates, JSON nested thousands deep, scores written '0_1', non-UTF-8 or deeply nested
findings, a diff with every family removed, empty / white-space / zero-width items, control
characters reaching report.html, an audit ``--out`` that is a file.
"""
from __future__ import annotations

import json
from pathlib import Path

from _hostile import FIXTURES, assert_one_error, run_batch, run_cli, snapshot, assert_stopped_before_the_model

FINDINGS = FIXTURES / "findings" / "support_assistant.json"


def _with_log(audit_dir: Path, name: str, lines: list[str]) -> Path:
    log = audit_dir / "logs" / name
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    spec = audit_dir / f"{name}.yaml"
    spec.write_text((audit_dir / "audit.yaml").read_text().replace("log: logs/refusal.jsonl", f"log: logs/{name}"))
    return spec


def test_broken_eval_logs_give_one_located_line(audit_dir, tmp_path):
    good = '{"id": "r0", "input": "Tell me a joke.", "score": 1}'
    cases = {
        "surrogate.jsonl": [good, '{"id": "r1", "input": "bad \\ud800 text", "score": 0}'],
        "deep.jsonl": [good, '{"id": "r1", "input": "x", "score": 0, "m": ' + "[" * 5000 + "]" * 5000 + "}"],
        "separator.jsonl": [good, '{"id": "r1", "input": "x", "score": "0_1"}'],
    }
    specs = {name: _with_log(audit_dir, name, lines) for name, lines in cases.items()}
    before = snapshot(tmp_path)
    runs = run_batch({name: ["validate", str(spec)] for name, spec in specs.items()}
                     | {"audit surrogate": ["audit", str(specs["surrogate.jsonl"])]}, cwd=tmp_path, timeout=60)
    assert_one_error(runs["surrogate.jsonl"], "surrogate.jsonl:2:", "lone surrogate", "valid pair")
    assert_one_error(runs["audit surrogate"], "surrogate.jsonl:2:", "lone surrogate")
    assert_one_error(runs["deep.jsonl"], "deep.jsonl:2:", "nested too deeply")
    assert_one_error(runs["separator.jsonl"], "separator.jsonl:2:", "score: score '0_1' is not a number")
    assert snapshot(tmp_path) == before


def test_empty_whitespace_and_zero_width_items_are_counted_in_a_warning(audit_dir, tmp_path):
    spec = _with_log(audit_dir, "empty.jsonl", [
        '{"id": "r0", "input": "Tell me a joke.", "score": 1}',
        '{"id": "r1", "input": "", "score": 0}',
        '{"id": "r2", "input": "   \\n\\t ", "score": 1}',
        '{"id": "r3", "input": "\\u200b\\u200d\\ufeff", "score": 0}',
    ])
    runs = run_batch({"validate": ["validate", str(spec)]}, cwd=tmp_path, timeout=60)
    run = runs["validate"]
    assert run.rc == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, run.stderr
    assert "3 items of benchmark 'refusal' are empty, white space or invisible characters only" in warnings[0]
    assert "'r1', 'r2', 'r3'" in warnings[0]


def test_broken_findings_give_one_located_line(tmp_path):
    (tmp_path / "latin1.json").write_bytes(b'{"audit": "caf\xe9"}')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "findings.json").write_bytes(FINDINGS.read_bytes())
    (tmp_path / "report" / "manifest.json").write_bytes(b"{\xff}")
    before = snapshot(tmp_path)
    runs = run_batch({
        "latin1": ["diff", str(FINDINGS), str(tmp_path / "latin1.json")],
        "deep": ["diff", str(tmp_path / "deep.json"), str(FINDINGS)],
        "manifest": ["diff", str(FINDINGS), str(tmp_path / "report")],
        "report manifest": ["report", str(tmp_path / "report")],
    }, cwd=tmp_path, timeout=60)
    assert_one_error(runs["latin1"], "latin1.json:1:", "not UTF-8 text (byte 0xe9 at offset 14)")
    assert_one_error(runs["deep"], "deep.json", "nested too deeply")
    assert_one_error(runs["manifest"], "manifest.json:1:", "not UTF-8 text (byte 0xff")
    assert_one_error(runs["report manifest"], "manifest.json:1:", "not UTF-8 text")
    assert snapshot(tmp_path) == before


def test_diff_with_every_family_removed_is_a_regression(tmp_path):
    text = FINDINGS.read_text(encoding="utf-8")
    for family in json.loads(text)["families"]:
        i = family["id"]
        text = text.replace(f"'{i}'", f"'{i}-v2'").replace(f'"{i}"', f'"{i}-v2"')
    renamed = tmp_path / "renamed.json"
    renamed.write_text(text, encoding="utf-8")
    runs = run_batch({"removed": ["diff", str(FINDINGS), str(renamed)], "same": ["diff", str(FINDINGS), str(FINDINGS)]},
                     cwd=tmp_path, timeout=60)
    assert runs["removed"].rc == 1, runs["removed"].stderr
    assert ("No family of the old audit is in the new one (6 removed): nothing could be compared."
            in runs["removed"].stdout)
    assert runs["removed"].stdout.rstrip().endswith("regressed")
    assert runs["same"].rc == 0, runs["same"].stderr


def test_control_characters_never_reach_report_html(tmp_path):
    data = json.loads(FINDINGS.read_text(encoding="utf-8"))
    data["audit"]["model"] = "model \x00 with \x1b[31m escapes \x07 and \x7f"
    src = tmp_path / "src"
    src.mkdir()
    (src / "findings.json").write_text(json.dumps(data), encoding="utf-8")
    (src / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z"}))
    run = run_cli("report", str(src), "--out", str(tmp_path / "out"), "--formats", "html", cwd=tmp_path, timeout=60)
    assert run.rc in (0, 1), run.stderr
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert not any(ch in html for ch in "\x00\x1b\x07\x7f")
    assert "model \u2400 with \u241b[31m escapes \u2407 and \u2421" in html


def test_audit_out_that_is_a_file_is_refused_before_the_pipeline(audit_dir, tmp_path):
    (tmp_path / "taken").write_text("a file\n")
    before = snapshot(tmp_path)
    runs = run_batch({"audit": ["audit", str(audit_dir / "audit.yaml"), "--out", str(tmp_path / "taken")]},
                     cwd=tmp_path, timeout=60)
    assert_one_error(runs["audit"], "--out:", "is a file, not a folder")
    assert_stopped_before_the_model(runs["audit"])
    assert snapshot(tmp_path) == before
