"""What an action does, in terms of what Vast shows: `effect_holds`, one exhaustive match over the variants.

The reconciler uses it to skip writes whose effect is already there, to check the read-back after a
write, and to resolve write-ahead intents after a crash (from the variant rebuilt from the intent's request).
"""

from __future__ import annotations

from collections.abc import Sequence

from typing_extensions import assert_never

from hostagent.core.actions import (
    Action,
    CancelMaint,
    CleanupMachine,
    ListMachine,
    RemoveDefaultJob,
    ScheduleMaint,
    SetDefaultJob,
    SetMinBid,
    UnlistMachine,
)
from hostagent.core.model import MachineState, VastMaintenance
from hostagent.core.plan import listing_diffs

PRICE_EPS = 0.0005  # Vast echoes prices as floats; closer than this is the same price
MAINT_START_EPS_S = 1.0  # Vast keeps whole seconds


def _close(want: float, have: float | None) -> bool:
    return have is not None and abs(want - have) < PRICE_EPS


def effect_holds(  # noqa: PLR0911 - one return per variant
    action: Action, machine: MachineState, maints: Sequence[VastMaintenance], now_s: float | None = None
) -> bool:
    """Does Vast's reported state already show what this action would do? (Cleanup never does: it is idempotent.)

    `now_s` judges a rolling duration (Vast's end date near now + duration); without it only the other fields."""
    match action:
        case ListMachine(listing=listing):
            # listed, and no listing field the action names differs (the core's own comparison, at float precision);
            # a volume offer Vast shows but the listing does not want (size 0) differs too, so it is re-listed
            return machine.listed and not listing_diffs(listing, machine, PRICE_EPS, now_s)
        case UnlistMachine():
            return not machine.listed
        case SetMinBid(price_usd_per_gpu_hour=price):
            return _close(price, machine.min_bid_price)
        case ScheduleMaint(start_epoch_s=start):
            return any(abs(m.start_time - start) < MAINT_START_EPS_S for m in maints)
        case CancelMaint():
            return not maints
        case SetDefaultJob(image=image, price_usd_per_gpu_hour=price):
            return machine.bid_image == image and _close(price, machine.bid_gpu_cost)
        case RemoveDefaultJob():
            return not machine.bid_image
        case CleanupMachine():
            return False
        case _:
            assert_never(action)


def describe(action: Action) -> str:
    """The journal's `what` for an action (kept here for the callers that format outcomes)."""
    return action.describe()
