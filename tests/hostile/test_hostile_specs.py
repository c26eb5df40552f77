"""Issues 15.2, 15.5 and 15.6 for spec files: alias bombs, deep nesting, huge values quoted in
messages, digit separators, unquoted float versions, a report folder that cannot be written.

Every case: exit code 2, one located line (file:line: key: what (fix)), nothing written,
peak memory under 1 GB in a child limited to 1.5 GB of address space.
"""
from __future__ import annotations

import os
from pathlib import Path

from _hostile import assert_one_error, run_batch, snapshot, assert_stopped_before_the_model

LAUGHS = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for _prev, _name in zip("abcdefgh", "bcdefghi"):
    LAUGHS.append(f"{_name}: &{_name} [" + ",".join([f"*{_prev}"] * 9) + "]")


def _profile_bomb(path: Path) -> Path:
    """A "billion laughs" profile: 9^9 strings once its aliases are expanded."""
    path.write_text("profile: bomb\nversion: '1'\nowner: x\ndescription: x\nfamilies:\n"
                    "  - id: x\n    description: x\n    importance: low\n" + "\n".join(LAUGHS) + "\n")
    return path


def test_alias_bombs_are_refused_by_validate_audit_and_match(audit_dir, tmp_path):
    profile = _profile_bomb(tmp_path / "bomb-profile.yaml")
    audit = audit_dir / "bomb-audit.yaml"
    audit.write_text((audit_dir / "audit.yaml").read_text() + "\n".join(LAUGHS) + "\n")
    linked = audit_dir / "linked.yaml"
    linked.write_text((audit_dir / "audit.yaml").read_text().replace("profile: minimal-profile.yaml",
                                                                      f"profile: {profile}"))
    before = snapshot(tmp_path)
    runs = run_batch({
        "validate profile": ["validate", str(profile)],
        "validate audit": ["validate", str(audit)],
        "validate linked": ["validate", str(linked)],
        "audit": ["audit", str(audit)],
        "match": ["match", str(profile)],
    }, cwd=tmp_path, timeout=60)
    for name, file in [("validate profile", profile), ("validate audit", audit), ("audit", audit),
                       ("match", profile)]:
        assert_one_error(runs[name], f"{file}:", "YAML aliases expand to more than 100,000 values",
                                "write the values out")
        assert_stopped_before_the_model(runs[name])
    # the linked profile's problem is listed under the audit spec's own line
    linked_run = runs["validate linked"]
    assert linked_run.rc == 2 and "Traceback" not in linked_run.stderr
    assert "alias bomb" in linked_run.stderr and linked_run.peak_mb < 1024
    assert snapshot(tmp_path) == before


def test_deep_nesting_and_too_many_aliases_are_refused(tmp_path):
    deep_flow = tmp_path / "deep-flow.yaml"
    deep_flow.write_text("profile: " + "[" * 1000 + "]" * 1000 + "\n")
    deep_block = tmp_path / "deep-block.yaml"
    deep_block.write_text("profile: x\nv:\n" + "".join("  " * i + "- \n" for i in range(1, 600)))
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("profile: x\nbase: &b 1\nv: [" + ", ".join(["*b"] * 300) + "]\n")
    runs = run_batch({name: ["validate", str(tmp_path / f"{name}.yaml")]
                      for name in ("deep-flow", "deep-block", "aliases")}, cwd=tmp_path, timeout=60)
    assert_one_error(runs["deep-flow"], "deep-flow.yaml:1:", "YAML nested more than 64 levels deep")
    assert_one_error(runs["deep-block"], "deep-block.yaml:", "YAML nested more than 64 levels deep")
    assert_one_error(runs["aliases"], "aliases.yaml:3:", "more than 200 aliases")


def test_a_huge_value_is_quoted_short_in_the_message(audit_dir, tmp_path):
    profile = audit_dir / "minimal-profile.yaml"
    profile.write_text(profile.read_text().replace("importance: critical", "importance: " + "X" * 300_000))
    runs = run_batch({"huge": ["validate", str(profile)]}, cwd=tmp_path, timeout=60)
    line = assert_one_error(runs["huge"], "minimal-profile.yaml:8: families[0].importance: must be one of",
                            "(got 'XXXX")
    assert len(line) < 400, line


def test_digit_separators_and_float_versions_are_refused_with_the_fix(audit_dir, tmp_path):
    profile = audit_dir / "minimal-profile.yaml"
    text = profile.read_text()
    floaty = audit_dir / "floaty.yaml"
    floaty.write_text(text.replace('version: "0.1"', "version: 1.10"))
    spec = audit_dir / "audit.yaml"
    spec.write_text(spec.read_text() + "scoring:\n  n_min: 1_0\n")
    runs = run_batch({"version": ["validate", str(floaty)], "1_0": ["validate", str(spec)]},
                     cwd=tmp_path, timeout=60)
    assert_one_error(runs["version"], "floaty.yaml:2: version:", "read as a number", 'version: "1.10"')
    assert_one_error(runs["1_0"], "audit.yaml:", "scoring.n_min:", "'1_0' is not a number here", "e.g. 10")


def test_report_out_that_cannot_be_written_is_found_by_validate(audit_dir, tmp_path):
    (audit_dir / "taken").write_text("a file\n")
    locked = audit_dir / "locked"
    locked.mkdir()
    cases = {"a file": "taken", "under a file": "taken/report"}
    if os.geteuid() != 0:  # root writes to any folder
        cases["unwritable"] = "locked/report"
    specs = {}
    for case, out in cases.items():
        spec = audit_dir / f"out-{case.replace(' ', '-')}.yaml"
        spec.write_text((audit_dir / "audit.yaml").read_text() + f"report:\n  out: {out}\n")
        specs[case] = (spec, spec.read_text().splitlines().index(f"  out: {out}") + 1)
    locked.chmod(0o500)
    try:
        before = snapshot(tmp_path)
        runs = run_batch({f"{command} {case}": [command, str(spec)] for case, (spec, _) in specs.items()
                          for command in ("validate", "audit")}, cwd=tmp_path, timeout=60)
        for case, (spec, line_no) in specs.items():
            for command in ("validate", "audit"):
                assert_one_error(runs[f"{command} {case}"], f"{spec.name}:{line_no}: report.out:",
                                 "for report.out or --out")
        assert snapshot(tmp_path) == before
    finally:
        locked.chmod(0o700)
