"""One module per `hostagent` command: `add_arguments(parser)` and `run(args) -> int` (see hostagent.cli)."""

from __future__ import annotations

import os
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


def require_state_access(state_dir: Path) -> None:
    """Raise PermissionError when this user may not read `state_dir/state.db`; `hostagent.cli` turns it into
    one line naming `sudo` and exit 77. A missing store is left to the command ("no state yet")."""
    try:
        fd = os.open(state_dir / "state.db", os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        raise
    except OSError:  # absent, or not a file: the command says so in its own words
        return
    os.close(fd)
