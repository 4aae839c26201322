"""One module per `hostagent` command: `add_arguments(parser)` and `run(args) -> int` (see hostagent.cli)."""

from __future__ import annotations

import sys
from pathlib import Path

from hostagent.config import Config, load_config  # standard library only: cheap to import
from hostagent.errors import ConfigError


def config_or_report(path: str | Path | None, command: str) -> Config | None:
    """The config, or None after printing every problem on stderr (the caller then exits 78)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"hostagent {command}: config invalid:", *exc.problems, sep="\n  ", file=sys.stderr)
        return None
