"""`hostagent release`: end the hold (`hostagent hold`, or one recorded after a change made outside hostagent).

The agent plans the listing again at its next reconcile (it lists the machine when every check passes).
Nothing to release is not an error (exit 0). Exit codes: hostagent.commands.owner.
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
            HOLD_KEY,
            hold_from_json,
            released_json,
        )

        hold = hold_from_json(store.get(HOLD_KEY))
        if hold is None or not hold.active(now):
            return EXIT_OK, "not held: nothing to release"
        write(store, config, HOLD_KEY, released_json(by, now, "hostagent release"), now, "release",
              f"ends: {hold.describe()}")
        return EXIT_OK, (
            f"released ({hold.describe()})\nthe agent plans the listing again at its next reconcile (within "
            f"{config.agent.reconcile_s:g} s)"
        )

    return apply("release", args.config, change)
