"""The Python API as a user sees it: the README's example run in process, on the demo audit.

The demo reads shipped activations, but matching the profile's exemplars runs the embedded model
once per cache (about 3 min on a cold cache, 20 s warm): those tests are slow."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_demo_outcome import DEMO_EXIT_CODE, DEMO_GATE, assert_demo_outcome

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEMO = REPO / "specs" / "audits" / "demo.yaml"


def readme_example() -> str:
    """The Python block of the README's "Python API" section."""
    section = README.read_text(encoding="utf-8").split("### Python API", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Python API section shows one example"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 12
    assert '"reports/demo"' in code
    # as written, from the repository root; only the report folder moves to a temporary one
    monkeypatch.chdir(REPO)
    out = tmp_path / "demo"
    namespace: dict = {}
    with pytest.raises(SystemExit) as exit_:
        exec(compile(code.replace('"reports/demo"', repr(str(out))), "README.md", "exec"), namespace)
    assert exit_.value.code == DEMO_EXIT_CODE == 1
    printed = capsys.readouterr()
    result = namespace["result"]
    import cg_gov

    assert isinstance(result, cg_gov.AuditResult) and isinstance(result.findings, cg_gov.Findings)
    assert isinstance(result.manifest, cg_gov.Manifest)
    assert_demo_outcome(result.findings)  # the pinned demo outcome (tests/test_demo_outcome.py)
    assert printed.out.splitlines()[0] == f"gate {DEMO_GATE}"
    assert [line.split()[0] for line in printed.out.splitlines()[1:]] == [f.id for f in result.findings.families]
    # quiet: none of cg_gov's stage lines or warnings (a third-party library may still draw a bar)
    assert not re.search(r"^\[\d/6\]|^warning:|done in", printed.err, re.M), printed.err[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["findings.json", "manifest.json", "report.html"]
    from cg_gov.findings import findings_to_json

    assert (out / "findings.json").read_text(encoding="utf-8") == findings_to_json(result.findings)
    assert result.manifest.audit["sha256"]  # the manifest describes the spec the audit read


@pytest.mark.slow
def test_progress_goes_where_asked_and_the_findings_do_not_change(tmp_path, capsys):
    import cg_gov
    from cg_gov.findings import findings_to_json

    quiet = cg_gov.run_audit(DEMO, now="2026-12-02T12:00:00Z")
    assert capsys.readouterr().err.count("[1/6]") == 0
    lines: list[str] = []
    told = cg_gov.run_audit(str(DEMO), now="2026-12-02T12:00:00Z", progress=lines.append)
    assert capsys.readouterr().err.count("[1/6]") == 0  # the callable got the lines, stderr none
    stages = [line for line in lines if re.match(r"\[\d/6\] ", line)]
    assert [s.split(" ", 1)[0] for s in stages] == [f"[{i}/6]" for i in range(1, 7)]
    assert sum(1 for line in lines if line.lstrip().startswith("done in")) == 6
    assert lines[-1].endswith(f"gate {DEMO_GATE}")
    # the warning the findings record is told too (the dictionary's reference corpus is bfloat16, the suite's
    # shipped activations float32)
    assert any(line.startswith("warning: the dictionary's reference corpus") for line in lines)
    assert any(note.startswith("Coverage ratios compare unlike activations") for note in told.findings.notes)
    # in process, twice: the same bytes, as `cg-gov audit` writes them
    assert findings_to_json(told.findings) == findings_to_json(quiet.findings)
    assert told.findings.gate_exit_code() == DEMO_EXIT_CODE
    # (progress=True, the same lines on stderr, is what `cg-gov audit` passes: tests/test_audit.py reads them)


def test_an_error_is_a_cg_gov_error_naming_the_file(tmp_path):
    import cg_gov

    bad = tmp_path / "audit.yaml"
    bad.write_text("audit: x\nmodel: default\n", encoding="utf-8")
    with pytest.raises(cg_gov.CgGovError) as error:
        cg_gov.run_audit(bad)
    assert str(bad) in error.value.render()
