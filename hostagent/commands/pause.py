"""`hostagent pause [--reason TEXT]`: the agent sends no write to Vast at all until `hostagent resume`.

A temporary observe mode: the agent still reads, decides and journals what it would send (`would_send`), and
`status` shows it. Exit codes: hostagent.commands.owner.
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
    parser.add_argument("--reason", default="", metavar="TEXT", help="why (journaled, shown in status)")


def run(args: argparse.Namespace) -> int:
    reason = " ".join(str(args.reason).split())

    def change(store: OwnerStore, config: Config, by: str, now: datetime) -> tuple[int, str]:
        from hostagent.core.owner import (  # noqa: PLC0415
            PAUSE_KEY,
            OwnerPause,
            pause_from_json,
            pause_to_json,
            shown,
        )

        before = pause_from_json(store.get(PAUSE_KEY))
        write(store, config, PAUSE_KEY, pause_to_json(OwnerPause(by, now, reason)), now, "pause",
              reason or "hostagent pause")
        again = f" (already paused by {before.by} since {shown(before.at)})" if before is not None else ""
        return EXIT_OK, (
            f"paused by {by}{': ' + reason if reason else ''}{again}\nfrom its next reconcile the agent sends no "
            "write to Vast (it journals what it would send) until `hostagent resume`"
        )

    return apply("pause", args.config, change)
