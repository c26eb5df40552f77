"""cg_gov: governance reports on an LLM's competency gaps.

The Python API, in one flat namespace::

    import cg_gov

    result = cg_gov.run_audit("specs/audits/demo.yaml")   # quiet; progress=True prints the stages
    result.findings.summary.gate                           # "pass" | "conditional" | "fail"
    result.findings.gate_exit_code()                       # 1 when the gate fails: what `cg-gov audit` exits with
    cg_gov.render_report(result.findings, result.manifest, "reports/demo")
    cg_gov.load_findings("reports/demo")                   # a saved findings.json, upgraded on load

The rooms, in the order data flows through them: ``spec`` -> ``evals`` -> ``dictionary`` ->
``engine`` -> ``scoring`` / ``matching`` -> ``findings`` -> ``audit`` (the pipeline) -> ``report``;
``cli`` on top. The names below are re-exported lazily from their rooms, so ``import cg_gov`` stays
light (no torch, no model) until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what a type checker and an editor see; at run time each name is imported on first use
    from cg_gov.audit import AuditResult, run_audit
    from cg_gov.dictionary import load_dictionary
    from cg_gov.engine import concept_activations
    from cg_gov.errors import CgGovError
    from cg_gov.findings import Findings, Manifest, load_findings
    from cg_gov.matching import match_profile
    from cg_gov.report import render_report
    from cg_gov.scoring import score_concepts, score_families
    from cg_gov.spec import load_audit, load_profile

__all__ = [
    "__version__",
    # run an audit, read and render its results
    "AuditResult",
    "CgGovError",
    "Findings",
    "Manifest",
    "load_findings",
    "render_report",
    "run_audit",
    # the stages, for a pipeline of one's own
    "concept_activations",
    "load_audit",
    "load_dictionary",
    "load_profile",
    "match_profile",
    "score_concepts",
    "score_families",
]

# Public names re-exported lazily (name -> module), so `import cg_gov` stays light.
_LAZY = {
    "AuditResult": "cg_gov.audit",
    "run_audit": "cg_gov.audit",
    "CgGovError": "cg_gov.errors",
    "Findings": "cg_gov.findings",
    "Manifest": "cg_gov.findings",
    "load_findings": "cg_gov.findings",
    "render_report": "cg_gov.report",
    "concept_activations": "cg_gov.engine",
    "load_audit": "cg_gov.spec",
    "load_dictionary": "cg_gov.dictionary",
    "load_profile": "cg_gov.spec",
    "match_profile": "cg_gov.matching",
    "score_concepts": "cg_gov.scoring",
    "score_families": "cg_gov.scoring",
}


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from cg_gov.io import package_version

        return package_version()
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cg_gov' has no attribute {name!r}")
