"""The service loop on a FakeClock: cadences from config, health-triggered reconcile, reload, watchdog."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from agent_env import world

from hostagent.core.model import ActionKind
from hostagent.runtime.sdnotify import Notifier
from hostagent.runtime.service import Service
from hostagent.testing.clock import FakeClock


def _messages(sock: socket.socket) -> list[str]:
    out: list[str] = []
    sock.setblocking(False)
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


class CountingService(Service):
    """The real service, remembering which job ran."""

    calls: list[str]

    def telemetry(self) -> None:
        self.calls.append("telemetry")
        super().telemetry()

    def reconcile(self) -> None:
        self.calls.append("reconcile")
        super().reconcile()

    def cleanup(self) -> bool:
        self.calls.append("cleanup")
        return super().cleanup()

    def earnings(self) -> bool:
        self.calls.append("earnings")
        return super().earnings()


def test_the_loop_runs_each_job_at_its_cadence_on_the_injected_clock(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        service = CountingService(w.build().agent(), w.clock, max_sleep_s=3600.0, simulated_time=True)
        service.calls = []
        start = w.clock.monotonic()
        service.run(max_cycles=60)
        elapsed_s = w.clock.monotonic() - start
        assert service.calls[:4] == ["telemetry", "reconcile", "cleanup", "earnings"], "each runs once at start"
        assert elapsed_s > 1200
        assert abs(service.calls.count("telemetry") - elapsed_s / 30) <= 2  # tick_s = 30
        assert abs(service.calls.count("reconcile") - elapsed_s / 300) <= 1  # reconcile_s = 300
        assert service.calls.count("cleanup") == 1  # every 24 h
        assert w.machine.listed


def test_health_turning_bad_makes_the_reconcile_due_at_once(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        parts = w.build()
        service = Service(parts.agent(), w.clock, max_sleep_s=30.0, simulated_time=True)
        service.run(max_cycles=3)
        assert w.machine.listed
        w.set_gpu(2, health='"lost"')
        service.run(max_cycles=3)  # the next telemetry sees the lost GPU: no waiting for reconcile_s
        assert not w.machine.listed
        (unlist,) = service.agent.store.journal_entries(kind=ActionKind.UNLIST.value)
        assert "lost" in unlist.why


def test_a_health_unlist_is_journaled_as_an_unlist_decision_naming_the_cause(tmp_path: Path) -> None:
    """The decision row of a health unlist reads "unlist: health: GPU 2 lost; …", not "keep unlisted"."""
    with world(tmp_path) as w:
        service = Service(w.build().agent(), w.clock, max_sleep_s=30.0, simulated_time=True)
        service.run(max_cycles=3)
        w.set_gpu(2, health='"lost"')
        service.run(max_cycles=3)
        decisions = [e.what for e in service.agent.store.journal_entries(kind="decision")]
    assert decisions[0] == "list at $2.00/GPU/h; 1 change(s)"  # the price as the rest of the output writes it
    unlists = [what for what in decisions if what.startswith("unlist")]
    assert unlists == ["unlist: health: GPU 2 lost; 7 GPUs present, 8 expected; 1 change(s)"], decisions


def test_in_observe_mode_the_status_says_the_plan_would_list_and_nothing_is_sent(tmp_path: Path) -> None:
    """An unlisted machine the plan would list reads "the plan would list it; observe mode sends nothing"."""
    with world(tmp_path, mode="observe") as w:
        service = Service(w.build().agent(), w.clock, simulated_time=True)
        service.run(max_cycles=2)
        stored = service.agent.store.load_status()
        assert not w.machine.listed
    assert stored is not None
    why = stored[0]["listing"]["why"]
    assert why.startswith("not listed: the plan would list it; observe mode sends nothing")
    assert "(the plan lists it)" not in why


def test_a_reload_with_an_invalid_config_keeps_the_old_one(tmp_path: Path) -> None:
    with world(tmp_path, mode="observe") as w:
        parts = w.build()
        service = Service(parts.agent(), w.clock, reload=w.config, simulated_time=True)
        w.config_path.write_text(w.config_path.read_text() + "\n[pricing]\nbogus = 1\n")
        service.reload_requested = True
        service.run(max_cycles=1)
        assert service.agent.config.agent.mode == "observe"
        w.config_path.write_text(w.config_path.read_text().replace("\n[pricing]\nbogus = 1\n", ""))
        w.set_mode("enforce")
        service.reload_requested = True
        service.run(max_cycles=2)
        assert service.agent.config.agent.mode == "enforce"
        assert w.machine.listed


def test_ready_status_and_watchdog_are_sent_on_the_notify_socket(tmp_path: Path) -> None:
    with world(tmp_path) as w, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        address = str(tmp_path / "notify")
        sock.bind(address)
        service = Service(
            w.build().agent(), w.clock, notifier=Notifier(address), watchdog_s=120.0, simulated_time=True
        )
        service.run(max_cycles=5)
        messages = _messages(sock)
        assert any("READY=1" in m for m in messages)
        assert any(m.startswith("STATUS=") and "listed at 2.0" in m for m in messages)
        assert any("WATCHDOG=1" in m for m in messages)
        assert "STOPPING=1" in messages[-1]


class JumpingService(CountingService):
    """Moves the wall clock at the 10th telemetry (2 days ahead) and the 20th (3 days back), as NTP might."""

    def telemetry(self) -> None:
        super().telemetry()
        jumps = {10: timedelta(days=2), 20: timedelta(days=-3)}
        jump = jumps.get(self.calls.count("telemetry"))
        if jump is not None:
            clock = self.clock
            assert isinstance(clock, FakeClock)
            clock.set(clock.now() + jump)


def test_wall_clock_jumps_neither_skip_nor_repeat_a_job(tmp_path: Path) -> None:
    """Cadences run on the monotonic clock: a wall-clock jump changes none of them (fault 19)."""
    with world(tmp_path) as w:
        service = JumpingService(w.build().agent(), w.clock, max_sleep_s=3600.0, simulated_time=True)
        service.calls = []
        start = w.clock.monotonic()
        service.run(max_cycles=60)
        elapsed_s = w.clock.monotonic() - start
        assert service.calls.count("telemetry") >= 30, "both jumps happened inside the run"
        assert service.calls.count("cleanup") == 1  # every 24 h: not made due by the jump ahead
        assert service.calls.count("earnings") == 1
        assert abs(service.calls.count("telemetry") - elapsed_s / 30) <= 2  # tick_s = 30, no gap after the jump back
        assert abs(service.calls.count("reconcile") - elapsed_s / 300) <= 1  # reconcile_s = 300


def test_a_reload_while_the_config_is_half_written_or_gone_keeps_the_last_good_one(tmp_path: Path) -> None:
    """Fault 18: an editor caught mid-save, or the file moved away, never replaces a working config."""
    with world(tmp_path) as w:
        service = Service(w.build().agent(), w.clock, reload=w.config, simulated_time=True)
        good = w.config_path.read_text()
        w.config_path.write_text(good[: good.index("[health]") + 12])  # cut inside a table
        service.reload_requested = True
        service.run(max_cycles=1)
        w.config_path.unlink()
        service.reload_requested = True
        service.run(max_cycles=1)
        assert service.agent.config.health.expected_gpu_count == 8
        assert service.agent.config.agent.mode == "enforce"
        assert w.machine.listed, "the agent kept working on the last good config"
