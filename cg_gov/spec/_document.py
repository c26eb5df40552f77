"""Strict YAML spec files: reading them with line numbers, and errors a person can act on.

:func:`read_spec_document` parses a YAML file with ``yaml.SafeLoader`` and keeps
its node tree, so that every problem can be located at a line. :func:`parse_model`
validates the data against any pydantic model and turns each validation error
into a :class:`~cg_gov.errors.SpecError` naming the file, the line and the key
path (``families[2].importance``) and saying what is allowed: the allowed keys
and a "did you mean" for an unknown key, the allowed values for a choice, the
bounds for a number. All problems of a file are collected, not only the first.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, StringConstraints, Tag, ValidationError

from cg_gov.errors import SpecError, SpecErrorGroup
from cg_gov.io import read_bytes_limited

__all__ = [
    "ConceptId",
    "Device",
    "Loc",
    "NonEmptyStr",
    "Problems",
    "Slug",
    "SpecDocument",
    "format_key_path",
    "parse_model",
    "raise_errors",
    "read_spec_document",
    "short_repr",
]

#: A location in a spec: mapping keys and list indices, e.g. ("families", 2, "importance").
Loc = tuple[str | int, ...]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
DEVICE_PATTERN = r"^(cpu|mps|cuda(:[0-9]+)?)$"

#: An identifier: lowercase letters, digits, '-' and '_'.
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=80)]
#: Text that is not empty once surrounding white space is removed.
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: Index of a concept (an SAE latent).
ConceptId = Annotated[int, Field(ge=0)]
#: A torch device name.
Device = Annotated[str, StringConstraints(pattern=DEVICE_PATTERN)]

_PATTERN_HELP = {
    SLUG_PATTERN: "must be a slug: lowercase letters, digits, '-' and '_', starting with a letter or digit",
    DEVICE_PATTERN: "must be a device: cpu, cuda, cuda:N or mps",
}


class Problems(ValueError):
    """Raised inside a validator to report problems at key paths below the validated value,
    e.g. ``Problems([((2, "id"), "duplicate family id 'refusal'")])`` from a list validator."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{format_key_path(loc)}: {msg}" if loc else msg for loc, msg in problems))


@dataclass
class SpecDocument:
    """A parsed YAML spec: its data, its node tree (for line numbers) and problems found while parsing."""

    path: Path
    data: Any
    root: yaml.Node | None
    problems: list[SpecError]

    def line_of(self, loc: Loc) -> int:
        """1-based line of the key or item at ``loc``; of the nearest existing parent when absent."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for item in loc:
            if isinstance(node, yaml.MappingNode) and isinstance(item, str):
                match = None
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == item:
                        match = (key_node, value_node)
                if match is None:
                    return line
                line = match[0].start_mark.line + 1
                node = match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
                node = node.value[item]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def error(self, loc: Loc, message: str, hint: str | None = None) -> SpecError:
        """A SpecError at ``loc`` in this file."""
        return SpecError(
            message, file=str(self.path), line=self.line_of(loc), key=format_key_path(loc) or None, hint=hint
        )


def read_spec_document(path: str | os.PathLike) -> SpecDocument:
    """Read a YAML spec file. Raises SpecError when it cannot be read as one YAML mapping;
    duplicate or non-text keys are collected in ``problems``."""
    path = Path(path)
    raw = read_bytes_limited(path, "file", kind="spec", error=SpecError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            file=str(path),
            line=line,
            hint="save the file as UTF-8",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = _SpecLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expansion(path, root)
        data = loader.construct_document(root) if root is not None else None
    except _TooDeep as exc:
        raise SpecError(f"YAML nested more than {MAX_DEPTH} levels deep", file=str(path), line=exc.line,
                        hint="a spec is a few levels deep; is this file generated by mistake?") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        hint = "check indentation, colons and quotes"
        if exc.problem and "another document" in exc.problem:
            detail = "the file holds more than one YAML document"
            hint = "a spec is one document: remove the '---' separator"
        else:
            detail = exc.problem or "syntax error"
            if exc.context:
                where = exc.context_mark
                started = f" that starts at line {where.line + 1}" if where and mark and where.line != mark.line else ""
                detail += f" ({exc.context}{started})"
        raise SpecError(
            f"invalid YAML: {detail}", file=str(path), line=mark.line + 1 if mark else None, hint=hint
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", file=str(path)) from None
    finally:
        loader.dispose()
    if root is None or data is None:
        raise SpecError(
            "file is empty (no YAML content)",
            file=str(path),
            hint="a profile starts with 'profile:', an audit with 'audit:'",
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        raise SpecError(
            f"top level must be a mapping of keys, found {kind}",
            file=str(path),
            line=root.start_mark.line + 1,
            hint="a profile starts with 'profile:', an audit with 'audit:'",
        )
    doc = SpecDocument(path=path, data=data, root=root, problems=[])
    _check_keys(doc, root, ())
    return doc


#: Deepest nesting of mappings and lists a spec may have (a spec needs about 6).
MAX_DEPTH = 64
#: Most values a spec may hold once its aliases are expanded (a large profile holds a few thousand).
MAX_EXPANDED_NODES = 100_000
#: Most aliases (``*name``) a spec may use.
MAX_ALIASES = 200


#: A plain scalar that YAML 1.1 (and Python, and pydantic) would read as a number with digit separators.
_SEPARATED_NUMBER = re.compile(r"^[-+]?(?:0x)?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?$|^[-+]?[0-9]*\.[0-9_]*_[0-9_]*$")


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _plain_resolvers() -> dict:
    """SafeLoader's implicit resolvers, with YAML 1.1's digit separators ('1_0' = 10) and sexagesimal
    numbers ('1:30' = 90) left out: such a value stays text, and a number key reports it."""
    resolvers = {first: list(entries) for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    int_re = re.compile(r"""^(?:[-+]?0b[0-1]+|[-+]?0[0-7]+|[-+]?(?:0|[1-9][0-9]*)|[-+]?0x[0-9a-fA-F]+)$""", re.X)
    float_re = re.compile(r"""^(?:[-+]?(?:[0-9][0-9]*)\.[0-9]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.X)
    for first, entries in resolvers.items():
        resolvers[first] = [(tag, int_re if tag == "tag:yaml.org,2002:int" else
                             float_re if tag == "tag:yaml.org,2002:float" else regexp)
                            for tag, regexp in entries]
    return resolvers


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader with a nesting cap, a cap on aliases and no digit separators in numbers."""

    yaml_implicit_resolvers = _plain_resolvers()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name); write the values out", mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_expansion(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_EXPANDED_NODES values (an alias bomb):
    the size is counted over the node graph, without expanding anything."""
    sizes: dict[int, int] = {}
    # iterative post-order walk: a node's expanded size is 1 + its children's
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            sizes[id(node)] = 1
            continue
        if done:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            if total > MAX_EXPANDED_NODES:
                raise SpecError(f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values (an alias bomb?)",
                                file=str(path), line=node.start_mark.line + 1,
                                hint="write the values out instead of repeating anchors (&name / *name)")
            sizes[id(node)] = total
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)


def _check_keys(doc: SpecDocument, node: yaml.Node, loc: Loc, seen_nodes: set[int] | None = None) -> None:
    """Find duplicate keys and keys that YAML does not read as text (yes, no, on, numbers)."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # aliases
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                doc.problems.append(
                    SpecError(
                        "a key must be plain text",
                        file=str(doc.path),
                        line=key_node.start_mark.line + 1,
                        key=format_key_path(loc) or None,
                    )
                )
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key == "<<":
                _check_keys(doc, value_node, loc, seen_nodes)
                continue
            if key_node.tag != "tag:yaml.org,2002:str":
                doc.problems.append(
                    SpecError(
                        f"key '{key}' is not read as text by YAML",
                        file=str(doc.path),
                        line=line,
                        key=format_key_path(loc + (key,)),
                        hint=f'quote it: "{key}":',
                    )
                )
            if key in first_line:
                doc.problems.append(
                    SpecError(
                        f"duplicate key (first at line {first_line[key]})",
                        file=str(doc.path),
                        line=line,
                        key=format_key_path(loc + (key,)),
                        hint="remove one of them",
                    )
                )
            else:
                first_line[key] = line
            _check_keys(doc, value_node, loc + (key,), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_keys(doc, item, loc + (index,), seen_nodes)
    elif isinstance(node, yaml.ScalarNode) and node.style is None and _SEPARATED_NUMBER.match(node.value):
        doc.problems.append(
            SpecError(
                f"'{node.value[:40]}' is not a number here: '_' between digits is not read (YAML 1.1 and "
                f"number parsers read '1_0' as 10)",
                file=str(doc.path),
                line=node.start_mark.line + 1,
                key=format_key_path(loc) or None,
                hint=f"write the number without '_' (e.g. {node.value.replace('_', '')[:40]}), or quote it if it "
                     "is text",
            )
        )


# ---------------------------------------------------------------------------
# Validation errors -> SpecErrors
# ---------------------------------------------------------------------------


def format_key_path(loc: Loc) -> str:
    text = ""
    for item in loc:
        if isinstance(item, int):
            text += f"[{item}]"
        else:
            text += f".{item}" if text else str(item)
    return text


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 3


def short_repr(value: Any, limit: int = 40) -> str:
    """repr() of a value, cut to ``limit`` characters; built with bounded effort, whatever the value's size."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _is_model(tp: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_members(tp: Any) -> list[Any]:
    return [m for m in get_args(tp) if m is not type(None)]


def _member_matches(member: Any, item: Any) -> bool:
    if not isinstance(item, str):
        return False
    if get_origin(member) is Annotated:
        if any(isinstance(meta, Tag) and meta.tag == item for meta in get_args(member)[1:]):
            return True
    base = _unwrap(member)
    if get_origin(base) is Literal:
        return item.startswith("literal[")
    return getattr(base, "__name__", None) == item or (
        item.startswith("constrained-") and getattr(base, "__name__", "") in item
    )


@dataclass
class _Walk:
    path: Loc  # user-facing key path (union tags removed)
    target: Any  # annotation at the end of the path (None when unknown)
    parent: Any  # model that holds the last key (None when unknown)


def _walk(model: type[BaseModel], loc: Loc) -> _Walk:
    """Follow a pydantic error location through the model's annotations."""
    ctx: Any = model
    parent: Any = None
    path: list[str | int] = []
    items = list(loc)
    while items:
        item = items[0]
        tp = _unwrap(ctx) if ctx is not None else None
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            members = _union_members(tp)
            chosen = next((m for m in members if _member_matches(m, item)), None)
            if chosen is not None:
                items.pop(0)
                ctx = chosen
                continue
            models = [m for m in members if _is_model(_unwrap(m))]
            if len(members) == 1:
                ctx = members[0]
                continue
            if models:
                ctx = models[0]
                continue
            ctx = None
            continue
        items.pop(0)
        path.append(item)
        if _is_model(tp):
            parent = tp
            field = tp.model_fields.get(item) if isinstance(item, str) else None
            ctx = field.annotation if field is not None else None
            if field is not None and field.metadata and ctx is not None:
                params = (ctx, *field.metadata)
                ctx = Annotated[params]  # keep constraints for messages
        elif origin in (list, tuple, set, frozenset) and isinstance(item, int):
            args = get_args(tp)
            ctx = args[0] if args else None
            parent = None
        elif origin is dict:
            args = get_args(tp)
            ctx = args[1] if len(args) == 2 else None
            parent = None
        else:
            ctx = None
            parent = None
    return _Walk(path=tuple(path), target=ctx, parent=parent)


def _literal_choices(tp: Any) -> list[str] | None:
    tp = _unwrap(tp)
    if get_origin(tp) is Literal:
        return [str(a) for a in get_args(tp)]
    if get_origin(tp) in (Union, types.UnionType):
        for member in _union_members(tp):
            choices = _literal_choices(member)
            if choices:
                return choices
    return None


def _field_info(model: Any, key: Any):
    if _is_model(model) and isinstance(key, str):
        return model.model_fields.get(key)
    return None


_TYPE_WORDS = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys",
    "model_type": "must be a mapping of keys",
    "model_attributes_type": "must be a mapping of keys",
    "none_required": "must be empty",
}


def _message(err: Mapping[str, Any], walk: _Walk) -> tuple[str, str | None]:
    """A plain-language message and hint for one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    got = f" (got {short_repr(value)})"
    key = walk.path[-1] if walk.path else None
    if kind == "extra_forbidden":
        allowed = list(walk.parent.model_fields) if _is_model(walk.parent) else []
        message = f"unknown key '{key}'"
        if allowed:
            message += "; allowed keys: " + ", ".join(allowed)
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        return message, (f"did you mean '{close[0]}'?" if close else None)
    if kind == "missing":
        info = _field_info(walk.parent, key)
        hint = info.description if info is not None and info.description else None
        return f"required key '{key}' is missing", hint
    if kind == "literal_error":
        choices = _literal_choices(walk.target) or []
        message = "must be one of " + ", ".join(choices) if choices else f"must be {ctx.get('expected')}"
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6) if choices else []
        return message + got, (f"did you mean '{close[0]}'?" if close else None)
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        message = _PATTERN_HELP.get(pattern, f"must match the pattern {pattern}")
        hint = None
        if pattern == SLUG_PATTERN and isinstance(value, str):
            slug = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")
            hint = f"e.g. '{slug}'" if slug else None
        return message + got, hint
    if kind in ("string_too_short", "too_short"):
        if ctx.get("min_length", 1) <= 1:
            return "must not be empty", None
        return f"must have at least {ctx['min_length']} entries", None
    if kind in ("string_too_long", "too_long"):
        return f"is too long (at most {ctx.get('max_length')})", None
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = _number(next(iter(ctx.values()), "?"))
        return f"must be {bounds[kind]} {limit}{got}", _range_hint(walk)
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", err.get("msg", "")))
        return text, None
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return "has an unexpected form" + got, None
    if kind in _TYPE_WORDS:
        message = _TYPE_WORDS[kind]
        hint = None
        if kind == "string_type" and isinstance(value, (bool, int, float)):
            hint = "quote it"
        if kind in ("model_type", "dict_type") and _is_model(_unwrap(walk.target)):
            hint = "allowed keys: " + ", ".join(_unwrap(walk.target).model_fields)
        return message + got, hint
    return err.get("msg", "is invalid"), None


def _range_hint(walk: _Walk) -> str | None:
    if walk.target is None:
        return None
    lows: list[str] = []
    highs: list[str] = []
    for meta in get_args(walk.target)[1:] if get_origin(walk.target) is Annotated else []:
        for attr, bucket, sign in (("gt", lows, ">"), ("ge", lows, ">="), ("lt", highs, "<"), ("le", highs, "<=")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                bucket.append(f"{sign} {_number(bound)}")
    parts = lows + highs
    return "allowed: " + " and ".join(parts) if len(parts) > 1 else None


def _errors_from_validation(doc: SpecDocument, model: type[BaseModel], exc: ValidationError) -> list[SpecError]:
    errors: list[SpecError] = []
    for err in exc.errors():
        if err["type"] == "invalid_key" or any(
            isinstance(i, bool) or not isinstance(i, (str, int)) for i in err["loc"]
        ):
            continue  # keys YAML did not read as text are reported while reading the file
        walk = _walk(model, tuple(err["loc"]))
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, Problems):
            for rel_loc, message in error.problems:
                errors.append(doc.error(walk.path + tuple(rel_loc), message))
            continue
        message, hint = _message(err, walk)
        errors.append(doc.error(walk.path, message, hint))
    return errors


def _sorted_unique(errors: list[SpecError]) -> list[SpecError]:
    seen: set[str] = set()
    out = []
    for error in sorted(errors, key=lambda e: (e.file or "", e.line or 0, e.key or "", e.message)):
        text = error.render()
        if text not in seen:
            seen.add(text)
            out.append(error)
    return out


def parse_model(doc: SpecDocument, model: type[BaseModel]) -> tuple[BaseModel | None, list[SpecError]]:
    """Validate a parsed document against a model. Returns (instance, []) or (None, all problems).

    A model may define a classmethod ``raw_problems(data) -> [(loc, message)]`` for rules across
    items; it runs on the raw data when validation fails. A model with a private ``_source_file``
    attribute gets the document's path there."""
    errors = list(doc.problems)
    instance = None
    try:
        instance = model.model_validate(doc.data)
    except ValidationError as exc:
        errors += _errors_from_validation(doc, model, exc)
        # Cross-item rules (unique ids...) run as after-validators, which pydantic skips when an
        # item is invalid: a model may check them on the raw data too, so one run reports everything.
        raw_problems = getattr(model, "raw_problems", None)
        if raw_problems is not None:
            errors += [doc.error(loc, message) for loc, message in raw_problems(doc.data)]
    if instance is not None and hasattr(instance, "_source_file"):
        instance._source_file = doc.path
    errors = _sorted_unique(errors)
    return (instance if not errors else None), errors


def raise_errors(errors: list[SpecError], path: str | os.PathLike) -> None:
    """Raise one SpecError, or a SpecErrorGroup holding several."""
    if len(errors) == 1:
        raise errors[0]
    raise SpecErrorGroup(errors, file=str(path))
