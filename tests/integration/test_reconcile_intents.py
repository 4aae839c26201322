"""Write-ahead intents when the world is hostile: a full state disk, and a write still in flight inside Vast.

- Taking the machine off the market never depends on the local disk: an unlist whose intent cannot be
  stored is still sent (it is idempotent), logged, and reconciled later from Vast's state.
- A maintenance write (a notice to renters, or a cancel that wipes every window) that may still be in
  flight is not declared "not applied" before the write grace period, and no other maintenance write is
  sent meanwhile; after the grace, Vast's state decides.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from agent_env import World, world
from structlog.testing import capture_logs

from hostagent.errors import StateError
from hostagent.testing.emulator import Fault

GRACE_S = 120.0


def _fill(w: World) -> None:
    """The state disk takes no more writes (full, or remounted read-only by a failing disk).

    A size cap cannot fill every table's last page, so the store's connection is switched to query_only:
    from here on every write fails in the store's own error path, as it does on ENOSPC or EROFS.
    """
    assert w.parts is not None
    db = w.parts.store._db
    with db._lock:
        db._live().execute("PRAGMA query_only = ON")


def test_with_the_state_disk_full_a_health_unlist_is_still_sent_and_reconciled_later(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.listed
        _fill(w)
        with pytest.raises(StateError):
            agent.store.begin_action(w.clock.now(), "probe", "unlist_machine", {"machine_id": 1})
        w.set_gpu(3, health='"lost"')
        w.clock.advance(30)
        with capture_logs() as logs:
            agent.tick(w.clock.now())
        assert not w.machine.listed, "the sick machine was taken off the market despite the full disk"
        assert [r.method for r in w.emu.requests if r.method == "DELETE" and r.path.endswith("/asks/")] == ["DELETE"]
        events = [e["event"] for e in logs]
        assert "write_sent_without_intent" in events
        assert all(e["log_level"] == "error" for e in logs if e["event"] == "write_sent_without_intent")
        assert agent.store.open_intents() == []
        w.clock.advance(300)
        agent.tick(w.clock.now())  # later: Vast already shows the effect, nothing is sent again
        assert [r.method for r in w.emu.requests if r.method == "DELETE" and r.path.endswith("/asks/")] == ["DELETE"]


def test_with_the_state_disk_full_no_other_write_goes_out_without_its_intent(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        agent.telemetry(w.clock.now())
        w.build()  # a fresh agent on the same store, nothing listed yet
        agent = w.parts.agent() if w.parts is not None else agent
        _fill(w)
        with capture_logs() as logs:
            agent.tick(w.clock.now())
        assert w.writes() == [], "a listing, min bid or default job is never sent without its intent"
        assert "write_skipped_intent_not_stored" in [e["event"] for e in logs]


MAINT_CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 1
connect_timeout_s = 1.0
read_timeout_s = 0.5
max_retry_time_s = 1.0
write_grace_s = {grace}

[machine]
hostname = "demo-h100-01"

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"

[agent]
mode = "enforce"
state_dir = "state"

[pricing.models]
"H100 SXM" = 2.00

[maintenance]
lead_time_h = 240.0

[[maintenance.windows]]
name = "{name}"
start = {start}
duration_h = 2.0
category = "software"

[cleanup]
enabled = false

[earnings]
enabled = false

[metrics]
enabled = false
"""


def _window_config(w: World, name: str, days_ahead: int) -> float:
    """Configure one window `days_ahead` from now; returns its start (epoch s)."""
    start = (w.clock.now() + timedelta(days=days_ahead)).replace(microsecond=0)
    w.config_path.write_text(MAINT_CONFIG.format(
        url=w.emu.url, grace=GRACE_S, name=name, start=start.replace(tzinfo=None).isoformat()
    ))
    return start.timestamp()


def _notices(w: World) -> list[float]:
    """Start times of the maintenance notices Vast applied (renters were told of each)."""
    return [float(r.json_body["sdate"]) for r in w.emu.requests  # type: ignore[index]
            if "dnotify" in r.path and r.status == 200]


def _windows(w: World) -> list[float]:
    """Start times of the windows Vast holds for the machine now."""
    now_s = w.emu.now_s()
    return [m.start_time for m in w.machine.maintenances if m.active(now_s)]


def test_a_cancel_still_in_flight_is_not_resent_and_the_new_notice_goes_out_once(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        first = _window_config(w, "first", 3)
        agent = w.agent()
        agent.tick(w.clock.now())
        assert _windows(w) == [first]
        # The window moves: the old one must be cancelled (which wipes all) and the new one notified.
        second = _window_config(w, "second", 4)
        agent = w.agent()
        w.emu.inject(Fault("delay", method="PUT", path_contains="cancel_maint", delay_s=2.0))
        w.clock.advance(60)
        agent.reconcile(w.clock.now())  # the cancel times out on our side; Vast still holds it
        assert len(agent.store.open_intents()) == 1
        assert _notices(w) == [first], "no notice while the cancel may still wipe it"

        w.clock.advance(60)  # inside the grace: the cancel is not declared lost, nothing is re-sent
        agent = w.agent()  # a restart, as the kill test does
        outcome = agent.reconcile(w.clock.now())
        assert outcome is not None
        assert sorted(a.kind.value for a, _ in outcome.waiting) == ["cancel_maint", "schedule_maint"]
        assert len(agent.store.open_intents()) == 1
        assert [r.path for r in w.emu.requests if "cancel_maint" in r.path] == [
            f"/api/v0/machines/{w.machine.id}/cancel_maint/"
        ]
        assert len(_notices(w)) == 1

        _wait_applied(w)  # the late cancel lands inside Vast
        w.clock.advance(GRACE_S)
        agent.reconcile(w.clock.now())
        assert agent.store.open_intents() == []
        (resolved,) = agent.store.journal_entries(kind="intent_resolved")
        assert "confirmed" in resolved.result
        assert len([r for r in w.emu.requests if "cancel_maint" in r.path]) == 1
        assert _notices(w) == [first, second], "renters were told of the new window once"
        assert _windows(w) == [second]


def test_after_the_grace_a_maintenance_write_that_never_landed_is_planned_again(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        _window_config(w, "only", 3)
        agent = w.agent()
        w.emu.inject(Fault("drop", method="PUT", path_contains="dnotify"))  # never reaches Vast's state
        agent.reconcile(w.clock.now())
        assert len(agent.store.open_intents()) == 1
        w.clock.advance(GRACE_S / 2)
        agent.reconcile(w.clock.now())
        assert _notices(w) == [], "not re-sent inside the grace"
        assert len(agent.store.open_intents()) == 1
        w.clock.advance(GRACE_S)
        agent.reconcile(w.clock.now())
        assert agent.store.open_intents() == []
        assert len(_notices(w)) == 1


def _wait_applied(w: World) -> None:
    deadline = time.monotonic() + 10
    while _windows(w) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _windows(w), "the delayed cancel landed"
