"""Typed actions: each variant's stored request rebuilds it, and intents stored by the previous version still decode."""

from __future__ import annotations

from dataclasses import replace

import pytest
from core_values import MACHINE_ID

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
    action_from_request,
    request_of,
)
from hostagent.core.model import DesiredListing

LISTING = DesiredListing(
    listed=True, price_usd_per_gpu_hour=2.0611, storage_usd_per_gb_month=0.1, upload_usd_per_gb=0.005,
    download_usd_per_gb=0.005, min_bid_usd_per_gpu_hour=1.0, min_chunk=1, end_date=1796518800.0,
    credit_discount_max=0.4,
)
EVERY_VARIANT: tuple[Action, ...] = (
    ListMachine(MACHINE_ID, "every check passes", LISTING),
    UnlistMachine(MACHINE_ID, "a GPU is lost", "health"),
    SetMinBid(MACHINE_ID, "min bid $0.30 -> $0.40", 0.4),
    ScheduleMaint(MACHINE_ID, "window within lead time", 1795917600.0, 2.0, "software"),
    CancelMaint(MACHINE_ID, "a stray window", (7, 9)),
    SetDefaultJob(MACHINE_ID, "default job: image none -> img", "vastai/kvm:ubuntu_cli_22.04", ("--idle",), 0.1,
                  0.005, 0.006),
    RemoveDefaultJob(MACHINE_ID, "the config has no default job"),
    CleanupMachine(MACHINE_ID, "scheduled every 24 h"),
)


@pytest.mark.parametrize("action", EVERY_VARIANT, ids=lambda a: a.kind.value)
def test_every_variant_is_rebuilt_from_its_stored_request(action: Action) -> None:
    """request_of -> action_from_request gives the same write back (the why text is not stored)."""
    rebuilt = action_from_request(action.kind.value, request_of(action))
    assert replace(rebuilt, reason=action.reason) == action
    assert rebuilt.key() == action.key()


def test_the_journal_text_and_key_keep_their_format() -> None:
    """describe() and key() read as before the variants: kind, machine, then the arguments by name."""
    bid = SetMinBid(MACHINE_ID, "why", 0.4)
    assert bid.describe() == "set_min_bid machine 4242 (price_usd_per_gpu_hour=0.4)"
    assert bid.key() == "set_min_bid:4242:price_usd_per_gpu_hour=0.4"
    assert CleanupMachine(MACHINE_ID, "why").describe() == "cleanup_machine machine 4242"
    assert request_of(CancelMaint(MACHINE_ID, "why", (7, 9))) == {"machine_id": 4242, "maintenance_ids": [7, 9]}


# Requests exactly as the previous version stored them with its intents (Action.params by name, tuples as lists).
PREVIOUS_VERSION = (
    ("list_machine", {
        "machine_id": 4242, "price_usd_per_gpu_hour": 2.0611, "storage_usd_per_gb_month": 0.1,
        "upload_usd_per_gb": 0.005, "download_usd_per_gb": 0.005, "min_bid_usd_per_gpu_hour": 1.0, "min_chunk": 1,
        "end_date": 1796518800.0, "credit_discount_max": 0.4,
    }, EVERY_VARIANT[0]),
    ("unlist_machine", {"machine_id": 4242, "cause": "health"}, EVERY_VARIANT[1]),
    ("set_min_bid", {"machine_id": 4242, "price_usd_per_gpu_hour": 0.4}, EVERY_VARIANT[2]),
    ("schedule_maint", {"machine_id": 4242, "start_epoch_s": 1795917600.0, "duration_h": 2.0, "category": "software"},
     EVERY_VARIANT[3]),
    ("cancel_maint", {"machine_id": 4242, "maintenance_ids": [7, 9]}, EVERY_VARIANT[4]),
    ("set_defjob", {"machine_id": 4242, "image": "vastai/kvm:ubuntu_cli_22.04", "args": ["--idle"], "price_gpu": 0.1,
                    "price_inetu": 0.005, "price_inetd": 0.006}, EVERY_VARIANT[5]),
    ("remove_defjob", {"machine_id": 4242}, EVERY_VARIANT[6]),
    ("cleanup_machine", {"machine_id": 4242}, EVERY_VARIANT[7]),
)


@pytest.mark.parametrize(
    ("kind", "request_json", "expected"), PREVIOUS_VERSION, ids=[k for k, _, _ in PREVIOUS_VERSION]
)
def test_an_intent_stored_by_the_previous_version_decodes_to_the_same_write(
    kind: str, request_json: dict[str, object], expected: Action
) -> None:
    """An upgrade between a crash and the restart must not strand the open intents it left."""
    rebuilt = action_from_request(kind, request_json)
    assert replace(rebuilt, reason=expected.reason) == expected


def test_the_older_aliases_still_decode() -> None:
    """Names the previous resolver accepted besides its own (start_time, duration_hours, price) mean the same."""
    notice = action_from_request("schedule_maint", {"machine_id": 4242, "start_time": 1795917600.0,
                                                    "duration_hours": 2.0})
    assert notice == ScheduleMaint(4242, notice.reason, 1795917600.0, 2.0, "other")
    assert action_from_request("set_min_bid", {"machine_id": 4242, "price": 0.4}) == SetMinBid(4242, notice.reason, 0.4)


@pytest.mark.parametrize(("kind", "request_json", "names"), [
    ("teleport_machine", {"machine_id": 4242}, "unknown action kind 'teleport_machine'"),
    ("set_min_bid", {"machine_id": 4242}, "set_min_bid request: price_usd_per_gpu_hour must be a finite number"),
    ("set_min_bid", {"machine_id": 4242, "price_usd_per_gpu_hour": "0.4"}, "price_usd_per_gpu_hour must be"),
    ("unlist_machine", {"machine_id": "4242"}, "unlist_machine request: machine_id must be a whole number"),
    ("cancel_maint", {"machine_id": 4242, "maintenance_ids": [7, "x"]}, "maintenance_ids must be a list of whole"),
    ("list_machine", {"machine_id": 4242, "min_chunk": 1.5}, "min_chunk must be a whole number"),
])
def test_a_request_that_cannot_be_read_is_a_clear_error(kind: str, request_json: dict[str, object], names: str) -> None:
    """Bad stored input names the kind and the field; it never becomes a write with a guessed value."""
    with pytest.raises(ValueError, match=names):
        action_from_request(kind, request_json)


def test_epoch_seconds_in_the_journal_text_read_as_utc_dates() -> None:
    """end_date and start_epoch_s show as `2026-12-06 01:00 UTC` where a person reads them; the key keeps the number."""
    listing = ListMachine(MACHINE_ID, "why", DesiredListing(listed=True, end_date=1796518800.0))
    assert "end_date=2026-12-06 01:00 UTC" in listing.describe()
    assert "1796518800" in listing.key()
    maint = ScheduleMaint(MACHINE_ID, "why", start_epoch_s=1796518800.0, duration_h=4.0, category="software")
    assert maint.describe() == ("schedule_maint machine 4242 (start_epoch_s=2026-12-06 01:00 UTC, duration_h=4.0, "
                                "category=software)")


def test_plan_shows_an_offers_end_as_a_utc_date() -> None:
    """`hostagent plan` lists list_machine(... end_date=2026-12-06 01:00 UTC ...), not epoch seconds."""
    from hostagent.commands.plan import render
    from hostagent.core.model import Plan

    listing = DesiredListing(listed=True, price_usd_per_gpu_hour=2.0, end_date=1796518800.0)
    text = render(Plan(desired=listing, actions=(ListMachine(MACHINE_ID, "why", listing),), reasons=()), "observe",
                  MACHINE_ID)
    assert "end_date=2026-12-06 01:00 UTC" in text
    assert "1796518800" not in text
