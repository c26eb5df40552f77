"""The findings room: what an audit concluded, typed and versioned.

- :mod:`cg_gov.findings.verdict`: importance, statuses, severity, caveat rules and the gate, in
  one table.
- :mod:`cg_gov.findings._schema`: the ``findings.json`` models, their upgrades and JSON Schema.
- :mod:`cg_gov.findings._derive`: :func:`derive_findings`, from scored inputs to findings.
- :mod:`cg_gov.findings._manifest`: the typed, versioned ``manifest.json``.
- :mod:`cg_gov.findings.diff`: comparing two audits' findings.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cg_gov.findings._manifest import (MANIFEST_VERSION, Manifest, file_entry, jsonable, package_versions,
                                       timestamp)
from cg_gov.findings._schema import *  # noqa: F403
from cg_gov.findings._schema import __all__ as _schema_all
from cg_gov.findings.verdict import (CAVEAT_RULES, COVERAGE_SEVERITY, MIN_FAMILY_N_EFF, PERFORMANCE_SEVERITY,
                                     SMALL_SUPPORT_N_EFF, VISIBILITY_SEVERITY, caveats_for, coverage_status,
                                     family_severity, gate_effect, performance_status, requirement_met,
                                     requirement_status, rule_tables)

__all__ = [*_schema_all, "CAVEAT_RULES", "COVERAGE_SEVERITY", "VISIBILITY_SEVERITY", "gate_effect",
           "requirement_status", "rule_tables", "MANIFEST_VERSION", "MIN_FAMILY_N_EFF",
           "Manifest", "PERFORMANCE_SEVERITY", "SMALL_SUPPORT_N_EFF", "caveats_for", "coverage_status",
           "derive_findings", "family_severity", "file_entry", "jsonable", "package_versions",
           "performance_status", "requirement_met", "timestamp", "workload_drift"]

# Deriving findings needs the scoring room (pandas, the statistics); reading, writing and comparing
# findings does not, so `cg-gov diff` and the commands' start stay light: imported on first use.
_LAZY = {"derive_findings": "cg_gov.findings._derive", "workload_drift": "cg_gov.findings._derive"}

if TYPE_CHECKING:
    from cg_gov.findings._derive import derive_findings, workload_drift


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cg_gov.findings' has no attribute {name!r}")
