"""validate_file: schema, files, the linked profile and the eval-log readers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import cg_gov
import cg_gov.evals
from cg_gov.evals import check_audit_file
from cg_gov.errors import EvalLogError, SpecError
from cg_gov.spec import check_file, spec_kind, validate_file

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
EXPECTED: dict[str, list[str]] = yaml.safe_load((FIXTURES / "expected_errors.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_fixture_errors(name):
    errors = validate_file(FIXTURES / "invalid" / name)
    assert errors and all(isinstance(e, SpecError) for e in errors)
    text = "\n".join(e.render() for e in errors)
    for fragment in EXPECTED[name]:
        assert fragment in text
    for error in errors:
        assert error.file, error.render()
        if "file is empty" not in error.message:
            assert error.line is not None and error.line >= 1, error.render()


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "valid").glob("*.yaml")) + sorted((ROOT / "specs" / "profiles").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_valid_files_have_no_errors(path):
    kind, errors = check_file(path)
    assert errors == []
    assert kind == ("audit" if path.name.startswith("audit") else "profile")


def test_spec_kind_prefers_audit_because_audits_name_their_profile():
    assert spec_kind({"audit": "a", "profile": "p.yaml"}) == "audit"
    assert spec_kind({"profile": "p"}) == "profile"
    assert spec_kind({"name": "x"}) is None
    assert spec_kind(["profile"]) is None


def test_errors_of_an_audit_come_together(tmp_path):
    # Schema errors and missing files are reported in one pass, sorted by line.
    spec = tmp_path / "audit.yaml"
    spec.write_text(
        "audit: Bad Id\n"
        "model: m\n"
        "profile: missing.yaml\n"
        "benchmarks:\n"
        "  - name: a\n"
        "    log: a.jsonl\n"
        "    format: jsonl\n"
        "    colour: red\n",
        encoding="utf-8",
    )
    errors = validate_file(spec)
    assert [(e.line, e.key) for e in errors] == [
        (1, "audit"),
        (3, "profile"),
        (6, "benchmarks[0].log"),
        (8, "benchmarks[0].colour"),
    ]


def test_folder_and_missing_file(tmp_path):
    assert "is a folder" in validate_file(tmp_path)[0].message
    assert validate_file(tmp_path / "nope.yaml")[0].message == "file not found"


def _copy_valid(tmp_path: Path) -> Path:
    target = tmp_path / "valid"
    shutil.copytree(FIXTURES / "valid", target)
    return target / "audit.yaml"


def test_eval_reader_errors_are_reported(tmp_path, monkeypatch):
    """Every benchmark log is read, and a reader error is reported."""
    spec = _copy_valid(tmp_path)
    calls = []

    def read_benchmark(bench, spec_dir):
        calls.append((bench.name, Path(spec_dir)))
        if bench.name == "dates":
            raise EvalLogError("item 3 has no score", hint="set fields.score")
        if bench.name == "refusal":
            raise EvalLogError("score must be in [0, 1], got 7", file=str(spec_dir / bench.log), line=2, key="score")

    monkeypatch.setattr(cg_gov.evals, "read_benchmark", read_benchmark)
    errors = check_audit_file(spec)[1]
    assert calls == [("refusal", spec.parent), ("dates", spec.parent)]
    rendered = [e.render() for e in errors]
    assert rendered[0].endswith("refusal.jsonl:2: score: score must be in [0, 1], got 7")
    assert rendered[1] == f"{spec}:9: benchmarks[1].log: item 3 has no score (set fields.score)"
    assert all(isinstance(e, SpecError) for e in errors)


def test_profile_errors_stop_before_reading_logs(tmp_path, monkeypatch):
    spec = _copy_valid(tmp_path)
    (spec.parent / "minimal-profile.yaml").write_text("profile: minimal\n", encoding="utf-8")
    monkeypatch.setattr(cg_gov.evals, "read_benchmark",
                        lambda bench, spec_dir: pytest.fail("logs read although the profile is invalid"))
    errors = check_audit_file(spec)[1]
    keys = {e.key for e in errors}
    assert {"profile", "version", "owner", "description", "families"} <= keys
    assert errors[0].file == str(spec) and errors[0].line == 3
