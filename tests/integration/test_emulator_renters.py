"""The renter simulation: prices have consequences, contracts keep their terms, earnings accrue, cleanup counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_API_KEY, DEMO_MACHINE_ID, Emulator, rent_probability
from hostagent.testing.emulator.state import ON_DEMAND

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(START), seed=11, rate_limits=False) as emulator:
        yield emulator


def _vast(emu: Emulator, method: str, path: str, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    return httpx.request(method, emu.url + path, json=body if body is not None else {}, headers=headers)


def _list(emu: Emulator, price: float, **extra: object) -> None:
    body = {"machine": DEMO_MACHINE_ID, "price_gpu": price, "min_chunk": 1, **extra}
    assert _vast(emu, "PUT", "/api/v0/machines/create_asks/", body).json()["success"] is True


def _gpu_hours(emu: Emulator, price: float) -> float:
    earned = sum(d.gpu_usd for (m, _), d in emu.state.earnings.items() if m == DEMO_MACHINE_ID)
    return earned / price


def _advance_until_rented(emu: Emulator, limit_h: int = 300) -> None:
    for _ in range(limit_h):
        if emu.state.machines[DEMO_MACHINE_ID].running(emu.now_s()):
            return
        emu.advance(HOUR)
    pytest.fail("nobody rented the machine")


def test_the_chance_of_a_rental_falls_as_the_price_rises_above_the_median() -> None:
    chances = [rent_probability(price, 2.0) for price in (1.0, 1.7, 2.0, 2.5, 3.0, 4.0)]
    assert chances == sorted(chances, reverse=True)
    assert chances[0] == pytest.approx(0.5)  # the cap for a cheap machine
    assert chances[2] == pytest.approx(0.25)  # at the median
    assert chances[-1] < 0.01


def test_a_cheap_machine_is_rented_more_than_an_expensive_one_over_a_week() -> None:
    hours = {}
    for price in (1.7, 2.8):
        with Emulator(clock=FakeClock(START), seed=5, rate_limits=False) as emu:
            _list(emu, price)
            emu.advance(WEEK)
            hours[price] = _gpu_hours(emu, price)
    assert hours[1.7] > 2 * hours[2.8]
    assert hours[1.7] > 0


def test_unlisting_keeps_running_contracts_and_stops_new_ones(emu: Emulator) -> None:
    _list(emu, 1.5)
    _advance_until_rented(emu)
    running = {c.id for c in emu.state.machines[DEMO_MACHINE_ID].running(emu.now_s())}
    assert _vast(emu, "DELETE", f"/api/v0/machines/{DEMO_MACHINE_ID}/asks/").json()["success"] is True
    shown = _vast(emu, "GET", f"/api/v0/machines/{DEMO_MACHINE_ID}").json()[0]
    assert shown["listed"] is False
    assert shown["current_rentals_running"] == len(running)
    assert {c.id for c in emu.state.machines[DEMO_MACHINE_ID].running(emu.now_s())} == running
    emu.advance(WEEK)
    assert emu.state.machines[DEMO_MACHINE_ID].running(emu.now_s()) == []


def test_a_price_change_affects_only_new_contracts(emu: Emulator) -> None:
    _list(emu, 1.5)
    _advance_until_rented(emu)
    _list(emu, 2.5)
    prices = {c.price_usd_per_gpu_hour for c in emu.state.machines[DEMO_MACHINE_ID].running(emu.now_s())}
    assert prices == {1.5}
    assert _vast(emu, "GET", "/api/v0/machines").json()["machines"][0]["listed_gpu_cost"] == 2.5


def test_no_contract_runs_beyond_the_offer_end_date(emu: Emulator) -> None:
    end_date = emu.now_s() + 30 * HOUR
    _list(emu, 1.2, end_date=end_date)
    emu.advance(3 * DAY)
    machine = emu.state.machines[DEMO_MACHINE_ID]
    new_expired = [c for c in machine.expired if c.id not in (90001, 90002)]
    assert new_expired, "a machine 40 % under the market should have been rented in 30 hours"
    assert all(c.ended_s <= end_date for c in new_expired)
    assert machine.running(emu.now_s()) == []


def test_ended_contracts_are_counted_and_deleted_by_cleanup(emu: Emulator) -> None:
    _list(emu, 1.2, end_date=emu.now_s() + 20 * HOUR)
    emu.advance(2 * DAY)
    expired = len(emu.state.machines[DEMO_MACHINE_ID].expired)
    assert expired > 2  # the two from the default account's history, plus this run's
    done = _vast(emu, "PUT", f"/api/v0/machines/{DEMO_MACHINE_ID}/cleanup/").json()
    assert done["num_deleted"] == expired
    again = _vast(emu, "PUT", f"/api/v0/machines/{DEMO_MACHINE_ID}/cleanup").json()
    assert again == {"success": False, "msg": "No expired contracts to delete"}


def test_earnings_accrue_per_day_at_each_contracts_frozen_price(emu: Emulator) -> None:
    today = int(emu.now_s() // DAY)
    emu.advance(DAY)
    day = emu.state.earnings[(4243, today)]
    # the default account's RTX 4090 contract: 2 GPUs at $0.36 for the whole day, plus any new renters
    assert day.gpu_usd >= 2 * 0.36 * 24 - 1e-9
    assert day.storage_usd > 0
    assert day.download_usd > 0
    reply = _vast(emu, "GET", f"/api/v0/users/me/machine-earnings?sday={today}&eday={today}.5&machid=4243").json()
    assert reply["per_day"][0]["gpu_earn"] == pytest.approx(day.gpu_usd, abs=1e-3)


def test_the_default_job_runs_and_earns_on_idle_gpus_only_while_set(emu: Emulator) -> None:
    job = {"machine": DEMO_MACHINE_ID, "price_gpu": 0.3, "price_inetu": 0.01, "price_inetd": 0.01,
           "image": "vastai/test:latest", "args": ["python", "-c", "print(1)"]}
    assert _vast(emu, "PUT", "/api/v0/machines/create_bids/", job).json()["success"] is True
    assert emu.state.machines[DEMO_MACHINE_ID].occupancy(emu.now_s()) == " ".join(["I"] * 8)
    emu.advance(10 * HOUR)
    assert _gpu_hours(emu, 0.3) == pytest.approx(80.0)
    assert _vast(emu, "DELETE", f"/api/v0/machines/{DEMO_MACHINE_ID}/defjob/").json()["success"] is True
    emu.advance(10 * HOUR)
    assert _gpu_hours(emu, 0.3) == pytest.approx(80.0)
    assert emu.state.machines[DEMO_MACHINE_ID].occupancy(emu.now_s()) == " ".join(["x"] * 8)


def test_renters_take_gpus_from_the_default_job(emu: Emulator) -> None:
    job = {"machine": DEMO_MACHINE_ID, "price_gpu": 0.3, "price_inetu": 0.0, "price_inetd": 0.0,
           "image": "vastai/test:latest", "args": None}
    _vast(emu, "PUT", "/api/v0/machines/create_bids/", job)
    _list(emu, 1.5)
    _advance_until_rented(emu)
    emu.advance(HOUR)
    machine = emu.state.machines[DEMO_MACHINE_ID]
    codes = machine.occupancy(emu.now_s()).split()
    clients = machine.client_gpus(emu.now_s())
    assert codes.count("x") == 0
    assert len(codes) - codes.count("I") >= sum(c.gpus for c in machine.running(emu.now_s(), (ON_DEMAND,)))
    assert clients > 0


def test_advance_on_the_real_clock_moves_the_emulators_time_only() -> None:
    emu = Emulator(seed=1)
    before = emu.now_s()
    emu.advance(DAY)
    assert emu.now_s() - before >= DAY
