"""The spec room: deployment profiles and audit specs, read from YAML with lines, and validated.

- :mod:`cg_gov.spec._document`: YAML with the line of every key; pydantic errors turned into
  located :class:`~cg_gov.errors.SpecError` messages.
- :mod:`cg_gov.spec._models`: the models (``Profile``, ``AuditSpec`` and their parts, with
  ``ExtractionSettings``, ``ScoringSettings`` and ``MatchingSettings``): every default of a
  run is declared here once, and ``cg-gov schema`` prints it.
- :mod:`cg_gov.spec._validate`: :func:`check_file`, the checks the schema cannot see (files
  exist, the linked profile is valid). Reading the eval logs is the next room's
  (:func:`cg_gov.evals.read_audit`).
"""
from __future__ import annotations

from cg_gov.spec._document import Loc, SpecDocument, parse_model, read_spec_document
from cg_gov.spec._models import (
    IMPORTANCE_LEVELS,
    AuditSpec,
    BenchmarkSpec,
    ConceptFamily,
    DictionarySpec,
    EvalLogSpec,
    ExtractionSettings,
    RaySettings,
    FieldMap,
    MatchingSettings,
    Profile,
    ReferenceSpec,
    RECORDED_SETTINGS,
    ReportSpec,
    Requirement,
    RunSettings,
    SaeSpec,
    ScoringSettings,
    json_schema,
    load_audit,
    load_audit_with_profile,
    load_profile,
    resolve_path,
    spec_kind,
)
from cg_gov.spec._validate import SpecKind, check_file, validate_file

__all__ = [
    "IMPORTANCE_LEVELS",
    "AuditSpec",
    "BenchmarkSpec",
    "ConceptFamily",
    "DictionarySpec",
    "EvalLogSpec",
    "ExtractionSettings",
    "RaySettings",
    "FieldMap",
    "Loc",
    "MatchingSettings",
    "Profile",
    "ReferenceSpec",
    "RECORDED_SETTINGS",
    "ReportSpec",
    "Requirement",
    "RunSettings",
    "SaeSpec",
    "ScoringSettings",
    "SpecDocument",
    "SpecKind",
    "check_file",
    "json_schema",
    "load_audit",
    "load_audit_with_profile",
    "load_profile",
    "parse_model",
    "read_spec_document",
    "resolve_path",
    "spec_kind",
    "validate_file",
]
