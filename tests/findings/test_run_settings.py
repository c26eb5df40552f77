"""findings.json's settings block, typed: RunSettings embeds the spec's settings models, reads the
file's flat keys into them and writes them back byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cg_gov.errors import CgGovError
from cg_gov.findings import Findings, findings_to_json, load_findings
from cg_gov.spec import RECORDED_SETTINGS, ExtractionSettings, MatchingSettings, RunSettings, ScoringSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "findings"


@pytest.mark.parametrize("name", ["support_assistant.json", "support_assistant.v3.json",
                                  "support_assistant.v1.json"])
def test_a_file_settings_block_reads_typed_and_writes_back_unchanged(name):
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    settings = RunSettings.model_validate(data["settings"])
    assert settings.scoring.n_min == data["settings"]["n_min"] == 20
    assert settings.scoring.bootstrap == data["settings"]["n_bootstrap"] == 500
    assert isinstance(settings.scoring.ratio_k, float) and settings.scoring.ratio_k == data["settings"]["k"]
    assert settings.recorded() == data["settings"]  # nothing added, nothing dropped


def test_unknown_keys_are_kept_and_unrecorded_values_are_the_methods_defaults():
    data = json.loads((FIXTURES / "support_assistant.json").read_text(encoding="utf-8"))["settings"]
    settings = RunSettings.model_validate(data)
    assert settings.model_extra == {"scorer_agreement_floor": 0.9}
    assert settings.scoring.subsample_fraction == ScoringSettings().subsample_fraction  # not recorded
    assert settings.extraction == ExtractionSettings() and settings.matching == MatchingSettings()
    empty = RunSettings.model_validate({})
    assert empty.recorded() == {} and empty.scoring == ScoringSettings()


def test_findings_round_trip_is_byte_identical():
    text = (FIXTURES / "support_assistant.json").read_text(encoding="utf-8")
    findings = Findings.model_validate_json(text)
    assert isinstance(findings.settings, RunSettings)
    again = findings_to_json(Findings.model_validate(json.loads(findings_to_json(findings))))
    assert again == findings_to_json(findings)
    assert json.loads(again)["settings"] == json.loads(text)["settings"]


def test_every_recorded_key_lands_in_its_section_and_back():
    values = {"n_min": 7, "min_benchmarks": 2, "k": 3.0, "n_bootstrap": 40, "alpha": 0.1, "seed": 5,
              "epsilon": 0.01, "subsample_reruns": 3, "subsample_fraction": 0.3, "lift_p_method": "bootstrap",
              "extraction_template": "raw", "extraction_dtype": "bfloat16", "max_tokens": 64,
              "matching_threshold": 0.4, "matching_top_k": 3, "matching_exemplar_weight": 0.2,
              "reference": "workload", "min_family_n_eff": 10.0, "rule_version": 4,
              "detector_max_near_miss_rate": 0.1}
    assert set(values) == set(RECORDED_SETTINGS)
    settings = RunSettings.model_validate(values)
    for key, (section, name) in RECORDED_SETTINGS.items():
        holder = settings if section is None else getattr(settings, section)
        assert getattr(holder, name) == values[key], key
    assert settings.recorded() == values
    assert json.dumps(settings.model_dump(mode="json"), sort_keys=True) == json.dumps(values, sort_keys=True)


@pytest.mark.parametrize("key, value", [("k", 1.0), ("n_bootstrap", -1), ("alpha", 2), ("extraction_dtype", "int8"),
                                        ("matching_threshold", 3.0), ("lift_p_method", "exact")])
def test_a_bad_recorded_value_is_refused_naming_the_file_key(tmp_path, key, value):
    data = json.loads((FIXTURES / "support_assistant.json").read_text(encoding="utf-8"))
    data["settings"][key] = value
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CgGovError) as err:
        load_findings(path)
    assert err.value.key == "settings" and err.value.message.startswith(f"Value error, {key}:")


def test_the_schema_shows_the_flat_keys_with_the_settings_bounds():
    from cg_gov.findings import findings_json_schema

    schema = findings_json_schema()
    props = schema["$defs"]["RunSettings"]["properties"] if "$defs" in schema and "RunSettings" in schema[
        "$defs"] else schema["properties"]["settings"]["properties"]
    assert set(props) == set(RECORDED_SETTINGS)
    assert props["k"]["exclusiveMinimum"] == 1 and props["k"]["default"] == ScoringSettings().ratio_k
    assert props["n_bootstrap"]["minimum"] == 0 and props["n_bootstrap"]["default"] == ScoringSettings().bootstrap
    assert props["extraction_dtype"]["enum"] == ["auto", "float32", "bfloat16"]


def test_run_settings_of_an_audit_record_the_resolved_values_and_refuse_an_out_of_bounds_one():
    from types import SimpleNamespace

    from cg_gov.findings._derive import run_settings
    from cg_gov.spec import AuditSpec

    spec = AuditSpec.model_validate({"audit": "a", "model": "m", "profile": "p.yaml", "seed": 7,
                                     "benchmarks": [{"name": "b", "log": "b.jsonl", "format": "jsonl"}],
                                     "scoring": {"n_min": 20, "bootstrap": 200},
                                     "extraction": {"dtype": "float32", "max_tokens": 128}})
    matches = SimpleNamespace(threshold=0.46, top_k=8, exemplar_weight=0.15)
    settings = run_settings(spec, matches, "workload")
    recorded = settings.recorded()
    assert recorded["seed"] == 7 and recorded["n_min"] == 20 and recorded["n_bootstrap"] == 200
    assert recorded["alpha"] == ScoringSettings().alpha  # every scoring value recorded, defaults too
    assert (recorded["extraction_dtype"], recorded["max_tokens"], recorded["extraction_template"]) == (
        "float32", 128, ExtractionSettings().template)
    assert (recorded["matching_threshold"], recorded["matching_top_k"]) == (0.46, 8)
    assert set(recorded) == set(RECORDED_SETTINGS)
    with pytest.raises(CgGovError) as err:
        run_settings(spec, SimpleNamespace(threshold=1.4, top_k=8, exemplar_weight=0.15), "workload")
    assert err.value.key == "matching.threshold" and "1.4" in err.value.message
