"""Reading the streams of a PDF written by the report renderer, for tests of its attachments."""
from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"/Length (\d+)(?![\d ]*R)[^>]*>>\s*stream\r?\n")


def pdf_streams(pdf: bytes) -> list[bytes]:
    """Every stream of a PDF, inflated where it is Flate-compressed, read by its /Length: a stream's
    compressed bytes may contain anything, so searching for "endstream" can misalign."""
    streams = []
    for m in _STREAM.finditer(pdf):
        data = pdf[m.end():m.end() + int(m.group(1))]
        try:
            streams.append(zlib.decompress(data))
        except zlib.error:
            streams.append(data)
    return streams
