"""The emulator's listing terms as Vast documents them: a rolling duration, volume offers, no extension on a raise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_API_KEY, DEMO_MACHINE_ID, Emulator
from hostagent.testing.emulator.state import ON_DEMAND, Contract

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a UTC midnight: Vast's daily move of the end date
DAY_S = 86400.0
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(START), seed=5, rate_limits=False) as emulator:
        emulator.set_demand(0.0)  # no renters: the tests place their own contracts
        yield emulator


def _list(emu: Emulator, **fields: object) -> dict[str, object]:
    body = {"machine": DEMO_MACHINE_ID, "price_gpu": 2.0, "min_chunk": 1, **fields}
    reply = httpx.put(f"{emu.url}/api/v0/machines/create_asks/", json=body, headers=AUTH)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert isinstance(answer, dict)
    return answer


def _row(emu: Emulator) -> dict[str, object]:
    reply = httpx.get(f"{emu.url}/api/v0/machines/{DEMO_MACHINE_ID}", headers=AUTH)
    [row] = reply.json()
    assert isinstance(row, dict)
    return row


def test_a_duration_offer_ends_that_long_from_now_and_vast_moves_the_end_date_daily(emu: Emulator) -> None:
    """`duration` "30 days": end_date = now + 30 days, then re-set to now + 30 days at each UTC midnight."""
    _list(emu, duration="30 days", vol_size=0)
    assert _row(emu)["end_date"] == START.timestamp() + 30 * DAY_S
    emu.advance(DAY_S)
    assert _row(emu)["end_date"] == START.timestamp() + 31 * DAY_S


def test_a_null_vol_size_offers_half_the_free_disk_and_zero_offers_no_volume(emu: Emulator) -> None:
    """The CLI's -v: "Defaults to half of available disk. Set 0 to not create a volume contract offer."."""
    _list(emu, vol_size=None)
    disk_gb = emu.state.machines[DEMO_MACHINE_ID].disk_space_gb
    assert _row(emu)["vol_size"] == int(disk_gb // 2)
    _list(emu, vol_size=0)
    assert _row(emu)["vol_size"] == 0
    _list(emu, vol_size=200, vol_price=0.07)
    assert (_row(emu)["vol_size"], _row(emu)["listed_volume_cost"]) == (200, 0.07)


def test_a_later_end_date_extends_running_contracts_only_when_the_price_was_not_raised(emu: Emulator) -> None:
    """Vast: "If you have raised the pricing, you cannot extend the current rental contracts"."""
    now_s = emu.now_s()
    _list(emu, end_date=now_s + 2 * DAY_S)
    machine = emu.state.machines[DEMO_MACHINE_ID]
    contract = Contract(id=emu.state.new_id(), machine_id=DEMO_MACHINE_ID, kind=ON_DEMAND, gpus=1, start_s=now_s,
                        end_s=now_s + 2 * DAY_S, price_usd_per_gpu_hour=2.0, wanted_end_s=now_s + 10 * DAY_S)
    machine.contracts.append(contract)
    raised = _list(emu, price_gpu=2.5, end_date=now_s + 20 * DAY_S)
    assert (raised["extended"], contract.end_s) == (0, now_s + 2 * DAY_S)
    same_or_lower = _list(emu, price_gpu=2.5, end_date=now_s + 21 * DAY_S)
    assert (same_or_lower["extended"], contract.end_s) == (1, now_s + 10 * DAY_S)
