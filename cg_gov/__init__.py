"""cg_gov: governance reports on an LLM's competency gaps.

The rooms, in the order data flows through them: ``spec`` -> ``evals`` -> ``dictionary`` ->
``engine`` -> ``scoring`` / ``matching`` -> ``findings`` -> ``audit`` (the pipeline) -> ``report``;
``cli`` on top. The public functions below are re-exported lazily, so ``import cg_gov`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names re-exported lazily (name -> module), so `import cg_gov` stays light.
_LAZY = {
    "load_profile": "cg_gov.spec",
    "load_audit": "cg_gov.spec",
    "load_dictionary": "cg_gov.dictionary",
    "concept_activations": "cg_gov.engine",
    "score_concepts": "cg_gov.scoring",
    "score_families": "cg_gov.scoring",
    "match_profile": "cg_gov.matching",
    "run_audit": "cg_gov.audit",
    "render_report": "cg_gov.report",
}

__all__ = sorted(_LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cg_gov' has no attribute {name!r}")
