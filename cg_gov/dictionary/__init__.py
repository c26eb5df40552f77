"""The dictionary room: a language model, a hook layer, a sae-lens SAE and a label per concept.

- :mod:`cg_gov.dictionary._model`: loading the language model (the embedded SmolLM2 GGUF,
  converted once and cached, or any transformers folder) and its identity.
- :mod:`cg_gov.dictionary._dictionary`: :func:`load_dictionary` (the bundled dictionary, or one
  an audit spec describes), the labels readers and the one labels-format rule
  (:func:`sniff_labels_format`).
"""
from __future__ import annotations

from cg_gov.dictionary._dictionary import (
    ConceptDictionary,
    default_dictionary_path,
    load_dictionary,
    read_labels,
    sniff_labels_format,
)
from cg_gov.dictionary._model import DEFAULT_GGUF_NAME, default_gguf_path, load_language_model, model_identity

__all__ = [
    "DEFAULT_GGUF_NAME",
    "ConceptDictionary",
    "default_dictionary_path",
    "default_gguf_path",
    "load_dictionary",
    "load_language_model",
    "model_identity",
    "read_labels",
    "sniff_labels_format",
]
