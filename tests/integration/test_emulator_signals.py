"""The emulator's control routes for what Vast says on its own: reports, verification, offline, errors, its windows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_API_KEY, DEMO_MACHINE_ID, Emulator
from hostagent.vast.client import VastClient

START = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(clock=clock, rate_limits=False) as emulator:
        yield emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers=AUTH, follow_redirects=False, timeout=5) as client:
        yield client


def test_a_staged_report_is_what_the_client_reads_and_counts(emu: Emulator, http: httpx.Client) -> None:
    """POST /_emulator/report: the reports endpoint lists it and the machine's num_reports counts it."""
    staged = http.post("/_emulator/report", json={"machine_id": DEMO_MACHINE_ID, "problem": "Network Issue",
                                                  "message": "slow pulls"})
    assert staged.json()["success"] is True
    with VastClient(emu.url, emu.api_key, clock=emu.clock) as client:
        (report,) = client.machine_reports(DEMO_MACHINE_ID)
        machine = client.show_machine(DEMO_MACHINE_ID)
    assert (report.problem, report.message, report.created_at) == ("Network Issue", "slow pulls", START.timestamp())
    assert machine.num_reports == 1


def test_a_staged_report_may_say_when_it_was_filed(emu: Emulator, http: httpx.Client) -> None:
    """`created_at` (epoch s) dates the report, as the emulator's signals module documents; left out, it is now."""
    filed_s = START.timestamp() - 7200
    staged = http.post("/_emulator/report", json={"machine_id": DEMO_MACHINE_ID, "problem": "GPU Issue",
                                                  "created_at": filed_s})
    assert staged.json()["report"]["created_at"] == filed_s
    with VastClient(emu.url, emu.api_key, clock=emu.clock) as client:
        (report,) = client.machine_reports(DEMO_MACHINE_ID)
    assert report.created_at == filed_s


def test_offline_makes_the_timeout_grow_until_vast_hears_from_the_machine_again(
    emu: Emulator, clock: FakeClock, http: httpx.Client
) -> None:
    """offline: true starts Vast's `timeout` counting; false puts it back to 0; errors and verification show."""
    body = {"machine_id": DEMO_MACHINE_ID, "offline": True, "verification": "deverified", "error_description": "boom"}
    assert http.post("/_emulator/signals", json=body).json() == {"success": True}
    clock.advance(900)
    with VastClient(emu.url, emu.api_key, clock=clock) as client:
        offline = client.show_machine(DEMO_MACHINE_ID)
        http.post("/_emulator/signals", json={"machine_id": DEMO_MACHINE_ID, "offline": False, "error_description": ""})
        online = client.show_machine(DEMO_MACHINE_ID)
    assert (offline.timeout_s, offline.verification, offline.error_description) == (900.0, "deverified", "boom")
    assert (online.timeout_s, online.verification, online.error_description) == (0.0, "deverified", None)


def test_a_window_vast_schedules_is_held_and_cannot_be_cancelled_by_the_host(emu: Emulator, http: httpx.Client) -> None:
    """POST /_emulator/maintenance: shown by show_maints; the host's cancel_maint leaves it."""
    start_s = START.timestamp() + 86400
    reply = http.post("/_emulator/maintenance", json={"machine_id": DEMO_MACHINE_ID, "start_time": start_s,
                                                      "duration_hours": 2, "category": "power"})
    with VastClient(emu.url, emu.api_key, clock=emu.clock) as client:
        client.cancel_maint(DEMO_MACHINE_ID)
        (window,) = client.show_maints([DEMO_MACHINE_ID])
    assert (window.id, window.start_time, window.duration_hours, window.category) == (
        reply.json()["id"], start_s, 2.0, "power")


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/_emulator/report", {"machine_id": DEMO_MACHINE_ID, "problem": ""}, 400),
    ("/_emulator/report", {"machine_id": 1, "problem": "x"}, 404),
    ("/_emulator/signals", {"machine_id": DEMO_MACHINE_ID, "verification": "maybe"}, 400),
    ("/_emulator/signals", {"machine_id": DEMO_MACHINE_ID, "reliability2": 2}, 400),
    ("/_emulator/signals", {"machine_id": "abc"}, 400),
    ("/_emulator/maintenance", {"machine_id": DEMO_MACHINE_ID, "start_time": "soon", "duration_hours": 1}, 400),
    ("/_emulator/report", [1], 400),
])
def test_a_bad_control_request_is_refused_and_changes_nothing(
    emu: Emulator, http: httpx.Client, path: str, body: object, status: int
) -> None:
    """Each bad body gets a clear 4xx; the machine's reports, verification and windows stay as they were."""
    assert http.post(path, json=body).status_code == status
    machine = emu.state.machines[DEMO_MACHINE_ID]
    assert (machine.reports, machine.verification, machine.maintenances) == ([], "verified", [])
