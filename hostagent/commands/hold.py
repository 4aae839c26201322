"""`hostagent hold [--reason TEXT] [--until TIME]`: keep the machine unlisted until `hostagent release`.

Running rentals continue (unlisting never touches them). `--until` ends the hold by itself: an ISO time
(2026-12-01T08:00Z; UTC when it names no zone) or a duration from now (90m, 2h, 3d, 1w); a time not in the
future is a usage error (exit 2). A second `hold` replaces the first. Written beside the running agent
(hostagent.commands.owner, whose docstring lists the exit codes); the agent unlists at its next reconcile.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_OK, EXIT_USAGE
from hostagent.commands.owner import OwnerStore, apply, write

if TYPE_CHECKING:
    from hostagent.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="", metavar="TEXT", help="why (journaled, shown in status)")
    parser.add_argument("--until", metavar="TIME", help="end the hold then: ISO time or a duration (90m, 2h, 3d, 1w)")


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.core.owner import parse_until  # noqa: PLC0415

    until: datetime | None = None
    if args.until is not None:
        try:
            until = parse_until(args.until, bootstrap.wall_clock().now())
        except ValueError as exc:
            print(f"hostagent hold: {exc}", file=sys.stderr)
            return EXIT_USAGE
    reason = " ".join(str(args.reason).split())

    def change(store: OwnerStore, config: Config, by: str, now: datetime) -> tuple[int, str]:
        from hostagent.core.owner import (  # noqa: PLC0415
            HOLD_KEY,
            OwnerHold,
            hold_from_json,
            hold_to_json,
        )

        before = hold_from_json(store.get(HOLD_KEY))
        hold = OwnerHold(by, now, reason, until)
        write(store, config, HOLD_KEY, hold_to_json(hold), now, "hold", hold.describe())
        replaced = f" (replaces the hold {before.describe()})" if before is not None and before.active(now) else ""
        return EXIT_OK, (
            f"{hold.describe()}{replaced}\nthe agent unlists the machine at its next reconcile (within "
            f"{config.agent.reconcile_s:g} s); running rentals continue; `hostagent release` lists it again"
        )

    return apply("hold", args.config, change)
