"""The agent against the Vast emulator and fake GPUs: listing, observe mode, steady state, health gating."""

from __future__ import annotations

from pathlib import Path

from agent_env import world

from hostagent.core.model import ActionKind


def test_a_full_cycle_lists_the_machine_at_the_rules_price_and_explains_it_in_the_journal(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        service = w.service()
        assert service.run_once() == 0
        machine = w.machine
        assert machine.listed
        assert machine.listed_gpu_cost == 2.00  # [pricing.models] "H100 SXM", no rule, no decay, within guard
        assert machine.min_bid_price == 1.00  # fixed 0.50, raised to the H100 floor by the guard rails
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
