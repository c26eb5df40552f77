"""The table of eval-log readers: format name -> reader.

Entries are ``"module:function"`` strings, imported on first use, so that
``import cg_gov.evals`` stays light and a reader's dependencies (inspect-ai)
load only when a log of that format is read. A reader is a callable
``(ReadOptions) -> list[Item]``.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Union

from cg_gov.errors import SpecError

from ._item import Item
from ._options import ReadOptions

__all__ = ["Reader", "ReaderRegistry", "READERS"]

Reader = Callable[[ReadOptions], list[Item]]


class ReaderRegistry:
    """Format names mapped to readers, given as callables or lazy ``"module:attr"`` strings."""

    def __init__(self) -> None:
        self._entries: dict[str, Union[str, Reader]] = {}

    def register(self, name: str, reader: Union[str, Reader], *, replace: bool = False) -> None:
        """Add a reader under ``name``; an existing name needs ``replace=True``."""
        if name in self._entries and not replace:
            raise ValueError(f"a reader for format {name!r} is already registered")
        if not isinstance(reader, str) and not callable(reader):
            raise TypeError(f"a reader must be callable or a 'module:attr' string, got {type(reader).__name__}")
        if isinstance(reader, str) and ":" not in reader:
            raise ValueError(f"lazy reader {reader!r} must be written 'module:attr'")
        self._entries[name] = reader

    def names(self) -> list[str]:
        """Registered format names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Reader:
        """The reader for ``name``; SpecError naming the formats (and the closest one) if unknown."""
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.5)
            raise SpecError(f"unknown eval log format {name!r}; known formats: {', '.join(self.names())}",
                            key="format", hint=f"did you mean {close[0]!r}?" if close else None)
        entry = self._entries[name]
        if isinstance(entry, str):
            module_name, attr = entry.split(":", 1)
            reader = getattr(importlib.import_module(module_name), attr)
            if not callable(reader):
                raise TypeError(f"reader {entry!r} is not callable")
            self._entries[name] = reader
            entry = reader
        return entry


#: The readers cg_gov ships.
READERS = ReaderRegistry()
READERS.register("jsonl", "cg_gov.evals._jsonl:read_jsonl")
READERS.register("lm-eval", "cg_gov.evals._lm_eval:read_lm_eval")
READERS.register("inspect", "cg_gov.evals._inspect:read_inspect")
