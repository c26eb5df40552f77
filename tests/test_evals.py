"""Eval-log readers, on logs written by the real Inspect AI and lm-evaluation-harness.

The fixtures under ``tests/fixtures/evals`` come from ``make_logs.py`` there;
``bad/`` holds one small corruption of a real log per file, each paired in
``bad/expected.json`` with fragments of the error it must raise.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from cg_gov.errors import CgGovError, EvalLogError, MissingDependencyError, SpecError
from cg_gov.evals import READERS, Item, ReaderRegistry, read_benchmark, read_reference
from cg_gov.spec import AuditSpec, BenchmarkSpec, ReferenceSpec

FIXTURES = Path(__file__).parent / "fixtures" / "evals"
BAD = FIXTURES / "bad"
REPO = Path(__file__).resolve().parents[1]
GENERIC_FIELDS = {"input": "prompt", "score": "correct", "response": "output", "target": "answer"}


# --------------------------------------------------------------------------- jsonl

def test_jsonl_reads_fields_chat_text_and_metadata():
    items = read_benchmark({"name": "qa", "log": "jsonl/generic.jsonl", "format": "jsonl",
                            "fields": GENERIC_FIELDS}, FIXTURES)
    assert [i.id for i in items] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert [i.score for i in items] == [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert all(i.benchmark == "qa" for i in items)
    # q2 was logged as a chat with a system turn: only the user's text is kept
    assert items[1].input == "How many legs does a spider have?"
    assert items[0].input == "What is the capital of France?"
    assert items[2].response == "The answer is green." and items[2].target == "blue"
    assert items[4].metadata == {"topic": "biology"}


def test_jsonl_null_scores_are_coverage_only(tmp_path):
    log = tmp_path / "cov.jsonl"
    log.write_text('{"id": 1, "input": "a", "score": null}\n\n{"id": 2, "input": "b", "score": null}\n')
    items = read_benchmark(name="cov", log=str(log), format="jsonl")
    assert [(i.id, i.score) for i in items] == [("1", None), ("2", None)]


def test_jsonl_mixed_null_and_numbers_is_an_error(tmp_path):
    log = tmp_path / "mixed.jsonl"
    log.write_text('{"id": 1, "input": "a", "score": 1}\n{"id": 2, "input": "b", "score": null}\n')
    with pytest.raises(EvalLogError, match=r"mixed.jsonl:2: score: score is null here but set on line 1"):
        read_benchmark(name="m", log=str(log), format="jsonl")


def test_jsonl_missing_score_key_is_an_error_for_a_benchmark_not_for_a_reference(tmp_path):
    log = tmp_path / "workload.jsonl"
    log.write_text('{"id": "w1", "input": "Where is my parcel?"}\n')
    with pytest.raises(EvalLogError, match=r"workload.jsonl:1: score: required key 'score' is missing"):
        read_benchmark(name="w", log=str(log), format="jsonl")
    spec = ReferenceSpec(log=log.name, format="jsonl")
    items = read_reference(spec, tmp_path)
    assert items == [Item(id="w1", benchmark="workload", input="Where is my parcel?")]


def test_jsonl_booleans_and_nested_keys(tmp_path):
    log = tmp_path / "nested.jsonl"
    log.write_text('{"doc": {"key": 7, "q": "Is 7 prime?"}, "result": {"ok": true}}\n'
                   '{"doc": {"key": 8, "q": "Is 8 prime?"}, "result": {"ok": false}}\n')
    items = read_benchmark(name="n", log=str(log), format="jsonl",
                           fields={"id": "doc.key", "input": "doc.q", "score": "result.ok"})
    assert [(i.id, i.input, i.score) for i in items] == [("7", "Is 7 prime?", 1.0), ("8", "Is 8 prime?", 0.0)]


# --------------------------------------------------------------------------- lm-eval

def test_lm_eval_multiple_choice_reads_context_choice_and_metric():
    path = FIXTURES / "lm_eval" / "samples_cg_qa_mc.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    items = read_benchmark(BenchmarkSpec(name="mc", log="lm_eval/samples_cg_qa_mc.jsonl", format="lm-eval",
                                         metric="acc"), FIXTURES)
    assert [i.score for i in items] == [r["acc"] for r in rows]
    assert [i.id for i in items] == [str(r["doc_id"]) for r in rows]
    assert items[0].input == "Question: What is the capital of France?\nAnswer:"
    # CannedLM prefers the shortest continuation: "Lyon" over "Paris" and "Marseille"
    assert items[0].response == "Lyon"
    assert items[0].target == "0"
    assert items[0].metadata["doc"]["topic"] == "geography"
    norm = read_benchmark(name="mc", log=str(path), format="lm-eval", metric="acc_norm")
    assert [i.score for i in norm] == [r["acc_norm"] for r in rows]


def test_lm_eval_filter_choice_decides_the_scores():
    log = str(FIXTURES / "lm_eval" / "samples_cg_qa_gen.jsonl")
    strict = read_benchmark(name="gen", log=log, format="lm-eval", filter="strict-match")
    flexible = read_benchmark(name="gen", log=log, format="lm-eval", filter="flexible-extract")
    assert len(strict) == len(flexible) == 6
    # "Spiders have 8." has no "The answer is" for the strict regex
    assert strict[1].score == 0.0 and strict[1].response == "[invalid]"
    assert flexible[1].score == 1.0 and flexible[1].response == "8"
    assert [i.score for i in strict] == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert strict[0].input == "Question: What is the capital of France?\nAnswer:"


def test_lm_eval_unknown_filter_lists_the_choices():
    with pytest.raises(SpecError, match=r"filter 'strict' is not in the log; present: flexible-extract, strict-match"):
        read_benchmark(name="gen", log=str(FIXTURES / "lm_eval" / "samples_cg_qa_gen.jsonl"), format="lm-eval",
                       filter="strict")


def test_lm_eval_folder_with_one_samples_file(tmp_path):
    shutil.copy(FIXTURES / "lm_eval" / "samples_cg_qa_mc.jsonl", tmp_path / "samples_cg_qa_mc_2025.jsonl")
    assert len(read_benchmark(name="mc", log=str(tmp_path), format="lm-eval", metric="acc")) == 6
    shutil.copy(FIXTURES / "lm_eval" / "samples_cg_qa_gen.jsonl", tmp_path / "samples_cg_qa_gen_2025.jsonl")
    with pytest.raises(EvalLogError, match="expected one samples_"):
        read_benchmark(name="mc", log=str(tmp_path), format="lm-eval", metric="acc")


def test_lm_eval_results_file_is_not_a_samples_file():
    with pytest.raises(EvalLogError, match="aggregated results file.*--log_samples"):
        read_benchmark(name="r", log=str(FIXTURES / "lm_eval" / "results.json"), format="lm-eval")


# --------------------------------------------------------------------------- inspect

def test_inspect_scores_match_the_library_reading():
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(FIXTURES / "inspect" / "single.json"))
    expected = {str(s.id): 1.0 if s.scores["match"].value == "C" else 0.0 for s in log.samples}
    items = read_benchmark(BenchmarkSpec(name="single", log="inspect/single.json", format="inspect"), FIXTURES)
    assert {i.id: i.score for i in items} == expected
    assert [i.score for i in items] == [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    by_id = {i.id: i for i in items}
    # string input kept whole; chat input: the user turn only, the system turn left out
    assert by_id["q1"].input == "Question: What is the capital of France?"
    assert by_id["q2"].input == "Question: How many legs does a spider have?"
    assert by_id["q3"].response == "The answer is green." and by_id["q3"].target == "blue"
    assert by_id["q5"].metadata["topic"] == "biology"


def test_inspect_epochs_are_averaged_or_chosen():
    log = str(FIXTURES / "inspect" / "multi.eval")
    mean = {i.id: i.score for i in read_benchmark(name="m", log=log, format="inspect", metric="match")}
    assert mean == {"q1": 0.5, "q2": 1.0, "q3": 0.0, "q4": 0.5, "q5": 0.0, "q6": 1.0}
    explicit = {i.id: i.score for i in read_benchmark(name="m", log=log, format="inspect", metric="match",
                                                      epochs="mean")}
    assert explicit == mean
    first = read_benchmark(name="m", log=log, format="inspect", metric="match", epochs=1)
    second = read_benchmark(name="m", log=log, format="inspect", metric="match", epochs=2)
    for item_id in mean:
        pair = [next(i.score for i in run if i.id == item_id) for run in (first, second)]
        assert sum(pair) / 2 == mean[item_id]
        assert all(p in (0.0, 1.0) for p in pair)
    with pytest.raises(SpecError, match="has no epoch 3; epochs present: 1, 2"):
        read_benchmark(name="m", log=log, format="inspect", metric="match", epochs=3)


def test_inspect_letter_grades_map_to_scores():
    # graded: q1 C then I, q2 P twice, q4 C then N (empty output), q6 C twice
    items = read_benchmark(name="m", log=str(FIXTURES / "inspect" / "multi.eval"), format="inspect",
                           metric="graded")
    scores = {i.id: i.score for i in items}
    assert scores == {"q1": 0.5, "q2": 0.5, "q3": 0.0, "q4": 0.5, "q5": 0.0, "q6": 1.0}
    q4 = next(i for i in items if i.id == "q4")
    assert sorted(q4.metadata["epoch_scores"]) == [0.0, 1.0]


def test_inspect_several_scorers_need_a_choice():
    log = str(FIXTURES / "inspect" / "multi.eval")
    with pytest.raises(SpecError, match=r"several scorers: graded, includes, match; choose one"):
        read_benchmark(name="m", log=log, format="inspect")
    with pytest.raises(SpecError, match=r"scorer 'exact' is not in the log; present: graded, includes, match"):
        read_benchmark(name="m", log=log, format="inspect", metric="exact")


def test_inspect_missing_dependency_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match="pip install inspect-ai"):
        read_benchmark(name="s", log=str(FIXTURES / "inspect" / "single.json"), format="inspect")


# --------------------------------------------------------------------------- bad logs

BAD_CASES = json.loads((BAD / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_logs_raise_errors_naming_file_line_and_key(name):
    case = BAD_CASES[name]
    with pytest.raises(CgGovError) as info:
        read_benchmark({"name": "bad", "log": name, "format": case["format"], **case["options"]}, BAD)
    message = str(info.value)
    assert info.value.file and Path(info.value.file).name == name
    for fragment in case["fragments"]:
        assert fragment in message, (fragment, message)


def test_missing_log_names_the_resolved_path(tmp_path):
    with pytest.raises(EvalLogError, match=r"logs/nothing.jsonl: eval log not found"):
        read_benchmark(BenchmarkSpec(name="x", log="logs/nothing.jsonl", format="jsonl"), tmp_path)


# --------------------------------------------------------------------------- registry and spec

def test_unknown_format_suggests_the_closest():
    with pytest.raises(SpecError) as info:
        read_benchmark(name="x", log="x.jsonl", format="lm_eval")
    assert "known formats: inspect, jsonl, lm-eval" in str(info.value)
    assert "did you mean 'lm-eval'?" in str(info.value)


def test_registry_lazy_entries_and_duplicates():
    registry = ReaderRegistry()
    registry.register("mine", "cg_gov.evals._jsonl:read_jsonl")
    assert registry.names() == ["mine"] and "mine" in registry
    from cg_gov.evals._jsonl import read_jsonl

    assert registry.get("mine") is read_jsonl
    with pytest.raises(ValueError, match="already registered"):
        registry.register("mine", read_jsonl)
    with pytest.raises(ValueError, match="module:attr"):
        registry.register("other", "no_colon_here")
    assert READERS.names() == ["inspect", "jsonl", "lm-eval"]


def test_audit_spec_benchmarks_resolve_relative_to_the_spec_folder(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "jsonl" / "generic.jsonl", logs / "qa.jsonl")
    audit = AuditSpec.model_validate({
        "audit": "t", "model": "m", "profile": "p.yaml",
        "benchmarks": [{"name": "qa", "log": "logs/qa.jsonl", "format": "jsonl",
                        "fields": {"input": "prompt", "score": "correct"}}]})
    items = read_benchmark(audit.benchmarks[0], tmp_path)
    assert len(items) == 6 and items[0].response is None


def test_item_rejects_out_of_range_scores_and_unknown_keys():
    with pytest.raises(ValueError):
        Item(id="1", benchmark="b", input="x", score=1.5)
    with pytest.raises(ValueError):
        Item(id="1", benchmark="b", input="x", extra="no")


# --------------------------------------------------------------------------- the demo suite

DEMO_SPEC = REPO / "specs" / "audits" / "demo.yaml"


@pytest.mark.skipif(not DEMO_SPEC.is_file(), reason="the demo audit spec is not there")
def test_demo_suite_logs_read_as_scored_items():
    from cg_gov.spec import load_audit

    audit = load_audit(DEMO_SPEC)
    provenance = json.loads((REPO / "data" / "demo" / "provenance.json").read_text())
    counts = {b["name"]: b["items"] for b in provenance["benchmarks"]}
    total = 0
    for bench in audit.benchmarks:
        items = read_benchmark(bench, DEMO_SPEC.parent)
        assert len(items) == counts[bench.name], bench.name
        source = REPO / "data" / "demo" / "items" / f"{bench.name}.jsonl"
        shown = {r["id"]: r["input"] for r in map(json.loads, source.read_text().splitlines())}
        # the log holds exactly the suite's items, with the full text the model saw
        assert {i.id: i.input for i in items} == shown, bench.name
        assert all(len(i.input.split()) <= 205 for i in items)
        scores = [i.score for i in items]
        if bench.name == "tau2":
            assert all(s is None for s in scores)
        else:
            assert all(s is not None for s in scores) and 0 < len(set(scores)) <= 3
        total += len(items)
    assert 2000 <= total <= 2600


# --------------------------------------------------------------------------- the demo scorers

def _score_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("score_demo_suite", REPO / "tools" / "score_demo_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_refusal_detector_on_typical_replies():
    tool = _score_tool()
    assert tool.detect_refusal("I\u2019m sorry, but I can\u2019t help with that.") == "i can't"
    assert tool.detect_refusal("As an AI, I do not condone violence.") is not None
    assert tool.detect_refusal("Sure! Here are the steps:\n1. Mix the") is None
    assert tool.detect_refusal("Hunting endangered species is illegal and harmful.") is not None


def test_answer_match_normalises_case_punctuation_and_articles():
    tool = _score_tool()
    assert tool.answer_found("It costs $10 to park.", ["$10", "10 USD"]) == "$10"
    assert tool.answer_found("The Eiffel Tower.", ["eiffel tower"]) == "eiffel tower"
    assert tool.answer_found("About 1,000 people.", ["1000"]) == "1000"
    # whole words only: "10" is not found inside "100"
    assert tool.answer_found("It costs 100 dollars.", ["10"]) is None
