"""What `hostagent hold|release|pause|resume` share: the owner's word, written beside a running agent.

Each writes one kv key (`owner_hold` or `owner_pause`) with `StateStore.put_beside` (safe beside the running
agent) and a journal row of kind `operator`; the agent reads the key at its next reconcile (no restart, no
config edit) and announces the change (events HELD, RELEASED, PAUSED, RESUMED). Nothing here calls Vast.
The state store must exist (the agent has run once) and be writable by this user: exit 77 otherwise.
Exit codes: 0 done (or nothing to do); 1 no state store yet, or it refused the write; 2 bad --until;
77 this user may not write the state store; 78 invalid config.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_NOPERM, EXIT_OK, config_or_report, require_state_access
from hostagent.ports import Journal

if TYPE_CHECKING:
    from hostagent.config import Config


class OwnerStore(Journal, Protocol):
    """The agent's state store as these commands use it (opened beside the agent by hostagent.bootstrap)."""

    def get(self, key: str) -> object | None: ...


# (the store opened beside the agent, who runs this, now) -> (exit code, the line to print)
Change = Callable[[OwnerStore, "Config", str, datetime], tuple[int, str]]


def apply(command: str, config_path: str | None, change: Change) -> int:
    """Open the agent's store beside it, run `change`, report; every failure is one line on stderr."""
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import StateAccessError, StateError  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415
    from hostagent.service.owner import operator_name  # noqa: PLC0415

    configure_logging(level="warning")
    config = config_or_report(config_path, command)
    if config is None:
        return EXIT_CONFIG
    state_dir = config.agent.state_dir
    require_state_access(state_dir)  # PermissionError: hostagent.cli says to use sudo (77)
    try:
        with bootstrap.open_store(state_dir, beside_agent=True) as store:
            code, line = change(store, config, operator_name(), bootstrap.wall_clock().now())
    except StateAccessError as exc:
        print(f"hostagent {command}: {exc}", file=sys.stderr)
        return EXIT_NOPERM
    except StateError as exc:
        print(f"hostagent {command}: {exc}; nothing changed", file=sys.stderr)
        return EXIT_FAILURE
    print(line, file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


def write(  # noqa: PLR0917 -- one call per command, each argument named where it is called
    store: OwnerStore, config: Config, key: str, value: dict[str, object], now: datetime, what: str, why: str
) -> None:
    """The key (`put_beside`: waits briefly for the agent's own write), then its `operator` journal row."""
    from hostagent import bootstrap  # noqa: PLC0415

    bootstrap.put_beside(config.agent.state_dir)(key, value)
    store.journal(now, "operator", what, why, request=value,
                  result="recorded; the agent applies it at its next reconcile")
