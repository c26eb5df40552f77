"""The cg-gov command line, run as a real subprocess (``python -m cg_gov``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from cg_gov import cli
from cg_gov.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
INVALID = FIXTURES / "invalid"
EXPECTED: dict[str, list[str]] = yaml.safe_load((FIXTURES / "expected_errors.yaml").read_text(encoding="utf-8"))
VALID_FILES = sorted((FIXTURES / "valid").glob("*.yaml")) + sorted((ROOT / "specs" / "profiles").glob("*.yaml"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cg_gov", *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_invalid_fixture_is_paired_with_its_messages():
    assert sorted(EXPECTED) == sorted(p.name for p in INVALID.glob("*.yaml"))
    assert all(EXPECTED[name] for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_reports_invalid_fixture(name, monkeypatch, capsys):
    # in process, through the real parser (cli.main): one subprocess per fixture cost a minute;
    # test_validate_mixed_files_reports_each_and_exits_2 runs the real command line
    monkeypatch.chdir(ROOT)
    code = cli.main(["validate", rel(INVALID / name)])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in err
    assert "ok:" not in out
    for fragment in EXPECTED[name]:
        assert fragment in err, f"{fragment!r} not in:\n{err}"


def test_validate_accepts_valid_files():
    result = run_cli("validate", *map(rel, VALID_FILES))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == len(VALID_FILES) >= 7
    for path in VALID_FILES:
        kind = "audit" if path.name.startswith("audit") else "profile"
        assert f"ok: {rel(path)} ({kind})" in lines


def test_validate_mixed_files_reports_each_and_exits_2():
    good = ROOT / "specs" / "profiles" / "customer-support.yaml"
    result = run_cli("validate", rel(good), rel(INVALID / "family-top-k-zero.yaml"), "no/such/file.yaml")
    assert result.returncode == 2
    assert f"ok: {rel(good)} (profile)" in result.stdout
    assert "families[0].top_k: must be >= 1" in result.stderr
    assert "no/such/file.yaml: file not found" in result.stderr


def test_validate_reports_every_file_after_an_unknown_behaviour(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    good = ROOT / "specs" / "profiles" / "customer-support.yaml"
    code = cli.main(["validate", rel(INVALID / "audit-unknown-measures.yaml"), rel(INVALID / "family-top-k-zero.yaml"),
                     rel(good)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "error: tests/fixtures/specs/invalid/audit-unknown-measures.yaml:8: benchmarks[0].measures" in err
    assert "families[0].top_k: must be >= 1" in err
    assert f"ok: {rel(good)} (profile)" in out


@pytest.mark.parametrize("kind", ["profile", "audit", "findings"])
def test_schema_prints_a_json_schema(kind):
    result = run_cli("schema", kind)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema.get("additionalProperties") is False


def test_profile_schema_accepts_the_example_profiles_and_rejects_unknown_keys():
    schema = json.loads(run_cli("schema", "profile").stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "specs" / "profiles").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == [], path
        data["families"][0]["synonym"] = ["misspelt"]
        assert list(validator.iter_errors(data)), "the schema lets an unknown key through"


def test_validate_does_not_import_heavy_libraries():
    heavy = ["torch", "transformers", "sae_lens", "sentence_transformers", "weasyprint"]
    code = (
        "import sys\n"
        "from cg_gov.cli import main\n"
        "rc = main(['validate', 'specs/profiles/customer-support.yaml', 'tests/fixtures/specs/valid/audit.yaml'])\n"
        f"loaded = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(rc, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 []"


def test_no_command_and_unknown_command_exit_2():
    assert run_cli().returncode == 2
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("cg-gov ")


def test_missing_dependency_names_the_pip_install():
    error = cli._missing_dependency(ModuleNotFoundError("No module named 'sae_lens'", name="sae_lens"))
    assert error is not None and "pip install 'sae-lens'" in error.render()
    assert cli._missing_dependency(ModuleNotFoundError("x", name="torch.cuda")).hint == "pip install 'torch==2.13.0'"
    assert cli._missing_dependency(ModuleNotFoundError("x", name="some_typo_module")) is None


def test_main_prints_user_errors_without_traceback(monkeypatch, capsys):
    import cg_gov.evals

    def broken(path):
        raise SpecError("cannot continue", file="x.yaml", line=3, key="families", hint="fix it")

    monkeypatch.setattr(cg_gov.evals, "check_audit_file", broken)
    assert cli.main(["validate", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err == "cg-gov: error: x.yaml:3: families: cannot continue (fix it)\n"


def test_main_maps_interrupt_to_130(monkeypatch, capsys):
    import cg_gov.evals

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(cg_gov.evals, "check_audit_file", interrupted)
    assert cli.main(["validate", "x.yaml"]) == 130
    assert "interrupted" in capsys.readouterr().err
