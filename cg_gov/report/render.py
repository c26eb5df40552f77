"""Render findings into a report folder.

The folder gets ``report.html``, ``report.pdf``, ``findings.json`` and ``manifest.json``.

Jinja2 lays out the view model (:mod:`cg_gov.report.view`) with autoescaping
on: no template applies ``|safe`` to data. A user may pass a template folder
of their own; files there override the package's files of the same name
(``report.html.j2``, ``macros.html.j2``, ``report.css``, ``diff.html.j2``).
"""
from __future__ import annotations

import copy
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from cg_gov.errors import CgGovError
from cg_gov.findings import Findings, Manifest, findings_to_json
from cg_gov.findings._manifest import findings_digest, portable_paths
from cg_gov.io import canonical_json, write_folder
from cg_gov.report.pdf import PdfAttachment, html_to_pdf, svg_data_uri
from cg_gov.report.view import build_view

__all__ = ["FORMATS", "PACKAGE_TEMPLATES", "template_env", "template_dirs", "render_html",
           "render_report", "render_report_files", "manifest_created"]

#: Output formats :func:`render_report` knows.
FORMATS = ("html", "pdf", "json")
#: The files of a report folder: a run that does not write one of them removes it.
REPORT_FILES = frozenset({"report.html", "report.pdf", "findings.json", "manifest.json"})
#: The package's own templates.
PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_dirs(template_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for templates, the user's first."""
    dirs = []
    if template_dir is not None:
        path = Path(template_dir)
        if not path.is_dir():
            raise CgGovError("template folder not found", file=str(path),
                             hint="pass a folder holding report.html.j2 and/or report.css")
        dirs.append(_checked_template_dir(path))
    dirs.append(PACKAGE_TEMPLATES)
    return dirs


def _checked_template_dir(path: Path) -> Path:
    """The user's template folder, resolved, once every file in it is a regular file of at most the
    spec size cap that lies inside it: a ``report.css`` linked to ``/etc/passwd`` (or a FIFO, a device)
    would otherwise be inlined into the report."""
    from cg_gov.io import check_regular_file

    root = path.resolve()
    for entry in sorted(root.rglob("*")):
        if entry.is_dir() and not entry.is_symlink():
            continue
        try:
            real = entry.resolve()
            real.relative_to(root)
        except (ValueError, OSError, RuntimeError):
            raise CgGovError("the template folder holds a link to a file outside it", file=str(entry),
                             hint="copy the file into the template folder instead of linking to it") from None
        if real.is_dir():
            continue
        check_regular_file(real, "template file", kind="spec", hint="a template folder holds only templates and CSS")
    return root


def template_env(template_dir: str | os.PathLike | None = None):
    """The Jinja2 environment: autoescape on, strict undefined, sandboxed."""
    from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from cg_gov.text import visible_invisibles

    loader = ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs(template_dir)])
    env = SandboxedEnvironment(loader=loader, autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # ``{{ text|visible }}``: bidi and zero-width characters shown as [U+202E]; the rendered page
    # goes through the same helper once more (:func:`visible_controls`), whatever a template uses
    env.filters["visible"] = visible_invisibles
    return env


def render_html(view: Mapping[str, Any], template: str = "report.html.j2",
                template_dir: str | os.PathLike | None = None,
                created: str | None = None, *, for_print: bool = False,
                findings_sha256: str | None = None) -> tuple[str, list[str]]:
    """Lay ``view`` out with ``template``; returns the HTML and the chart data URIs it uses.

    Charts in ``view["charts"]`` (each with an ``svg`` string) are given a
    ``src`` data URI; the list of those URIs is what the PDF renderer may load.
    ``for_print``: leave out what print hides anyway (class ``screen-only``: the full concept
    lists, every example item, the manifest's keys), so the PDF renderer does not style it.
    ``findings_sha256``: the hash of the findings.json the page shows, printed in its footer.
    """
    from jinja2 import TemplateError

    context = copy.deepcopy(dict(view))
    uris = []
    for chart in context.get("charts", []):
        chart["src"] = svg_data_uri(chart["svg"])
        uris.append(chart["src"])
    context["created"] = created
    context["for_print"] = for_print
    context["findings_sha256"] = findings_sha256
    env = template_env(template_dir)
    try:
        html = visible_controls(env.get_template(template).render(**context))
    except TemplateError as exc:
        name = getattr(exc, "filename", None) or template
        raise CgGovError(f"template error: {exc}", file=str(name), line=getattr(exc, "lineno", None),
                         hint="check the template against the package's own templates") from None
    return html, uris


_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _control_picture(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return chr(0x2400 + code) if code < 0x20 else "\u2421" if code == 0x7F else "\ufffd"


def visible_controls(html: str) -> str:
    """``html`` with control characters (NUL, ESC, ... which autoescaping keeps) shown as their
    control pictures (U+2400...), C1 controls as U+FFFD, bidi and zero-width characters as
    ``[U+202E]`` (:func:`cg_gov.text.visible_invisibles`): none reaches a browser, a PDF or a
    terminal raw, and none reorders or hides what the page says."""
    from cg_gov.text import visible_invisibles

    return visible_invisibles(_CONTROLS.sub(_control_picture, html))


_CREATED_KEYS = ("created", "created_at", "started_at", "finished_at", "timestamp")


def manifest_created(manifest: Mapping[str, Any]) -> datetime | None:
    """The run's time, from the manifest (first of created/created_at/started_at/...)."""
    for key in _CREATED_KEYS:
        value = manifest.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def render_report_files(findings: Findings | Mapping[str, Any], manifest: Manifest | Mapping[str, Any],
                        formats: Iterable[str] = FORMATS,
                        template_dir: str | os.PathLike | None = None) -> list[tuple[str, str, bytes]]:
    """Render the report in memory: ``(key, file name, bytes)`` for each file of the folder.

    Nothing is written: :func:`render_report` (or any other writer, e.g. one that writes the
    whole folder atomically) writes the result. ``formats``: any of "html" (``report.html``),
    "pdf" (``report.pdf``, tagged PDF/A-3a with findings.json and manifest.json embedded) and "json"
    (``findings.json`` and ``manifest.json``). Keys: html, pdf, json (the findings file) and
    manifest.
    """
    formats = tuple(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise CgGovError(f"unknown report format(s) {unknown}", key="formats",
                         hint=f"choose among {', '.join(FORMATS)}")
    if not isinstance(findings, Findings):
        findings = Findings.model_validate(findings)
    # no absolute path of the machine that ran the audit reaches the report (nor its attachments)
    manifest = manifest.to_json() if isinstance(manifest, Manifest) else portable_paths(dict(manifest))
    findings_text = findings_to_json(findings)
    # the manifest names the exact findings it sits beside (findings.json itself stays byte-stable)
    manifest = {**manifest, "findings_sha256": findings_digest(findings_text.encode("utf-8"))}
    manifest_text = canonical_json(manifest)
    created = manifest_created(manifest)
    files: list[tuple[str, str, bytes]] = []
    if "json" in formats:
        files.append(("json", "findings.json", findings_text.encode("utf-8")))
        files.append(("manifest", "manifest.json", manifest_text.encode("utf-8")))
    if "html" in formats or "pdf" in formats:
        if findings.models:  # a vendor audit: the comparison form (cg_gov.report.vendor)
            from cg_gov.report.vendor import build_vendor_view

            view, template = build_vendor_view(findings, manifest), "vendor.html.j2"
        else:
            view, template = build_view(findings, manifest), "report.html.j2"
        html, uris = render_html(view, template, template_dir, created.isoformat() if created else None,
                                 findings_sha256=manifest["findings_sha256"])
        if "html" in formats:
            files.append(("html", "report.html", html.encode("utf-8")))
        if "pdf" in formats:
            # the same template with the screen-only parts left out (print hides them anyway)
            printed, _uris = render_html(view, template, template_dir, created.isoformat() if created else None,
                                         for_print=True, findings_sha256=manifest["findings_sha256"])
            pdf = html_to_pdf(
                printed,
                attachments=[
                    PdfAttachment("findings.json", findings_text.encode("utf-8"),
                                  "Machine-readable findings of this audit (cg_gov findings schema)",
                                  "Data"),
                    PdfAttachment("manifest.json", manifest_text.encode("utf-8"),
                                  "Run manifest: versions, seeds and sha256 of every input",
                                  "Supplement"),
                ],
                allowed_data_uris=uris, allowed_dirs=template_dirs(template_dir), created=created)
            files.append(("pdf", "report.pdf", pdf))
    return files


def render_report(findings: Findings | Mapping[str, Any], manifest: Manifest | Mapping[str, Any],
                  out_dir: str | os.PathLike, formats: Iterable[str] = FORMATS,
                  template_dir: str | os.PathLike | None = None,
                  carry: Mapping[str, bytes] | None = None) -> dict[str, Path]:
    """Render with :func:`render_report_files`, then write the files into ``out_dir``; returns the
    written paths by key (html, pdf, json, manifest).

    Everything is rendered in memory first, then the folder is written whole
    (:func:`cg_gov.io.write_folder`): an interruption at any point leaves the previous set or the
    new one, and report files this call does not write (:data:`REPORT_FILES`) are removed, so an
    old report never sits beside new findings (or the reverse); other files in the folder are
    kept. ``carry``: files kept in the set as they are (``cg-gov report`` re-rendering in place
    keeps the findings.json and manifest.json it read). ``cg-gov audit`` and ``cg-gov report``
    both go through here.
    """
    files = render_report_files(findings, manifest, formats, template_dir)
    out = Path(out_dir)
    contents = dict(carry or {})
    contents.update({name: data for _key, name, data in files})
    folder = write_folder(out, contents, REPORT_FILES)
    return {key: folder / name for key, name, _data in files}
