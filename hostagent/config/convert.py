"""A table-driven converter: plain TOML values -> the frozen dataclasses in `hostagent.config.model`.

It walks each dataclass's fields and type hints, so a field added to the model is read from TOML with no
change here. Every problem is collected (never raised one by one): the caller reports them all together.
Value checks (ranges, time zones) and cross-field checks live in `hostagent.config.validate`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

INVALID: Any = object()  # a value that failed conversion; its problem is already recorded

_BARE_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

# (dataclass, field name) -> check of one converted value; returns the problem or None
FieldCheck = Callable[[Any], "str | None"]
# dataclass -> check of a whole built object; yields (sub-path or "", problem)
ObjectCheck = Callable[[Any], "list[tuple[str, str]]"]


@dataclass
class Context:
    """Where problems are collected and how paths are resolved during one conversion."""

    label: str  # the file name that starts each problem
    base_dir: Path  # relative paths are resolved against it
    problems: list[str] = field(default_factory=list)
    field_checks: Mapping[tuple[type, str], FieldCheck] = field(default_factory=dict)
    object_checks: Mapping[type, ObjectCheck] = field(default_factory=dict)
    item_checks: Mapping[tuple[type, str], FieldCheck] = field(default_factory=dict)  # each array / table entry
    skip_fields: frozenset[tuple[type, str]] = frozenset()  # fields that are not TOML keys
    sections_of: Mapping[str, list[str]] = field(default_factory=dict)  # key -> the tables that have it

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{self.label}: {path}: {message}" if path else f"{self.label}: {message}")


def key_path(parent: str, key: str) -> str:
    """The dotted path of `key` under `parent`, quoting keys that are not bare (`models."H100 SXM"`)."""
    part = key if key and set(key) <= _BARE_KEY else json.dumps(key)
    return f"{parent}.{part}" if parent else part


def describe(value: object) -> str:
    """A short, TOML-flavoured rendering of a value for 'got ...' messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return repr(value)


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean "x"?)' when one choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _elsewhere(key: str, ctx: Context) -> str:
    """' (it belongs in [agent])' for a known key written in the wrong table."""
    sections = ctx.sections_of.get(key)
    if not sections:
        return ""
    return " (it belongs in " + " or ".join(f"[{s}]" for s in sections) + ")"


def schema_paths(cls: type, prefix: str = "", skip: frozenset[tuple[type, str]] = frozenset()) -> list[str]:
    """Every key path `cls` reads, e.g. `pricing.rules[].multiplier`, `pricing.models.*`."""
    paths: list[str] = []
    for fld in dataclasses.fields(cls):
        if (cls, fld.name) in skip:
            continue
        path = f"{prefix}.{fld.name}" if prefix else fld.name
        tp = _optional_inner(hints(cls)[fld.name])
        args = get_args(tp)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            paths += schema_paths(tp, path, skip)
        elif _is_mapping_tuple(tp):
            item = get_args(args[0])[1]
            is_table = dataclasses.is_dataclass(item) and isinstance(item, type)
            paths += schema_paths(item, f"{path}.*", skip) if is_table else [f"{path}.*"]
        elif get_origin(tp) is tuple and dataclasses.is_dataclass(args[0]) and isinstance(args[0], type):
            paths += schema_paths(args[0], f"{path}[]", skip)
        else:
            paths.append(path)
    return paths


@cache
def hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _optional_inner(tp: Any) -> Any:
    """`X` for `X | None`, else `tp` unchanged (TOML has no null: optional only means 'may be absent')."""
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return tp


def _is_mapping_tuple(tp: Any) -> bool:
    """`tuple[tuple[str, X], ...]`: a TOML table whose keys are user-chosen names (e.g. GPU models)."""
    args = get_args(tp)
    if get_origin(tp) is not tuple or len(args) != 2 or args[1] is not Ellipsis:
        return False
    pair = args[0]
    pair_args = get_args(pair)
    return get_origin(pair) is tuple and len(pair_args) == 2 and pair_args[0] is str


def convert(value: object, tp: Any, path: str, ctx: Context) -> Any:
    """`value` as type `tp`, or INVALID with the problem recorded at `path`."""
    tp = _optional_inner(tp)
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return convert_table(value, tp, path, ctx)
    if origin is Literal:
        return _literal(value, get_args(tp), path, ctx)
    if _is_mapping_tuple(tp):
        return _mapping(value, get_args(get_args(tp)[0])[1], path, ctx)
    if origin is tuple:
        return _sequence(value, get_args(tp)[0], path, ctx)
    scalar = _SCALARS.get(tp)
    if scalar is None:
        raise TypeError(f"config model type {tp!r} at {path} has no converter")
    return scalar(value, path, ctx)


def convert_table(value: object, cls: type, path: str, ctx: Context) -> Any:
    """A TOML table -> `cls`; unknown keys and missing required keys are problems."""
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table, got {describe(value)}")
        return INVALID
    fields = {f.name: f for f in dataclasses.fields(cls) if (cls, f.name) not in ctx.skip_fields}
    for key in value:
        if key not in fields:
            hint = suggest(key, list(fields)) or _elsewhere(key, ctx)
            ctx.add(key_path(path, key), "unknown key" + hint)
    kwargs: dict[str, Any] = {}
    ok = True
    for name, fld in fields.items():
        if name not in value:
            if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                ctx.add(key_path(path, name), "missing (required)")
                ok = False
            continue
        sub = key_path(path, name)
        converted = convert(value[name], hints(cls)[name], sub, ctx)
        if converted is INVALID:
            ok = False
            continue
        if _check_field(cls, name, converted, sub, ctx):
            kwargs[name] = converted
        else:
            ok = False
    if not ok:
        return INVALID
    obj = cls(**kwargs)
    object_check = ctx.object_checks.get(cls)
    problems = object_check(obj) if object_check else []
    for sub, message in problems:  # checks give `sub` already spelled as a dotted path
        ctx.add(f"{path}.{sub}" if path and sub else path or sub, message)
    return INVALID if problems else obj


def _check_field(cls: type, name: str, value: Any, path: str, ctx: Context) -> bool:
    """Run the value checks for one converted field; False when any found a problem."""
    found = False
    item_check = ctx.item_checks.get((cls, name))
    if item_check is not None:
        for i, item in enumerate(value):
            # A mapping table converts to (name, value) pairs; an array to its items.
            is_pair = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            item_path = key_path(path, item[0]) if is_pair else f"{path}[{i}]"
            problem = item_check(item[1] if is_pair else item)
            if problem:
                ctx.add(item_path, problem)
                found = True
    check = ctx.field_checks.get((cls, name))
    problem = check(value) if check is not None else None
    if problem:
        ctx.add(path, problem)
    return not (found or problem)


def _literal(value: object, choices: tuple[Any, ...], path: str, ctx: Context) -> Any:
    if value in choices and type(value) in {type(c) for c in choices}:
        return value
    listed = ", ".join(json.dumps(c) for c in choices)
    hint = suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
    ctx.add(path, f"must be one of {listed}, got {describe(value)}{hint}")
    return INVALID


def _sequence(value: object, item_tp: Any, path: str, ctx: Context) -> Any:
    if not isinstance(value, list):
        ctx.add(path, f"expected an array, got {describe(value)}")
        return INVALID
    items = [convert(item, item_tp, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
    return INVALID if any(item is INVALID for item in items) else tuple(items)


def _mapping(value: object, item_tp: Any, path: str, ctx: Context) -> Any:
    if not isinstance(value, dict):
        ctx.add(path, f"expected a table of names to values, got {describe(value)}")
        return INVALID
    pairs = [(key, convert(item, item_tp, key_path(path, key), ctx)) for key, item in value.items()]
    return INVALID if any(item is INVALID for _, item in pairs) else tuple(pairs)


def _to_str(value: object, path: str, ctx: Context) -> Any:
    if isinstance(value, str):
        return value
    ctx.add(path, f"expected a string, got {describe(value)}")
    return INVALID


def _to_bool(value: object, path: str, ctx: Context) -> Any:
    if isinstance(value, bool):
        return value
    ctx.add(path, f"expected true or false, got {describe(value)}")
    return INVALID


def _to_int(value: object, path: str, ctx: Context) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    ctx.add(path, f"expected a whole number, got {describe(value)}")
    return INVALID


def _to_float(value: object, path: str, ctx: Context) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # TOML allows nan and inf
            ctx.add(path, f"expected a finite number, got {describe(value)}")
            return INVALID
        return float(value)
    ctx.add(path, f"expected a number, got {describe(value)}")
    return INVALID


def _to_path(value: object, path: str, ctx: Context) -> Any:
    if not isinstance(value, str) or not value:
        ctx.add(path, f"expected a path string, got {describe(value)}")
        return INVALID
    # A relative path means 'next to the config file', so a config works wherever it is installed.
    return ctx.base_dir / Path(value).expanduser()


def _to_time(value: object, path: str, ctx: Context) -> Any:
    if isinstance(value, time):
        return value.replace(microsecond=0) if value.tzinfo is None else value.replace(tzinfo=None)
    if isinstance(value, str):
        hour, sep, minute = value.partition(":")
        digits = len(hour) == 2 and len(minute) == 2 and hour.isdigit() and minute.isdigit()
        if sep and digits and int(hour) < 24 and int(minute) < 60:
            return time(int(hour), int(minute))
    ctx.add(path, f'expected a time "HH:MM" (00:00 to 23:59), got {describe(value)}')
    return INVALID


def _to_datetime(value: object, path: str, ctx: Context) -> Any:
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        ctx.add(path, f'expected a local date and time like 2026-12-06T02:00, got {describe(value)}')
        return INVALID
    if parsed.tzinfo is not None:
        ctx.add(path, f"give a local time without an offset (the zone comes from `timezone`), got {describe(value)}")
        return INVALID
    return parsed


_SCALARS: dict[Any, Callable[[object, str, Context], Any]] = {
    str: _to_str,
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    Path: _to_path,
    time: _to_time,
    datetime: _to_datetime,
}
