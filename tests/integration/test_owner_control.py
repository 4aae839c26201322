"""The owner in control, against the Vast emulator: hold, release, pause, resume (the real commands, in process),
and listing changes made outside hostagent (another client's writes to the same emulator)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from agent_env import World, world

from hostagent.cli import main
from hostagent.core.model import ActionKind
from hostagent.core.owner import OwnerHold, hold_to_json
from hostagent.runtime.metrics import Metrics
from hostagent.service.agent import Agent
from hostagent.testing.emulator import DEMO_MACHINE_ID


def command(w: World, *words: str) -> int:
    return main(["--config", str(w.config_path), *words])


def events(agent: Agent, kind: str) -> list[str]:
    return [e.what for e in agent.store.journal_entries(kind="event") if e.what.startswith(f"{kind}: ")]


def test_a_hold_unlists_at_the_next_reconcile_and_release_lists_the_machine_again(tmp_path: Path) -> None:
    """`hold` unlists (once announced, shown in status), `release` lists again at the following reconcile."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert command(w, "hold", "--reason", "disk swap") == 0
        agent.tick(w.clock.now())
        assert not w.machine.listed
        unlist = agent.store.journal_entries(kind=ActionKind.UNLIST.value)[-1]
        assert "held by" in unlist.why
        assert ": disk swap (rentals continue)" in unlist.why
        assert "owner.hold: held by" in agent.store.journal_entries(kind="decision")[-1].why
        status = agent.store.load_status()[0]
        assert status["owner"]["hold"]["reason"] == "disk swap"
        assert status["owner"]["hold"]["source"] == "command"
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert not w.machine.listed
        assert len(events(agent, "held")) == 1
        assert [e.what for e in agent.store.journal_entries(kind="operator")] == ["hold"]

        assert command(w, "release") == 0
        w.clock.advance(300)  # no relist cool-down: the hold, not a health check, unlisted it
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert len(events(agent, "released")) == 1
        assert agent.store.load_status()[0]["owner"]["hold"] is None
        assert events(agent, "changed_outside") == []


def test_a_hold_ends_by_itself_when_until_passes(tmp_path: Path) -> None:
    """A hold with `until` is released by the agent once that time passes (RELEASED), and the machine relists."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        now = w.clock.now()
        agent.store.put("owner_hold", hold_to_json(OwnerHold("root", now, "night", now + timedelta(hours=1))))
        agent.tick(now)
        assert not w.machine.listed
        w.clock.advance(3600)
        agent.tick(w.clock.now())
        assert w.machine.listed
        (released,) = events(agent, "released")
        assert "--until" in released
        assert "passed" in released


def test_pause_sends_no_write_but_decides_and_journals_what_it_would_send(tmp_path: Path) -> None:
    """Paused: no write reaches Vast, `would_send` says what would; resume sends it."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.telemetry(w.clock.now())  # the store exists before the first write the command makes beside it
        assert command(w, "pause", "--reason", "testing by hand") == 0
        agent.tick(w.clock.now())
        assert w.writes() == []
        would = agent.store.journal_entries(kind="would_send")
        assert [e.what.split()[0] for e in would] == [ActionKind.LIST.value]
        assert would[0].result == "paused (hostagent pause): not sent"
        assert agent.store.load_status()[0]["owner"]["pause"]["reason"] == "testing by hand"
        assert len(events(agent, "paused")) == 1
        assert command(w, "resume") == 0
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert len(events(agent, "resumed")) == 1
        assert events(agent, "changed_outside") == []


def test_an_unlist_made_outside_hostagent_is_kept_announced_and_undone_by_release(tmp_path: Path) -> None:
    """Default policy "hold": the machine stays unlisted, the journal says who changed it, release relists."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.listed
        agent.market.unlist_machine(DEMO_MACHINE_ID)  # the same API, not through the agent: the web console
        w.clock.advance(300)
        before = len(w.writes())
        agent.tick(w.clock.now())
        assert not w.machine.listed
        assert len(w.writes()) == before
        (change,) = events(agent, "changed_outside")
        assert "changed outside hostagent: listed at 2.00, min bid 0.50 → unlisted" in change
        assert agent.store.load_status()[0]["owner"]["hold"]["source"] == "outside"
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert not w.machine.listed
        assert command(w, "release") == 0
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert len(events(agent, "changed_outside")) == 1
        assert events(agent, "held") == []  # the change itself was the news


def test_a_price_set_outside_hostagent_is_kept_as_set_under_the_default_policy(tmp_path: Path) -> None:
    """A new price from the console stays: no list write follows it until release."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        listing = agent.plan.desired if agent.plan is not None else None
        assert listing is not None
        agent.market.list_machine(DEMO_MACHINE_ID, replace(listing, price_usd_per_gpu_hour=3.10))
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert w.machine.listed_gpu_cost == 3.10
        (change,) = events(agent, "changed_outside")
        assert "listed at 2.00, min bid 0.50 → listed at 3.10" in change


def test_with_the_revert_policy_an_outside_unlist_is_put_back(tmp_path: Path) -> None:
    """agent.outside_changes = "revert": journaled and announced, then the plan lists the machine again."""
    with world(tmp_path) as w:
        w.config_path.write_text(w.config_path.read_text().replace(
            'reconcile_s = 300.0\n', 'reconcile_s = 300.0\noutside_changes = "revert"\n'))
        agent = w.agent()
        agent.tick(w.clock.now())
        agent.market.unlist_machine(DEMO_MACHINE_ID)
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert w.machine.listed
        (change,) = events(agent, "changed_outside")
        assert "revert" in change
        assert agent.store.load_status()[0]["owner"]["hold"] is None


def test_the_agents_own_writes_across_a_restart_and_a_health_cycle_are_never_outside_changes(tmp_path: Path) -> None:
    """List, restart, unlist for heat, relist after the cool-down: not one change is taken for someone else's."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        agent = w.agent()  # a restart right after the write: the expected state was saved before it was sent
        agent.tick(w.clock.now())
        w.set_gpu(3, temperature_c=92)
        for _ in range(12):
            w.clock.advance(30)
            agent.telemetry(w.clock.now())
        agent.reconcile(w.clock.now())
        assert not w.machine.listed
        w.set_gpu(3, temperature_c=60)
        agent.tick(w.clock.now())
        w.clock.advance(901)
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert events(agent, "changed_outside") == []


def test_observe_mode_never_takes_its_own_unsent_writes_for_outside_changes(tmp_path: Path) -> None:
    """Observe mode decides a listing it never sends: Vast staying unlisted is nobody's change."""
    with world(tmp_path, mode="observe") as w:
        agent = w.agent()
        for _ in range(3):
            agent.tick(w.clock.now())
            w.clock.advance(300)
        assert w.writes() == []
        assert events(agent, "changed_outside") == []


def test_a_hold_until_a_past_time_is_a_usage_error_that_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 with a line naming --until; nothing is stored or journaled."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        assert command(w, "hold", "--until", "2020-01-01T00:00Z") == 2
        assert "--until '2020-01-01T00:00Z'" in capsys.readouterr().err
        assert agent.store.get("owner_hold") is None
        assert agent.store.journal_entries(kind="operator") == []


def test_the_commands_need_the_agents_state_store_and_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the agent's first run there is nothing to write beside: exit 1, one line, nothing created."""
    with world(tmp_path) as w:
        assert command(w, "hold") == 1
        assert "no state store" in capsys.readouterr().err
        assert not (tmp_path / "state" / "state.db").exists()


def test_the_hold_and_the_pause_show_on_the_metrics_page(tmp_path: Path) -> None:
    """hostagent_owner_hold and hostagent_paused are 1 while they last and 0 after."""
    with world(tmp_path) as w:
        parts = w.build()
        parts.metrics = Metrics(hostname="test-host")
        agent = parts.agent()
        agent.tick(w.clock.now())
        registry = parts.metrics.registry

        def gauges() -> tuple[float | None, float | None]:
            return registry.get_sample_value("hostagent_owner_hold"), registry.get_sample_value("hostagent_paused")

        assert gauges() == (0, 0)
        assert command(w, "hold") == 0
        assert command(w, "pause") == 0
        agent.tick(w.clock.now())
        assert gauges() == (1, 1)
        assert command(w, "release") == 0
        assert command(w, "resume") == 0
        agent.tick(w.clock.now())
        assert gauges() == (0, 0)
        assert registry.get_sample_value("hostagent_events_total", {"kind": "held"}) == 1
