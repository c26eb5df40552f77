"""Review sheets: the owner's confirmation of each family's items.

``cg-gov review SPEC`` writes one sheet per family: a stratified random sample of suite items
(detected by the family's detector, near its operating point, the rest), shuffled, with the item's
text only: no score, no model answer, no stratum, no detector score. The owner writes ``yes`` or
``no`` in the ``member`` column (does this item exercise the family?) and lists the filled sheets
under ``labels:`` in the audit spec. :func:`read_labels` reads them back, checked.

Sheet columns: ``family, benchmark, item_id, text, member``. Rows with an empty ``member`` are
skipped (not yet labelled).
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cg_gov.errors import CgGovError

__all__ = ["SHEET_COLUMNS", "REVIEW_SAMPLE", "read_labels", "review_sample", "sheet_csv", "sheet_html"]

SHEET_COLUMNS: tuple[str, ...] = ("family", "benchmark", "item_id", "text", "member")
#: Items drawn per stratum for a review sheet (detected, near the operating point, the rest).
REVIEW_SAMPLE: dict[str, int] = {"detected": 20, "near": 10, "rest": 10}
#: Characters of an item's text shown on a sheet.
SHEET_TEXT_CHARS = 2000
_YES = {"yes", "y", "1", "true"}
_NO = {"no", "n", "0", "false"}


def review_sample(strata_of: np.ndarray, *, seed: int, family: str, exclude: set[int] = frozenset(),
                  sizes: Mapping[str, int] = REVIEW_SAMPLE) -> list[int]:
    """Item indices to put on a family's sheet: a seeded random sample of each stratum (items already
    labelled left out), shuffled together so the sheet's order says nothing of the strata."""
    import hashlib

    digest = int.from_bytes(hashlib.sha256(family.encode("utf-8")).digest()[:4], "big")
    rng = np.random.default_rng(np.random.SeedSequence([seed, digest]))
    picked: list[int] = []
    for stratum, n in sizes.items():
        pool = [i for i in np.flatnonzero(strata_of == stratum).tolist() if i not in exclude]
        if pool and n > 0:
            picked.extend(int(i) for i in rng.choice(pool, size=min(n, len(pool)), replace=False))
    order = rng.permutation(len(picked))
    return [picked[i] for i in order]


def _clean(text: str) -> str:
    return " ".join(str(text).split())[:SHEET_TEXT_CHARS]


def sheet_csv(family: str, rows: Sequence[Any]) -> str:
    """The CSV of a sheet; ``rows`` are items (``benchmark``, ``id``, ``input``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SHEET_COLUMNS)
    for it in rows:
        w.writerow([family, it.benchmark, it.id, _clean(it.input), ""])
    return buf.getvalue()


def sheet_html(family: str, title: str, description: str, rows: Sequence[Any]) -> str:
    """A printable HTML view of a sheet (escaped; the CSV is what the audit reads)."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    tpl = env.from_string(
        "<!doctype html><html><head><meta charset='utf-8'><title>Review: {{ title }}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td{vertical-align:top;"
        "border-bottom:1px solid #ccc;padding:.4em}th{text-align:left}</style></head><body>"
        "<h1>Review sheet: {{ title }}</h1><p>{{ description }}</p>"
        "<p>For each item, does it exercise this family? Write yes or no in the <code>member</code> column of "
        "<code>{{ family }}.csv</code>. Judge the item's text only; scores and answers are left out on purpose.</p>"
        "<table><tr><th>#</th><th>benchmark</th><th>item</th><th>text</th><th>member</th></tr>"
        "{% for it in rows %}<tr><td>{{ loop.index }}</td><td>{{ it.benchmark }}</td><td>{{ it.id }}</td>"
        "<td>{{ clean(it.input) }}</td><td></td></tr>{% endfor %}</table></body></html>")
    return tpl.render(family=family, title=title, description=description, rows=rows, clean=_clean)


def read_labels(paths: Sequence[str | os.PathLike], families: Sequence[str],
                item_index: Mapping[tuple[str, str], int], *, spec_file: str | None = None
                ) -> dict[str, dict[int, bool]]:
    """The owner's labels: family -> {item index: member}. Every problem is an error naming the file,
    the line and the fix: an unknown family or item, a member value that is not yes/no, the same item
    labelled twice with different answers."""
    from cg_gov.io import read_bytes_limited

    known = set(families)
    out: dict[str, dict[int, bool]] = {f: {} for f in families}
    for path in paths:
        path = Path(path)
        raw = read_bytes_limited(path, "review sheet", kind="labels")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CgGovError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                             hint="save the review sheet as UTF-8 CSV") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("family", "benchmark", "item_id", "member") if c not in (reader.fieldnames or [])]
        if missing:
            raise CgGovError(f"{path}: missing column(s) {', '.join(missing)}",
                             hint="a review sheet written by `cg-gov review` has family, benchmark, item_id, "
                                  "text, member")
        for row in reader:
            line = reader.line_num
            value = (row.get("member") or "").strip().lower()
            if not value:
                continue
            fam = (row.get("family") or "").strip()
            where = f"{path}, line {line}"
            if fam not in known:
                raise CgGovError(f"{where}: family {fam!r} is not in the profile",
                                 key="family", hint=f"families: {', '.join(sorted(known))}")
            if value not in _YES | _NO:
                raise CgGovError(f"{where}: member is {value[:20]!r}", key="member",
                                 hint="write yes or no (or leave it empty if not labelled)")
            key = ((row.get("benchmark") or "").strip(), (row.get("item_id") or "").strip())
            if key not in item_index:
                raise CgGovError(f"{where}: item {key[1]!r} of benchmark {key[0]!r} is not in the suite",
                                 key="item_id", hint="the sheet must come from `cg-gov review` on this audit's suite")
            i = item_index[key]
            member = value in _YES
            if out[fam].get(i, member) != member:
                raise CgGovError(f"{where}: item {key[1]!r} of benchmark {key[0]!r} is labelled both yes and no "
                                 f"for family {fam!r}", key="member", hint="keep one answer")
            out[fam][i] = member
    return out
