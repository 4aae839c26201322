"""`hostagent resume`: end `hostagent pause`; the agent's next reconcile sends its writes again.

Nothing to resume is not an error (exit 0). Exit codes: hostagent.commands.owner.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_OK
from hostagent.commands.owner import OwnerStore, apply, write

if TYPE_CHECKING:
    from hostagent.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    def change(store: OwnerStore, config: Config, by: str, now: datetime) -> tuple[int, str]:
        from hostagent.core.owner import (  # noqa: PLC0415
            PAUSE_KEY,
            pause_from_json,
            resumed_json,
            shown,
        )

        pause = pause_from_json(store.get(PAUSE_KEY))
        if pause is None:
            return EXIT_OK, "not paused: nothing to resume"
        write(store, config, PAUSE_KEY, resumed_json(by, now), now, "resume",
              f"ends the pause by {pause.by} since {shown(pause.at)}")
        return EXIT_OK, f"resumed by {by}: the agent sends its writes again from its next reconcile"

    return apply("resume", args.config, change)
