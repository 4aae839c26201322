"""A fleet of identical machines of one owner, each with its own agent against one emulator: no race to the bottom."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from agent_env import CONFIG, REPO

from hostagent.bootstrap import Parts, build
from hostagent.config.load import load_config
from hostagent.service.agent import Agent
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator
from hostagent.testing.emulator.market import search

FLEET = 5  # the demo machine and four identical siblings
MARKET = """
[pricing.market]
enabled = true
percentile = 50.0
offset_usd_per_gpu_hour = -0.02
min_peers = 3
"""


def fleet_parts(emu: Emulator, clock: FakeClock, tmp: Path) -> list[Parts]:
    """One agent's parts per machine, each with its own config, fake GPU file and state directory."""
    demo = emu.state.machines[DEMO_MACHINE_ID]
    fleet = []
    for i in range(FLEET):
        if i:
            sibling = replace(demo, id=DEMO_MACHINE_ID + 100 + i, hostname=f"demo-h100-{i + 1:02d}", expired=[])
            emu.state.machines[sibling.id] = sibling
        home = tmp / f"agent-{i}"
        home.mkdir()
        shutil.copy(REPO / "config" / "fake-gpus.toml", home / "fake-gpus.toml")
        text = CONFIG.format(url=emu.url, mode="enforce").replace("demo-h100-01", f"demo-h100-{i + 1:02d}")
        (home / "config.toml").write_text(text + MARKET)
        config = load_config(home / "config.toml", environ={})
        fleet.append(build(config, clock=clock, environ={"VAST_API_KEY": emu.api_key}, with_metrics=False))
    return fleet


def test_a_fleet_of_one_owner_holds_a_stable_price_over_many_cycles(tmp_path: Path) -> None:
    """Each machine prices against the market without its siblings: every cycle lands on the same price."""
    clock = FakeClock()
    with Emulator(clock=clock, rate_limits=False) as emu:
        fleet = fleet_parts(emu, clock, tmp_path)
        try:
            agents = [parts.agent() for parts in fleet]
            check_stable(emu, clock, agents)
        finally:
            for parts in fleet:
                parts.close()


def check_stable(emu: Emulator, clock: FakeClock, agents: list[Agent]) -> None:
    """12 cycles of market refresh + reconcile for every agent: the same price in every cycle, for every machine."""
    prices: list[list[float | None]] = []
    for _ in range(12):
        for agent in agents:
            agent.refresh_market(clock.now())
            agent.tick(clock.now())
        prices.append([emu.state.machines[a.machine_id or 0].listed_gpu_cost for a in agents])
        clock.advance(600)
    first = prices[0]
    assert None not in first
    assert len(set(first)) == 1, "identical machines, identical peers: one price"
    assert all(cycle == first for cycle in prices), prices
    sample = agents[0].market_sample
    assert sample is not None
    assert sample.own_host_id == emu.state.account.id
    assert all(o.host_id != emu.state.account.id for o in sample.offers)  # Vast's search left them out (host_id neq)


def test_the_emulators_offers_charge_renters_storage_and_an_sla_fee_above_the_gpu_price() -> None:
    """dph_total > dph_base on every offer, so a market step on dph_total would read peers too dear."""
    with Emulator(clock=FakeClock(), rate_limits=False) as emu:
        offers = search(emu.state, {"gpu_name": {"eq": "H100 SXM"}, "allocated_storage": 5.0}, emu.now_s())
        assert offers
        assert all(float(str(o["dph_total"])) > float(str(o["dph_base"])) for o in offers)
