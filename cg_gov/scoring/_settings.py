"""The scoring options: one :class:`~cg_gov.spec.ScoringSettings`, whose defaults are the method's.

The public functions take ``settings`` and, for a single call, keyword overrides; an option left
out comes from ``settings``, else from ``ScoringSettings()``. No function declares a default of
its own.
"""
from __future__ import annotations

from typing import Any

from cg_gov.spec import ScoringSettings

__all__ = ["ScoringSettings", "resolve_options"]

def resolve_options(settings: ScoringSettings | None, **overrides: Any) -> dict[str, Any]:
    """The value of each named option: the override when given (not None), else the settings'.

    A keyword names the field of :class:`ScoringSettings` it sets (:meth:`ScoringSettings.field_of`:
    its own name, or ``n_bootstrap`` for ``bootstrap``, as findings.json records it)."""
    settings = settings if settings is not None else ScoringSettings()
    out = {}
    for key, value in overrides.items():
        out[key] = value if value is not None else getattr(settings, ScoringSettings.field_of(key))
    return out
