"""Words about the config match the program: the example's stated defaults and ranges, defaults quoted in docs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hostagent.config import load_config
from hostagent.docgen.config_reference import EXAMPLE, Key, keys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

REPO = Path(__file__).resolve().parents[2]
# "Default 20.", "Default "UTC".", "Default: none.", "default 10.0", "Default [48, 63]": a value, not words.
STATED = re.compile(r"\bdefault:? (none|true|false|\"[^\"]*\"|-?\d[\d.]*\d|-?\d|\[[^\]]*\])(?=[.,;)]|\s\(|$)",
                    re.IGNORECASE)
# "`read_timeout_s` (20)", "vast.read_timeout_s (20 s)", "`agent.tick_s` (30 s)": a key with its value beside it.
QUOTED = re.compile(r"`?(?:[a-z_]+\.)*([a-z_]+)`? \((-?\d+(?:\.\d+)?)(?: ?[a-zA-Z%]+)?[,)]")


def _as_model_words(literal: str) -> str:
    """The example's literal as the reference writes a default (`5`, `"UTC"`, `none`, `[48, 63]`)."""
    if literal.lower() == "none":
        return "none"
    value = tomllib.loads(f"v = {literal}")["v"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, (int, float)) else f'"{v}"' for v in value) + "]"
    return f'"{value}"'


def _by_name() -> dict[str, Key]:
    """Keys whose last name is unique and whose default is a number: the ones prose can quote unambiguously."""
    found: dict[str, list[Key]] = {}
    for key in keys():
        found.setdefault(key.path.rsplit(".", 1)[-1], []).append(key)
    return {name: ks[0] for name, ks in found.items() if len(ks) == 1 and re.fullmatch(r"-?[\d.]+", ks[0].default)}


def test_every_default_the_example_states_is_the_one_the_program_uses() -> None:
    """`# ... Default 20.` above `read_timeout_s` must be the model's default, key by key."""
    wrong = []
    for key in keys():
        stated = STATED.search(key.description)
        said = None if stated is None else _as_model_words(stated.group(1))
        if said is not None and said != key.default and (said, key.default) != ("none", "[]"):  # no args: none
            wrong.append(f"{key.path}: the example says default {stated.group(1)}, the program uses {key.default}")
    assert wrong == []


def test_every_range_the_example_states_is_the_one_the_program_checks() -> None:
    """`(0 to 10)` or `at least 1` in a key's comment must be the bounds `check-config` enforces."""
    wrong, stated = [], 0
    for key in keys():
        bounds = re.fullmatch(r"[\[(](-?[\d.]+), (-?[\d.]+)[\])]", key.range)
        minimum = re.fullmatch(r">= (-?\d+)", key.range)
        low, high = (bounds.groups() if bounds else (minimum.group(1), None) if minimum else (None, None))
        if low is None:
            continue  # a range in words ("1..4, or -1"): nothing numeric to hold the comment to
        for said in re.finditer(r"(-?\d[\d.]*?) to (-?\d[\d.]*\d|-?\d)|at least (\d+)|at most (\d[\d.]*\d|\d)",
                                key.description):
            said_low = said.group(1) or said.group(3)
            said_high = said.group(2) or said.group(4)
            stated += 1
            if (said_low is not None and (low is None or float(said_low) != float(low))) or (
                    said_high is not None and (high is None or float(said_high) != float(high))):
                wrong.append(f"{key.path}: the example says {said.group(0)!r}, check-config enforces {key.range}")
    assert wrong == []
    assert stated >= 15  # the pattern still finds the ranges the example states


def test_every_optional_key_of_the_example_says_what_leaving_it_out_means() -> None:
    """A key with a default states it (or says when it is required); the reader never has to guess."""
    silent = [key.path for key in keys()
              if key.default != "required" and not re.search(r"\bdefault|\brequired\b", key.description, re.I)]
    assert silent == []


def test_every_value_in_the_example_is_one_the_program_accepts() -> None:
    """The example loads: each key exists in the model and each value is inside its range (check-config's rules)."""
    config = load_config(EXAMPLE, environ={})
    assert config.source == EXAMPLE


def test_a_default_quoted_beside_a_key_in_the_docs_or_the_unit_is_the_programs() -> None:
    """`read_timeout_s` (30) in a page, while the program waits 20 s, fails here with the file and the key."""
    by_name = _by_name()
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "systemd" / "hostagent.service"]
    quoted, wrong = 0, []
    for path in sources:
        for match in QUOTED.finditer(path.read_text(encoding="utf-8")):
            key = by_name.get(match.group(1))
            if key is None:
                continue
            quoted += 1
            if float(match.group(2)) != float(key.default):
                wrong.append(f"{path.relative_to(REPO)}: {match.group(0)} but {key.path} defaults to {key.default}")
    assert wrong == []
    assert quoted >= 10  # the pattern still finds the quotes it was written for
