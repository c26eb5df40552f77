"""The report room: views and rendering (HTML, archival PDF, JSON) for audits and diffs."""
from cg_gov.report.diff import DIFF_FORMATS, build_diff_view, render_diff
from cg_gov.report.pdf import PDF_VARIANT, PdfAttachment, RefusedURL, html_to_pdf, make_url_fetcher
from cg_gov.report.render import (FORMATS, PACKAGE_TEMPLATES, render_html, render_report,
                                  render_report_files,
                                  template_env)
from cg_gov.report.view import build_view

__all__ = ["DIFF_FORMATS", "FORMATS", "PACKAGE_TEMPLATES", "PDF_VARIANT", "PdfAttachment", "RefusedURL",
           "build_diff_view", "build_view", "html_to_pdf", "make_url_fetcher", "render_diff", "render_html",
           "render_report", "render_report_files", "template_env"]
