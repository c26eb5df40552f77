"""Concept embeddings shipped with a dictionary: what the first ``match``/``audit`` would otherwise
compute for every user (the default embedder's vectors of each concept's label, top contexts and
top tokens; 24,552 contexts for the bundled dictionary, a minute or more on 2 cores).

They are written into the dictionary's ``embeddings/`` folder under the names cg_gov's cache gives
them (embedder identity + sha256 of the texts), with an index of their sha256
(:func:`cg_gov.matching.ship_embeddings`); the matcher reads them only when the name and the hash
match (:func:`cg_gov.matching.read_shipped`), and embeds afresh otherwise.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

__all__ = ["package_embeddings"]


def package_embeddings(folder: Path, *, progress: bool = True) -> dict[str, Any]:
    """Embed the concepts of the dictionary in ``folder`` with the default embedder and ship the
    vectors in ``folder/embeddings``. Returns the index written."""
    import shutil

    from cg_gov.dictionary import load_dictionary
    from cg_gov.matching import concept_readings, get_embedder, ship_embeddings

    import torch

    from cg_gov.engine import resolve_extraction
    from cg_gov.spec import ExtractionSettings

    d = load_dictionary(Path(folder), load_reference=False)
    emb = get_embedder(None)
    # the thread count the extraction would take here (measured; one per core collapses when another
    # process competes for the cores)
    threads = resolve_extraction(ExtractionSettings(dtype="float32"))[0].threads
    torch.set_num_threads(threads if isinstance(threads, int) else torch.get_num_threads())
    with tempfile.TemporaryDirectory(prefix="cg_gov-embeddings-") as tmp:
        concept_readings(emb, d.labels, d.label_info, cache_dir=tmp, progress=progress)
        files = sorted((Path(tmp) / "label_embeddings").glob("*.npy"))
        target = Path(folder) / "embeddings"
        if target.exists():
            shutil.rmtree(target)
        return ship_embeddings(files, target, emb.identity)
