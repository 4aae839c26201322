"""The events the agent itself emits, against the emulator: each once, where it happens, with its reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent_env import CONFIG, World, world

from hostagent.core.events import Event, EventKind
from hostagent.service.agent import Agent
from hostagent.testing.emulator.faults import Fault


def _kinds(agent: Agent) -> list[EventKind]:
    return [event.kind for event in agent.events.emitted]


def _of(agent: Agent, kind: EventKind) -> list[Event]:
    return [event for event in agent.events.emitted if event.kind is kind]


def test_a_refused_key_is_one_key_refused_event_not_one_per_probe(tmp_path: Path) -> None:
    """401 for hours: one critical key_refused (the HTTP status named); the hourly probe that fails again is silent."""
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("status", method="GET", status=401, times=0))
        for _ in range(3):
            agent.tick(w.clock.now())
            w.clock.advance(3600)
        [refused] = _of(agent, EventKind.KEY_REFUSED)
        assert "401" in refused.summary
        assert "fix the key" in refused.detail


def test_the_first_listing_and_a_maintenance_notice_are_events(tmp_path: Path) -> None:
    """The unlisted demo machine is listed (relisted, with why) and a window 2 days out is announced."""
    with world(tmp_path) as w:
        start = (w.clock.now() + timedelta(days=2)).replace(microsecond=0, tzinfo=None).isoformat()
        w.config_path.write_text(CONFIG.format(url=w.emu.url, mode="enforce") + (
            f'[maintenance]\nlead_time_h = 72\n[[maintenance.windows]]\nname = "patch"\nstart = {start}\n'
            'duration_h = 2\n'
        ))
        agent = w.agent()
        agent.tick(w.clock.now())
        [relisted] = _of(agent, EventKind.RELISTED)
        assert relisted.summary.startswith("listed again at $")
        [notice] = _of(agent, EventKind.MAINT_NOTICE_SENT)
        assert "maintenance notice sent" in notice.summary
        agent.tick(w.clock.now() + timedelta(minutes=5))
        assert _kinds(agent).count(EventKind.MAINT_NOTICE_SENT) == 1  # Vast holds it: not sent again


def test_a_write_vast_refuses_is_a_write_failed_event_with_vasts_answer(tmp_path: Path) -> None:
    """Vast answers every list write with success false: write_failed, quoting Vast; no relisted event."""
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("success_false", method="PUT", path_contains="create_asks", times=0))
        agent.tick(w.clock.now())
        failed = _of(agent, EventKind.WRITE_FAILED)
        assert failed
        assert all(event.summary.startswith("write failed: list_machine") for event in failed)
        assert all("Vast said: emulated failure" in event.summary for event in failed)
        assert _of(agent, EventKind.RELISTED) == []


def test_the_earnings_line_goes_once_a_day_when_asked_for(tmp_path: Path) -> None:
    """daily_earnings: the first fetch of a UTC day emits it, later fetches that day do not, a restart neither."""
    with world(tmp_path) as w:
        w.config_path.write_text(CONFIG.format(url=w.emu.url, mode="enforce") + "[notify]\ndaily_earnings = true\n")
        agent = _fetching(w)
        agent.fetch_earnings(w.clock.now() + timedelta(hours=1))
        again = _fetching(w)  # a new process on the same state
        assert _kinds(agent).count(EventKind.EARNINGS_DAILY) == 1
        assert _of(again, EventKind.EARNINGS_DAILY) == []
        [line] = _of(agent, EventKind.EARNINGS_DAILY)
        assert line.summary.startswith("earnings: today $")


def _fetching(w: World) -> Agent:
    agent = w.agent()
    agent.tick(w.clock.now())
    agent.fetch_earnings(w.clock.now())
    return agent
