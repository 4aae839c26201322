"""Whatever TOML-shaped data comes in, the loader answers with a Config or a ConfigError, never a crash."""

from __future__ import annotations

import copy
import sys
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hostagent.config import Config, load_config_text, parse_config
from hostagent.config.convert import schema_paths
from hostagent.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "hostagent.example.toml"
EXAMPLE_DATA = tomllib.loads(EXAMPLE.read_text())
# Key names the config knows, so generated tables often hit real fields rather than only unknown keys.
KEYS = sorted({p.replace("[]", "").rsplit(".", 1)[-1] for p in schema_paths(Config, skip=frozenset())} - {"*"})

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["mon", "18:00", "Europe/Berlin", "fake", "enforce", "monthly", "127.0.0.1:1", "http://[", ""]),
    st.dates(),
    st.times(),
    st.datetimes(timezones=st.sampled_from([None, timezone.utc])),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


def problems_of(data: dict[str, Any]) -> list[str]:
    """[] for a valid config, else the problems; anything but a ConfigError propagates and fails the test."""
    try:
        config = parse_config(data, Path("/etc/hostagent/config.toml"), environ={})
    except ConfigError as exc:
        return exc.problems or ["<a ConfigError with no problem>"]
    assert isinstance(config, Config)
    return []


def answers_cleanly(data: dict[str, Any]) -> None:
    assert all(p.startswith("config.toml: ") for p in problems_of(data))


SECTIONS = [f.split(".")[0] for f in schema_paths(Config, skip=frozenset())]
tops = st.sampled_from(sorted(set(SECTIONS))) | keys


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(tops, values, max_size=5))
def test_random_tables_give_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    answers_cleanly(data)


def leaf_paths(value: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaf_paths(v, (*prefix, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*prefix, i))]
    return [prefix]


EXAMPLE_LEAVES = leaf_paths(EXAMPLE_DATA)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(EXAMPLE_LEAVES), values)
def test_the_example_with_one_value_replaced_gives_a_config_or_a_config_error(
    where: tuple[Any, ...], value: object
) -> None:
    data = copy.deepcopy(EXAMPLE_DATA)
    target: Any = data
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    answers_cleanly(data)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_random_text_gives_a_config_or_a_config_error(text: str) -> None:
    problems: list[str] = []
    try:
        load_config_text(text, "config.toml", environ={})
    except ConfigError as exc:
        problems = exc.problems
    assert all(p.startswith("config.toml: ") for p in problems)


NASTY = [True, 0, -1, 2**63 - 1, 1e308, float("nan"), float("-inf"), "", " ", "x", "http://[", "24:00",
         "../../x", "a\x00b", [], [{}], {}, {"x": 1}, date(2027, 1, 1), time(1, 0),
         datetime(2027, 1, 1, tzinfo=timezone.utc)]  # fmt: skip


def test_every_example_value_replaced_by_each_nasty_value_is_reported_not_crashed() -> None:
    """Each leaf of the example gets each value in turn: the answer is a valid config or a ConfigError."""
    for where in EXAMPLE_LEAVES:
        for value in NASTY:
            data = copy.deepcopy(EXAMPLE_DATA)
            target: Any = data
            for step in where[:-1]:
                target = target[step]
            target[where[-1]] = value
            answers_cleanly(data)

