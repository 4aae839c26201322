"""The operator's windows (`hostagent maint add|cancel`, state store key `operator_maints`) sent by the agent itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from agent_env import CONFIG, World, world

from hostagent.core.operator_maint import OperatorCancel, OperatorWindow
from hostagent.service import operator_maints
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Fault

CONFIG_WINDOW = """
[maintenance]
lead_time_h = 72
unlist_before_h = 2

[[maintenance.windows]]
name = "patch"
start = {start}
duration_h = 2
category = "software"
"""


def _window(w: World, days_ahead: float, *, hours: float = 1.5, wid: str = "op-1") -> OperatorWindow:
    now = w.clock.now()
    start = (now + timedelta(days=days_ahead)).replace(microsecond=0)
    return OperatorWindow(wid, DEMO_MACHINE_ID, start, hours, "disk", "swap a disk", "alice@host", now)


def _queue(w: World, window: OperatorWindow) -> None:
    """What `maint add` does: one transaction on the agent's store, from another connection beside it."""
    with StateStore.open(w.tmp / "state", beside_agent=True) as store:
        operator_maints.add(store, window)


def _recorded(w: World) -> dict[str, str]:
    with StateStore.open(w.tmp / "state", readonly=True) as store:
        return {op.id: op.state for op in operator_maints.load(store).windows}


def _held(w: World) -> list[tuple[float, float]]:
    now_s = w.emu.now_s()
    return sorted((m.start_time, m.duration_hours) for m in w.machine.maintenances if m.active(now_s))


def _count(w: World, path: str) -> int:
    return len([r for r in w.emu.requests if r.method == "PUT" and path in r.path])


def _config_with_window(w: World, days_ahead: int) -> datetime:
    start = (w.clock.now() + timedelta(days=days_ahead)).replace(microsecond=0)
    w.config_path.write_text(CONFIG.format(url=w.emu.url, mode="enforce")
                             + CONFIG_WINDOW.format(start=start.replace(tzinfo=None).isoformat()))
    return start


def test_a_queued_window_is_sent_once_by_the_agent_and_kept_by_every_later_reconcile(tmp_path: Path) -> None:
    """The agent's plan sends the notice (whole hours), records it as sent, and never cancels or resends it."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        window = _window(w, 5)
        _queue(w, window)
        for _ in range(4):
            w.clock.advance(300)
            agent.reconcile(w.clock.now())
        assert _count(w, "dnotify") == 1
        assert _count(w, "cancel_maint") == 0
        assert _held(w) == [(window.start.timestamp(), 2.0)]
        assert _recorded(w) == {"op-1": "sent"}
        [row] = agent.store.journal_entries(kind="schedule_maint")
        assert row.ok
        assert "operator window op-1 added by alice@host (swap a disk)" in row.why
        assert agent.store.open_intents() == []


def test_a_stray_cancel_that_wipes_an_operator_window_sends_it_again(tmp_path: Path) -> None:
    """The old race: the config drops our window, the cancel wipes every window, the operator's comes back."""
    with world(tmp_path) as w:
        _config_with_window(w, 2)
        agent = w.agent()
        agent.tick(w.clock.now())
        window = _window(w, 4)
        _queue(w, window)
        w.clock.advance(300)
        agent.reconcile(w.clock.now())
        assert len(_held(w)) == 2
        w.config_path.write_text(CONFIG.format(url=w.emu.url, mode="enforce"))
        agent = w.agent()
        w.clock.advance(300)
        agent.reconcile(w.clock.now())
        w.clock.advance(300)
        agent.reconcile(w.clock.now())
        assert _count(w, "cancel_maint") == 1
        assert _held(w) == [(window.start.timestamp(), 2.0)]
        assert _count(w, "dnotify") == 3  # the config's, the operator's, and the operator's again after the cancel


def test_maint_cancel_is_sent_by_the_agent_then_configured_windows_are_notified_again(tmp_path: Path) -> None:
    """The cancel removes every window; the operator's stay cancelled, the configured one is notified again."""
    with world(tmp_path) as w:
        configured = _config_with_window(w, 2)
        agent = w.agent()
        agent.tick(w.clock.now())
        _queue(w, _window(w, 4))
        w.clock.advance(300)
        agent.reconcile(w.clock.now())
        with StateStore.open(w.tmp / "state", beside_agent=True) as store:
            operator_maints.request_cancel(store, OperatorCancel("cancel-1", DEMO_MACHINE_ID, w.clock.now(), "bob@h"))
        for _ in range(3):
            w.clock.advance(300)
            agent.reconcile(w.clock.now())
        assert _count(w, "cancel_maint") == 1
        assert _held(w) == [(configured.timestamp(), 2.0)]
        assert _recorded(w) == {"op-1": "cancelled"}
        assert operator_maints.load(agent.store).cancel is None
        [row] = agent.store.journal_entries(kind="cancel_maint")
        assert "bob@h asked" in row.why


def test_a_notice_vast_refuses_is_recorded_as_refused_and_not_sent_again(tmp_path: Path) -> None:
    """A 400 is Vast's answer, not a network error: the window is marked refused, not retried every reconcile."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        w.emu.inject(Fault("status", method="PUT", path_contains="dnotify", status=400))
        _queue(w, _window(w, 5))
        for _ in range(3):
            w.clock.advance(300)
            agent.reconcile(w.clock.now())
        assert _count(w, "dnotify") == 1
        assert _recorded(w) == {"op-1": "refused"}


def test_in_observe_mode_the_window_stays_queued_and_is_journaled_as_would_send(tmp_path: Path) -> None:
    """Observe mode sends nothing, the operator's notice included; switching to enforce sends it."""
    with world(tmp_path, mode="observe") as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        _queue(w, _window(w, 5))
        w.clock.advance(300)
        agent.reconcile(w.clock.now())
        assert _count(w, "dnotify") == 0
        assert _recorded(w) == {"op-1": "queued"}
        assert [r for r in agent.store.journal_entries(kind="would_send") if "schedule_maint" in r.what]
        w.set_mode("enforce")
        agent = w.agent()
        w.clock.advance(300)
        agent.reconcile(w.clock.now())
        assert _count(w, "dnotify") == 1
        assert _recorded(w) == {"op-1": "sent"}


def test_a_window_whose_start_passed_before_the_agent_ran_is_marked_not_sent(tmp_path: Path) -> None:
    """Queued while no agent ran, and the start went by: nothing is sent late, and `maint list` can say why."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        _queue(w, _window(w, 0.01))
        w.clock.advance(3600)
        agent.reconcile(w.clock.now())
        assert _count(w, "dnotify") == 0
        assert _recorded(w) == {"op-1": "refused"}
        assert "start passed" in operator_maints.load(agent.store).windows[0].result
