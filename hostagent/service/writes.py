"""One typed write, sent: the exhaustive map from the core's action variants to the Marketplace's calls.

mypy --strict proves every variant is handled (`assert_never`). Only the reconciler calls it, after the
write-ahead intent is stored and the API gate let the call through (`hostagent.service.reconcile`).
"""

from __future__ import annotations

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
from hostagent.ports import Marketplace


def send_write(market: Marketplace, action: Action) -> str:  # noqa: PLR0911 - one return per variant
    """Send one write; the reply text for the journal. Raises the Marketplace's VastError."""
    mid = action.machine_id
    match action:
        case ListMachine(listing=listing):
            return f"listed; {market.list_machine(mid, listing)} running contracts extended"
        case UnlistMachine():
            market.unlist_machine(mid)
            return "unlisted"
        case SetMinBid(price_usd_per_gpu_hour=price):
            market.set_min_bid(mid, price)
            return "min bid set"
        case ScheduleMaint(start_epoch_s=start_epoch_s, duration_h=duration_h, category=category):
            market.schedule_maint(mid, start_epoch_s, duration_h, category)
            return "maintenance scheduled"
        case CancelMaint():
            market.cancel_maint(mid)
            return "maintenance cancelled"
        case SetDefaultJob():
            market.set_defjob(
                mid, image=action.image, args=list(action.args),
                price_usd_per_gpu_hour=action.price_usd_per_gpu_hour,
                upload_usd_per_gb=action.upload_usd_per_gb, download_usd_per_gb=action.download_usd_per_gb,
            )
            return "default job set"
        case RemoveDefaultJob():
            market.remove_defjob(mid)
            return "default job removed"
        case CleanupMachine():
            return f"{market.cleanup_machine(mid)} expired contracts deleted"
        case _:
            assert_never(action)
