"""The item: one benchmark question as the model saw it, with its score."""
from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Item"]


class Item(BaseModel):
    """One benchmark item read from an eval log."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    id: str
    """The item's id in its log, unique within the benchmark."""
    benchmark: str
    """Name of the benchmark the item belongs to."""
    input: str
    """The text the model saw: the prompt, or the user turns of a chat joined by blank lines."""
    response: str | None = None
    """The model's response, when the log has one."""
    target: str | None = None
    """The expected answer, when the log has one."""
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    """Per-item score in [0, 1] from the benchmark's own scorer (1 = correct); None: coverage only."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Everything else the log says about the item (risk area, epochs read, scorer...)."""

    @field_validator("score")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("score must be a finite number")
        return value
