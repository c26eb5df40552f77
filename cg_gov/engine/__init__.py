"""The engine room: per-item concept activations, cached.

It takes the spec's one :class:`cg_gov.spec.ExtractionSettings`; see
:mod:`cg_gov.engine._activations` for the path from text to activations.
"""
from __future__ import annotations

from cg_gov.engine._activations import (
    CACHE_VERSION,
    ActivationCache,
    Activations,
    PreparedItem,
    concept_activations,
    decoder_layers,
    extract_activations,
    length_batches,
    prepare_items,
    residual_batches,
    truncated_forward,
)

__all__ = [
    "CACHE_VERSION",
    "ActivationCache",
    "Activations",
    "PreparedItem",
    "concept_activations",
    "decoder_layers",
    "extract_activations",
    "length_batches",
    "prepare_items",
    "residual_batches",
    "truncated_forward",
]
