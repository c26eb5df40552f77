"""The governance report: view model, SVG charts, HTML and archival PDF rendering."""
from cg_gov.report.pdf import PDF_VARIANT, PdfAttachment, RefusedURL, html_to_pdf, make_url_fetcher
from cg_gov.report.render import (FORMATS, PACKAGE_TEMPLATES, render_html, render_report,
                                  template_env)
from cg_gov.report.view import build_view

__all__ = ["FORMATS", "PACKAGE_TEMPLATES", "PDF_VARIANT", "PdfAttachment", "RefusedURL",
           "build_view", "html_to_pdf", "make_url_fetcher", "render_html", "render_report",
           "template_env"]
