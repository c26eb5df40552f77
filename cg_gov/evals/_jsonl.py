"""Plain JSONL logs: one JSON object per line, one item per object.

Record keys are configurable (``fields`` in the spec; dotted paths such as
``doc.question`` reach nested objects). Defaults: ``id``, ``input``,
``score``; ``response`` and ``target`` are read only when named.

- ``id``: a string or an integer, unique in the file.
- ``input``: a string, or a chat as a list of ``{"role", "content"}``
  messages; of a chat, the text of the user turns is kept (joined by blank
  lines), since that is what the user asked. System prompts and earlier
  assistant turns are left out.
- ``score``: a number in [0, 1], a boolean, or null. A benchmark must carry
  the score key on every record; null on every record means the benchmark
  counts for coverage only. Null on some records and numbers on others is
  an error: it would silently drop items from the performance figures.
- Every other key of a record goes into the item's metadata (the keys of a
  ``metadata`` object are merged in).
"""
from __future__ import annotations

from typing import Any

from cg_gov.errors import EvalLogError

from ._common import chat_text, iter_jsonl, score_value, take_unique
from ._item import Item
from ._options import ReadOptions

__all__ = ["read_jsonl"]

_MISSING = object()


def _lookup(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _text(value: Any, *, file: str, line: int, key: str, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
        text = chat_text(value)
        if text is None:
            raise EvalLogError(f"the {what} chat has no user turn with text", file=file, line=line, key=key)
        return text
    raise EvalLogError(f"the {what} must be text or a list of chat messages, got {type(value).__name__}",
                       file=file, line=line, key=key)


def read_jsonl(options: ReadOptions) -> list[Item]:
    """Read a plain JSONL log into items (see the module docstring for the rules)."""
    path = options.log
    file = str(path)
    fields = options.fields
    id_key, input_key, score_key = fields["id"] or "id", fields["input"] or "input", fields["score"]
    used_top = {k.split(".", 1)[0] for k in fields.values() if k}
    items: list[Item] = []
    seen: dict[str, int] = {}
    first_scored: int | None = None
    first_null: int | None = None
    for number, record in iter_jsonl(path):
        raw_id = _lookup(record, id_key)
        if raw_id is _MISSING or raw_id is None:
            raise EvalLogError(f"required key '{id_key}' is missing", file=file, line=number, key=id_key,
                               hint="set fields.id to the key that holds the item id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise EvalLogError(f"the id must be text or a whole number, got {raw_id!r}", file=file, line=number,
                               key=id_key)
        item_id = str(raw_id)
        take_unique(seen, item_id, number, file=file, line=number)
        raw_input = _lookup(record, input_key)
        if raw_input is _MISSING:
            raise EvalLogError(f"required key '{input_key}' is missing", file=file, line=number, key=input_key,
                               hint="set fields.input to the key that holds the text the model saw")
        text = _text(raw_input, file=file, line=number, key=input_key, what="input")
        score = None
        if score_key:
            raw_score = _lookup(record, score_key)
            if raw_score is _MISSING:
                if options.scores_required:
                    raise EvalLogError(f"required key '{score_key}' is missing", file=file, line=number,
                                       key=score_key,
                                       hint="set fields.score to the key of the per-item score, or write "
                                            "null scores for a coverage-only benchmark")
            else:
                score = score_value(raw_score, file=file, line=number, key=score_key)
                if score is None:
                    first_null = first_null or number
                else:
                    first_scored = first_scored or number
                if first_null and first_scored:
                    other = first_scored if score is None else first_null
                    raise EvalLogError(
                        f"score is {'null' if score is None else 'set'} here but "
                        f"{'set' if score is None else 'null'} on line {other}",
                        file=file, line=number, key=score_key,
                        hint="score every item, or none (null everywhere: coverage only)")
        optional: dict[str, str | None] = {}
        for name in ("response", "target"):
            key = fields.get(name)
            value = _lookup(record, key) if key else _MISSING
            if value is _MISSING or value is None:
                optional[name] = None
            elif isinstance(value, str):
                optional[name] = value
            elif name == "response" and isinstance(value, list):
                optional[name] = _text(value, file=file, line=number, key=key or name, what=name)
            else:
                optional[name] = str(value)
        metadata = {k: v for k, v in record.items() if k not in used_top and k != "metadata"}
        if isinstance(record.get("metadata"), dict) and "metadata" not in used_top:
            metadata.update(record["metadata"])
        items.append(Item(id=item_id, benchmark=options.name, input=text, score=score,
                          metadata=metadata, **optional))
    return items
