"""Spec models, loaders, paths and error locations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import cg_gov
from cg_gov.spec import _models as specs
from cg_gov.errors import SpecError, SpecErrorGroup
from cg_gov.spec import (
    AuditSpec,
    BenchmarkSpec,
    ConceptFamily,
    DictionarySpec,
    ExtractionSettings,
    FieldMap,
    MatchingSettings,
    Profile,
    ReportSpec,
    ScoringSettings,
    json_schema,
    load_audit,
    load_audit_with_profile,
    load_profile,
    resolve_path,
)

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "tests" / "fixtures" / "specs" / "valid"
INVALID = ROOT / "tests" / "fixtures" / "specs" / "invalid"
PROFILES = ROOT / "specs" / "profiles"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = (
    "profile: p\nversion: '1'\nowner: o\ndescription: d\n"
    "families:\n  - id: a\n    description: x\n    importance: low\n"
)


# -- defaults (a contract other modules rely on) ------------------------------


def test_defaults():
    m = MatchingSettings()
    assert (m.threshold, m.top_k, m.embedder, m.use_exemplars, m.margin_warning) == (None, 8, "default", True, -0.056)
    assert (m.exemplar_weight, m.low_margin) == (None, "flag")
    e = ExtractionSettings()
    assert (e.template, e.exclude_special_tokens, e.dtype, e.device, e.batch_size, e.max_tokens) == (
        "user",
        True,
        "auto",
        "cpu",
        16,
        256,
    )
    s = ScoringSettings()
    assert (
        s.n_min,
        s.min_benchmarks,
        s.ratio_k,
        s.bootstrap,
        s.subsample_reruns,
        s.subsample_fraction,
        s.alpha,
        s.seed,
        s.epsilon,
    ) == (50, 5, 4.0, 1000, 100, 0.2, 0.05, 0, 0.0)
    f = FieldMap()
    assert (f.id, f.input, f.score, f.response, f.target) == ("id", "input", "score", None, None)
    assert ReportSpec().formats == ["html", "pdf", "json"]


def test_every_field_is_documented():
    seen: set[type] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
        for sub in vars(specs).values():
            if isinstance(sub, type) and issubclass(sub, BaseModel) and sub.__module__ == specs.__name__:
                visit(sub)

    visit(Profile)
    assert {Profile, AuditSpec, ConceptFamily, DictionarySpec} <= seen


def test_json_schemas_forbid_unknown_keys_everywhere():
    for kind in ("profile", "audit"):
        schema = json_schema(kind)
        objects = [schema, *schema["$defs"].values()]
        assert all(obj.get("additionalProperties") is False for obj in objects if obj.get("type") == "object")


# -- loading -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_profiles(path):
    profile = load_profile(path)
    assert profile.profile == path.stem
    assert profile.owner and profile.version and len(profile.description) > 100
    assert len(profile.families) >= 4
    for family in profile.families:
        assert family.synonyms, family.id
        assert 5 <= len(family.exemplars) <= 8, family.id      # enough to fit and check a detector
        assert 3 <= len(family.counter_exemplars) <= 5, family.id
    critical = [f for f in profile.families if f.importance == "critical"]
    assert critical and all(f.require is not None for f in critical)


def test_example_profile_families():
    ids = {p.stem: [f.id for f in load_profile(p).families] for p in PROFILES.glob("*.yaml")}
    assert ids["customer-support"] == [
        "refusal",
        "escalation",
        "policy-compliance",
        "privacy",
        "uncertainty",
        "time-and-dates",
        "empathy",
        "billing-and-numbers",
    ]
    assert ids["coding-assistant"] == [
        "computer-security",
        "build-errors",
        "testing",
        "code-review",
        "software-licences",
    ]
    assert ids["research-assistant"] == [
        "citations-and-evidence",
        "uncertainty",
        "time-sensitive-facts",
        "legal-and-regulatory",
    ]


def test_full_profile_and_numeric_version():
    profile = load_profile(VALID / "full-profile.yaml")
    assert profile.version == "3"
    refusal = profile.family("refusal")
    assert (refusal.include, refusal.exclude, refusal.threshold, refusal.top_k) == ([3, 17], [4], 0.5, 4)
    assert refusal.require.coverage == 0.5 and refusal.require.performance == 0.9
    assert refusal.require.min_items == 20
    assert refusal.expects == ["refuses"]  # one behaviour may be written as a string
    dates = profile.family("dates")
    assert dates.expects == ["resolves-dates", "answers-correctly"] and dates.require.min_items is None
    assert profile.behaviours == {"resolves-dates": "works out the right date or number of days"}
    vocabulary = profile.behaviour_vocabulary()
    assert "resolves-dates" in vocabulary and "refuses" in vocabulary  # the profile's own and the built-in
    assert profile.scorer_agreement_floor == 0.8
    assert profile.family("dates").display_name == "Dates"
    assert profile.matching.use_exemplars is False
    assert profile.resolve(profile.matching.embedder) == VALID / "embedder"
    assert profile.source_file == VALID / "full-profile.yaml"


def test_minimal_audit_defaults():
    audit = load_audit(VALID / "audit.yaml")
    assert audit.dictionary == "default"
    assert audit.reference is None
    assert audit.report.formats == ["html", "pdf", "json"]
    assert audit.output_dir() == Path("reports/fixture-audit")
    assert audit.output_dir("elsewhere") == Path("elsewhere")
    assert audit.effective_seed == 0
    assert audit.resolve(audit.benchmarks[0].log) == VALID / "logs" / "refusal.jsonl"


def test_full_audit():
    audit = load_audit(VALID / "audit-full.yaml")
    assert isinstance(audit.dictionary, DictionarySpec)
    assert audit.dictionary.sae.path == "dictionary/sae" and audit.dictionary.hook_layer == 15
    assert audit.dictionary.labels_format == "csv"
    assert audit.benchmarks[0].fields.score == "score" and audit.benchmarks[1].description == "Date arithmetic."
    refusal, dates = audit.benchmarks
    assert (refusal.measures, refusal.scorer, refusal.scorer_check) == (
        "refuses", "keyword", "scorer_checks/refusal.csv")
    assert (dates.measures, dates.scorer, dates.scorer_check) == ("resolves-dates", "exact-match", None)
    assert audit.labels == ["review/refusal.csv"]
    whole, by_field = audit.family_tags
    assert (whole.family, whole.benchmarks, whole.field, whole.values) == ("refusal", ["refusal"], None, [])
    assert (by_field.family, by_field.benchmarks, by_field.field, by_field.values) == (
        "dates", [], "topic", ["calendar", "deadlines"])
    assert audit.resolve(audit.labels[0]).is_file() and audit.resolve(refusal.scorer_check).is_file()
    assert audit.reference.name == "workload"
    assert audit.output_dir() == VALID / "out" / "full"
    assert audit.effective_seed == 11
    assert audit.extraction.device == "cuda:1"


def test_labels_format_guess_has_one_rule(tmp_path):
    from cg_gov.dictionary import sniff_labels_format

    (tmp_path / "l.csv").write_text("index,label\n0,a\n")
    (tmp_path / "np.jsonl").write_text('{"index": "0", "description": "a"}\n')
    (tmp_path / "own.jsonl").write_text('{"index": 0, "label": "a"}\n')
    assert [sniff_labels_format(tmp_path / n) for n in ("l.csv", "np.jsonl", "own.jsonl")] == [
        "csv", "neuronpedia", "cg_gov"]


def test_load_audit_with_profile():
    audit, profile, path = load_audit_with_profile(VALID / "audit.yaml")
    assert path == VALID / "minimal-profile.yaml"
    assert profile.profile == "minimal" and audit.audit == "fixture-audit"
    with pytest.raises(SpecError) as info:
        load_audit_with_profile(INVALID / "audit-missing-profile-file.yaml")
    assert (info.value.line, info.value.key) == (3, "profile")
    with pytest.raises(SpecError, match="families\\[2\\].importance"):
        load_audit_with_profile(INVALID / "audit-invalid-profile.yaml")
    # a benchmark measures a behaviour of the profile's vocabulary: its own (behaviours:) or the built-in one
    audit, profile, _ = load_audit_with_profile(VALID / "audit-full.yaml")
    assert audit.benchmarks[1].measures == "resolves-dates" and "resolves-dates" in profile.behaviours
    with pytest.raises(SpecError) as info:
        load_audit_with_profile(INVALID / "audit-unknown-measures.yaml")
    assert (info.value.line, info.value.key) == (8, "benchmarks[0].measures")
    assert "unknown behaviour 'refusal'" in info.value.message


def test_wrong_kind_of_file():
    with pytest.raises(SpecError, match="top key 'profile' is missing") as info:
        load_profile(VALID / "audit.yaml")
    assert info.value.hint == "this looks like an audit spec"
    with pytest.raises(SpecError, match="top key 'audit' is missing") as info:
        load_audit(VALID / "minimal-profile.yaml")
    assert info.value.hint == "this looks like a profile"


def test_lazy_top_level_exports():
    assert cg_gov.load_profile is load_profile and cg_gov.load_audit is load_audit
    with pytest.raises(AttributeError):
        cg_gov.no_such_name  # noqa: B018


# -- paths -------------------------------------------------------------------


def test_resolve_path(tmp_path):
    assert resolve_path("specs/audits/demo.yaml", "../profiles/p.yaml") == Path("specs/profiles/p.yaml")
    assert resolve_path(tmp_path / "a.yaml", "logs/x.jsonl") == tmp_path / "logs" / "x.jsonl"
    assert resolve_path("a/b.yaml", tmp_path) == tmp_path
    assert resolve_path("a/b.yaml", "~/x") == Path(os.path.expanduser("~/x"))
    assert resolve_path("b.yaml", "x") == Path("x")


# -- errors ------------------------------------------------------------------


def test_all_errors_of_a_file_are_collected():
    with pytest.raises(SpecErrorGroup) as info:
        load_profile(INVALID / "profile-unknown-key.yaml")
    group = info.value
    assert [(e.line, e.key) for e in group.errors] == [(1, "families"), (5, "famlies")]
    assert str(group).startswith(f"{INVALID / 'profile-unknown-key.yaml'}: 2 problems found:\n  ")


def test_flow_style_yaml_lines(tmp_path):
    path = write(
        tmp_path,
        "profile: p\nversion: '1'\nowner: o\ndescription: d\n"
        "families: [{id: a, description: x, importance: low},\n"
        "           {id: b, description: y, importance: urgent}]\n",
    )
    with pytest.raises(SpecError) as info:
        load_profile(path)
    assert (info.value.line, info.value.key) == (6, "families[1].importance")
    assert info.value.hint is None  # 'urgent' is close to nothing allowed


def test_literal_suggestion_and_bom(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes("\ufeff".encode() + MINIMAL.replace("importance: low", "importance: hihg").encode())
    with pytest.raises(SpecError) as info:
        load_profile(path)
    assert info.value.line == 8 and info.value.hint == "did you mean 'high'?"


def test_unknown_key_without_close_match(tmp_path):
    with pytest.raises(SpecError) as info:
        load_profile(write(tmp_path, MINIMAL + "zzz: 1\n"))
    assert info.value.key == "zzz" and info.value.hint is None
    assert "allowed keys: profile, title, version" in info.value.message


def test_keys_yaml_does_not_read_as_text(tmp_path):
    with pytest.raises(SpecError) as info:
        load_profile(write(tmp_path, MINIMAL + "on: true\n"))
    assert info.value.line == 9 and "not read as text" in info.value.message and info.value.hint == 'quote it: "on":'


def test_dictionary_errors_are_not_doubled_by_the_union(tmp_path):
    text = (
        "audit: a\nmodel: m\nprofile: p.yaml\n"
        "dictionary:\n  hook_layer: x\n  sae: {path: s}\n  labels: l.csv\n"
        "benchmarks: [{name: a, log: a.jsonl, format: jsonl}]\n"
    )
    with pytest.raises(SpecError) as info:
        load_audit(write(tmp_path, text))
    assert not isinstance(info.value, SpecErrorGroup)
    assert (info.value.line, info.value.key) == (5, "dictionary.hook_layer")
    assert info.value.message == "must be a whole number (got 'x')"


def test_models_check_cross_item_rules_in_code_too():
    family = {"id": "a", "description": "x", "importance": "low"}
    with pytest.raises(ValidationError, match="duplicate family id 'a'"):
        Profile(profile="p", version="1", owner="o", description="d", families=[family, family])
    with pytest.raises(ValidationError, match="both included and excluded"):
        ConceptFamily(**family, include=[1], exclude=[1])
    bench = {"name": "b", "log": "b.jsonl", "format": "jsonl"}
    with pytest.raises(ValidationError, match="duplicate benchmark name"):
        AuditSpec(audit="a", model="m", profile="p.yaml", benchmarks=[bench, bench])


@pytest.mark.parametrize("value", ["mean", 0, 3, None])
def test_epochs_accepts_mean_or_an_epoch(value):
    bench = BenchmarkSpec(name="b", log="b.eval", format="inspect", epochs=value)
    assert bench.epochs == value


@pytest.mark.parametrize("value", ["last", -1, True, 1.5])
def test_epochs_rejects_other_values(value):
    with pytest.raises(ValidationError, match="must be 'mean' or an integer epoch number >= 0"):
        BenchmarkSpec(name="b", log="b.eval", format="inspect", epochs=value)


def test_sae_source_rules():
    ok = DictionarySpec(hook_layer=0, sae={"path": "s"}, labels="l.csv")
    assert ok.sae.path == "s" and ok.model == "default"
    with pytest.raises(ValidationError, match="must set path, or release and sae_id"):
        DictionarySpec(hook_layer=0, sae={}, labels="l.csv")
