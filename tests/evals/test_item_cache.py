"""The cache of read eval logs: same bytes and options -> the same items, never items it did not write."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cg_gov.evals import read_benchmark
from cg_gov.evals._cache import ItemCache, log_sha256


@pytest.fixture
def log(tmp_path, monkeypatch):
    monkeypatch.setenv("CG_GOV_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "input": f"question {i}", "score": i % 2}) + "\n"
                            for i in range(5)))
    return path


def _entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "evals").glob("*.json"))


def test_a_second_read_comes_from_the_cache_and_equals_the_first(log, tmp_path):
    first = read_benchmark(name="b", log=log, format="jsonl")
    (entry,) = _entries(tmp_path)
    second = read_benchmark(name="b", log=log, format="jsonl")
    assert second == first
    # the entry is what was served: an entry re-signed with other items would be served too,
    # so check the other way round: a tampered body (MAC not matching) is never served
    raw = entry.read_bytes()
    mac, _, body = raw.partition(b"\n")
    entry.write_bytes(mac + b"\n" + body.replace(b"question 1", b"poisoned 1"))
    third = read_benchmark(name="b", log=log, format="jsonl")
    assert third == first and all("poisoned" not in it.input for it in third)


def test_changed_bytes_or_options_read_the_log_again(log, tmp_path):
    first = read_benchmark(name="b", log=log, format="jsonl")
    log.write_text(log.read_text().replace("question 0", "question zero"))
    changed = read_benchmark(name="b", log=log, format="jsonl")
    assert changed[0].input == "question zero" and changed[1:] == first[1:]
    renamed = read_benchmark(name="other", log=log, format="jsonl")
    assert {it.benchmark for it in renamed} == {"other"}
    assert len(_entries(tmp_path)) == 3


def test_a_short_key_is_replaced_and_nothing_written_under_it_is_trusted(log, tmp_path):
    read_benchmark(name="b", log=log, format="jsonl")
    key = tmp_path / "cache" / "evals" / ".key"
    key.write_bytes(b"")  # a key cut short (a full disk while it was written)
    cache = ItemCache(tmp_path / "cache" / "evals")
    assert cache.secret is not None and len(cache.secret) == 32 and key.read_bytes() == cache.secret
    (entry,) = _entries(tmp_path)
    assert cache.load(entry.stem) is None  # signed under the old key
    assert read_benchmark(name="b", log=log, format="jsonl")[0].input == "question 0"


def test_log_sha256_of_a_folder_covers_names_and_bytes(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "x.jsonl").write_text("1")
    before = log_sha256(a)
    (a / "x.jsonl").rename(a / "y.jsonl")
    assert log_sha256(a) != before
