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
    encode_batch,
    export_precomputed,
    extract_activations,
    length_batches,
    load_precomputed,
    prepare_items,
    residual_batches,
    truncated_forward,
)
from cg_gov.engine._machine import describe_choice, resolve_extraction

__all__ = [
    "CACHE_VERSION",
    "ActivationCache",
    "Activations",
    "PreparedItem",
    "concept_activations",
    "decoder_layers",
    "describe_choice",
    "encode_batch",
    "export_precomputed",
    "extract_activations",
    "length_batches",
    "load_precomputed",
    "prepare_items",
    "residual_batches",
    "resolve_extraction",
    "truncated_forward",
]
