"""cg_gov."""

from __future__ import annotations

import importlib
from typing import Any

# Public names re-exported lazily (name -> module), so `import cg_gov` stays light.
_LAZY = {
    "load_profile": "cg_gov.specs",
    "load_audit": "cg_gov.specs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cg_gov' has no attribute {name!r}")
