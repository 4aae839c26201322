"""Read the owner's TOML config once into a frozen `Config`, or raise one `ConfigError` listing every problem.

Each problem reads `<file name>: <dotted.path>: <what is wrong>`, e.g.
`config.toml: pricing.rules[2].price_usd_per_gpu_hour: must be > 0, got -1` (array indexes count from 0).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from hostagent.config.convert import INVALID, Context, convert_table, schema_paths
from hostagent.config.model import DEFAULT_CONFIG_PATH, DEFAULT_STATE_DIR, Config
from hostagent.config.validate import FIELD_CHECKS, ITEM_CHECKS, OBJECT_CHECKS
from hostagent.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 hosts (Ubuntu 22.04)
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # not installed where mypy runs on 3.11+

# Config.source records where the file was; it is not a TOML key.
_SKIP = frozenset({(Config, "source")})
_LINE_RE = re.compile(r"at line (\d+), column (\d+)")


def load_config(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """The config at `path` (None: /etc/hostagent/config.toml). Raises ConfigError naming every problem."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{source}: no such file (choose another with --config PATH)"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a config file (choose one with --config PATH)"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot be read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([f"{source.name}: line {line}: not UTF-8 text"]) from None
    return load_config_text(text, source, environ=environ)


def load_config_text(
    text: str, source: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Parse TOML `text` as if read from `source` (which names problems and anchors relative paths)."""
    src = Path(source) if source is not None else None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(exc, text, _label(src))]) from None
    return parse_config(data, src, environ=environ)


def parse_config(
    data: Mapping[str, Any], source: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """A `Config` from already-parsed TOML data. `environ` (default os.environ) supplies $STATE_DIRECTORY."""
    src = Path(source).resolve() if source is not None else None
    env = os.environ if environ is None else environ
    data = _with_state_dir(data, env)
    data, secret_problems = _without_notify_urls(data)
    ctx = Context(
        label=_label(src),
        base_dir=src.parent if src is not None else Path.cwd(),
        field_checks=FIELD_CHECKS,
        item_checks=ITEM_CHECKS,
        object_checks=OBJECT_CHECKS,
        skip_fields=_SKIP,
        sections_of=_sections_of(),
    )
    ctx.problems += [f"{ctx.label}: {problem}" for problem in secret_problems]
    config = convert_table(dict(data), Config, "", ctx)
    if ctx.problems or config is INVALID:
        raise ConfigError(ctx.problems or [f"{ctx.label}: invalid config"])
    result: Config = dataclasses.replace(config, source=src)
    return result


def _label(source: Path | None) -> str:
    return source.name if source is not None else "<config>"


def _with_state_dir(data: Mapping[str, Any], environ: Mapping[str, str]) -> Mapping[str, Any]:
    """Fill `agent.state_dir` from systemd's $STATE_DIRECTORY when the file leaves it out."""
    agent = data.get("agent", {})
    if not isinstance(agent, dict) or "state_dir" in agent:
        return data
    # systemd lists one directory per StateDirectory= entry, colon-separated; the first is ours.
    state_dir = environ.get("STATE_DIRECTORY", "").split(":")[0] or str(DEFAULT_STATE_DIR)
    return {**data, "agent": {**agent, "state_dir": state_dir}}


def _without_notify_urls(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[str]]:
    """A notification URL carries its token: refused in the TOML with the fix (and not reported again as an
    unknown key); the rest of the file is still checked."""
    notify = data.get("notify")
    destinations = notify.get("destinations") if isinstance(notify, dict) else None
    if not isinstance(notify, dict) or not isinstance(destinations, list):
        return data, []
    problems: list[str] = []
    kept: list[Any] = []
    for i, dest in enumerate(destinations):
        if isinstance(dest, dict) and "url" in dest:
            name = dest.get("name", "NAME")
            problems.append(
                f"notify.destinations[{i}].url: a destination URL carries its token, so it never goes in the "
                f"config: write it into a file with mode 600 and set url_file, or load it with systemd "
                f"LoadCredential=notify_{name}:/path/to/url"
            )
            kept.append({k: v for k, v in dest.items() if k != "url"})
        else:
            kept.append(dest)
    return {**data, "notify": {**notify, "destinations": kept}}, problems


def _syntax_problem(exc: tomllib.TOMLDecodeError, text: str, label: str) -> str:
    """tomllib's message keeps its 'at line L, column C'; add the line itself so the mistake is visible."""
    match = _LINE_RE.search(str(exc))
    if match is None:
        return f"{label}: invalid TOML: {exc}"
    lineno = int(match.group(1))
    lines = text.splitlines()
    shown = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    return f"{label}: line {lineno}: invalid TOML: {exc}" + (f": {shown}" if shown else "")


@cache
def _sections_of() -> dict[str, list[str]]:
    """Each key name -> the tables that have it, to say where a misplaced key belongs."""
    where: dict[str, list[str]] = {}
    for path in schema_paths(Config, skip=_SKIP):
        table, _, key = path.rpartition(".")
        if table and "*" not in table and key != "*":
            where.setdefault(key, []).append(table.replace("[]", ""))
    return where
