"""A non-finite number is never sent to Vast: the request is refused, typed, before anything leaves."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest

from hostagent.core.model import DesiredListing
from hostagent.errors import VastBadRequest, VastPermanent
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator
from hostagent.vast.client import VastClient, peer_query

M = DEMO_MACHINE_ID


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(clock=FakeClock(), seed=1) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[VastClient]:
    with VastClient(emu.url, emu.api_key, clock=emu.clock) as vast:
        yield vast


CALLS: dict[str, Callable[[VastClient], object]] = {
    "list_machine with a NaN price": lambda c: c.list_machine(
        M, DesiredListing(listed=True, price_usd_per_gpu_hour=math.nan)),
    "list_machine with an infinite end date": lambda c: c.list_machine(
        M, DesiredListing(listed=True, price_usd_per_gpu_hour=2.0, end_date=math.inf)),
    "set_min_bid at -inf": lambda c: c.set_min_bid(M, -math.inf),
    "schedule_maint at NaN": lambda c: c.schedule_maint(M, math.nan, 2.0, "power"),
    "a peer search with a NaN reliability": lambda c: c.search_offers({**peer_query("H100 SXM", 8, 50, M),
                                                                        "reliability2": {"gt": math.nan}}),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_non_finite_number_in_a_request_body_raises_a_typed_error_and_sends_nothing(
    emu: Emulator, client: VastClient, call: Callable[[VastClient], object]
) -> None:
    emu.clear_requests()
    with pytest.raises(VastBadRequest, match="not finite") as caught:
        call(client)
    assert isinstance(caught.value, VastPermanent)  # retrying the same body cannot help
    assert emu.requests == []
    assert not emu.state.machines[M].listed
