"""Scorer checks: reading human verdicts (located errors) and their agreement with a scorer."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from cg_gov.errors import CgGovError
from cg_gov.evals import read_scorer_check, scorer_agreement
from cg_gov.evals._scorer_check import wilson_interval

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str | bytes, name: str = "check.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading

def test_reads_verdicts_with_notes_quotes_multiline_and_bom(tmp_path):
    path = _write(tmp_path, "\ufeffitem_id,verdict,note\n"
                            "a-1,1,declines\n"
                            "\n"
                            'a-2,0,"Sure, gives steps"\n'
                            'a-3, 1 ,"two\nlines"\n'
                            "a-4,0,\n")
    assert read_scorer_check(path) == {"a-1": 1, "a-2": 0, "a-3": 1, "a-4": 0}


def test_note_column_is_optional_and_column_order_free(tmp_path):
    assert read_scorer_check(_write(tmp_path, "verdict,item_id\n1,x\n0,y\n")) == {"x": 1, "y": 0}


@pytest.mark.parametrize("verdict", ["2", "yes", "", "1.0", "-1"])
def test_verdict_not_0_or_1_names_line_and_key(tmp_path, verdict):
    path = _write(tmp_path, f"item_id,verdict,note\na,1,\nb,{verdict},x\n")
    with pytest.raises(CgGovError) as exc:
        read_scorer_check(path)
    assert exc.value.file == str(path) and exc.value.line == 3 and exc.value.key == "verdict"
    assert "'b'" in str(exc.value)


def test_duplicate_id_names_both_lines(tmp_path):
    path = _write(tmp_path, 'item_id,verdict,note\na,1,"multi\nline note"\nb,0,\na,0,\n')
    with pytest.raises(CgGovError) as exc:
        read_scorer_check(path)
    assert exc.value.line == 5 and exc.value.key == "item_id"
    assert "given twice (first on line 2)" in str(exc.value)


def test_missing_column_and_empty_id_are_located(tmp_path):
    with pytest.raises(CgGovError) as exc:
        read_scorer_check(_write(tmp_path, "id,verdict\na,1\n"))
    assert exc.value.line == 1 and exc.value.key == "item_id"
    with pytest.raises(CgGovError) as exc:
        read_scorer_check(_write(tmp_path, "item_id,label\na,1\n", "b.csv"))
    assert exc.value.key == "verdict"
    with pytest.raises(CgGovError) as exc:
        read_scorer_check(_write(tmp_path, "item_id,verdict\na,1\n ,0\n", "c.csv"))
    assert exc.value.line == 3 and exc.value.key == "item_id"


def test_no_rows_bad_bytes_missing_folder_and_size_cap(tmp_path, monkeypatch):
    with pytest.raises(CgGovError, match="no verdicts"):
        read_scorer_check(_write(tmp_path, "item_id,verdict\n\n"))
    with pytest.raises(CgGovError) as exc:
        read_scorer_check(_write(tmp_path, b"item_id,verdict\na,1\nb\xff,0\n", "bytes.csv"))
    assert exc.value.line == 3 and "UTF-8" in str(exc.value)
    with pytest.raises(CgGovError, match="not found"):
        read_scorer_check(tmp_path / "absent.csv")
    with pytest.raises(CgGovError, match="a folder"):
        read_scorer_check(tmp_path)
    monkeypatch.setenv("CG_GOV_MAX_SPEC_BYTES", "10")
    with pytest.raises(CgGovError, match="over the limit"):
        read_scorer_check(_write(tmp_path, "item_id,verdict\na,1\n", "big.csv"))


def test_shipped_scorer_checks_read_with_60_verdicts_each():
    root = REPO / "data" / "demo" / "scorer_checks"
    files = sorted(root.glob("*/*.csv"))
    assert len(files) == 6
    for path in files:
        verdicts = read_scorer_check(path)
        assert len(verdicts) == 60, path
        assert set(verdicts.values()) <= {0, 1}


# --------------------------------------------------------------------------- agreement

def _wilson_by_bisection(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson interval as its definition: the p whose score test does not reject k/n."""
    def inside(p):
        return abs(k / n - p) <= z * math.sqrt(p * (1 - p) / n)

    def edge(lo, hi):  # inside(lo) != inside(hi)
        for _ in range(100):
            mid = (lo + hi) / 2
            if inside(mid) == inside(lo):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    return edge(1e-12, k / n), edge(k / n, 1 - 1e-12)


@pytest.mark.parametrize("k,n", [(35, 50), (58, 60), (1, 60), (30, 60)])
def test_wilson_interval_matches_its_definition(k, n):
    lo, hi = wilson_interval(k, n)
    ref_lo, ref_hi = _wilson_by_bisection(k, n)
    assert lo == pytest.approx(ref_lo, abs=1e-9) and hi == pytest.approx(ref_hi, abs=1e-9)


def test_wilson_interval_at_the_bounds():
    lo, hi = wilson_interval(60, 60)
    assert hi == pytest.approx(1.0) and 0.93 < lo < 0.95
    lo, hi = wilson_interval(0, 60)
    assert lo == pytest.approx(0.0) and 0.05 < hi < 0.07


def _table(both1: int, h1s0: int, h0s1: int, both0: int) -> tuple[dict[str, int], dict[str, float]]:
    human, scores = {}, {}
    cells = [(1, 1, both1), (1, 0, h1s0), (0, 1, h0s1), (0, 0, both0)]
    for h, s, count in cells:
        for _ in range(count):
            key = f"i{len(human)}"
            human[key], scores[key] = h, float(s)
    return human, scores


def test_agreement_and_kappa_of_a_known_table():
    # po = 35/50 = 0.7; p(human 1) = 0.5, p(scorer 1) = 0.6; pe = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.4
    human, scores = _table(20, 5, 10, 15)
    out = scorer_agreement(human, scores)
    assert out["n"] == 50 and out["n_missing"] == 0
    assert out["agreement"] == pytest.approx(0.7)
    assert out["agreement_ci"] == pytest.approx(wilson_interval(35, 50))
    assert out["kappa"] == pytest.approx(0.4)
    lo, hi = out["kappa_ci"]
    assert lo < 0.4 < hi and 0.1 < lo and hi < 0.7
    assert scorer_agreement(human, scores) == out  # seeded


def test_chance_level_scorer_has_kappa_near_zero_and_inverse_is_negative():
    human, scores = _table(10, 10, 10, 10)
    assert scorer_agreement(human, scores)["kappa"] == pytest.approx(0.0)
    human, scores = _table(0, 25, 25, 0)
    out = scorer_agreement(human, scores)
    assert out["agreement"] == 0.0 and out["kappa"] == pytest.approx(-1.0)


def test_missing_scores_are_counted_and_extra_scores_ignored():
    human = {"a": 1, "b": 0, "c": 1, "d": 0}
    scores = {"a": 1, "b": 0, "x": 1, "y": 0.0}
    out = scorer_agreement(human, scores)
    assert out["n"] == 2 and out["n_missing"] == 2 and out["agreement"] == 1.0


def test_constant_raters_have_undefined_kappa():
    human = {f"i{k}": 1 for k in range(30)}
    out = scorer_agreement(human, {k: True for k in human})
    assert out["agreement"] == 1.0 and out["kappa"] is None and out["kappa_ci"] is None
    # one rater constant, the other not: kappa is 0 (agreement no better than chance)
    scores = {k: (0 if k == "i0" else 1) for k in human}
    assert scorer_agreement(human, scores)["kappa"] == pytest.approx(0.0)


def test_bad_scores_and_no_overlap_are_errors():
    with pytest.raises(CgGovError, match="not 0 or 1") as exc:
        scorer_agreement({"a": 1}, {"a": 0.5})
    assert exc.value.key == "a"
    with pytest.raises(CgGovError, match="none of the 1 labelled items"):
        scorer_agreement({"a": 1}, {"b": 1})
