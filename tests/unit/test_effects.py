"""effect_holds: for each write, what Vast must show for it to count as done (skip, read-back, intent resolution)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from core_values import MACHINE_ID, listed_machine, machine

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
from hostagent.core.model import DesiredListing, MachineState, VastMaintenance
from hostagent.service.effects import effect_holds

START_S = 1795917600.0
WINDOW = VastMaintenance(7, MACHINE_ID, START_S, 2.0, "software")
LISTED = listed_machine(2.00, min_bid_price=0.40, bid_image="img", bid_gpu_cost=0.12)
JOB = SetDefaultJob(MACHINE_ID, "why", "img", (), 0.12, 0.005, 0.005)
LISTING = DesiredListing(listed=True, price_usd_per_gpu_hour=2.00, min_bid_usd_per_gpu_hour=0.40)

# (action, Vast's machine and windows where the effect shows, where it does not)
CASES: tuple[tuple[Action, tuple[MachineState, tuple[VastMaintenance, ...]],
                   tuple[MachineState, tuple[VastMaintenance, ...]]], ...] = (
    (ListMachine(MACHINE_ID, "why", LISTING), (LISTED, ()), (machine(), ())),
    (UnlistMachine(MACHINE_ID, "why", "health"), (machine(), ()), (LISTED, ())),
    (SetMinBid(MACHINE_ID, "why", 0.40), (LISTED, ()), (replace(LISTED, min_bid_price=0.30), ())),
    (ScheduleMaint(MACHINE_ID, "why", START_S, 2.0, "software"), (LISTED, (WINDOW,)), (LISTED, ())),
    (CancelMaint(MACHINE_ID, "why", (7,)), (LISTED, ()), (LISTED, (WINDOW,))),
    (JOB, (LISTED, ()), (replace(LISTED, bid_gpu_cost=0.20), ())),
    (RemoveDefaultJob(MACHINE_ID, "why"), (machine(), ()), (LISTED, ())),
)


@pytest.mark.parametrize(("action", "shows", "_lacks"), CASES, ids=[c[0].kind.value for c in CASES])
def test_the_effect_holds_when_vast_shows_it(
    action: Action, shows: tuple[MachineState, tuple[VastMaintenance, ...]], _lacks: object
) -> None:
    """Vast's state already has what the write asks for: the reconciler skips it, or confirms its intent."""
    assert effect_holds(action, *shows)


@pytest.mark.parametrize(("action", "_shows", "lacks"), CASES, ids=[c[0].kind.value for c in CASES])
def test_the_effect_does_not_hold_when_vast_lacks_it(
    action: Action, _shows: object, lacks: tuple[MachineState, tuple[VastMaintenance, ...]]
) -> None:
    """Vast's state differs: the write is sent, or its intent is closed as not applied."""
    assert not effect_holds(action, *lacks)


def test_a_listing_holds_only_when_every_field_it_names_matches_at_float_precision() -> None:
    """Vast echoes prices as floats: a hair's difference is the same price, a cent is not; None is 'leave alone'."""
    action = ListMachine(MACHINE_ID, "why", LISTING)
    assert effect_holds(action, replace(LISTED, listed_gpu_cost=2.0001), ())
    assert not effect_holds(action, replace(LISTED, listed_gpu_cost=2.01), ())
    assert effect_holds(ListMachine(MACHINE_ID, "why", DesiredListing(listed=True)), LISTED, ())


def test_a_notice_holds_when_vast_keeps_its_start_to_the_second() -> None:
    """Vast keeps whole seconds: a window within a second of the start is this notice, one further off is not."""
    notice = ScheduleMaint(MACHINE_ID, "why", START_S + 0.4, 2.0, "software")
    assert effect_holds(notice, LISTED, (WINDOW,))
    assert not effect_holds(replace(notice, start_epoch_s=START_S + 5), LISTED, (WINDOW,))


def test_a_default_job_holds_only_with_the_same_image() -> None:
    """The same price on another image is not the configured job."""
    assert not effect_holds(replace(JOB, image="other"), LISTED, ())


def test_cleanup_never_shows_as_done() -> None:
    """Cleanup leaves no state to read: it is idempotent and always sent when due."""
    assert not effect_holds(CleanupMachine(MACHINE_ID, "why"), LISTED, ())
