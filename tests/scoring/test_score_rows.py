"""The seam between scoring and findings: typed rows over declared columns, and a renamed column
that fails loudly at the boundary instead of reading as None."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from test_scoring import make_suite  # tests/ is on the path (its conftest.py)

from cg_gov.errors import CgGovError
from cg_gov.findings._derive import ranked_by_lift
from cg_gov.scoring import (
    BENCHMARK_COLUMNS,
    CONCEPT_COLUMNS,
    FAMILY_MASS_COLUMNS,
    REFERENCE_COLUMNS,
    ConceptScoreRow,
    family_mass_rows,
    score_concepts,
    score_families,
)


@pytest.fixture(scope="module")
def scored():
    abar, scores, bench, reference = make_suite(3, n=80, n_cols=6)
    cs = score_concepts(abar, scores, bench, reference=reference, n_min=3, min_benchmarks=1, n_bootstrap=30)
    fs = score_families(abar, scores, bench, {"f": {1: 1.0, 2: 0.5}, "g": {3: 1.0}}, reference=reference,
                        n_min=3, n_bootstrap=30)
    bare = score_concepts(abar, scores, bench, n_min=3, min_benchmarks=1, n_bootstrap=0)
    return cs, fs, bare


def test_scoring_writes_every_declared_column(scored):
    cs, fs, bare = scored
    assert set(CONCEPT_COLUMNS + REFERENCE_COLUMNS) <= set(cs.overall.columns)
    assert set(BENCHMARK_COLUMNS) <= set(cs.benchmarks.columns)
    assert set(FAMILY_MASS_COLUMNS) <= set(fs.columns)
    assert cs.has_reference and not bare.has_reference
    assert not set(REFERENCE_COLUMNS) & set(bare.overall.columns)


def test_a_typed_row_holds_the_frame_values(scored):
    cs, fs, bare = scored
    for c in cs.overall.index:
        row = cs.concept(int(c))
        assert isinstance(row, ConceptScoreRow) and row.concept_id == int(c)
        for name in CONCEPT_COLUMNS + REFERENCE_COLUMNS:
            want, got = cs.overall.at[c, name], getattr(row, name)
            assert got == want or (isinstance(want, float) and math.isnan(want) and math.isnan(got)), name
    assert bare.concept(0).coverage_ratio is None and bare.concept(0).representation is None
    for name in cs.benchmarks.index:
        b = cs.benchmark(name)
        assert (b.n_items, b.n_scored) == (cs.benchmarks.at[name, "n_items"], cs.benchmarks.at[name, "n_scored"])
    rows = family_mass_rows(fs, reference=True)
    assert sorted(rows) == ["f", "g"]
    assert rows["f"].coverage == fs.at["f", "coverage"] and rows["g"].suite_mean == fs.at["g", "suite_mean"]
    assert family_mass_rows(fs, reference=False) == {}


@pytest.mark.parametrize("column", CONCEPT_COLUMNS + REFERENCE_COLUMNS)
def test_a_renamed_concept_column_fails_at_the_boundary(scored, column):
    cs, _, _ = scored
    renamed = cs.overall.rename(columns={column: column + "_renamed"})
    with pytest.raises(CgGovError) as err:
        dataclasses.replace(cs, overall=renamed)
    assert err.value.key == f"ConceptScores.overall.{column}"
    assert repr(column) in err.value.message


@pytest.mark.parametrize("column", BENCHMARK_COLUMNS)
def test_a_renamed_benchmark_column_fails_at_the_boundary(scored, column):
    cs, _, _ = scored
    with pytest.raises(CgGovError) as err:
        dataclasses.replace(cs, benchmarks=cs.benchmarks.rename(columns={column: "x"}))
    assert err.value.key == f"ConceptScores.benchmarks.{column}"


@pytest.mark.parametrize("column", FAMILY_MASS_COLUMNS)
def test_a_renamed_family_column_fails_at_the_boundary(scored, column):
    _, fs, _ = scored
    with pytest.raises(CgGovError) as err:
        family_mass_rows(fs.rename(columns={column: column + "_renamed"}), reference=True)
    assert err.value.key == f"score_families.{column}"


def test_ranked_by_lift_refuses_a_frame_without_its_columns(scored):
    cs, _, _ = scored
    labels = [f"c{i}" for i in range(len(cs.overall))]
    assert ranked_by_lift(cs.overall, labels, 1, 0.5) == ranked_by_lift(cs.overall.copy(), labels, 1, 0.5)
    with pytest.raises(CgGovError) as err:  # it used to answer ([], []) here
        ranked_by_lift(cs.overall.rename(columns={"lift_q": "q"}), labels, 1, 0.5)
    assert err.value.key == "ConceptScores.overall.lift_q"


def test_every_scoring_bound_is_the_settings_bound():
    """The scoring functions refuse exactly what ScoringSettings refuses, keyed by their keyword."""
    from cg_gov.spec import ScoringSettings

    abar, scores, bench, reference = make_suite(1, n=40, n_cols=4)
    keyword = {"bootstrap": "n_bootstrap"}
    checked = 0
    for field, info in ScoringSettings.model_fields.items():
        if field == "seed":
            continue  # not an option score_concepts checks
        key = keyword.get(field, field)
        assert ScoringSettings.field_of(key) == field
        for meta in info.metadata:
            for bound, outside in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
                edge = getattr(meta, bound, None)
                if edge is None:
                    continue
                value = edge - 1 if bound == "ge" else edge if bound in ("gt", "lt") else edge + 1
                with pytest.raises(CgGovError) as err:
                    score_concepts(abar, scores, bench, reference=reference, **{"n_bootstrap": 2, key: value})
                assert err.value.key == key, (field, bound, value)
                checked += 1
    assert checked >= 9
    for key, value in (("ratio_k", np.inf), ("alpha", np.nan), ("lift_p_method", "exact")):
        with pytest.raises(CgGovError) as err:
            score_concepts(abar, scores, bench, **{"n_bootstrap": 2, key: value})
        assert err.value.key == key


@pytest.mark.slow
def test_an_audit_whose_scoring_renames_a_column_stops_naming_it(monkeypatch, tmp_path, capsys):
    """The demo audit, in process, with score_families' ``coverage`` column renamed on its way out: the
    audit stops with an error naming the column and writes no findings (before the typed rows, the
    family's mass ratio silently became None)."""
    import cg_gov.scoring
    from cg_gov.cli import main

    real = cg_gov.scoring.score_families

    def renamed(*args, **kwargs):
        return real(*args, **kwargs).rename(columns={"coverage": "mass_coverage"})

    monkeypatch.setattr(cg_gov.scoring, "score_families", renamed)
    demo = Path(__file__).resolve().parents[2] / "specs" / "audits" / "demo.yaml"
    out = tmp_path / "out"
    code = main(["audit", str(demo), "--out", str(out), "--now", "2026-12-02T12:00:00Z"])
    err = capsys.readouterr().err
    assert code not in (0, 1)  # 1 is the demo's failing gate: this is an error, not a verdict
    assert "score_families has no column 'coverage'" in err
    assert not (out / "findings.json").exists()
