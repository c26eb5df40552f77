"""Text helpers shared by every room."""
from __future__ import annotations

__all__ = ["truncate"]


def truncate(text: str, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut to ``limit`` characters, ending with an ellipsis when cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "\u2026"
