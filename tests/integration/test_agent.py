"""The agent against the Vast emulator and fake GPUs: listing, observe mode, steady state, health gating."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent_env import world

from hostagent.core.model import ActionKind, DesiredListing
from hostagent.vast.client import VastClient


def test_a_full_cycle_lists_the_machine_at_the_rules_price_and_explains_it_in_the_journal(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        service = w.service()
        assert service.run_once() == 0
        machine = w.machine
        assert machine.listed
        assert machine.listed_gpu_cost == 2.00  # [pricing.models] "H100 SXM", no rule, no decay, within guard
        assert machine.min_bid_price == 0.50  # fixed 0.50: its own bounds, not the H100 on-demand floor ($1.00)
        store = service.agent.store
        listed = store.journal_entries(kind=ActionKind.LIST.value)
        assert len(listed) == 1
        assert listed[0].ok
        assert "H100 SXM" in listed[0].why or "2.00" in listed[0].why
        decision = store.journal_entries(kind="decision")[-1]
        assert "base" in decision.why
        status, _at = store.load_status()
        assert status["schema"] == 1
        assert status["listing"]["listed"] is True
        assert status["listing"]["price_usd_per_gpu_hour"] == 2.00
        assert status["health"]["ok"] is True
        assert len(status["health"]["gpus"]) == 8


def test_observe_mode_journals_what_it_would_send_and_sends_no_write(tmp_path: Path) -> None:
    with world(tmp_path, mode="observe") as w:
        service = w.service()
        service.run_once()
        service.agent.tick(w.clock.now())
        assert w.writes() == []
        assert not w.machine.listed
        would = service.agent.store.journal_entries(kind="would_send")
        assert [e.what.split()[0] for e in would].count(ActionKind.LIST.value) == 1  # journaled once, not per tick
        assert service.agent.store.open_intents() == []


def test_in_a_steady_state_a_tick_sends_no_write(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        first = len(w.writes())
        assert first >= 1
        w.clock.advance(300)
        outcome = agent.tick(w.clock.now())
        assert outcome is not None
        assert outcome.sent == []
        assert len(w.writes()) == first


def test_a_hot_gpu_unlists_after_hot_for_s_and_relists_after_the_cool_down(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.listed
        w.set_gpu(3, temperature_c=92)
        agent.tick(w.clock.now())
        assert w.machine.listed, "hot for less than hot_for_s: still listed"
        for _ in range(11):  # 330 s > hot_for_s = 300 s
            w.clock.advance(30)
            agent.telemetry(w.clock.now())
        agent.reconcile(w.clock.now())
        assert not w.machine.listed
        unlist = agent.store.journal_entries(kind=ActionKind.UNLIST.value)
        assert len(unlist) == 1
        assert "GPU 3" in unlist[0].why
        assert agent.store.load_status()[0]["health"]["ok"] is False

        w.set_gpu(3, temperature_c=60)
        agent.tick(w.clock.now())
        assert not w.machine.listed, "cool-down: every check must pass relist_cooldown_s first"
        w.clock.advance(901)
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert len(agent.store.journal_entries(kind=ActionKind.LIST.value)) == 2


def test_vast_showing_another_gpu_count_than_installed_keeps_the_machine_off_the_market_and_says_why(
    tmp_path: Path,
) -> None:
    """expected_gpu_count is set; Vast's num_gpus 4 against 8 installed GPUs: no listing, and the reason is shown."""
    with world(tmp_path) as w:
        w.machine.num_gpus = 4
        agent = w.agent()
        assert agent.tick(w.clock.now()) is not None
        assert not w.machine.listed
        assert agent.plan is not None
        listing = next(r.text for r in agent.plan.reasons if r.step == "listing")
        assert "Vast lists 4 GPUs, 8 installed here" in listing
        health = agent.store.load_status()[0]["health"]
        assert health["ok"] is False
        assert any(r.startswith("health.vast_gpu_count: Vast lists 4 GPUs") for r in health["reasons"])


def test_a_power_min_bid_comes_from_the_power_measured_under_load_in_the_running_agent(tmp_path: Path) -> None:
    """Telemetry samples at high utilisation feed History's median power, and the plan's min bid follows it."""
    with world(tmp_path) as w:
        fixed = 'mode = "fixed"\nusd_per_gpu_hour = 0.50'
        power = 'mode = "power"\ntariff_usd_per_kwh = 2.0\nmargin = 1.0\nfallback_power_w = 700.0'
        w.config_path.write_text(w.config_path.read_text().replace(fixed, power))
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.min_bid_price == 1.40  # idle GPUs: nothing measured under load, 700 W fallback
        for index in range(8):
            w.set_gpu(index, utilization_pct=90, power_w=600.0)
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert agent.history.history.median_power_under_load_w == 600.0
        assert w.machine.min_bid_price == 1.20  # 600 W / 1000 x $2.00/kWh x 1.0
        (set_bid,) = agent.store.journal_entries(kind=ActionKind.SET_MIN_BID.value)
        assert "600 W (measured under load)" in set_bid.why


class VastKeepingItsOwnPrice(VastClient):
    """The real client, but the listing it sends carries $0.50 more: Vast then shows a price nobody planned."""

    def list_machine(self, machine_id: int, listing: DesiredListing) -> int:
        price = (listing.price_usd_per_gpu_hour or 0.0) + 0.50
        return super().list_machine(machine_id, replace(listing, price_usd_per_gpu_hour=price))


def test_a_write_is_read_back_and_a_difference_is_journaled_as_a_mismatch(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        parts = w.build()
        parts.market.close()
        parts.market = VastKeepingItsOwnPrice(w.emu.url, w.emu.api_key, cfg=parts.config.vast, clock=w.clock)
        agent = parts.agent()
        outcome = agent.tick(w.clock.now())
        assert outcome is not None
        assert ActionKind.LIST in [a.kind for a in outcome.sent]
        assert outcome.machine_after is not None
        assert outcome.machine_after.listed_gpu_cost == 2.50  # what the read-back showed, not what was sent
        (mismatch,) = agent.store.journal_entries(kind="mismatch")
        assert not mismatch.ok
        assert mismatch.what.startswith("list_machine machine 4242")
        assert "price=2.5" in mismatch.result
        (event,) = [e for e in agent.events.emitted if e.kind.value == "write_failed"]  # the owner hears it
        assert "not read back: Vast shows" in event.summary
