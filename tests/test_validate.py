"""validate_file: schema, files, the linked profile and the eval-log readers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cg_gov.evals import check_audit_file
from cg_gov.errors import SpecError
from cg_gov.spec import check_file, spec_kind, validate_file

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
EXPECTED: dict[str, list[str]] = yaml.safe_load((FIXTURES / "expected_errors.yaml").read_text(encoding="utf-8"))


#: Invalid fixtures that cg_gov.spec.validate_file does not yet report (bugs, with where they are).
KNOWN_MISSES: dict[str, str] = {}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[n]))
                                  if n in KNOWN_MISSES else n for n in sorted(EXPECTED)])
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


def test_missing_label_and_scorer_check_files_are_reported(tmp_path):
    folder = tmp_path / "valid"
    shutil.copytree(FIXTURES / "valid", folder)
    spec = folder / "audit-full.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("review/refusal.csv", "review/gone.csv")
                    .replace("scorer_checks/refusal.csv", "scorer_checks/gone.csv"), encoding="utf-8")
    text = "\n".join(e.render() for e in validate_file(spec))
    assert "labels[0]" in text and "gone.csv" in text
    assert "benchmarks[0].scorer_check" in text


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


BAD_LOGS = ROOT / "tests" / "fixtures" / "evals" / "bad"


def _spec_with_corrupted_logs(tmp_path: Path) -> Path:
    """The valid fixture spec, its two benchmark logs replaced by real corrupted eval logs
    (tests/fixtures/evals/bad: an lm-evaluation-harness log with a score of 2, an Inspect AI log
    with a duplicate sample id), to be read by the real readers."""
    spec = _copy_valid(tmp_path)
    logs = spec.parent / "logs"
    shutil.copy(BAD_LOGS / "lm_eval_score2.jsonl", logs / "refusal.jsonl")
    shutil.copy(BAD_LOGS / "inspect_duplicate.json", logs / "dates.json")
    spec.write_text(
        "audit: fixture-audit\n"
        "model: Example model 1.0\n"
        "profile: minimal-profile.yaml\n"
        "benchmarks:\n"
        "  - name: refusal\n"
        "    log: logs/refusal.jsonl\n"
        "    format: lm-eval\n"
        "    metric: acc\n"
        "  - name: dates\n"
        "    log: logs/dates.json\n"
        "    format: inspect\n", encoding="utf-8")
    return spec


def test_eval_reader_errors_are_reported(tmp_path):
    """Every benchmark log is read by its real reader, and each reader's error is reported with the
    log's file and line, in the spec's order."""
    spec = _spec_with_corrupted_logs(tmp_path)
    errors = check_audit_file(spec)[1]
    assert all(isinstance(e, SpecError) for e in errors)
    rendered = [e.render() for e in errors]
    assert len(rendered) == 2, rendered
    # lm-eval: the second line's acc is 2 (as bad/expected.json says: ":2", "acc", "outside [0, 1]")
    assert rendered[0].startswith(f"{spec.parent / 'logs' / 'refusal.jsonl'}:2"), rendered[0]
    assert "acc" in rendered[0] and "outside [0, 1]" in rendered[0]
    # inspect: sample q1 appears twice
    assert "dates.json" in rendered[1] and "duplicate" in rendered[1] and "q1" in rendered[1], rendered[1]


def test_profile_errors_stop_before_reading_logs(tmp_path):
    """With an invalid profile only the profile's errors are reported: the (corrupted) logs are not
    read, so none of their errors appears."""
    spec = _spec_with_corrupted_logs(tmp_path)
    (spec.parent / "minimal-profile.yaml").write_text("profile: minimal\n", encoding="utf-8")
    errors = check_audit_file(spec)[1]
    keys = {e.key for e in errors}
    assert {"profile", "version", "owner", "description", "families"} <= keys
    assert errors[0].file == str(spec) and errors[0].line == 3
    rendered = "\n".join(e.render() for e in errors)
    assert "refusal.jsonl" not in rendered and "dates.json" not in rendered and "duplicate" not in rendered
