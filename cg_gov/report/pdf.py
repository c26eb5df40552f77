"""Archival, tagged PDF (PDF/A-3a: PDF/A-3 with a structure tree, so screen readers can read it) from the
report's HTML, with no network access.

The renderer may only read what the report itself produced: ``data:`` URIs
that the caller lists (the charts), and files inside the template folders.
Every other URL, ``http:``, ``file:`` elsewhere on disk, ``data:`` URIs that
came from anywhere else, is refused before weasyprint opens it, so a
benchmark text or label that smuggled markup into the page still could not
make the renderer fetch anything.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from cg_gov.errors import MissingDependencyError

__all__ = ["PDF_VARIANT", "PdfAttachment", "RefusedURL", "make_url_fetcher", "html_to_pdf",
           "svg_data_uri"]

#: The archival variant written: PDF/A-3 (which allows embedded files), level A (accessible: tagged, with
#: a structure tree and the document language).
PDF_VARIANT = "pdf/a-3a"


class RefusedURL(ValueError):
    """The report tried to load a resource that is not its own."""


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF."""

    name: str
    data: bytes
    description: str
    relationship: str = "Data"
    """PDF/A-3 AFRelationship: Data, Source, Supplement, Alternative or Unspecified."""


def svg_data_uri(svg: str) -> str:
    """A base64 ``data:`` URI for an SVG document."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _parse_data_uri(url: str) -> tuple[str, bytes]:
    header, _, payload = url[len("data:"):].partition(",")
    parts = header.split(";")
    mime = parts[0] or "text/plain"
    if "base64" in parts[1:]:
        return mime, base64.b64decode(payload)
    return mime, unquote_to_bytes(payload)


def _weasyprint():
    try:
        import weasyprint
    except ImportError as exc:  # pragma: no cover - weasyprint is a dependency
        raise MissingDependencyError(
            f"the PDF report needs weasyprint ({exc})",
            hint="pip install weasyprint; it also needs the pango system library") from None
    return weasyprint


def make_url_fetcher(allowed_data_uris: Iterable[str] = (), allowed_dirs: Iterable[str | os.PathLike] = (),
                     log: list[str] | None = None):
    """A weasyprint URL fetcher that serves only the report's own resources.

    ``allowed_data_uris``: exact ``data:`` URIs the report produced (decoded
    locally, no network involved). ``allowed_dirs``: folders whose files may be
    read through ``file:`` URLs (the template folders). Any other URL raises
    :class:`RefusedURL`, which weasyprint reports as a failed resource. Every
    URL asked for is appended to ``log`` when one is given.
    """
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    data_uris = frozenset(allowed_data_uris)
    dirs = tuple(Path(d).resolve() for d in allowed_dirs)

    class ReportOnlyFetcher(URLFetcher):
        """Serves the report's own data URIs and template files; refuses the rest."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)

        def fetch(self, url: str, headers=None):  # noqa: ARG002 - weasyprint's signature
            if log is not None:
                log.append(url)
            if url.startswith("data:"):
                if url not in data_uris:
                    raise RefusedURL("data URI not produced by the report")
                mime, body = _parse_data_uri(url)
                return URLFetcherResponse(url, body, {"Content-Type": mime})
            parts = urlsplit(url)
            if parts.scheme == "file" and parts.netloc in ("", "localhost"):
                path = Path(url2pathname(parts.path)).resolve()
                if any(path.is_relative_to(d) for d in dirs) and path.is_file():
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": _mime(path)})
            raise RefusedURL(f"refused to fetch {url[:120]!r}: the report loads only its own files")

    del weasyprint
    return ReportOnlyFetcher()


def _mime(path: Path) -> str:
    return {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png",
            ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".ttf": "font/ttf",
            ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2"}.get(
        path.suffix.lower(), "application/octet-stream")


def html_to_pdf(html: str, *, attachments: Iterable[PdfAttachment] = (),
                allowed_data_uris: Iterable[str] = (), allowed_dirs: Iterable[str | os.PathLike] = (),
                created: datetime | None = None, fetch_log: list[str] | None = None) -> bytes:
    """Render ``html`` to tagged PDF/A-3a bytes with ``attachments`` embedded.

    ``created`` sets the attachments' dates (default: now, in UTC). Resources
    are limited as described in :func:`make_url_fetcher`; ``fetch_log``
    collects every URL the renderer asked for.
    """
    weasyprint = _weasyprint()
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    fetcher = make_url_fetcher(allowed_data_uris, allowed_dirs, fetch_log)
    embedded = [
        weasyprint.Attachment(string=a.data, name=a.name, description=a.description,
                              created=created, modified=created, relationship=a.relationship,
                              url_fetcher=fetcher)
        for a in attachments
    ]
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    return document.write_pdf(pdf_variant=PDF_VARIANT, attachments=embedded)
