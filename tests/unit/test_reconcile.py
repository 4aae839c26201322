"""The reconciler on an in-memory Vast (FakeMarketplace) and a real SQLite state store in a tmp dir.

Each write: skipped when Vast shows its effect, else intent -> send -> finish -> read back. Open intents
are resolved from Vast's state, never by sending again; a lost reply leaves the intent open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from core_values import MACHINE_ID, NOW, listed_machine, machine
from structlog.testing import capture_logs

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
    request_of,
)
from hostagent.core.model import DesiredListing, Plan, VastMaintenance
from hostagent.errors import VastWriteUncertain
from hostagent.service.apigate import ApiGate
from hostagent.service.outcome import ApplyOutcome
from hostagent.service.reconcile import Reconciler
from hostagent.store import StateStore
from hostagent.testing.marketplace import FakeMarketplace

START_S = (NOW + timedelta(days=2)).timestamp()
GRACE_S = 300.0


@dataclass
class Parts:
    vast: FakeMarketplace
    store: StateStore
    reconciler: Reconciler

    def apply(self, *actions: Action) -> ApplyOutcome:
        plan = Plan(DesiredListing(listed=True), tuple(actions), ())
        current = self.vast.machines[MACHINE_ID]
        return self.reconciler.apply(plan, current, self.vast.show_maints([MACHINE_ID]), NOW)

    def open_intent(self, action: Action) -> None:
        """What a crash between the call and its end leaves: an intent begun and never finished."""
        self.store.begin_action(NOW - timedelta(hours=1), action.key(), action.kind.value, request_of(action))


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    with StateStore.open(tmp_path) as store:
        vast = FakeMarketplace(listed_machine(2.00, min_bid_price=0.30))
        gate = ApiGate(store, retry_after_cap_s=60.0)
        yield Parts(vast, store, Reconciler(vast, store, gate, mode="enforce", write_grace_s=GRACE_S))


# ---- open intents -------------------------------------------------------------------------------


def test_an_open_intent_vast_shows_as_applied_is_confirmed_and_not_sent_again(parts: Parts) -> None:
    """The write landed before the crash: Vast's state confirms it, and it is not repeated."""
    parts.open_intent(SetMinBid(MACHINE_ID, "why", 0.30))
    (line,) = parts.reconciler.resolve_open_intents(NOW)
    assert line.endswith("confirmed from Vast's state")
    assert parts.store.open_intents() == []
    assert parts.vast.writes == []
    (entry,) = parts.store.journal_entries(kind="intent_resolved")
    assert (entry.what, entry.ok) == (f"set_min_bid machine {MACHINE_ID}", True)


def test_an_open_intent_vast_does_not_show_is_closed_as_not_applied_for_the_plan_to_ask_again(parts: Parts) -> None:
    """The write never landed: the intent closes as not applied, and nothing is sent blindly."""
    parts.open_intent(SetMinBid(MACHINE_ID, "why", 0.45))
    (line,) = parts.reconciler.resolve_open_intents(NOW)
    assert line.endswith("not applied (Vast's state); re-planned")
    assert parts.store.open_intents() == []
    assert parts.vast.writes == []
    (entry,) = parts.store.journal_entries(kind="intent_resolved")
    assert entry.ok is False


def test_an_intent_stored_by_the_previous_version_is_resolved_from_vast_state(parts: Parts) -> None:
    """The request exactly as the previous version stored it (Vast's wire names for the default job)."""
    parts.vast.machines[MACHINE_ID] = replace(listed_machine(2.00), bid_image="img", bid_gpu_cost=0.12)
    old = {"machine_id": MACHINE_ID, "image": "img", "args": [], "price_gpu": 0.12, "price_inetu": 0.005,
           "price_inetd": 0.005}
    parts.store.begin_action(NOW - timedelta(hours=1), "set_defjob:4242:image='img'", "set_defjob", old)
    (line,) = parts.reconciler.resolve_open_intents(NOW)
    assert line == "set_defjob:4242:image='img': confirmed from Vast's state"


def test_an_intent_whose_request_cannot_be_read_is_closed_with_the_reason_and_nothing_is_sent(parts: Parts) -> None:
    """Nothing to ask Vast about: closed as not applied (the plan asks afresh), logged at error, no write."""
    parts.store.begin_action(NOW - timedelta(hours=1), "k", "set_min_bid", {"machine_id": MACHINE_ID, "price": "x"})
    with capture_logs() as logs:
        (line,) = parts.reconciler.resolve_open_intents(NOW)
    assert line == "k: not applied (its stored request is unreadable); re-planned"
    assert [e["log_level"] for e in logs if e["event"] == "intent_request_unreadable"] == ["error"]
    assert parts.store.open_intents() == []
    assert parts.vast.writes == []


def test_a_maintenance_notice_not_yet_shown_within_the_grace_stays_open_and_holds_back_other_maintenance_writes(
    parts: Parts,
) -> None:
    """It may still land inside Vast: neither declared lost nor followed by another notice until the grace ends."""
    notice = ScheduleMaint(MACHINE_ID, "why", START_S, 2.0, "software")
    parts.store.begin_action(NOW - timedelta(seconds=30), notice.key(), notice.kind.value, request_of(notice))
    assert parts.reconciler.resolve_open_intents(NOW) == []
    outcome = parts.apply(notice)
    assert [a for a, _ in outcome.waiting] == [notice]
    assert parts.vast.writes == []
    assert len(parts.store.open_intents()) == 1


# ---- sending -------------------------------------------------------------------------------------


def test_every_variant_goes_out_through_its_own_marketplace_call(parts: Parts) -> None:
    """The exhaustive match sends each write with its typed arguments, and Vast's state shows each after."""
    parts.vast.machines[MACHINE_ID] = replace(machine(), bid_image="old")
    parts.vast.maints = [VastMaintenance(7, MACHINE_ID, START_S + 3600, 1.0, "other")]
    actions: tuple[Action, ...] = (
        CancelMaint(MACHINE_ID, "a stray window", (7,)),
        ScheduleMaint(MACHINE_ID, "notice", START_S, 2.0, "software"),
        ListMachine(MACHINE_ID, "list", DesiredListing(listed=True, price_usd_per_gpu_hour=2.10, min_chunk=1)),
        SetMinBid(MACHINE_ID, "bid", 0.50),
        RemoveDefaultJob(MACHINE_ID, "no job configured"),
        SetDefaultJob(MACHINE_ID, "job", "img", ("--idle",), 0.12, 0.005, 0.005),
        UnlistMachine(MACHINE_ID, "sick", "health"),
        CleanupMachine(MACHINE_ID, "daily"),
    )
    outcome = parts.apply(*actions)
    assert outcome.sent == list(actions)
    assert [op for op, _ in parts.vast.writes] == [a.kind.value for a in actions]
    after = parts.vast.machines[MACHINE_ID]
    assert (after.listed, after.listed_gpu_cost, after.min_bid_price) == (False, 2.10, 0.50)
    assert (after.bid_image, after.bid_image_args, after.bid_gpu_cost) == ("img", ("--idle",), 0.12)
    assert [(w.start_time, w.duration_hours, w.category) for w in parts.vast.maints] == [(START_S, 2.0, "software")]
    assert parts.store.open_intents() == []
    assert [e.what for e in parts.store.journal_entries(kind="set_min_bid")] == [
        f"set_min_bid machine {MACHINE_ID} (price_usd_per_gpu_hour=0.5)"
    ]


def test_a_write_whose_effect_vast_already_shows_is_skipped(parts: Parts) -> None:
    """Only what differs is sent: no intent, no call, no journal row."""
    outcome = parts.apply(SetMinBid(MACHINE_ID, "why", 0.30))
    assert len(outcome.skipped) == 1
    assert parts.vast.writes == []
    assert parts.store.journal_entries(kind="set_min_bid") == []


def test_a_write_whose_reply_is_lost_leaves_its_intent_open_and_vast_state_decides_next_tick(parts: Parts) -> None:
    """VastWriteUncertain: the write may have landed; it is not sent again, the next resolve reads Vast."""
    parts.vast.fail_next_write(VastWriteUncertain("read timed out after the request was sent"), applied=True)
    bid = SetMinBid(MACHINE_ID, "why", 0.45)
    outcome = parts.apply(bid)
    assert [a for a, _ in outcome.failed] == [bid]
    (intent,) = parts.store.open_intents()
    assert (intent.kind, dict(intent.request)) == ("set_min_bid", request_of(bid))
    (entry,) = parts.store.journal_entries(kind="set_min_bid")
    assert entry.ok is False
    assert "reply lost" in entry.result
    (line,) = parts.reconciler.resolve_open_intents(NOW + timedelta(minutes=10))
    assert line.endswith("confirmed from Vast's state")
    assert parts.vast.writes == [("set_min_bid", MACHINE_ID)], "sent once, never again"


def test_a_read_back_that_does_not_show_the_write_is_journaled_as_a_mismatch(parts: Parts) -> None:
    """Vast answered success but its state did not change: the journal says so (the write's reply is not authority)."""
    parts.vast.ignore_writes = True
    with capture_logs() as logs:
        parts.apply(SetMinBid(MACHINE_ID, "why", 0.45))
    (mismatch,) = parts.store.journal_entries(kind="mismatch")
    assert mismatch.what == f"set_min_bid machine {MACHINE_ID} (price_usd_per_gpu_hour=0.45)"
    assert mismatch.ok is False
    assert "min_bid=0.3" in mismatch.result
    assert "readback_mismatch" in [e["event"] for e in logs]


def test_observe_mode_journals_each_distinct_write_once_and_sends_nothing(parts: Parts) -> None:
    """The same planned write on every tick is one `would_send` row, keyed by the action's key()."""
    gate = ApiGate(parts.store, retry_after_cap_s=60.0)
    observer = Reconciler(parts.vast, parts.store, gate, mode="observe")
    plan = Plan(DesiredListing(listed=True), (SetMinBid(MACHINE_ID, "why", 0.45),), ())
    for _ in range(3):
        outcome = observer.apply(plan, parts.vast.machines[MACHINE_ID], [], NOW)
        assert len(outcome.would_send) == 1
    assert [e.action_key for e in parts.store.journal_entries(kind="would_send")] == [
        "set_min_bid:4242:price_usd_per_gpu_hour=0.45"
    ]
    assert parts.vast.writes == []


def test_a_volume_offer_vast_shows_against_a_listing_of_zero_is_relisted_and_read_back_without_it(
    parts: Parts,
) -> None:
    """Vast shows a volume offer (a null vol_size once made one): the LIST with size 0 is sent, and then holds."""
    parts.vast.machines[MACHINE_ID] = replace(parts.vast.machines[MACHINE_ID], volume_size_gb=3500)
    parts.vast.now_s = NOW.timestamp()
    listing = DesiredListing(listed=True, price_usd_per_gpu_hour=2.00, duration_days=30, volume_size_gb=0)
    outcome = parts.apply(ListMachine(MACHINE_ID, "why", listing))
    assert parts.vast.writes == [("list_machine", MACHINE_ID)]
    assert outcome.machine_after is not None
    assert outcome.machine_after.volume_size_gb == 0
    assert parts.store.journal_entries(kind="mismatch") == []
    assert len(parts.apply(ListMachine(MACHINE_ID, "why", listing)).skipped) == 1
