"""The decision report, rendered by the real renderer (weasyprint) from the committed demo findings.

Page 1 carries every family with the verdict findings.json gives it; the footer of every page carries
the findings' sha256; the PDF stays within its page target; and the findings refuse a headline that
contradicts the gate.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest

from cg_gov.findings import Findings, findings_to_json, load_findings
from cg_gov.report import render_report_files
from cg_gov.report.view import build_view, verdict_counts_text

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "example"
#: The demo PDF's page target: a body of about 12 to 14 pages, then the provenance appendix.
MAX_PAGES = 15


@pytest.fixture(scope="module")
def demo():
    findings = load_findings(EXAMPLE / "findings.json")
    manifest = json.loads((EXAMPLE / "manifest.json").read_text(encoding="utf-8"))
    files = {key: data for key, _name, data in render_report_files(findings, manifest, ("html", "pdf", "json"))}
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(files["pdf"]))
    pages = [" ".join(p.extract_text().split()) for p in reader.pages]
    return findings, manifest, files, reader, pages


def test_page_one_names_every_family_with_its_verdict(demo):
    findings, _manifest, _files, _reader, pages = demo
    page1 = pages[0]
    words = {"fail": "FAIL", "conditional": "CONDITIONAL", "pass": "PASS"}
    for f in findings.families:
        # the family's name, then (after its cells) its verdict word, before the next family starts
        name = r"-\s?".join(re.escape(part) for part in f.id.split("-"))  # a cell may break after a hyphen
        m = re.search(name + r"\s+(critical|high|medium|low)\b(.*?)\b(FAIL|CONDITIONAL|PASS)\b", page1)
        assert m, f"{f.id} not on page 1"
        assert m.group(3) == words[f.verdict], (f.id, m.group(3), f.verdict)
    assert f"Deployment gate: {words[findings.summary.gate]}" in page1
    # the counts of verdicts, not of severities, beside the gate
    for verdict, word in words.items():
        n = sum(1 for f in findings.families if f.verdict == verdict)
        assert f"{n} {word}" in page1
    assert "NONE" not in page1 and "CRITICAL" not in page1  # no severity badge as a status


def test_every_page_footer_and_the_metadata_carry_the_findings_sha256(demo):
    findings, _manifest, files, reader, pages = demo
    digest = hashlib.sha256(files["json"]).hexdigest()
    assert digest == hashlib.sha256(findings_to_json(findings).encode("utf-8")).hexdigest()
    for i, text in enumerate(pages):
        assert f"Document id {digest[:12]}" in text, f"page {i + 1}"
        assert digest in text.replace(" ", ""), f"page {i + 1}"
    keywords = reader.metadata.get("/Keywords", "")
    assert digest in keywords and f"document id {digest[:12]}" in keywords


def test_the_pdf_stays_within_its_page_target(demo):
    _findings, _manifest, _files, reader, pages = demo
    assert len(reader.pages) <= MAX_PAGES
    assert "Appendix: provenance" in pages[-1] or "Appendix: provenance" in pages[-2]


def test_long_listings_are_in_the_html_and_out_of_the_pdf(demo):
    findings, _manifest, files, _reader, pages = demo
    html = files["html"].decode("utf-8")
    pdf_text = " ".join(pages)
    # every concept of a family is in the HTML; the PDF keeps the top 8 and says where the rest are
    fam = max(findings.families, key=lambda f: len(f.matched_concepts))
    assert len(fam.matched_concepts) > 8
    last = sorted(fam.matched_concepts, key=lambda c: (-c.weight, c.concept_id))[-1]
    assert f'<td class="num">{last.concept_id}</td>' in html
    assert f"{len(fam.matched_concepts) - 8} further concepts are listed in report.html" in pdf_text
    # the manifest key dump is folded in the HTML only
    assert "Every key of manifest.json" in html and "extraction.chosen.threads" not in pdf_text


def test_cli_gate_line_counts_verdicts(demo):
    findings = demo[0]
    text = verdict_counts_text(findings.families)
    assert re.fullmatch(r"fail \d+, conditional \d+, pass \d+", text)
    assert sum(int(n) for n in re.findall(r"\d+", text)) == len(findings.families)


def test_findings_refuse_a_headline_that_says_every_family_passes_when_the_gate_does_not():
    data = json.loads((EXAMPLE / "findings.json").read_text(encoding="utf-8"))
    assert data["summary"]["gate"] != "pass"
    data["summary"]["headline"] = ["Every family of the profile passes: nothing to see."]
    with pytest.raises(ValueError, match="headline says every family passes"):
        Findings.model_validate(data)


def test_the_view_dates_a_pinned_audit_as_pinned(demo):
    findings, manifest, *_ = demo
    view = build_view(findings, manifest)
    assert "--now" in manifest["command"] and "pinned with --now" in view["meta"]["date_text"]
    unpinned = {**manifest, "command": "cg-gov audit specs/audits/demo.yaml"}
    assert build_view(findings, unpinned)["meta"]["date_text"] == manifest["created"]
