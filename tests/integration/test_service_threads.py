"""Telemetry never waits on Vast: the service on real time against an emulator whose replies hang.

Every Vast-facing job runs on the service's one Vast worker; telemetry, health and the watchdog stay on
the main loop. Windows here are generous (a hang of seconds against a tick of 0.2 s): nothing asserts a
wall time, only what happened before a held reply came back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from agent_env import CONFIG, REPO

from hostagent.bootstrap import Parts, build
from hostagent.clock import SystemClock
from hostagent.config.load import load_config
from hostagent.config.model import Config
from hostagent.runtime.sdnotify import Notifier
from hostagent.runtime.service import Service
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault
from hostagent.testing.emulator.server import RecordedRequest

HANG_S = 6.0  # every held Vast reply comes back after this much real time
WAIT_S = 60.0  # the most any wait below may take before the test gives up


@dataclass
class RealWorld:
    emu: Emulator
    config_path: Path
    fake_file: Path
    parts: Parts

    def config(self) -> Config:
        return load_config(self.config_path, environ={})

    def lose_gpu(self, index: int) -> None:
        text = self.fake_file.read_text()
        self.fake_file.write_text(text.replace(f"index = {index}\n", f'index = {index}\nhealth = "lost"\n', 1))

    def readings_since(self, since: datetime) -> int:
        """Telemetry readings recorded in the store since `since` (one row per GPU per reading)."""
        return len({row.at for row in self.parts.store.telemetry(since)})


@contextmanager
def real_world(tmp_path: Path) -> Iterator[RealWorld]:
    """The emulator and the agent on the real clock; ticks of 0.2 s, reconciles only every 10 minutes, the
    only Vast job."""
    with Emulator(rate_limits=False) as emu:
        fake_file = tmp_path / "fake-gpus.toml"
        fake_file.write_text((REPO / "config" / "fake-gpus.toml").read_text())
        text = CONFIG.format(url=emu.url, mode="enforce").replace("tick_s = 30.0", "tick_s = 0.2")
        config_path = tmp_path / "config.toml"
        text = text.replace("reconcile_s = 300.0", "reconcile_s = 600.0")
        # Reconcile is the only Vast job, so once it is done the worker is idle and the next call is ours to hold.
        for table in ("[cleanup]\n", "[earnings]\n"):
            text = text.replace(table, table + "enabled = false\n")
        config_path.write_text(text)
        parts = build(load_config(config_path, environ={}), clock=SystemClock(),
                      environ={"VAST_API_KEY": emu.api_key}, with_metrics=False)
        try:
            yield RealWorld(emu, config_path, fake_file, parts)
        finally:
            emu.clear_faults()
            parts.close()


@contextmanager
def running(service: Service, emu: Emulator) -> Iterator[threading.Thread]:
    """`service.run()` in a thread (as the main loop); Vast answers again, then it stops as on SIGTERM."""
    loop = threading.Thread(target=service.run, name="service-main-loop")
    loop.start()
    try:
        yield loop
    finally:
        emu.clear_faults()
        service.stop_requested = True
        loop.join(timeout=WAIT_S)
        assert not loop.is_alive(), "the service stopped"


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def held(emu: Emulator) -> list[RecordedRequest]:
    """Requests the emulator has received and not answered yet."""
    return [r for r in emu.requests if r.status is None]


def unlists(emu: Emulator) -> list[RecordedRequest]:
    return [r for r in emu.requests if r.method == "DELETE" and r.path.endswith(f"/{DEMO_MACHINE_ID}/asks/")]


def test_telemetry_keeps_its_cadence_while_every_vast_call_hangs(tmp_path: Path) -> None:
    """Defect 6: with each Vast reply held for seconds, the GPUs are still read and stored every tick."""
    with real_world(tmp_path) as w:
        w.emu.inject(Fault("delay", times=0, delay_s=HANG_S))
        service = Service(w.parts.agent(), SystemClock())
        with running(service, w.emu):
            wait_for("the first Vast call to hang", lambda: bool(held(w.emu)))
            (first,) = held(w.emu)
            hang_started = datetime.now(timezone.utc)
            wait_for("5 readings, or the held reply", lambda: w.readings_since(hang_started) >= 5 or first.status)
            assert first.status is None, "5 readings were stored while the first Vast reply was still held"


def test_a_gpu_lost_while_vast_hangs_is_seen_at_once_and_unlisted_as_soon_as_vast_answers(tmp_path: Path) -> None:
    """Defect 6: health turns bad within a tick of the loss, and the unlist follows the held reply, not reconcile_s."""
    with real_world(tmp_path) as w:
        service = Service(w.parts.agent(), SystemClock(), reload=w.config)
        with running(service, w.emu):
            wait_for("the machine to be listed", lambda: w.emu.state.machines[DEMO_MACHINE_ID].listed)
            wait_for("the first reconcile to finish", lambda: service.agent.outcome is not None)
            w.emu.inject(Fault("delay", times=0, delay_s=HANG_S))
            service.reload_requested = True  # SIGHUP: every job runs again, so the next reconcile starts now
            wait_for("a Vast call to hang", lambda: bool(held(w.emu)))
            (first,) = held(w.emu)
            w.lose_gpu(2)
            wait_for("health to turn bad, or the held reply", lambda: _unhealthy(service) or first.status)
            assert first.status is None, "the lost GPU was seen while the Vast reply was still held"
            assert not unlists(w.emu)
            w.emu.clear_faults()  # the held replies still take their time; later calls are answered at once
            wait_for("the unlist", lambda: bool(unlists(w.emu)))
        assert not w.emu.state.machines[DEMO_MACHINE_ID].listed


def _unhealthy(service: Service) -> bool:
    health = service.agent.health
    return health is not None and not health.ok


class RecordingNotifier(Notifier):
    """Remembers the (fake) monotonic time of every WATCHDOG=1 instead of sending it."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(None)
        self.clock = clock
        self.pings: list[float] = []

    def watchdog(self) -> bool:
        self.pings.append(self.clock.monotonic())
        return True


def test_a_vast_worker_stuck_past_the_watchdog_interval_stops_the_watchdog_pings(tmp_path: Path) -> None:
    """Defect 6: the main loop keeps pinging while the worker progresses, and stops once it is stuck too long."""
    with real_world(tmp_path) as w:
        clock = FakeClock()
        w.config_path.write_text(w.config_path.read_text().replace("tick_s = 0.2", "tick_s = 30.0"))
        parts = build(w.config(), clock=clock, environ={"VAST_API_KEY": w.emu.api_key}, with_metrics=False,
                      take_lock=False)
        try:
            notifier = RecordingNotifier(clock)
            service = Service(parts.agent(), clock, notifier=notifier, watchdog_s=120.0, max_sleep_s=30.0,
                              stop_timeout_s=0.5)
            w.emu.inject(Fault("delay", times=0, delay_s=HANG_S))
            started = clock.monotonic()
            service.run(max_cycles=40)  # 1200 simulated seconds while the worker's first call is held
            assert clock.monotonic() - started > 600
            assert notifier.pings, "pinged while the worker was within its deadline"
            assert max(notifier.pings) - started <= 120.0 + 30.0, "no ping once the worker was stuck past 120 s"
            w.emu.clear_faults()
            assert service.join_worker(WAIT_S), "the abandoned worker finished its call and stopped"
        finally:
            parts.close()
