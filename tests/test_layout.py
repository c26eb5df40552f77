"""The package's layout: one room per stage, imports that follow the flow, one home per default."""
from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cg_gov"

#: The rooms in the order data flows through them (README, "Layout"). A room may import from
#: itself, from the shared modules and from rooms of a lower rank, never from one of its own rank
#: or above: that would run back up the flow.
RANKS = {"spec": 0, "evals": 1, "dictionary": 2, "engine": 3, "scoring": 4, "matching": 4, "findings": 5,
         "audit": 6, "report": 7, "dictbuild": 8, "cli": 9}
#: Modules every room may use: errors, atomic writes and hashes, text helpers.
SHARED = {"errors", "io", "text"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every cg_gov module ``name`` imports, at any depth of the file (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m == "cg_gov" or m.startswith("cg_gov.")}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_belongs_to_a_room():
    rooms = {_room(m) for m in MODULES} - {None, "__main__", "data", "templates"}
    assert rooms <= set(RANKS) | SHARED, rooms - set(RANKS) - SHARED


def test_no_import_runs_back_up_the_flow():
    problems = []
    for name, path in MODULES.items():
        room = _room(name)
        if room not in RANKS:
            continue
        for target in _imports(name, path):
            other = _room(target)
            if other is None or other in SHARED or other == room:
                continue
            if other not in RANKS or RANKS[other] >= RANKS[room]:
                problems.append(f"{name} imports {target}")
    assert problems == []


def test_no_import_circle():
    graph = {name: {t for t in _imports(name, path) if t in MODULES and t != name} for name, path in MODULES.items()}
    # a package's __init__ importing its own submodules is how a room re-exports: not a circle
    for name in graph:
        if MODULES[name].name == "__init__.py":
            graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_argparse_only_in_the_cli_and_no_checkout_paths():
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if _room(name) != "cli":
            assert "argparse" not in imported, f"{name} imports argparse"
        assert "parents[" not in text, f"{name} finds files relative to a source checkout"


# ---------------------------------------------------------------------------- public surface


def test_public_surface_imports_from_cg_gov():
    import cg_gov
    import cg_gov.dictionary
    import cg_gov.engine
    import cg_gov.scoring

    assert cg_gov.load_dictionary is cg_gov.dictionary.load_dictionary
    assert cg_gov.concept_activations is cg_gov.engine.concept_activations
    assert cg_gov.score_concepts is cg_gov.scoring.score_concepts
    for name in cg_gov.__all__:
        if name != "__version__":
            assert callable(getattr(cg_gov, name)), name
    with pytest.raises(AttributeError):
        cg_gov.no_such_name  # noqa: B018


def test_the_top_level_api_is_one_flat_namespace():
    import cg_gov
    import cg_gov.audit
    import cg_gov.errors
    import cg_gov.findings
    import cg_gov.report

    # every lazy name is public and every public name resolves, from the room that defines it
    assert set(cg_gov.__all__) == set(cg_gov._LAZY) | {"__version__"}
    assert len(cg_gov.__all__) == len(set(cg_gov.__all__))
    assert cg_gov.run_audit is cg_gov.audit.run_audit
    assert cg_gov.AuditResult is cg_gov.audit.AuditResult
    assert cg_gov.CgGovError is cg_gov.errors.CgGovError
    assert cg_gov.Findings is cg_gov.findings.Findings
    assert cg_gov.load_findings is cg_gov.findings.load_findings
    assert cg_gov.render_report is cg_gov.report.render_report
    assert set(dir(cg_gov)) >= set(cg_gov.__all__)
    namespace: dict = {}
    exec("from cg_gov import *", namespace)
    assert set(cg_gov.__all__) <= set(namespace)


def test_version_is_the_installed_one_else_the_pyproject_one():
    import re
    from importlib.metadata import PackageNotFoundError, version

    import cg_gov
    from cg_gov.io import SOURCE_VERSION

    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^version = "([^"]+)"$', pyproject, re.M).group(1)
    assert SOURCE_VERSION == declared  # the fallback of a source tree that is not installed
    try:
        expected = version("cg-gov")
    except PackageNotFoundError:
        expected = declared
    assert cg_gov.__version__ == expected
    assert re.fullmatch(r"\d+(\.\d+)*([.+-]\w+)*", cg_gov.__version__)


def test_load_findings_at_the_top_reads_a_saved_audit():
    import cg_gov

    fixtures = PACKAGE.parent / "tests" / "fixtures" / "findings"
    findings = cg_gov.load_findings(fixtures / "support_assistant.json")
    assert isinstance(findings, cg_gov.Findings)
    old = cg_gov.load_findings(fixtures / "support_assistant.v1.json")  # upgraded on load
    assert old.schema_version == findings.schema_version > 1
    with pytest.raises(cg_gov.CgGovError, match="not found"):
        cg_gov.load_findings(PACKAGE.parent / "no-such-folder")


@pytest.mark.parametrize("room", ["spec", "evals", "dictionary", "engine", "scoring", "matching", "findings",
                                  "report"])
def test_each_room_exports_what_it_names(room):
    import importlib

    module = importlib.import_module(f"cg_gov.{room}")
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_import_cg_gov_stays_light():
    code = ("import sys, cg_gov, cg_gov.spec, cg_gov.cli\ncg_gov.__version__, cg_gov.CgGovError\n"
            "print([m for m in ('torch', 'transformers', 'sae_lens', 'sentence_transformers', 'weasyprint') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_py_typed_ships():
    assert (PACKAGE / "py.typed").is_file()


# ---------------------------------------------------------------------------- one home per default


@pytest.fixture(scope="module")
def schemas():
    from cg_gov.cli.schema import schema

    return {kind: schema(kind) for kind in ("profile", "audit", "findings")}


def _printed_schema(kind, capsys):
    from cg_gov.cli import main

    assert main(["schema", kind]) == 0
    return json.loads(capsys.readouterr().out)


def test_cg_gov_schema_prints_the_models_schemas(capsys, schemas):
    for kind in ("profile", "audit", "findings"):
        assert _printed_schema(kind, capsys) == json.loads(json.dumps(schemas[kind]))


@pytest.mark.parametrize("model_name", ["ScoringSettings", "ExtractionSettings", "MatchingSettings"])
def test_settings_defaults_have_one_home_shown_in_the_schema(schemas, model_name):
    import cg_gov.spec

    model = getattr(cg_gov.spec, model_name)
    kind = "profile" if model_name == "MatchingSettings" else "audit"
    props = schemas[kind]["$defs"][model_name]["properties"]
    for field, info in model.model_fields.items():
        if info.default_factory is not None:  # a nested settings model: its own fields are checked as a model
            nested = info.default_factory()
            ref = props[field]["$ref"].rsplit("/", 1)[-1]
            for key, sub in type(nested).model_fields.items():
                shown = schemas[kind]["$defs"][ref]["properties"][key].get("default")
                assert shown == getattr(nested, key) == sub.default, f"{model_name}.{field}.{key}"
            continue
        assert props[field].get("default") == info.default, f"{model_name}.{field}"


def test_the_scoring_functions_declare_no_default_of_their_own():
    from cg_gov.scoring import (ScoringSettings, adversarial_removal, score_concepts, score_families,
                                subsampling_robustness)
    from cg_gov.scoring._settings import resolve_options
    from cg_gov.spec import ScoringSettings as SpecScoringSettings

    def field_of(keyword):
        try:
            return ScoringSettings.field_of(keyword)
        except KeyError:
            return None

    assert ScoringSettings is SpecScoringSettings
    keywords = set()
    for function in (score_concepts, score_families, subsampling_robustness, adversarial_removal):
        params = inspect.signature(function).parameters
        for key in params:
            if field_of(key) is not None:
                keywords.add(key)
                assert params[key].default is None, f"{function.__name__}({key}=...) declares a default"
    assert {field_of(k) for k in keywords} == set(ScoringSettings.model_fields)  # every setting has a keyword
    defaults = ScoringSettings()
    resolved = resolve_options(None, **{k: None for k in keywords})
    assert resolved == {k: getattr(defaults, field_of(k)) for k in keywords}


def test_one_extraction_settings():
    import cg_gov.engine
    from cg_gov.spec import ExtractionSettings

    assert not hasattr(cg_gov.engine, "ExtractionSettings")
    assert inspect.signature(cg_gov.engine.extract_activations).parameters["settings"].annotation in (
        "ExtractionSettings | None", ExtractionSettings | None)
    assert ExtractionSettings().cache_key() == {"template": "user", "exclude_special_tokens": True,
                                                "dtype": "auto", "max_tokens": 256}


def test_the_language_model_dtype_has_one_default():
    """ExtractionSettings.dtype ('auto', resolved per machine by the engine) is the one default: the
    loaders take the resolved dtype and declare none of their own."""
    from cg_gov.spec import ExtractionSettings

    assert ExtractionSettings().dtype == "auto"
    # read from the source: the fast lane replaces load_language_model with a refusal (tests/conftest.py)
    loaders = {"load_language_model": MODULES["cg_gov.dictionary._model"],
               "language_model": MODULES["cg_gov.dictionary._dictionary"]}
    for name, path in loaders.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)
        kwonly = [a.arg for a in function.args.kwonlyargs]
        assert "dtype" in kwonly, name
        assert function.args.kw_defaults[kwonly.index("dtype")] is None, f"{name}(dtype=...) declares a default"


def test_low_margin_and_p_value_method_have_one_default(schemas):
    from cg_gov.matching import ProfileMatch
    from cg_gov.spec import MatchingSettings, ScoringSettings

    assert schemas["profile"]["$defs"]["MatchingSettings"]["properties"]["low_margin"]["default"] == "flag"
    assert ProfileMatch.model_fields["low_margin"].default == MatchingSettings().low_margin == "flag"
    assert schemas["audit"]["$defs"]["ScoringSettings"]["properties"]["lift_p_method"]["default"] == "normal"
    assert ScoringSettings().lift_p_method == "normal"


def test_verdict_levels_have_one_home(schemas):
    from cg_gov.findings import verdict
    from cg_gov.spec import IMPORTANCE_LEVELS

    assert verdict.IMPORTANCES == IMPORTANCE_LEVELS
    family = schemas["profile"]["$defs"]["ConceptFamily"]["properties"]["importance"]
    assert tuple(family["enum"]) == verdict.IMPORTANCES
    found = schemas["findings"]["$defs"]
    assert tuple(found["Family"]["properties"]["severity"]["enum"]) == verdict.SEVERITIES
    assert tuple(found["Coverage"]["properties"]["status"]["enum"]) == verdict.COVERAGE_STATUSES
    assert tuple(found["Performance"]["properties"]["status"]["enum"]) == verdict.PERFORMANCE_STATUSES
    assert tuple(found["Visibility"]["properties"]["status"]["enum"]) == verdict.VISIBILITY_STATUSES
    for key in ("coverage_status", "performance_status", "items_status"):  # rule v4: three thresholds
        enums = [a["enum"] for a in found["Requirement"]["properties"][key]["anyOf"] if "enum" in a]
        assert [tuple(e) for e in enums] == [verdict.REQUIREMENT_STATUSES], key
    assert set(verdict.COVERAGE_SEVERITY) == set(verdict.PERFORMANCE_SEVERITY) == set(verdict.IMPORTANCES)
    assert set(verdict.VISIBILITY_SEVERITY) == set(verdict.IMPORTANCES)
    assert verdict.MIN_FAMILY_N_EFF == verdict.MIN_FAMILY_ITEMS  # one floor under two names
    assert [rule for rule, _ in verdict.CAVEAT_RULES] == [c.id for c in __import__(
        "cg_gov.findings", fromlist=["DEFAULT_CAVEATS"]).DEFAULT_CAVEATS]


def test_small_support_rule_is_named():
    from cg_gov.findings.verdict import SMALL_SUPPORT_N_EFF, caveats_for

    assert "small-support" in caveats_for("covered", "ok", SMALL_SUPPORT_N_EFF - 0.5, [])
    assert "small-support" not in caveats_for("covered", "ok", SMALL_SUPPORT_N_EFF, [])


def test_no_calibration_figures_in_the_schemas(schemas):
    text = json.dumps(schemas["profile"])
    for figure in ("0.42", "0.29", "86%", "0.49", "0.57"):
        assert figure not in text


def test_diff_threshold_has_one_default():
    from cg_gov.cli import build_parser
    from cg_gov.findings.diff import DEFAULT_THRESHOLD

    args = build_parser().parse_args(["diff", "a", "b"])
    assert args.threshold == DEFAULT_THRESHOLD
