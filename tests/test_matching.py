"""The matcher and the sentence embedder, on the real bundled all-MiniLM-L6-v2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from cg_gov.io import cache_dir as default_cache_dir
from cg_gov.matching import Embedder, get_embedder, labels_sha256
from cg_gov.errors import CgGovError, SpecError
from cg_gov.matching import (
    FALLBACK_THRESHOLD,
    NO_MATCH_MESSAGE,
    choose_operating_point,
    choose_threshold,
    concept_readings,
    evaluate,
    family_similarity,
    family_texts,
    label_text,
    leave_one_profile_out,
    load_dictionary_pairs,
    load_pairs,
    match_profile,
    negate,
    negation_texts,
    profile_signals,
    score_dictionary_pairs,
    score_pairs,
    split_pairs,
)
from cg_gov.cli import main as cli_main
from cg_gov.spec import MatchingSettings, Profile, load_profile

FIXTURES = Path(__file__).parent / "fixtures" / "matching"

# Labels shaped like the bundled dictionary's: phrases, WordNet glosses, token labels, dead concepts.
LABELS = [
    "refusing a request politely",                                     # 0
    "complying with a request",                                        # 1
    "the act of apologizing",                                          # 2
    "a statement of regret",                                           # 3
    "date and time expressions",                                       # 4
    "money; amount charged",                                           # 5
    "token ' Sorry'",                                                  # 6
    "",                                                                # 7 dead concept
    "decline: go down in value",                                       # 8
    "refusal: the act of refusing",                                    # 9
    "a recipe for baking bread",                                       # 10
    "agreeing to help",                                                # 11
    "deadline: the point in time at which something must be completed",  # 12
    "token ' the'",                                                    # 13
]


def make_profile(families, **matching):
    matching.setdefault("method", "similarity")  # these tests are of similarity matching; detectors: test_detector
    return Profile.model_validate({
        "profile": "test", "version": "1", "owner": "tests", "description": "matcher tests",
        "families": families, "matching": matching,
    })


REFUSAL = {"id": "refusal", "importance": "critical",
           "description": "The assistant declines harmful requests and says clearly that it will not help.",
           "synonyms": ["refusing a request", "saying no to the user"]}
EMPATHY = {"id": "empathy", "importance": "medium",
           "description": "Apologising to the customer and acknowledging their frustration.",
           "synonyms": ["apology", "saying sorry"],
           "exemplars": ["I'm so sorry about the delay.", "I apologize for the trouble.",
                         "Sorry, that must be frustrating."]}
CHEMISTRY = {"id": "chemistry", "importance": "low",
             "description": "Chemical reactions, molecules and laboratory safety.",
             "synonyms": ["organic chemistry", "titration"]}


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(None)


# ---------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------


def test_label_text_takes_the_meaningful_part():
    assert label_text("token ' Sorry'") == "Sorry"
    assert label_text("decline: go down in value") == "go down in value"
    assert label_text("clock_time: a reading of a point in time") == "a reading of a point in time"
    assert label_text("money; amount charged") == "money; amount charged"
    assert label_text("date and time expressions") == "date and time expressions"
    assert label_text("") == "" and label_text("   ") == ""


def test_negate_swaps_polar_words_once_per_clause():
    assert negate("refusing a request") == "accepting a request"
    assert negate("not revealing personal data") == "revealing personal data"
    assert negate("I do not know, and I cannot refuse") == "I do know, and I can refuse"
    assert negate("Protecting personal data") == "Exposing personal data"
    assert negate("date and time expressions") is None
    fam = make_profile([REFUSAL]).families[0]
    assert "accepting a request" in negation_texts(fam)
    assert negation_texts(make_profile([CHEMISTRY]).families[0]) == []


# ---------------------------------------------------------------------------
# Embedder
# ---------------------------------------------------------------------------


def test_importing_the_matcher_loads_no_model_library():
    code = ("import sys, cg_gov.matching, cg_gov.matching._embedder; "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_embed_is_normalised_float32_and_deterministic(embedder):
    texts = ["refuses the request", "complies with the request", "", "the act of apologizing"]
    a = embedder.embed(texts)
    assert a.dtype == np.float32 and a.shape == (4, 384)
    assert np.allclose(np.linalg.norm(a[[0, 1, 3]], axis=1), 1.0, atol=1e-5)
    assert not a[2].any()
    fresh = Embedder(None)  # a second model instance computes the same numbers
    assert fresh.identity == embedder.identity
    b = fresh.embed(texts)
    assert np.array_equal(a, b)
    # the opposites problem that the guard exists for
    assert float(a[0] @ a[1]) > 0.6


def test_label_cache_is_written_atomically_and_reused(tmp_path, embedder):
    labels = ["refusing a request politely", "", "money; amount charged"]
    path = embedder.cache_path(labels, tmp_path)
    assert labels_sha256(labels)[:32] in path.name and not path.exists()
    first = embedder.embed_labels(labels, cache_dir=tmp_path)
    assert path.is_file() and list(path.parent.glob("*.tmp")) == []
    stored = np.load(path, allow_pickle=False)
    assert np.array_equal(stored, first) and stored.dtype == np.float32
    assert embedder.cache_path(labels[:2], tmp_path) != path
    # a corrupt cache file is recomputed and rewritten
    path.write_bytes(b"not an npy file")
    again = embedder.embed_labels(labels, cache_dir=tmp_path)
    assert np.array_equal(again, first)
    assert np.array_equal(np.load(path, allow_pickle=False), first)


def test_cache_dir_defaults_to_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CG_GOV_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CG_GOV_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "cg_gov"


def test_unknown_embedder_is_a_user_error(tmp_path):
    with pytest.raises(CgGovError, match="neither the bundled model nor a local folder"):
        Embedder(str(tmp_path / "missing"))
    with pytest.raises(CgGovError, match="not a sentence-transformers model folder"):
        Embedder(str(tmp_path))


# ---------------------------------------------------------------------------
# match_profile
# ---------------------------------------------------------------------------


def test_same_inputs_give_identical_matches(tmp_path, embedder):
    profile = make_profile([REFUSAL, EMPATHY, CHEMISTRY])
    first = match_profile(profile, LABELS, embedder=embedder, cache_dir=tmp_path)
    second = match_profile(profile, LABELS, embedder=Embedder(None), cache_dir=tmp_path / "other")
    assert first.model_dump() == second.model_dump()
    assert first.embedder == embedder.identity and first.n_concepts == len(LABELS)


def test_refusal_matches_its_labels_and_flags_the_opposite(tmp_path, embedder):
    profile = make_profile([REFUSAL], margin_warning=0.0, low_margin="flag")
    fam = match_profile(profile, LABELS, embedder=embedder, cache_dir=tmp_path).family("refusal")
    by_id = {c.concept_id: c for c in fam.concepts}
    assert {0, 9} <= set(by_id)                 # "refusing a request politely", "refusal: the act of refusing"
    assert 8 not in by_id                       # "decline: go down in value": the lemma does not drag it in
    assert 7 not in by_id and 10 not in by_id   # dead concept, unrelated label
    # "complying with a request" passes the similarity threshold: embeddings barely see polarity ...
    assert 1 in by_id and by_id[1].similarity >= fam.threshold
    # ... and the opposites guard flags it, while the real refusal labels clear it.
    assert by_id[1].margin < 0 and by_id[1].low_margin
    assert by_id[0].margin > 0 and not by_id[0].low_margin
    assert by_id[9].margin > 0 and not by_id[9].low_margin
    assert any("complying with a request" in w for w in fam.warnings)
    assert fam.negations and all(c.source == "label" for c in fam.concepts)
    assert fam.set_aside == []


def test_low_margin_concepts_are_flagged_by_default_and_set_aside_on_request(tmp_path, embedder):
    # the default flags (keeps with a warning) only margins below minus twice the margin's noise
    default = match_profile(make_profile([REFUSAL]), LABELS, embedder=embedder, cache_dir=tmp_path).family("refusal")
    assert default.set_aside == [] and all(c.low_margin == (c.margin < -0.056) for c in default.concepts
                                           if c.margin is not None)
    flagged = match_profile(make_profile([REFUSAL], low_margin="flag", margin_warning=0.0), LABELS,
                            embedder=embedder, cache_dir=tmp_path).family("refusal")
    fam = match_profile(make_profile([REFUSAL], low_margin="drop", margin_warning=0.0), LABELS, embedder=embedder,
                        cache_dir=tmp_path).family("refusal")
    kept = {c.concept_id for c in fam.concepts}
    aside = {c.concept_id: c for c in fam.set_aside}
    # the opposite ("complying with a request") leaves the weights and is listed with weight 0
    assert 1 in aside and 1 not in kept and aside[1].weight == 0 and aside[1].low_margin
    assert {0, 9} <= kept and not any(c.low_margin for c in fam.concepts) and fam.warnings == []
    assert kept | set(aside) == {c.concept_id for c in flagged.concepts}
    assert sum(c.weight for c in fam.concepts) == pytest.approx(1.0, abs=1e-5)
    # with top_k 2, the set-aside concept's place goes to the next concept, not to nobody
    capped = match_profile(make_profile([REFUSAL], top_k=2, low_margin="drop", margin_warning=0.0), LABELS,
                           embedder=embedder, cache_dir=tmp_path).family("refusal")
    assert len(capped.concepts) == 2 and all(not c.low_margin for c in capped.concepts)


def test_weights_sum_to_one_and_order_is_by_weight_then_id(tmp_path, embedder):
    match = match_profile(make_profile([REFUSAL, EMPATHY]), LABELS, embedder=embedder, cache_dir=tmp_path)
    for fam in match.families:
        assert fam.concepts
        assert sum(c.weight for c in fam.concepts) == pytest.approx(1.0, abs=1e-5)
        keys = [(-c.weight, c.concept_id) for c in fam.concepts]
        assert keys == sorted(keys)
    assert set(match.weights()) == {"refusal", "empathy"}
    wm = match.weight_matrix()
    assert wm.shape == (2, len(LABELS)) and np.allclose(wm.sum(axis=1), 1.0, atol=1e-5)


def test_threshold_and_top_k_and_overrides(tmp_path, embedder):
    base = match_profile(make_profile([REFUSAL], threshold=0.0, top_k=20, low_margin="flag"), LABELS,
                         embedder=embedder, cache_dir=tmp_path).family("refusal")
    fam = make_profile([REFUSAL]).families[0]
    sims = family_similarity(embedder.embed(family_texts(fam)), embedder.embed([label_text(x) for x in LABELS]))
    expected = {c for c, label in enumerate(LABELS) if label and sims[c] >= 0}
    assert {c.concept_id for c in base.concepts} == expected and 7 not in expected
    assert all(c.similarity == pytest.approx(sims[c.concept_id], abs=1e-5) for c in base.concepts)
    capped = match_profile(make_profile([REFUSAL], threshold=0.0, top_k=3, low_margin="flag"), LABELS,
                           embedder=embedder, cache_dir=tmp_path).family("refusal")
    top3 = sorted(base.concepts, key=lambda c: (-c.similarity, c.concept_id))[:3]
    assert [c.concept_id for c in sorted(capped.concepts, key=lambda c: c.concept_id)] == \
        sorted(c.concept_id for c in top3)
    # per-family overrides win over the profile's settings
    family = {**REFUSAL, "threshold": 0.6, "top_k": 1}
    fam = match_profile(make_profile([family], threshold=0.0, top_k=20), LABELS,
                        embedder=embedder, cache_dir=tmp_path).family("refusal")
    assert (fam.threshold, fam.top_k) == (0.6, 1)
    assert len(fam.concepts) == 1 and fam.concepts[0].similarity >= 0.6


def test_include_pins_and_exclude_removes(tmp_path, embedder):
    family = {**REFUSAL, "include": [10], "exclude": [0, 1]}
    fam = match_profile(make_profile([family], top_k=2, low_margin="flag"), LABELS, embedder=embedder,
                        cache_dir=tmp_path).family("refusal")
    by_id = {c.concept_id: c for c in fam.concepts}
    assert 0 not in by_id and 1 not in by_id
    assert by_id[10].source == "pinned" and not by_id[10].low_margin
    assert len([c for c in fam.concepts if c.source != "pinned"]) == 2  # pins come on top of top_k
    assert sum(c.weight for c in fam.concepts) == pytest.approx(1.0, abs=1e-5)
    # a pinned concept is kept even when nothing else matches
    lonely = match_profile(make_profile([{**CHEMISTRY, "include": [7]}]), LABELS, embedder=embedder,
                           cache_dir=tmp_path).family("chemistry")
    assert [(c.concept_id, c.source, c.weight) for c in lonely.concepts] == [(7, "pinned", 1.0)]


def test_pins_outside_the_dictionary_name_the_key(tmp_path, embedder):
    profile = make_profile([REFUSAL, {**EMPATHY, "exclude": [3, 99]}])
    with pytest.raises(SpecError) as err:
        match_profile(profile, LABELS, embedder=embedder, cache_dir=tmp_path)
    assert err.value.key == "families[1].exclude[1]" and "0..13" in str(err.value)


def test_family_without_match_is_reported_not_dropped(tmp_path, embedder):
    match = match_profile(make_profile([REFUSAL, CHEMISTRY]), LABELS, embedder=embedder, cache_dir=tmp_path)
    assert [f.family for f in match.families] == ["refusal", "chemistry"]
    chem = match.family("chemistry")
    assert not chem.matched and chem.concepts == [] and match.unmatched == ["chemistry"]
    assert len(chem.nearest) == 3 and all(n.similarity < chem.threshold for n in chem.nearest)
    assert match.weights()["chemistry"] == {}


def _keyword_activations(n_concepts):
    """Activations of an imagined dictionary: concepts 2 and 3 fire on apologies, 13 on everything."""
    def activations(texts):
        rows = np.zeros((len(texts), n_concepts), dtype=np.float32)
        for i, text in enumerate(texts):
            low = text.lower()
            rows[i, 13] = 1.0
            if "sorry" in low or "apolog" in low:
                rows[i, 2] = 2.5
                rows[i, 3] = 2.5
            if "delay" in low:
                rows[i, 10] = 5.0  # strong, but on one exemplar only
        return sp.csr_matrix(rows)
    return activations


def test_exemplar_signal_adds_specific_concepts(tmp_path, embedder):
    reference = np.full(len(LABELS), 0.5)
    profile = make_profile([REFUSAL, EMPATHY])
    match = match_profile(profile, LABELS, embedder=embedder, cache_dir=tmp_path,
                          exemplar_activations=_keyword_activations(len(LABELS)), reference_mean=reference)
    fam = match.family("empathy")
    assert fam.exemplar_signal and not match.family("refusal").exemplar_signal
    by_id = {c.concept_id: c for c in fam.concepts}
    # concepts 2 and 3 fire on all 3 exemplars at 5x their base rate; the label of 2 matches too,
    # that of 3 ("a statement of regret", similarity 0.28) stays below the threshold
    assert by_id[2].source == "both" and by_id[3].source == "exemplar"
    assert by_id[3].similarity < fam.threshold
    assert by_id[3].specificity == pytest.approx(5.0, rel=1e-2) and by_id[3].exemplars_active == 3
    # concept 10 fires hard on a single exemplar only; concept 13 fires everywhere at its base rate
    assert 10 not in by_id and 13 not in by_id
    assert sum(c.weight for c in fam.concepts) == pytest.approx(1.0, abs=1e-5)
    # "both" concepts outweigh label-only ones of the same similarity
    assert by_id[2].weight == max(c.weight for c in fam.concepts)
    assert by_id[2].weight > by_id[6].weight and by_id[6].source == "label"
    # the score is similarity + exemplar_weight x (1 - 1/specificity)
    assert match.exemplar_weight == 0.2
    assert by_id[3].score == pytest.approx(by_id[3].similarity + 0.2 * (1 - 1 / 5.0), abs=1e-3)
    assert by_id[6].score == by_id[6].similarity
    # an unlabelled concept has similarity 0: it comes in through its activations only when the
    # exemplar weight lets its bonus alone reach the threshold
    reference[7] = 0.01
    def with_dead(texts):
        rows = _keyword_activations(len(LABELS))(texts).toarray()
        rows[:, 7] = 1.0
        return rows
    fam = match_profile(profile, LABELS, embedder=embedder, cache_dir=tmp_path,
                        exemplar_activations=with_dead, reference_mean=reference).family("empathy")
    assert 7 not in {c.concept_id for c in fam.concepts}
    heavy = make_profile([REFUSAL, EMPATHY], exemplar_weight=1.0)
    fam = match_profile(heavy, LABELS, embedder=embedder, cache_dir=tmp_path,
                        exemplar_activations=with_dead, reference_mean=reference).family("empathy")
    dead = {c.concept_id: c for c in fam.concepts}[7]
    assert dead.source == "exemplar" and dead.label == "" and dead.similarity == 0.0
    assert dead.margin is None and not dead.low_margin and dead.score == pytest.approx(0.99, abs=1e-3)


def test_exemplar_signal_needs_reference_means_and_can_be_switched_off(tmp_path, embedder):
    fn = _keyword_activations(len(LABELS))
    match = match_profile(make_profile([EMPATHY]), LABELS, embedder=embedder, cache_dir=tmp_path,
                          exemplar_activations=fn)
    assert not match.family("empathy").exemplar_signal and "no reference means" in match.warnings[0]
    match = match_profile(make_profile([EMPATHY], use_exemplars=False), LABELS, embedder=embedder,
                          cache_dir=tmp_path, exemplar_activations=fn, reference_mean=np.ones(len(LABELS)))
    assert not match.family("empathy").exemplar_signal and match.warnings == []


# ---------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------


def test_calibration_set_is_large_and_covers_every_family_and_kind():
    pairs = load_pairs(FIXTURES / "calibration.jsonl")
    profile = load_profile(FIXTURES / "calibration_profile.yaml")
    assert len(pairs) >= 150
    assert {p.family for p in pairs} == {f.id for f in profile.families}
    assert {p.kind for p in pairs} == {"positive", "opposite", "lexical", "same_topic", "unrelated"}
    assert all(p.fits == (p.kind == "positive") for p in pairs)
    assert len({(p.family, p.label) for p in pairs}) == len(pairs)
    cal, held = split_pairs(pairs)
    assert split_pairs(list(reversed(pairs))) == (cal, held)
    assert abs(len(cal) - len(held)) <= len(profile.families)
    assert {p.family for p in cal} == {p.family for p in held} == {f.id for f in profile.families}


@pytest.mark.slow  # embeds the 321 calibration pairs: minutes on 2 cores
def test_calibrated_threshold_is_the_default_and_holds_out(embedder):
    profile = load_profile(FIXTURES / "calibration_profile.yaml")
    cal, held = split_pairs(load_pairs(FIXTURES / "calibration.jsonl"))
    s_cal, _ = score_pairs(profile, cal, embedder)
    s_held, m_held = score_pairs(profile, held, embedder)
    best = choose_threshold(s_cal, np.array([p.fits for p in cal]))
    # the fallback for dictionaries without a calibration of their own
    assert MatchingSettings().threshold is None and best.threshold == FALLBACK_THRESHOLD
    assert best.f1 >= 0.82
    held_out = evaluate(s_held, np.array([p.fits for p in held]), best.threshold)
    # measured: precision 0.733, recall 0.887, F1 0.803
    assert held_out.f1 >= 0.78 and held_out.precision >= 0.70 and held_out.recall >= 0.85
    # the opposites guard: most held-out opposites have a negative margin, few fitting labels do
    kinds = np.array([p.kind for p in held])
    ok = ~np.isnan(m_held)
    assert (m_held[ok & (kinds == "opposite")] < 0).mean() >= 0.75
    assert (m_held[ok & (kinds == "positive")] < 0).mean() <= 0.2


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def _tiny_dictionary(folder: Path, labels: list[str]) -> Path:
    sae = folder / "sae"
    sae.mkdir(parents=True)
    (sae / "cfg.json").write_text(json.dumps({"d_in": 8, "d_sae": len(labels)}))
    (sae / "sae_weights.safetensors").write_bytes(b"placeholder weights")
    (folder / "labels.jsonl").write_text(
        "".join(json.dumps({"index": i, "label": label}) + "\n" for i, label in enumerate(labels)))
    (folder / "manifest.json").write_text(json.dumps(
        {"name": "tiny", "hook_layer": 1, "model": "tiny-model", "model_sha256": "0" * 64}))
    return folder


def test_match_cli_prints_every_family(tmp_path, capsys, embedder):
    """``cg-gov match`` through the real command-line parser, on a small dictionary."""
    dictionary = _tiny_dictionary(tmp_path / "dict", LABELS)
    profile_file = tmp_path / "profile.yaml"
    profile_file.write_text(
        "profile: demo\nversion: '1'\nowner: tests\ndescription: cli test\nfamilies:\n"
        f"  - {json.dumps(REFUSAL)}\n  - {json.dumps(CHEMISTRY)}\n"
        "matching: {method: similarity, low_margin: drop, margin_warning: 0.0}\n")
    cache = str(tmp_path / "cache")
    assert cli_main(["match", str(profile_file), "--dictionary", str(dictionary), "--no-exemplars",
                      "--cache-dir", cache]) == 0
    text = capsys.readouterr().out
    assert "refusal" in text and "refusing a request politely" in text
    assert "set aside, may mean the opposite: 1 'complying with a request'" in text
    assert "settings: threshold default (no calibration for this dictionary)" in text
    chem = text[text.index("chemistry"):]
    assert NO_MATCH_MESSAGE in chem and "closest below the threshold (score)" in chem
    assert "not visible in this dictionary: chemistry" in text

    assert cli_main(["match", str(profile_file), "--dictionary", str(dictionary), "--json", "--no-exemplars",
                      "--cache-dir", cache]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["family"] for f in data["families"]] == ["refusal", "chemistry"]
    assert data["families"][1]["concepts"] == [] and data["dictionary_identity"]


@pytest.mark.slow
def test_exemplar_signal_through_the_real_language_model(tmp_path, small_dictionary, embedder):
    """Exemplars run through the embedded model and a (random, unlabelled) SAE."""
    from cg_gov.engine import concept_activations

    def activations(texts):
        return concept_activations(texts, small_dictionary, cache_dir=tmp_path / "acts", progress=False)

    reference = activations(["The weather is mild today.", "Add two cups of flour.",
                             "The train leaves at noon.", "Cats sleep most of the day."])
    reference_mean = np.asarray(reference.mean(axis=0)).ravel()
    profile = make_profile([EMPATHY, CHEMISTRY])
    kwargs = dict(embedder=embedder, cache_dir=tmp_path, exemplar_activations=activations,
                  reference_mean=reference_mean, min_specificity=1.5,
                  defaults={"threshold": 0.25, "exemplar_weight": 1.0})
    first = match_profile(profile, small_dictionary.labels, **kwargs)
    assert first.calibration == ("threshold calibrated for the dictionary; "
                                 "exemplar_weight calibrated for the dictionary")
    fam = first.family("empathy")
    assert fam.exemplar_signal and not first.family("chemistry").exemplar_signal
    assert fam.concepts and all(c.source == "exemplar" and c.label == "" for c in fam.concepts)
    assert all(c.specificity >= 1.5 and c.exemplars_active >= 2 for c in fam.concepts)
    assert sum(c.weight for c in fam.concepts) == pytest.approx(1.0, abs=1e-5)
    assert match_profile(profile, small_dictionary.labels, **kwargs).model_dump() == first.model_dump()


# ---------------------------------------------------------------------------
# Calibration on the bundled dictionary
# ---------------------------------------------------------------------------

PROFILES = Path(__file__).resolve().parents[1] / "specs" / "profiles"


def _bundled_labels() -> list[str]:
    path = Path(__file__).resolve().parents[1] / "cg_gov" / "data" / "dictionary" / "default" / "labels.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["label"] for r in sorted(rows, key=lambda r: r["index"])]


def test_dictionary_pairs_belong_to_the_bundled_dictionary_and_every_example_family():
    labels = _bundled_labels()
    pairs = load_dictionary_pairs(FIXTURES / "dictionary_pairs.jsonl")
    assigned = load_dictionary_pairs(FIXTURES / "dictionary_pairs_assigned.jsonl")
    assert len(pairs) >= 550 and sum(p.fits for p in pairs) >= 80
    for p in pairs + assigned:
        assert labels[p.concept_id] == p.label, p
        assert p.fits == (p.kind == "positive")
    keys = [(p.profile, p.family, p.concept_id) for p in pairs + assigned]
    assert len(set(keys)) == len(keys)
    families = {(prof.profile, f.id) for prof in map(load_profile, sorted(PROFILES.glob("*.yaml")))
                for f in prof.families}
    assert {(p.profile, p.family) for p in pairs} == families
    # a pair judged on another dictionary is refused, naming the fix
    wrong = [pairs[0].model_copy(update={"label": "something else"})]
    with pytest.raises(CgGovError, match="label them again"):
        score_dictionary_pairs({}, wrong, labels)


def test_leave_one_profile_out_chooses_on_the_other_profiles():
    rng = np.random.default_rng(0)
    fits = rng.random(300) < 0.3
    sims = np.where(fits, 0.6, 0.4) + rng.normal(0, 0.05, 300)
    bonus = np.zeros(300)
    profiles = np.repeat(["a", "b", "c"], 100)
    out = leave_one_profile_out(sims, bonus, fits, profiles, (0.0, 0.5))
    assert set(out["folds"]) == {"a", "b", "c"}
    assert all(0.4 < f["threshold"] < 0.6 and f["exemplar_weight"] == 0.0 for f in out["folds"].values())
    assert out["pooled"]["f1"] > 0.9 and out["pooled"]["n"] == 300
    w, m = choose_operating_point(sims, bonus + fits * 0.5, fits, (0.0, 0.5))
    assert w == 0.5 and m.f1 == 1.0  # a bonus that separates the classes is taken


@pytest.mark.slow
def test_bundled_dictionary_calibration_is_what_ships():
    """The operating point in the bundled dictionary's manifest is the one its judged pairs choose,
    and it holds on profiles it was not chosen on."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import matching_dictionary
    finally:
        sys.path.pop(0)
    out = matching_dictionary.run(FIXTURES / "dictionary_pairs.jsonl", FIXTURES / "dictionary_pairs_assigned.jsonl")
    assert out["shipped_defaults"]["matches_choice"], out["chosen_on_all_pairs"]
    held = out["leave_one_profile_out"]["pooled"]
    no_exemplars = out["leave_one_profile_out_without_exemplars"]["pooled"]
    # measured (float32 exemplar activations): precision 0.57, recall 0.43, F1 0.49; without the exemplar
    # bonus F1 0.44
    assert held["precision"] >= 0.48 and held["f1"] >= 0.42
    assert held["f1"] > no_exemplars["f1"]
    readings = out["readings_ablation"]
    assert readings["label+contexts+tokens"]["auc_similarity"] > readings["label"]["auc_similarity"]
    totals = out["matcher_at_defaults"]["totals"]
    # every concept the matcher assigns with the shipped settings has been judged
    assert totals["not_judged"] == 0 and totals["precision_of_judged"] >= 0.45  # measured 0.483


def test_concepts_are_read_by_label_contexts_and_tokens(tmp_path, embedder):
    labels = ["note: a short personal letter", "note: a short personal letter", ""]
    info = [{"examples": ["I am so [sorry] for the delay.", "We [apologize] for the trouble."],
             "top_tokens": ["sorry", "apologize"]},
            {"examples": ["Add two cups of [flour].", "Bake the [bread] for an hour."], "top_tokens": ["flour"]},
            {"examples": ["ignored: the concept has no label"], "top_tokens": ["x"]}]
    vectors = concept_readings(embedder, labels, info, cache_dir=tmp_path)
    assert len(vectors) == 3 and all(v.shape == (3, embedder.dim) for v in vectors)
    assert all(not v[2].any() for v in vectors)  # an unlabelled concept has no reading at all
    # contexts are embedded without the peak-token brackets, averaged and normalised, and cached
    expected = embedder.embed(["I am so sorry for the delay.", "We apologize for the trouble."]).astype(np.float64)
    expected = expected.sum(axis=0) / np.linalg.norm(expected.sum(axis=0))
    assert np.allclose(vectors[1][0], expected, atol=1e-5)
    cached = list((tmp_path / "label_embeddings").glob("*-contexts-*.npy"))
    assert len(cached) == 1
    again = embedder.embed_contexts([[t.replace("[", "").replace("]", "") for t in row["examples"]] if label else []
                                     for label, row in zip(labels, info)], cache_dir=tmp_path)
    assert np.array_equal(again, vectors[1].astype(np.float32))
    # same labels, but the contexts tell the two concepts apart
    profile = make_profile([EMPATHY])
    plain = profile_signals(profile, labels, embedder=embedder, cache_dir=tmp_path).families["empathy"]
    read = profile_signals(profile, labels, embedder=embedder, cache_dir=tmp_path,
                           concept_info=info).families["empathy"]
    assert plain.similarity[0] == plain.similarity[1]
    assert read.similarity[0] > read.similarity[1] + 0.2
    assert read.similarity[2] == plain.similarity[2] == 0.0
    with pytest.raises(ValueError, match="unknown readings"):
        concept_readings(embedder, labels, info, readings=("label", "gloss"))


@pytest.mark.slow
def test_match_cli_on_the_bundled_dictionary_with_exemplars(tmp_path, capsys):
    """``cg-gov match`` as the README runs it: the bundled dictionary with its calibrated settings,
    the families' exemplars through the embedded language model, the real embedder."""
    from cg_gov.dictionary import load_dictionary

    profile_file = Path(__file__).resolve().parents[1] / "specs" / "profiles" / "customer-support.yaml"
    cache = str(tmp_path / "cache")
    assert cli_main(["match", str(profile_file), "--json", "--cache-dir", cache]) == 0
    data = json.loads(capsys.readouterr().out)
    dictionary = load_dictionary("default")
    defaults = dictionary.matching_defaults
    assert data["dictionary_identity"] == dictionary.identity and data["n_concepts"] == 4096
    assert data["threshold"] == defaults["threshold"] and data["exemplar_weight"] == defaults["exemplar_weight"]
    assert "threshold calibrated for the dictionary" in data["calibration"], data["calibration"]
    assert [f["family"] for f in data["families"]] == [f.id for f in load_profile(profile_file).families]
    assert all(f["exemplar_signal"] for f in data["families"])   # every family has exemplars, all ran
    concepts = [c for f in data["families"] for c in f["concepts"]]
    assert concepts
    for c in concepts:
        assert dictionary.labels[c["concept_id"]] == c["label"]

    assert cli_main(["match", str(profile_file), "--cache-dir", cache]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"profile {data['profile']}") and f"threshold {defaults['threshold']:.2f}" in text
    assert all(f["family"] in text for f in data["families"])
