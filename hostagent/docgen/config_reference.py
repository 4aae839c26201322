"""The configuration reference (docs/configuration.md) from the config model, its checks and the example's comments.

Keys, types and defaults come from the dataclasses of `hostagent.config.model`, ranges from the checks of
`hostagent.config.validate`, descriptions from the comment lines just above each key in
`config/hostagent.example.toml`. Nothing here is typed by hand, so the reference cannot drift from the program.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import MISSING, dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from hostagent.config import validate
from hostagent.config.convert import _is_mapping_tuple, _optional_inner, hints
from hostagent.config.model import MAINT_CATEGORIES, Config
from hostagent.config.network import api_url_problem

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "hostagent.example.toml"
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*("[^"]+"|[\w-]+)\s*=')
# What a named check accepts, in words (the range checks `Between` and `AtLeast` say it themselves).
_CHECK_WORDS: dict[Any, str] = {
    validate.positive: "> 0",
    validate.not_negative: ">= 0",
    validate.price: f"> 0, <= {validate.MAX_PRICE_USD_PER_GPU_HOUR:g} ($/GPU/h)",
    validate.transfer_price: str(validate.between(0, validate.MAX_TRANSFER_USD_PER_GB)),
    validate.non_empty: "not empty",
    validate.timezone_name: 'an IANA time zone ("Europe/Berlin", "UTC")',
    validate.host_port: '"host:port" ("[::1]:9473" for IPv6)',
    validate.maint_category: "one of " + ", ".join(f'"{c}"' for c in MAINT_CATEGORIES),
    api_url_problem: "https://, or http:// to loopback only",
}

# Checks written inline in validate.FIELD_CHECKS, in words.
_PATH_WORDS = {"pricing.rules[].days": "at least one day", "maintenance.windows[].nth": "1..4, or -1 (the last)"}


@dataclass(frozen=True)
class Key:
    """One key of the reference."""

    path: str  # dotted, `[]` for an array of tables, `*` for any name
    type: str
    default: str
    range: str
    description: str


def example_comments(text: str) -> dict[str, str]:
    """Key path (as `schema_paths` spells it) -> the comment lines just above its first occurrence in the example."""
    found: dict[str, str] = {}
    table = ""
    comment: list[str] = []
    for raw in text.splitlines():
        # "#~ ": an example switched off in the file, documented like a live line.
        line = raw.strip()[3:] if raw.strip().startswith("#~ ") else raw
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        header = _HEADER.match(line)
        if header:
            name = header.group(2)
            name = re.sub(r'\.("[^"]+"|[\w-]+)$', ".*", name) if '"' in name else name  # models."H100 SXM"
            table = name + ("[]" if header.group(1) == "[[" else "")
            found.setdefault(table, " ".join(comment))
        elif (key := _KEY.match(line)) is not None:
            name = "*" if key.group(1).startswith('"') else key.group(1)
            found.setdefault(f"{table}.{name}" if table else name, " ".join(comment))
        comment = []
    return found


def _type_words(tp: Any) -> str:
    tp = _optional_inner(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if _is_mapping_tuple(tp):
        item = get_args(args[0])[1]
        return f"table: name = {_type_words(item)}"
    if origin is tuple:
        if dataclasses.is_dataclass(args[0]):
            return "array of tables {" + ", ".join(f.name for f in dataclasses.fields(args[0])) + "}"
        return f"array of {_type_words(args[0])}"
    words = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path",
             time: 'string "HH:MM"', datetime: "local date-time"}
    return words.get(tp, getattr(tp, "__name__", str(tp)))


def _value_words(value: Any) -> str:  # noqa: PLR0911  (one return per TOML kind)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, time):
        return f'"{value:%H:%M}"'
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    if isinstance(value, tuple):
        if value and dataclasses.is_dataclass(value[0]):
            return "[" + ", ".join("{" + ", ".join(f"{f.name} = {_value_words(getattr(v, f.name))}"
                                                   for f in dataclasses.fields(v)) + "}" for v in value) + "]"
        return "[" + ", ".join(_value_words(v) for v in value) + "]"
    return str(value)


def _range_words(cls: type, name: str, path: str) -> str:
    if path in _PATH_WORDS:
        return _PATH_WORDS[path]
    check = validate.FIELD_CHECKS.get((cls, name)) or validate.ITEM_CHECKS.get((cls, name))
    if check is None:
        return ""
    if isinstance(check, (validate.Between, validate.AtLeast)):
        return str(check)
    return _CHECK_WORDS.get(check, "checked (see `check-config`)")


def keys(cls: type = Config, prefix: str = "", comments: dict[str, str] | None = None) -> list[Key]:
    """Every key the config reads, in model order, with its type, default, range and the example's words."""
    comments = example_comments(EXAMPLE.read_text(encoding="utf-8")) if comments is None else comments
    found: list[Key] = []
    for fld in dataclasses.fields(cls):
        if (cls, fld.name) == (Config, "source"):
            continue
        path = f"{prefix}.{fld.name}" if prefix else fld.name
        tp = hints(cls)[fld.name]
        inner = _optional_inner(tp)
        args = get_args(inner)
        if dataclasses.is_dataclass(inner) and isinstance(inner, type):
            found += keys(inner, path, comments)
            continue
        item = get_args(args[0])[1] if _is_mapping_tuple(inner) else None
        if isinstance(item, type) and dataclasses.is_dataclass(item):
            found += keys(item, f"{path}.*", comments)
            continue
        element = args[0] if get_origin(inner) is tuple else None
        # The idle-decay steps stay one row: the example writes them as one inline array.
        if isinstance(element, type) and dataclasses.is_dataclass(element) and path != "pricing.idle_decay.steps":
            found += keys(element, f"{path}[]", comments)
            continue
        if _is_mapping_tuple(inner):
            default = "none"
        elif fld.default is not MISSING:
            default = _value_words(fld.default)
        elif fld.default_factory is not MISSING:
            default = _value_words(fld.default_factory())
        else:
            default = "required"
        key = f"{path}.*" if _is_mapping_tuple(inner) else path
        found.append(Key(key, _type_words(tp), default, _range_words(cls, fld.name, key), comments.get(key, "")))
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if "\\|" not in text else text


def reference_markdown() -> str:
    """The reference: one table per TOML table (in the model's order), a row per key."""
    comments = example_comments(EXAMPLE.read_text(encoding="utf-8"))
    tables: dict[str, list[str]] = {}
    for key in keys(comments=comments):
        here, _, name = key.path.rpartition(".")
        cells = [f"`{name}`", _cell(key.type), f"`{key.default}`" if key.default != "required" else "**required**",
                 _cell(key.range), _cell(key.description)]
        tables.setdefault(here, []).append("| " + " | ".join(cells) + " |")
    out: list[str] = []
    for here, rows in tables.items():
        header = f"[[{here[:-2]}]]" if here.endswith("[]") else f"[{here}]"
        intro = comments.get(here, "")
        out += [f"### `{header}`", "", *([intro, ""] if intro else []),
                "| key | type | default | range | meaning |", "|---|---|---|---|---|", *rows, ""]
    return "\n".join(out)
