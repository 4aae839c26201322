"""Vast's market metrics end to end on loopback: the client against the emulator's metrics (computed from its own
market), Vast's answer for an account without machines, and the agent pricing from them when
`[pricing.market] source = "metrics"`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_env import world

from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator
from hostagent.vast.client import VastClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(clock=clock, seed=1) as emulator:  # rate limits on
        yield emulator


@pytest.fixture
def client(emu: Emulator, clock: FakeClock) -> Iterator[VastClient]:
    with VastClient(emu.url, emu.api_key, clock=clock) as vast:
        yield vast


def test_usage_is_the_rented_share_and_the_verified_split_adds_up(client: VastClient) -> None:
    """Per model: usage = rented / total; the verified and unverified rows add up to the unfiltered one."""
    every = {r.gpu_name: r for r in client.gpu_metrics_current().rows}
    verified = {r.gpu_name: r for r in client.gpu_metrics_current(verified="yes").rows}
    unverified = {r.gpu_name: r for r in client.gpu_metrics_current(verified="no").rows}
    assert "H100 SXM" in every
    for name, row in every.items():
        parts = [p for p in (verified.get(name), unverified.get(name)) if p is not None]
        assert row.total == sum(p.total for p in parts)
        assert row.available == sum(p.available for p in parts)
        assert row.usage_pct == pytest.approx(100.0 * (row.total - row.available) / row.total, abs=0.06)


def test_unlisting_our_machine_takes_its_free_gpus_out_of_the_supply(emu: Emulator, client: VastClient) -> None:
    """The metrics are computed from the emulator's market, our own listing included."""
    machine = emu.state.machines[DEMO_MACHINE_ID]
    free = machine.num_gpus - machine.client_gpus(emu.now_s()) if machine.listed else 0
    before = next(r for r in client.gpu_metrics_current(num_gpus="8").rows if r.gpu_name == machine.gpu_name)
    client.unlist_machine(DEMO_MACHINE_ID)
    after = next(r for r in client.gpu_metrics_current(num_gpus="8").rows if r.gpu_name == machine.gpu_name)
    assert before.available - after.available == free


def test_the_history_has_a_point_per_step_and_the_rented_median_is_what_our_renters_pay(
    emu: Emulator, client: VastClient
) -> None:
    """Points oldest first, one per step; with only our machines in the market, rented_median is the price our
    running contracts froze, and a model with nothing rented has none."""
    emu.state.peer_offers.clear()
    now_s = emu.now_s()
    end_s = int(now_s) // 3600 * 3600
    result = client.gpu_metrics_history("all", start_epoch_s=end_s - 3 * 3600, end_epoch_s=end_s, step_s=3600)
    expected: dict[str, float | None] = {}
    for m in emu.state.machines.values():
        running = m.running(end_s)
        gpus, paid = sum(c.gpus for c in running), sum(c.gpus * c.price_usd_per_gpu_hour for c in running)
        expected[m.gpu_name] = round(paid / gpus, 4) if gpus else None
    assert any(v is not None for v in expected.values()), "the seeded account has a rented machine"
    for name, points in result.series:
        assert [p.at_epoch_s for p in points] == [end_s - 3 * 3600 + i * 3600 for i in range(4)], name
        assert points[-1].rented_median == expected[name], name


def test_an_account_without_machines_gets_vasts_needs_machine_answer(emu: Emulator, client: VastClient) -> None:
    """Vast serves the metrics to hosts only; our client says so instead of failing."""
    emu.state.machines.clear()
    assert client.gpu_metrics_current().needs_machine is True
    assert client.gpu_metrics_history("H100 SXM").needs_machine is True


def test_five_metrics_reads_in_a_row_earn_no_429(emu: Emulator, client: VastClient) -> None:
    """The endpoint table spaces the reads as Vast's 5 requests/s asks."""
    for _ in range(5):
        client.gpu_metrics_current()
    assert [r.status for r in emu.requests] == [200] * 5


def test_the_agent_prices_from_vasts_metrics_when_that_source_is_chosen(tmp_path: Path) -> None:
    """The refresh reads both endpoints; the decision's market reason names the metrics; guard rails hold."""
    with world(tmp_path) as w:
        w.config_path.write_text(w.config_path.read_text() + (
            '\n[pricing.market]\nenabled = true\nsource = "metrics"\nmetrics_percentile = "median"\n'
            "demand_adjust_pct = 10.0\n"
        ))
        agent = w.agent()
        agent.tick(w.clock.now())
        paths = [r.path for r in w.emu.requests]
        assert "/api/v0/metrics/gpu/current/" in paths
        assert "/api/v0/metrics/gpu/history/" in paths
        assert "/api/v0/bundles/" not in paths
        assert agent.plan is not None
        market = next(r.text for r in agent.plan.reasons if r.step == "market")
        assert market.startswith("Vast metrics, H100 SXM rented median $"), market
        assert "usage " in market
        published = agent.plan.desired.price_usd_per_gpu_hour
        assert published is not None
        assert 1.00 <= published <= 4.00  # the H100 guard bounds of the test config


def test_switching_the_source_in_a_reloaded_config_fetches_the_new_source_at_once(tmp_path: Path) -> None:
    """An offers sample prices nothing under source "metrics": the next reconcile reads the metrics first."""
    with world(tmp_path) as w:
        w.config_path.write_text(w.config_path.read_text() + "\n[pricing.market]\nenabled = true\nmin_peers = 1\n")
        agent = w.agent()
        agent.tick(w.clock.now())
        assert agent.plan is not None
        assert not next(r.text for r in agent.plan.reasons if r.step == "market").startswith("Vast metrics")
        w.config_path.write_text(w.config_path.read_text() + 'source = "metrics"\n')
        agent.set_config(w.config())
        w.clock.advance(300.0)
        agent.reconcile(w.clock.now())
        market = next(r.text for r in agent.plan.reasons if r.step == "market")
        assert market.startswith("Vast metrics, H100 SXM rented median $"), market
