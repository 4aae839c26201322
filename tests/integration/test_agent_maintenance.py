"""Maintenance windows as Vast keeps them: whole hours, and Vast's cancel that removes every window of the machine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent_env import CONFIG, World, world

from hostagent.testing.emulator.state import Maintenance

WINDOW = """
[maintenance]
lead_time_h = 72
unlist_before_h = 2

[[maintenance.windows]]
name = "{name}"
start = {start}
duration_h = 2.5
category = "software"
"""


def _configure(w: World, name: str, days_ahead: int) -> float:
    """The test config with one 2.5 h window `days_ahead` from now; returns its start (epoch s)."""
    start = (w.clock.now() + timedelta(days=days_ahead)).replace(microsecond=0)
    text = CONFIG.format(url=w.emu.url, mode="enforce") + WINDOW.format(
        name=name, start=start.replace(tzinfo=None).isoformat()
    )
    w.config_path.write_text(text)
    return start.timestamp()


def _held(w: World) -> list[tuple[float, float]]:
    """(start, hours) of the windows Vast holds for the machine now."""
    now_s = w.emu.now_s()
    return sorted((m.start_time, m.duration_hours) for m in w.machine.maintenances if m.active(now_s))


def test_a_fractional_window_is_sent_as_whole_hours_and_shown_as_vast_holds_it(tmp_path: Path) -> None:
    """2.5 h goes to Vast as 3 h (Vast would cut 2.5 down to 2), and status shows the 3 h end."""
    with world(tmp_path) as w:
        start = _configure(w, "patch", 2)
        agent = w.agent()
        agent.tick(w.clock.now())
        sent = [r.json_body for r in w.emu.requests if "dnotify" in r.path]
        assert [body["duration"] for body in sent] == [3.0]  # type: ignore[index]
        assert _held(w) == [(start, 3.0)]
        saved = agent.store.load_status()
        assert saved is not None
        shown = saved[0]["maintenance"]["next"]
        assert shown["end"].startswith((w.clock.now() + timedelta(days=2, hours=3)).strftime("%Y-%m-%dT%H:%M"))


def test_a_window_hostagent_did_not_schedule_is_never_cancelled(tmp_path: Path) -> None:
    """A window leaves the config while the operator's and Vast's own are held: no cancel; the stale one stays."""
    with world(tmp_path) as w:
        first = _configure(w, "first", 2)
        w.agent().tick(w.clock.now())
        operator_start = w.emu.now_s() + 5 * 86400.0
        w.machine.maintenances.append(Maintenance(
            id=9001, machine_id=w.machine.id, start_time=operator_start, duration_hours=1.0,
            category="power", created_at=w.emu.now_s(),
        ))
        vast_start = w.emu.now_s() + 6 * 86400.0
        w.emu.schedule_vast_maintenance(w.machine.id, vast_start, 2.0)
        second = _configure(w, "second", 3)
        w.clock.advance(300)
        agent = w.agent()
        agent.reconcile(w.clock.now())
        assert not [r for r in w.emu.requests if "cancel_maint" in r.path]
        assert _held(w) == [(first, 3.0), (second, 3.0), (operator_start, 1.0), (vast_start, 2.0)]
        decisions = " ".join(e.why for e in agent.store.journal_entries(kind="decision"))
        assert "maintenance.keep_stale" in decisions


def test_why_a_stale_window_stays_is_journaled_once_even_when_nothing_else_changes(tmp_path: Path) -> None:
    """The config drops our window while the operator's is held: one decision says why, not one per cycle."""
    with world(tmp_path) as w:
        _configure(w, "first", 2)
        w.agent().tick(w.clock.now())
        w.machine.maintenances.append(Maintenance(
            id=9001, machine_id=w.machine.id, start_time=w.emu.now_s() + 5 * 86400.0, duration_hours=1.0,
            category="power", created_at=w.emu.now_s(),
        ))
        w.config_path.write_text(CONFIG.format(url=w.emu.url, mode="enforce"))  # no window configured now
        agent = w.agent()
        for _ in range(3):
            w.clock.advance(300)
            agent.tick(w.clock.now())
        kept = [e for e in agent.store.journal_entries(kind="decision") if "maintenance.keep_stale" in e.why]
        assert len(kept) == 1
        assert not [r for r in w.emu.requests if "cancel_maint" in r.path]


def test_a_window_of_ours_the_config_dropped_is_cancelled_when_vast_holds_only_ours(tmp_path: Path) -> None:
    """With no foreign window, the cancel goes out and the configured window is notified again."""
    with world(tmp_path) as w:
        _configure(w, "first", 2)
        w.agent().tick(w.clock.now())
        second = _configure(w, "second", 3)
        w.clock.advance(300)
        w.agent().reconcile(w.clock.now())
        assert len([r for r in w.emu.requests if "cancel_maint" in r.path]) == 1
        assert _held(w) == [(second, 3.0)]
