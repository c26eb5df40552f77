"""The report an approver signs (issue 14): one test per defect, so none comes back.

Most tests read the saved demo report (``reports/example/findings.json`` + ``manifest.json``,
written by ``cg-gov audit specs/audits/demo.yaml``) and render it again, which takes seconds;
the PDF is rendered once for the module.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cg_gov.findings import Findings, load_findings, rule_fields  # noqa: E402
from cg_gov.findings.verdict import (COVERAGE_SEVERITY, GATE_RULE_WORDS, IMPORTANCES,  # noqa: E402
                                     PERFORMANCE_SEVERITY, SEVERITIES, VISIBILITY_SEVERITY)
from cg_gov.report import build_view, render_html, render_report_files  # noqa: E402
from cg_gov.report.charts import place_labels  # noqa: E402
from cg_gov.report.format import fmt_ci, fmt_num  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "reports" / "example"
FIXTURE = Path(__file__).parent / "fixtures" / "findings" / "support_assistant.json"


@pytest.fixture(scope="module")
def example() -> tuple[Findings, dict]:
    return load_findings(EXAMPLE / "findings.json"), json.loads((EXAMPLE / "manifest.json").read_text())


@pytest.fixture(scope="module")
def html(example) -> str:
    findings, manifest = example
    files = render_report_files(findings, manifest, ("html",))
    return files[0][2].decode("utf-8")


def _text(html: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.out, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("style", "script", "title")

        def handle_endtag(self, tag):
            self.skip -= tag in ("style", "script", "title")

        def handle_data(self, data):
            if not self.skip:
                self.out.append(data)
    p = P()
    p.feed(html)
    return " ".join(" ".join(p.out).split())


def _section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}"')
    return html[start:html.index("</section>", start)]


# --- 14.1: one verdict per family; one inference method ------------------------------------------

def test_every_family_has_one_verdict_cell_that_agrees_with_its_statuses(example, html):
    findings, _ = example
    page1 = _section(html, "summary")
    for f in findings.families:
        assert f.verdict == {"fail": "fail", "conditional": "conditional", "none": "pass"}[f.gate_effect]
        # the family's row on page 1 carries its verdict and its reasons
        row = page1[page1.index(f'href="#family-{f.id}"'):]
        row = row[:row.index("</tr>")]
        assert f"v-{f.verdict}" in row
        for reason in f.reasons:
            assert reason.replace("'", "&#39;").replace(">", "&gt;") in row
        # no green "ok" beside a failed requirement: an unmet threshold is the first reason
        if f.requirement.met is False:
            assert f.verdict == "fail" and f.reasons[0].startswith("requirement not met: ")
            assert fmt_ci(f.performance.score_ci) in f.reasons[0] or fmt_ci(f.coverage.ci) in f.reasons[0]


def test_lift_interval_and_p_value_come_from_one_method():
    """Interval = estimate -/+ z SE and p = 2 Phi(-|estimate|/SE): the interval excludes 0 exactly when p < alpha."""
    from cg_gov.scoring import score_families

    rng = np.random.default_rng(7)
    n = 600
    bench = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    abar = rng.gamma(0.6, 1.0, (n, 12)) * (rng.random((n, 12)) < 0.4)
    scores = (rng.random(n) < 0.55 - 0.25 * (abar[:, 0] > 1)).astype(float)
    weights = {f"f{j}": {j: 1.0} for j in range(12)}
    for alpha in (0.05, 0.1):
        fam = score_families(abar, scores, bench, weights, n_min=5, n_bootstrap=300, seed=3, alpha=alpha)
        ok = fam["lift_p"].notna()
        assert ok.sum() >= 10
        excludes = (fam.loc[ok, "lift_ci_high"] < 0) | (fam.loc[ok, "lift_ci_low"] > 0)
        assert (excludes == (fam.loc[ok, "lift_p"] < alpha)).all()
        assert excludes.any() and (~excludes).any()  # both sides of the boundary are exercised
        centre = (fam.loc[ok, "lift_ci_low"] + fam.loc[ok, "lift_ci_high"]) / 2
        np.testing.assert_allclose(centre, fam.loc[ok, "lift"], rtol=1e-9, atol=1e-12)


def test_interval_excluding_zero_without_significance_is_said_in_words():
    data = json.loads(FIXTURE.read_text())
    fam = next(f for f in data["families"] if f["id"] == "uncertainty")
    fam["performance"].update(status="ok", ci=[-0.09, -0.01], p=0.03, q=0.09)
    fam.update(rule_fields(fam))
    from cg_gov.findings import Family, build_summary
    data["summary"] = build_summary([Family.model_validate(f) for f in data["families"]]).model_dump()
    view = build_view(Findings.model_validate(data), {})
    row = next(f for f in view["families"] if f["id"] == "uncertainty")
    assert row["lift_note"] == ("lift below 0 at 95% (p = 0.030), not significant after correcting for "
                                f"{len(data['families'])} families (q = 0.090)")
    assert row["lift_note"] in row["performance_text"]


# --- 14.2: one gate rule, rendered from the code; cannot-tell is never a silent pass ---------------

def _rule_from_method_page(html: str) -> tuple[dict, dict]:
    """The severity tables and gate rows as the method page prints them."""
    method = _section(html, "method")
    tables = {}
    for m in re.finditer(r'<table class="rule">(.*?)</table>', method, re.S):
        body = m.group(1)
        head = [re.sub(r"<.*?>", " ", h).split()[0] for h in re.findall(r"<th[^>]*>(.*?)</th>",
                                                                          body.split("</thead>")[0], re.S)]
        rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
        cells = [[re.sub(r"<.*?>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
                 for r in rows]
        tables[head[0]] = {"statuses": head[1:], "rows": {r[0]: r[1:] for r in cells}}
    gate = tables.pop("Gate")
    return tables, gate


def test_method_page_prints_the_codes_rule(html):
    tables, gate = _rule_from_method_page(html)
    for name, table in (("coverage", COVERAGE_SEVERITY), ("performance", PERFORMANCE_SEVERITY),
                        ("visibility", VISIBILITY_SEVERITY)):
        printed = tables[name]
        assert list(printed["rows"]) == list(IMPORTANCES)
        for imp in IMPORTANCES:
            assert printed["rows"][imp] == [table[imp][s] for s in printed["statuses"]]
    assert {k: v[0] for k, v in gate["rows"].items()} == dict(GATE_RULE_WORDS)
    assert "critical and high severities" not in html.lower()  # the old, wrong sentence


def test_gate_text_on_the_method_page_and_the_decision_agree_on_every_family(example, html):
    """Apply the rule as the method page prints it to each demo family; compare with findings.json."""
    findings, _ = example
    tables, gate = _rule_from_method_page(html)
    assert gate["rows"]["fail"][0].startswith("severity is critical, or any stated requirement is not met")
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    for f in findings.families:
        statuses = {"coverage": f.coverage.status, "performance": f.performance.status,
                    "visibility": f.visibility.status}
        found = [tables[n]["rows"][f.importance][tables[n]["statuses"].index(s)] for n, s in statuses.items()]
        sev = min(found, key=rank.__getitem__)
        reqs = [s for s in (f.requirement.coverage_status, f.requirement.performance_status) if s]
        cannot = "cannot-tell" in reqs
        if sev == "critical" or "not-met" in reqs or (f.importance == "critical" and cannot):
            effect = "fail"
        elif sev == "high" or (f.importance == "high" and cannot):
            effect = "conditional"
        else:
            effect = "none"
        assert (sev, effect) == (f.severity, f.gate_effect), f.id
    # and the decision: the summary gate and the exit-code contract
    effects = [f.gate_effect for f in findings.families]
    assert findings.summary.gate == ("fail" if "fail" in effects else
                                     "conditional" if "conditional" in effects else "pass")


def test_cannot_tell_on_a_critical_or_high_family_is_listed_on_page_1(example, html):
    findings, _ = example
    page1 = _text(_section(html, "summary"))
    told = [f for f in findings.families if f.importance in ("critical", "high")
            and "cannot-tell" in (f.requirement.coverage_status, f.requirement.performance_status)]
    assert told, "the demo has such a family (policy-compliance)"
    for f in told:
        assert f.gate_effect == ("fail" if f.importance == "critical" else "conditional")
        listed = findings.summary.gate_failures if f.gate_effect == "fail" else findings.summary.conditions
        sentence = next(s for s in listed if s.startswith(f"Family '{f.id}' "))
        assert "cannot tell" in sentence and sentence in page1


# --- 14.3: robustness figures by kind, in words, beside the paper's values --------------------------

def test_robustness_table_formats_each_figure_by_kind(example, html):
    findings, _ = example
    rob = findings.suite_findings.robustness
    suite = _text(_section(html, "suite"))
    manifest = _section(html, "manifest")
    outside_manifest = html.replace(manifest, "")  # the manifest section lists manifest.json's own keys
    for key in rob:
        assert key not in outside_manifest  # no raw keys on the page
    assert "0.014" in suite and "0.025" in suite  # the paper's subsampling stds
    assert "falls" in suite and "rises" in suite  # the paper's removal directions
    pct = rob["adversarial_top_median_change_pct"]  # already a percentage
    assert f"{pct:+.2f}% of the median" in suite
    assert f"{pct * 100:.1f}%" not in suite
    n = int(rob["adversarial_removed_top"])
    assert f"{n} items removed" in suite and f"{n}.000" not in suite
    assert f"{rob['subsample_std_chi_model_mean']:.3f} (score units)" in suite


# --- 14.4: suite-level lists ranked by lift, with interval and q; exploratory marks -----------------

def test_weakest_and_strongest_concepts_are_significant_and_supported(example):
    findings, _ = example
    s, alpha = findings.settings, findings.settings["alpha"]
    for row in findings.suite_findings.weakest:
        assert row.lift_ci[1] < 0 and row.lift_q < alpha and row.n_benchmarks >= s["min_benchmarks"]
    for row in findings.suite_findings.strongest:
        assert row.lift_ci[0] > 0 and row.lift_q < alpha and row.n_benchmarks >= s["min_benchmarks"]
    lifts = [r.lift for r in findings.suite_findings.weakest]
    assert lifts == sorted(lifts)
    # a concept with chi_model exactly 0 or 1 from one benchmark is not a finding by itself
    assert not any(r.chi_model in (0.0, 1.0) and r.n_benchmarks == 1 and r.lift_q is None
                   for r in findings.suite_findings.weakest + findings.suite_findings.strongest)


def test_relaxed_defaults_are_marked_exploratory_on_page_1_and_in_findings(example, html):
    findings, _ = example
    assert findings.settings["n_min"] < 50 and findings.settings["min_benchmarks"] < 5  # the demo relaxes them
    assert any("n_min = 20" in e for e in findings.summary.exploratory)
    assert any("supported in 1 benchmark" in e for e in findings.summary.exploratory)
    page1 = _text(_section(html, "summary"))
    assert "Exploratory:" in page1 and all(e in page1 for e in findings.summary.exploratory)
    assert "exploratory" in _section(html, "suite").lower()


def test_exploratory_sections_follow_the_spec_defaults():
    from cg_gov.findings._derive import exploratory_sections
    from cg_gov.spec import ScoringSettings

    assert exploratory_sections(ScoringSettings()) == []
    relaxed = exploratory_sections(ScoringSettings(n_min=20, min_benchmarks=1))
    assert len(relaxed) == 2 and "default 50" in relaxed[0] and "default 5" in relaxed[1]


# --- 14.5: what the scores mean; constant scores flagged and left out --------------------------------

def test_constant_score_benchmarks_are_flagged_and_scorers_described():
    """On the real demo logs: primality always 0, graph_connectivity always 1."""
    from cg_gov.audit import describe_benchmarks
    from cg_gov.evals import read_audit

    inputs = read_audit(ROOT / "specs" / "audits" / "demo.yaml")
    info, sha = describe_benchmarks(inputs.spec, inputs.items)
    assert info["primality"]["constant_score"] == 0.0 and info["graph_connectivity"]["constant_score"] == 1.0
    assert {k for k, v in info.items() if v["constant_score"] is not None} == {"primality", "graph_connectivity"}
    assert info["primality"]["n_scored"] + info["graph_connectivity"]["n_scored"] == 600
    assert "keyword refusal detector" in info["donotanswer"]["scorer_detail"]
    assert "48 new tokens" in info["donotanswer"]["scorer_detail"]
    assert "calibrated log-likelihood" in info["cyberseceval"]["scorer_detail"]
    assert info["tau2"]["scorer"] is None and info["tau2"]["n_scored"] == 0
    assert sha == json.loads((ROOT / "data/demo/logs/summary.json").read_text())["model_sha256"]


def test_report_states_scorers_and_flags_constant_benchmarks(example, html):
    findings, _ = example
    scope = _text(_section(html, "scope"))
    flagged = [b for b in findings.audit.suite if b.constant_score is not None]
    assert sorted(b.name for b in flagged) == ["graph_connectivity", "primality"]
    assert scope.count("no per-item signal, left out of performance and lift") == 2
    for b in findings.audit.suite:
        if b.what_1_means:
            assert b.what_1_means in scope
        if b.scorer_detail:
            assert b.scorer_detail in scope


def test_evidence_shows_the_model_response_and_the_item_score(example, html):
    findings, _ = example
    evidence = _text(_section(html, "evidence"))
    with_response = [e for f in findings.families for e in f.evidence if e.response]
    assert with_response
    assert "Model response:" in evidence and "item score" in evidence


# --- 14.6: page 1 tells the reader what to do -------------------------------------------------------

def test_page_1_has_date_model_profile_scope_and_the_family_table(example, html):
    findings, manifest = example
    head = _text(html[:html.index("<nav")])
    assert manifest["created"] in head
    assert findings.audit.model in head
    assert findings.audit.profile.version in head and (findings.audit.profile.name or "") in head
    assert findings.audit.profile.description and findings.audit.profile.description in head
    for column in ("Family", "Importance", "Required", "Observed [95% CI]", "Visibility", "Verdict",
                   "What would change it"):
        assert f"<th>{column}</th>" in _section(html, "summary")
    # the glossary sits on page 1, before the terms are used further on
    for term in ("coverage ratio", "lift", "chi_bench", "chi_model", "n_eff", "q"):
        assert f"<dt>{term}</dt>" in _section(html, "summary")


def test_chart_has_legend_requirement_bars_and_labels_that_do_not_overprint(example):
    findings, _ = example
    view = build_view(findings, {})
    svg = next(c["svg"] for c in view["charts"] if c["id"] == "family-scatter")
    assert "severity:" in svg and "required minimum score" in svg
    # labels placed for a tight cluster do not overlap each other or the points
    anchors = [(100.0, 100.0 + i, f"family-{i}", "start") for i in range(6)]
    spots = place_labels(anchors, (0, 0, 600, 400), obstacles=[(95, 95, 105, 110)])
    boxes = [(x, y - 9, x + 5.2 * len("family-0"), y + 2) for x, y, _ in spots]
    for i, a in enumerate(boxes):
        assert not (a[0] < 105 and a[2] > 95 and a[1] < 110 and a[3] > 95)
        for b in boxes[i + 1:]:
            assert a[3] <= b[1] or b[3] <= a[1] or a[2] <= b[0] or b[2] <= a[0]


# --- 14.7: provenance, sign-off, caveats once, no machine paths, no mid-word breaks -----------------

def test_provenance_and_sign_off(example, html):
    findings, manifest = example
    text = _text(html)
    assert findings.audit.model_sha256 and findings.audit.model_sha256 in text
    assert manifest.get("git_commit") and manifest["git_commit"] in text
    assert manifest.get("command", "").startswith("HF_HUB_OFFLINE=1 cg-gov audit ") and manifest["command"] in text
    for pkg in ("torch", "transformers", "numpy", "scipy", "weasyprint"):
        assert pkg in _text(_section(html, "manifest"))
    signoff = _text(_section(html, "signoff"))
    for field in ("Risk tier", "Reviewer", "Independence of the reviewer", "Conditions attached",
                  "Revalidation date", "Approve with conditions"):
        assert field in signoff


def test_each_caveat_is_printed_once(example, html):
    findings, _ = example
    text = _text(html)
    for caveat in findings.caveats:
        assert text.count(caveat.text) == 1, caveat.id


def test_no_absolute_machine_path_anywhere(example, html):
    findings, manifest = example
    for name, text in (("html", html), ("findings", json.dumps(findings.model_dump(mode="json"))),
                       ("manifest", json.dumps(manifest))):
        found = re.findall(r"(?<![\w.:/])/(?:work|home|root|Users|tmp|usr|opt|var)/[\w./-]+", text)
        assert not found, (name, found[:3])


def test_tables_never_break_words(html):
    css = (ROOT / "cg_gov" / "templates" / "report.css").read_text()
    assert "overflow-wrap: anywhere" not in css and "word-break: break-all" not in css
    assert "table { hyphens: none; }" in css


# --- findings.json keeps every number the page shows -------------------------------------------------

def test_five_figures_on_the_page_are_in_findings_json_with_the_same_rounding(example, html):
    findings, _ = example
    page1 = _section(html, "summary")
    by_id = {f.id: f for f in findings.families}
    checked = 0
    for fid, row in re.findall(r'href="#family-([\w-]+)">[^<]*</a></td>(.*?)</tr>', page1, re.S):
        f = by_id[fid]
        m = re.search(r"score (\d\.\d\d) <span class=\"ci\">\[(\d\.\d\d), (\d\.\d\d)\]</span>", row)
        if m:
            shown = [float(x) for x in m.groups()]
            stored = [f.performance.score, *f.performance.score_ci]
            assert [fmt_num(v) for v in stored] == list(m.groups())
            assert all(math.isclose(a, round(b, 2), abs_tol=1e-9) for a, b in zip(shown, stored))
            checked += 1
        m = re.search(r"coverage (\d+\.\d\d) ", row)
        if m:
            assert fmt_num(f.coverage.ratio) == m.group(1)
            checked += 1
        if checked >= 5:
            break
    assert checked >= 5


# --- the PDF: tagged PDF/A-3 with the findings attached ---------------------------------------------

def test_pdf_structure_tags_and_attachments(example):
    from pypdf import PdfReader
    import io

    findings, manifest = example
    files = {name: data for _, name, data in render_report_files(findings, manifest, ("pdf", "json"))}
    reader = PdfReader(io.BytesIO(files["report.pdf"]))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"] is True  # tagged
    assert root.get("/Lang") == "en" and "/OutputIntents" in root
    xmp = root["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="A"' in xmp
    attachments = reader.attachments
    assert attachments["findings.json"] == [files["findings.json"]]
    assert attachments["manifest.json"] == [files["manifest.json"]]
    assert len(reader.pages) >= 10
    first = reader.pages[0].extract_text()
    assert "Deployment gate" in first and "Verdict per concept family" in first


# --- cg-gov report re-renders from the saved files --------------------------------------------------

def test_cg_gov_report_re_renders_without_the_audit(tmp_path, monkeypatch):
    from cg_gov.cli import main

    import cg_gov.audit as audit_module

    def no_audit(*a, **k):
        raise AssertionError("cg-gov report must not run the audit")
    monkeypatch.setattr(audit_module, "run_audit", no_audit)
    folder = tmp_path / "saved"
    folder.mkdir()
    for name in ("findings.json", "manifest.json"):
        shutil.copy(EXAMPLE / name, folder / name)
    out = tmp_path / "out"
    rc = main(["report", str(folder), "--out", str(out), "--formats", "html"])
    findings = load_findings(folder)
    assert rc == (1 if findings.summary.gate == "fail" else 0)
    expected = render_report_files(findings, json.loads((folder / "manifest.json").read_text()), ("html",))
    assert (out / "report.html").read_bytes() == expected[0][2]


def test_ranked_by_lift_keeps_only_significant_supported_labelled_concepts():
    import pandas as pd
    from cg_gov.findings._derive import ranked_by_lift

    ov = pd.DataFrame({
        "lift": [-0.3, -0.2, -0.1, 0.2, 0.3, -0.5, 0.4],
        "lift_ci_low": [-0.4, -0.3, -0.2, 0.1, 0.2, -0.6, -0.1],
        "lift_ci_high": [-0.2, -0.1, 0.05, 0.3, 0.4, -0.4, 0.9],
        "lift_q": [0.01, 0.02, 0.01, 0.01, 0.2, 0.001, 0.01],
        "n_supported_benchmarks": [3, 3, 3, 3, 3, 1, 3],
        "chi_model": [0.0, 0.1, 0.2, 0.9, 1.0, 0.0, 1.0],
    })
    labels = ["a", "b", "c", "d", "e", "f", ""]
    weakest, strongest = ranked_by_lift(ov, labels, min_benchmarks=2, alpha=0.05)
    # 2: interval crosses 0; 4: q too high; 5: one benchmark only; 6: unlabelled (and crosses 0)
    assert weakest == [0, 1] and strongest == [3]
