"""Concept embeddings shipped with a dictionary: read when their names and hashes match, never
when a file was altered; the bundled dictionary ships them for every reading the matcher uses."""
from __future__ import annotations

import json

import numpy as np

from cg_gov.dictionary import load_dictionary
from cg_gov.matching import concept_readings, get_embedder, ship_embeddings

LABELS = ["refund requests", "", "greetings and thanks"]
INFO = [{"examples": ["I want my [money] back", "please refund the order"], "top_tokens": ["refund", "money"]},
        {},
        {"examples": ["hello there", "thanks a [lot]"], "top_tokens": ["hello", "thanks"]}]


def _written(root):
    folder = root / "label_embeddings"
    return sorted(p.name for p in folder.glob("*.npy")) if folder.exists() else []


def test_shipped_embeddings_are_read_when_their_hash_matches(tmp_path):
    emb = get_embedder(None)
    computed = concept_readings(emb, LABELS, INFO, cache_dir=tmp_path / "a")
    files = sorted((tmp_path / "a" / "label_embeddings").glob("*.npy"))
    assert len(files) == 3                                    # label, contexts, tokens
    index = ship_embeddings(files, tmp_path / "ship", emb.identity)
    assert set(index["files"]) == {f.name for f in files}
    # read from the shipped folder: nothing embedded, nothing written to the cache
    shipped = concept_readings(emb, LABELS, INFO, cache_dir=tmp_path / "b", shipped=tmp_path / "ship")
    assert _written(tmp_path / "b") == []
    assert all(np.array_equal(x, y) for x, y in zip(computed, shipped))
    # an altered file is not read: the texts are embedded afresh, to the same vectors
    victim = tmp_path / "ship" / files[0].name
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    again = concept_readings(emb, LABELS, INFO, cache_dir=tmp_path / "c", shipped=tmp_path / "ship")
    assert _written(tmp_path / "c") == [files[0].name]
    assert all(np.array_equal(x, y) for x, y in zip(computed, again))
    # other texts (an edited label) never pick up a shipped file
    edited = concept_readings(emb, ["refund request", *LABELS[1:]], INFO, cache_dir=tmp_path / "d",
                              shipped=tmp_path / "ship")
    assert len(_written(tmp_path / "d")) == 1                  # the label reading; contexts and tokens match
    assert not np.array_equal(edited[0], computed[0])


def test_the_bundled_dictionary_ships_its_concept_embeddings(tmp_path):
    d = load_dictionary("default", load_reference=False)
    assert d.embeddings_dir is not None
    index = json.loads((d.embeddings_dir / "embeddings.json").read_text())
    emb = get_embedder(None)
    assert index["embedder"] == emb.identity
    # every reading the matcher takes comes from the shipped files: nothing is embedded or cached
    vectors = concept_readings(emb, d.labels, d.label_info, cache_dir=tmp_path, shipped=d.embeddings_dir)
    assert _written(tmp_path) == []
    assert len(vectors) == len(index["files"]) == 3
    assert all(v.shape == (d.n_concepts, 384) for v in vectors)
