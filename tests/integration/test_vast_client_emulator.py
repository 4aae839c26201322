"""VastClient against the stateful emulator (rate limits on, same fake clock): every operation has the
effect Vast would have, the client's own spacing never earns a 429, and injected faults give typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from hostagent.core.model import DesiredListing
from hostagent.errors import (
    VastAuthError,
    VastBadReply,
    VastFailure,
    VastRateLimited,
    VastServerError,
    VastWriteUncertain,
    VastWrongMachine,
)
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_ACCOUNT_ID, DEMO_MACHINE_ID, Emulator, Fault
from hostagent.vast.client import VastClient, peer_query

M = DEMO_MACHINE_ID


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(clock=clock, seed=1) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator, clock: FakeClock) -> Iterator[VastClient]:
    with VastClient(emu.url, emu.api_key, clock=clock) as vast:
        yield vast


def test_a_full_host_cycle_has_vasts_effects_and_earns_no_429(emu: Emulator, client: VastClient,
                                                               clock: FakeClock) -> None:
    now_s = clock.now().timestamp()
    assert client.show_user().id == DEMO_ACCOUNT_ID
    mine = {m.id: m for m in client.show_machines()}
    assert (mine[M].hostname, mine[M].gpu_name, mine[M].num_gpus, mine[M].listed) == ("demo-h100-01", "H100 SXM", 8,
                                                                                      False)
    client.list_machine(M, DesiredListing(listed=True, price_usd_per_gpu_hour=2.1, end_date=now_s + 30 * 86400))
    assert (emu.state.machines[M].listed, emu.state.machines[M].listed_gpu_cost) == (True, 2.1)
    assert client.show_machine(M).listed_gpu_cost == 2.1
    client.set_min_bid(M, 1.5)
    assert emu.state.machines[M].min_bid_price == 1.5
    client.schedule_maint(M, now_s + 2 * 86400, 2.0, "power")
    [window] = client.show_maints([M])
    assert (window.machine_id, window.duration_hours, window.category) == (M, 2.0, "power")
    client.cancel_maint(M)
    assert client.show_maints([M]) == []
    client.set_defjob(M, image="vastai/test:latest", args=["python", "-c", "print(1)"],
                      price_usd_per_gpu_hour=0.1, upload_usd_per_gb=0.01, download_usd_per_gb=0.01)
    assert emu.state.machines[M].bid_image == "vastai/test:latest"
    client.remove_defjob(M)
    assert emu.state.machines[M].bid_image is None
    emu.advance(3 * 86400)
    assert client.cleanup_machine(M) >= 0
    report = client.show_earnings(clock.now() - timedelta(days=3), clock.now(), M)
    assert report.eday >= report.sday
    offers = client.search_offers(peer_query("H100 SXM", 8, 50, M))
    assert offers
    assert all((o.gpu_name, o.num_gpus) == ("H100 SXM", 8) and o.machine_id != M for o in offers)
    assert isinstance(client.machine_reports(M), list)
    client.unlist_machine(M)
    assert emu.state.machines[M].listed is False
    assert [r.path for r in emu.requests if r.status == 429] == []


def test_back_to_back_calls_are_spaced_so_vast_never_answers_429(emu: Emulator, client: VastClient,
                                                                  clock: FakeClock) -> None:
    start = clock.monotonic()
    for _ in range(5):
        client.show_machines()
    for price in (1.0, 1.1, 1.2):
        client.list_machine(M, DesiredListing(listed=True, price_usd_per_gpu_hour=price))
    assert [r.status for r in emu.requests] == [200] * 8
    assert clock.monotonic() - start >= 4 * 2.5 + 2 * 5.0


def test_503_twice_then_success(emu: Emulator, client: VastClient) -> None:
    emu.inject(Fault("status", method="GET", path_contains="/machines", status=503, times=2))
    assert client.show_machines()
    assert [r.status for r in emu.requests] == [503, 503, 200]


def test_429_with_retry_after_is_waited_out(emu: Emulator, client: VastClient, clock: FakeClock) -> None:
    emu.inject(Fault("status", path_contains="/machines", status=429, retry_after="4"))
    start = clock.monotonic()
    client.show_machines()
    assert clock.monotonic() - start == pytest.approx(4.0)


def test_429_with_a_huge_retry_after_defers(emu: Emulator, client: VastClient) -> None:
    emu.inject(Fault("status", path_contains="/machines", status=429, retry_after="86400"))
    with pytest.raises(VastRateLimited) as caught:
        client.show_machines()
    assert caught.value.retry_after_s == 86400.0


@pytest.mark.parametrize(
    ("fault", "error", "field"),
    [
        (Fault("malformed", path_contains="/machines"), VastBadReply, None),
        (Fault("truncated", path_contains="/machines"), VastBadReply, None),
        (Fault("html", path_contains="/machines", status=200), VastBadReply, None),
        (Fault("wrong_types", path_contains="/machines"), VastBadReply, "machines[0].id"),
    ],
)
def test_bad_bodies_are_typed_errors_sent_once(emu: Emulator, client: VastClient, fault: Fault,
                                               error: type[Exception], field: str | None) -> None:
    emu.inject(fault)
    with pytest.raises(error) as caught:
        client.show_machines()
    if field is not None:
        assert getattr(caught.value, "field", None) == field
    assert len(emu.requests) == 1


def test_a_dropped_write_is_uncertain_and_not_repeated(emu: Emulator, client: VastClient) -> None:
    emu.inject(Fault("drop", method="PUT", path_contains="create_asks"))
    with pytest.raises(VastWriteUncertain):
        client.list_machine(M, DesiredListing(listed=True, price_usd_per_gpu_hour=2.0))
    assert len(emu.requests) == 1


def test_a_reply_naming_another_machine_is_refused_as_the_wrong_machine(emu: Emulator, client: VastClient) -> None:
    """The client's own guard: show_machine and show_maints answer only about the machine asked for."""
    emu.inject(Fault("swap_machine", method="GET", path_contains=f"/machines/{M}", machine_id=4243))
    with pytest.raises(VastWrongMachine, match=f"asked for machine {M}, Vast answered with machine 4243"):
        client.show_machine(M)
    client.schedule_maint(4243, emu.now_s() + 86400, 2.0, "power")
    emu.inject(Fault("swap_machine", path_contains="/maintenances", machine_id=4243))
    with pytest.raises(VastWrongMachine, match="windows of machine 4243"):
        client.show_maints([M])
    assert client.show_maints([M]) == []


def test_success_false_and_html_5xx(emu: Emulator, client: VastClient) -> None:
    emu.inject(Fault("success_false", path_contains="create_bids", body="not the owner"))
    with pytest.raises(VastFailure, match="not the owner"):
        client.set_defjob(M, image="i", args=None, price_usd_per_gpu_hour=0.1, upload_usd_per_gb=0.0,
                          download_usd_per_gb=0.0)
    emu.inject(Fault("html", method="GET", path_contains="/machines", status=500))
    with pytest.raises(VastServerError, match="HTML"):
        client.show_machines()


def test_an_unknown_key_is_an_auth_error_sent_once(emu: Emulator, clock: FakeClock) -> None:
    with VastClient(emu.url, "not-a-key-of-this-account", clock=clock) as stranger, pytest.raises(VastAuthError):
        stranger.show_machines()
    assert len(emu.requests) == 1
