"""The scoring options: one :class:`~cg_gov.spec.ScoringSettings`, whose defaults are the method's.

The public functions take ``settings`` and, for a single call, keyword overrides; an option left
out comes from ``settings``, else from ``ScoringSettings()``. No function declares a default of
its own.
"""
from __future__ import annotations

from typing import Any

from cg_gov.spec import ScoringSettings

__all__ = ["ScoringSettings", "resolve_options"]

#: keyword of the scoring functions -> field of ScoringSettings
_FIELDS = {"n_min": "n_min", "min_benchmarks": "min_benchmarks", "ratio_k": "ratio_k",
           "n_bootstrap": "bootstrap", "alpha": "alpha", "seed": "seed", "epsilon": "epsilon",
           "subsample_reruns": "subsample_reruns", "subsample_fraction": "subsample_fraction",
           "lift_p_method": "lift_p_method"}


def resolve_options(settings: ScoringSettings | None, **overrides: Any) -> dict[str, Any]:
    """The value of each named option: the override when given (not None), else the settings'."""
    settings = settings if settings is not None else ScoringSettings()
    out = {}
    for key, value in overrides.items():
        out[key] = value if value is not None else getattr(settings, _FIELDS[key])
    return out
