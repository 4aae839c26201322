"""Vast's signals about the machine, end to end: the emulator changes what Vast says, a real agent announces it once."""

from __future__ import annotations

from pathlib import Path

from agent_env import World, world

from hostagent.service.agent import Agent
from hostagent.service.signals import SIGNALS_KEY
from hostagent.testing.emulator import DEMO_MACHINE_ID

SIGNAL_KINDS = ("renter_report", "verification_changed", "vast_offline", "vast_online", "vast_error",
                "vast_maintenance")


def _events(agent: Agent) -> list[str]:
    """The signal events journaled so far, as `kind: summary`, oldest first."""
    rows = agent.store.journal_entries(kind="event")  # type: ignore[attr-defined]
    return [row.what for row in rows if row.what.split(":")[0] in SIGNAL_KINDS]


def _tick(w: World, agent: Agent, seconds: float = 300.0) -> list[str]:
    """One reconcile `seconds` later; the signal events it journaled."""
    before = len(_events(agent))
    w.clock.advance(seconds)
    agent.tick(w.clock.now())
    return _events(agent)[before:]


def test_each_signal_vast_shows_is_journaled_once_and_a_restart_repeats_none(tmp_path: Path) -> None:
    """A report, offline then online, a verification change, an error and Vast's own window: one event each."""
    with world(tmp_path) as w:
        w.emu.add_report(DEMO_MACHINE_ID, "Old Problem", "filed before hostagent watched")
        agent = w.agent()
        assert _tick(w, agent, 0.0) == []  # the first look: a baseline, old reports are not news
        w.emu.add_report(DEMO_MACHINE_ID, "Network Issue", "downloads crawl")
        assert _tick(w, agent) == [f"renter_report: renter report on machine {DEMO_MACHINE_ID}: Network Issue: "
                                   "downloads crawl"]
        assert _tick(w, agent) == []
        w.emu.set_signals(DEMO_MACHINE_ID, offline=True)
        assert [e.split(":")[0] for e in _tick(w, agent, 400.0)] == ["vast_offline"]
        assert _tick(w, agent) == []
        w.emu.set_signals(DEMO_MACHINE_ID, offline=False, verification="deverified", error_description="GPU 3 lost")
        assert _tick(w, agent) == [
            f"vast_online: Vast hears from machine {DEMO_MACHINE_ID} again (online)",
            f"verification_changed: Vast's verification of machine {DEMO_MACHINE_ID}: verified → deverified",
            f"vast_error: Vast shows an error on machine {DEMO_MACHINE_ID}: GPU 3 lost",
        ]
        w.emu.schedule_vast_maintenance(DEMO_MACHINE_ID, w.emu.now_s() + 86400, 2.0, "power")
        assert [e.split(":")[0] for e in _tick(w, agent)] == ["vast_maintenance"]
        restarted = w.agent()  # a new process: the state store remembers what was announced
        assert _tick(w, restarted) == []
        assert restarted.store.get(SIGNALS_KEY)["num_reports"] == 2  # type: ignore[index]


def test_status_shows_what_vast_says_and_the_reports_are_read_only_when_due(tmp_path: Path) -> None:
    """The saved status carries the signals; the reports endpoint is called at the first look and when the count
    moves, not at every reconcile (vast.signals_every_s)."""
    with world(tmp_path) as w:
        agent = w.agent()
        for _ in range(3):
            _tick(w, agent)
        w.emu.add_report(DEMO_MACHINE_ID, "Machine Performance Is Less Than Expected")
        w.emu.set_signals(DEMO_MACHINE_ID, error_description="disk full")
        _tick(w, agent)
        reads = [r.path for r in w.emu.requests if r.path.rstrip("/").endswith("/reports")]
        assert reads == [f"/api/v0/machines/{DEMO_MACHINE_ID}/reports/"] * 2
        saved = agent.store.load_status()
        assert saved is not None
        shown = saved[0]["vast_signals"]
        assert (shown["verification"], shown["offline"], shown["error_description"], shown["num_reports"]) == (
            "verified", False, "disk full", 1)
        assert [r["problem"] for r in shown["reports"]] == ["Machine Performance Is Less Than Expected"]
