"""The owner in control, pure parts: --until, the stored forms, the plan under a hold, and outside changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest
from core_values import NOW, listed_machine, machine, snapshot
from test_plan import CFG, SEEN, kinds

from hostagent.core.actions import ListMachine, SetMinBid, UnlistMachine
from hostagent.core.model import ActionKind, DesiredListing
from hostagent.core.owner import (
    ListingSeen,
    OwnerHold,
    OwnerPause,
    expected_after,
    hold_from_json,
    hold_to_json,
    listing_from_json,
    listing_seen,
    listing_to_json,
    outside_change,
    parse_until,
    pause_from_json,
    pause_to_json,
    record_id,
    released_json,
)
from hostagent.core.plan import plan

HOLD = OwnerHold("root", NOW - timedelta(hours=1), "disk swap")
OUTSIDE = OwnerHold("changed outside hostagent", NOW, "changed outside hostagent: listed at 2.00 → unlisted",
                    source="outside")
LISTED = ListingSeen(True, 2.00, 0.50, None)


def test_until_takes_a_duration_from_now() -> None:
    """90m, 2h, 3d and 1w are durations from now."""
    assert parse_until("2h", NOW) == NOW + timedelta(hours=2)
    assert parse_until("3d", NOW) == NOW + timedelta(days=3)
    assert parse_until("90m", NOW) == NOW + timedelta(minutes=90)
    assert parse_until("1w", NOW) == NOW + timedelta(weeks=1)


def test_until_takes_an_iso_time_read_as_utc_when_it_names_no_zone() -> None:
    """An ISO time without a zone is UTC; one with a zone keeps it."""
    assert parse_until("2026-12-01T08:00", NOW) == NOW.replace(month=12, day=1, hour=8)
    assert parse_until("2026-12-01T08:00+01:00", NOW).astimezone(timezone.utc).hour == 7


@pytest.mark.parametrize("text", ["2026-11-26T11:00Z", "0h", "soon", "2 parsecs", ""])
def test_until_refuses_the_past_zero_and_anything_unreadable(text: str) -> None:
    """A time not in the future, a zero duration or an unreadable text is a ValueError naming --until."""
    with pytest.raises(ValueError, match="--until"):
        parse_until(text, NOW)


def test_a_hold_and_a_pause_survive_their_stored_form() -> None:
    """What the commands store reads back as the same hold and pause; a release or resume holds nothing."""
    until_hold = replace(HOLD, until=NOW + timedelta(hours=2))
    assert hold_from_json(hold_to_json(until_hold)) == until_hold
    assert hold_from_json(hold_to_json(OUTSIDE)) == OUTSIDE
    pause = OwnerPause("alice via sudo", NOW, "testing by hand")
    assert pause_from_json(pause_to_json(pause)) == pause
    assert hold_from_json(released_json("root", NOW, "hostagent release")) is None
    assert hold_from_json({"state": "held", "at": "yesterday"}) is None  # damaged: holds nothing
    assert record_id(hold_to_json(HOLD)) != record_id(released_json("root", NOW, "x"))
    assert listing_from_json(listing_to_json(LISTED)) == LISTED


def test_a_hold_ends_when_until_passes() -> None:
    """Active before `until`, not at it."""
    hold = replace(HOLD, until=NOW)
    assert hold.active(NOW - timedelta(seconds=1))
    assert not hold.active(NOW)


def test_a_hold_unlists_a_listed_machine_and_says_who_and_why() -> None:
    """The plan's reason is "owner.hold: held by root at ...: disk swap"; running rentals are not touched."""
    p = plan(snapshot(), listed_machine(2.00), None, CFG, NOW, SEEN, hold=HOLD)
    assert kinds(p) == [ActionKind.UNLIST]
    action = p.actions[0]
    assert isinstance(action, UnlistMachine)
    assert action.cause == "hold"
    assert "held by root at 2026-11-26 11:00 UTC: disk swap" in action.reason
    assert not p.desired.listed


def test_a_held_unlisted_machine_stays_unlisted_and_an_expired_hold_lists_it() -> None:
    """Nothing is planned while held; once `until` passes the plan lists it again."""
    assert plan(snapshot(), machine(), None, CFG, NOW, SEEN, hold=HOLD).actions == ()
    expired = replace(HOLD, until=NOW)
    assert kinds(plan(snapshot(), machine(), None, CFG, NOW, SEEN, hold=expired)) == [ActionKind.LIST]


def test_an_outside_hold_leaves_the_listing_as_the_person_set_it() -> None:
    """Unlisted outside: stays unlisted; repriced outside: no new terms are sent."""
    unlisted = plan(snapshot(), machine(), None, CFG, NOW, SEEN, hold=OUTSIDE)
    assert unlisted.actions == ()
    assert not unlisted.desired.listed
    assert any(r.step == "owner.hold" and "hostagent release" in r.text for r in unlisted.reasons)
    repriced = plan(snapshot(), listed_machine(3.10, min_bid_price=0.9), None, CFG, NOW, SEEN, hold=OUTSIDE)
    assert repriced.actions == ()


def test_under_any_hold_a_health_fault_still_unlists() -> None:
    """Taking a listing away never harms a renter: health acts under an outside hold too."""
    sick = snapshot(count=7)  # one of eight GPUs gone
    p = plan(sick, listed_machine(3.10), None, CFG, NOW, SEEN, hold=OUTSIDE)
    assert kinds(p) == [ActionKind.UNLIST]
    assert isinstance(p.actions[0], UnlistMachine)
    assert p.actions[0].cause == "health"


def test_an_unlist_nobody_of_ours_sent_is_an_outside_change() -> None:
    """Listed at 2.00 → unlisted, with no write of ours expected: "listed at 2.00, min bid 0.50 → unlisted"."""
    assert outside_change(LISTED, [], ListingSeen(False), NOW, 30) == "listed at 2.00, min bid 0.50 → unlisted"


def test_a_new_price_or_min_bid_set_outside_is_an_outside_change() -> None:
    """Terms moved beyond rounding are named before and after."""
    text = outside_change(LISTED, [], ListingSeen(True, 2.50, 0.50, None), NOW, 30)
    assert text == "listed at 2.00, min bid 0.50 → listed at 2.50, min bid 0.50"
    assert outside_change(LISTED, [], ListingSeen(True, 2.00, 0.70, None), NOW, 30) is not None
    assert outside_change(ListingSeen(False), [], LISTED, NOW, 30) == "unlisted → listed at 2.00, min bid 0.50"


def test_the_first_sight_our_own_writes_and_vasts_rounding_are_not_outside_changes() -> None:
    """No baseline yet, a state one of our writes leaves, or a price Vast rounded: None."""
    assert outside_change(None, [], ListingSeen(False), NOW, 30) is None
    assert outside_change(LISTED, [ListingSeen(False)], ListingSeen(False), NOW, 30) is None
    assert outside_change(LISTED, [ListingSeen(True, 2.30, None)], ListingSeen(True, 2.30, 0.5), NOW, 30) is None
    assert outside_change(LISTED, [], ListingSeen(True, 2.0000001, 0.4999), NOW, 30) is None


def test_vast_ending_an_offer_at_its_end_date_or_rolling_it_is_not_an_outside_change() -> None:
    """An offer past its end date goes off the market by itself; a `duration` end date moves daily."""
    ending = replace(LISTED, end_date=NOW.timestamp() - 10)
    assert outside_change(ending, [], ListingSeen(False), NOW, 30) is None
    rolling = replace(LISTED, end_date=NOW.timestamp() + 29 * 86400)
    rolled = replace(LISTED, end_date=NOW.timestamp() + 30 * 86400)
    assert outside_change(rolling, [], rolled, NOW, 30) is None
    moved = replace(LISTED, end_date=NOW.timestamp() + 5 * 86400)
    assert outside_change(rolling, [], moved, NOW, 30) is not None  # a human shortened it


def test_an_unlisted_machines_terms_are_not_judged() -> None:
    """Terms Vast keeps for an unlisted machine are not on the market: no change to report."""
    assert outside_change(ListingSeen(False, 2.0), [], ListingSeen(False, 3.0), NOW, 30) is None


def test_the_states_our_writes_leave_are_expected_in_order() -> None:
    """Unlist, list at the desired terms, a min bid alone: each state, recorded before the send."""
    listing = DesiredListing(True, price_usd_per_gpu_hour=2.2, min_bid_usd_per_gpu_hour=0.6)
    actions = [UnlistMachine(1, "x", "health"), ListMachine(1, "x", listing), SetMinBid(1, "x", 0.7)]
    assert expected_after(actions, listing_seen(listed_machine(2.0))) == [
        ListingSeen(False), ListingSeen(True, 2.2, 0.6, None), ListingSeen(True, 2.2, 0.7, None),
    ]


def test_a_hold_is_the_reason_a_cooling_down_machine_stays_unlisted() -> None:
    """Healthy but in the relist cool-down: the hold, not the cool-down, is why it stays unlisted."""
    cooling = replace(SEEN, healthy_since=NOW - timedelta(seconds=10), unlisted_by_agent=True)
    p = plan(snapshot(), machine(), None, CFG, NOW, cooling, hold=HOLD)
    assert p.actions == ()
    assert any(r.step == "owner.hold" for r in p.reasons)
    assert not any(r.step == "listing" for r in p.reasons)


def test_release_relists_without_the_health_cool_down() -> None:
    """Unlisted for a hold, healthy only seconds ago (a restart): the release lists at once."""
    after_hold = replace(SEEN, healthy_since=NOW - timedelta(seconds=10), unlisted_by_agent=True,
                         unlisted_cause="hold")
    assert kinds(plan(snapshot(), machine(), None, CFG, NOW, after_hold)) == [ActionKind.LIST]
