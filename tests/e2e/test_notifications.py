"""Notifications end to end: the real agent on a FakeClock against the emulator, a real loopback receiver.

Each test lives one short story (`Story`: the world's change, how long it runs) and reads what reached the
receiver, the journal and the files. Another event source is one more test: change the world with `sim`
(the emulator, the fake GPU file), run, and count the receiver's titles for the event's kind.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.cli import main
from hostagent.config.load import load_config
from hostagent.config.model import Config, NotifyDestination
from hostagent.core.model import ActionKind
from hostagent.runtime.logs import configure_logging
from hostagent.testing.emulator.faults import Fault
from hostagent.testing.receiver import NotificationReceiver
from hostagent.testing.scenario import Simulation

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)  # a Monday morning
TOKEN = "tok-7f3a9c2e51b84d06a1e2c3d4"  # what a real service's URL carries: must never show anywhere
LOST_GPU, HOT_GPU = 5, 3
MAX_PER_HOUR = 6


class World:
    """A simulation whose notifier sends to `rx`; `log` holds every log line of the run."""

    def __init__(self, sim: Simulation, rx: NotificationReceiver, log: io.StringIO, config_file: Path) -> None:
        self.sim, self.rx, self.log, self.config_file = sim, rx, log, config_file

    def settle(self) -> None:
        """Wait (bounded, real time) until the notifier sent everything due now."""
        assert self.sim.parts.notifier is not None
        assert self.sim.parts.notifier.flush(10.0)

    def wait_for(self, done: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Poll `done` (bounded, real time): the sender runs on its own thread."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def titled(self, words: str) -> list[str]:
        """Bodies of the messages whose title contains `words` (e.g. "health fault")."""
        return [m.body for m in self.rx.messages if words in m.title]


def _config(tmp: Path, url_file: Path) -> Config:
    base = load_config(REPO / "config" / "demo.toml", environ={})
    dest = NotifyDestination(name="owner-hook", url_file=url_file, events=("all",))
    return replace(
        base,
        health=replace(base.health, hot_for_s=60.0, relist_cooldown_s=600.0),
        notify=replace(base.notify, destinations=(dest,), dedup_window_s=3600.0, max_per_hour=MAX_PER_HOUR,
                       timeout_s=0.5),
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    log = io.StringIO()
    configure_logging(level="info", json=True, stream=log)
    with NotificationReceiver() as rx:
        url_file = tmp_path / "hook.url"
        url_file.write_text(rx.url(TOKEN) + "\n")
        url_file.chmod(0o600)
        config = _config(tmp_path, url_file)
        config_file = tmp_path / "config.toml"
        config_file.write_text(f'[agent]\nstate_dir = "{tmp_path / "world" / "state"}"\n')
        with Simulation(config, tmp_path / "world", start=START) as sim:
            sim.run_for(minutes=10)  # found, listed, healthy: the story starts from a steady machine
            yield World(sim, rx, log, config_file)
    configure_logging(level="warning")


def test_a_lost_gpu_sends_one_health_fault_and_one_unlisted_message_with_the_reason(world: World) -> None:
    """GPU 5 lost for an hour: one "health fault" and one "unlisted" message, each saying why."""
    world.sim.set_gpu(LOST_GPU, health="lost")
    world.sim.run_for(hours=1)
    world.settle()
    faults, unlisted = world.titled("health fault"), world.titled("unlisted")
    assert len(faults) == 1
    assert len(unlisted) == 1
    assert "lost" in faults[0].lower()
    assert "lost" in unlisted[0].lower()


def test_a_renter_report_sends_one_message_naming_the_problem(world: World) -> None:
    """A renter files a report: one "renter report" message with the problem and the renter's words, however
    many times the agent reads the reports after."""
    world.sim.emu.add_report(world.sim.machine_id, "GPU Issue", "CUDA error 999 on GPU 2")
    world.sim.run_for(hours=1)  # past vast.signals_every_s (15 min): the reports were read several times
    world.settle()
    [report] = world.titled("renter report")
    assert "GPU Issue" in report
    assert "CUDA error 999" in report


def test_vast_marking_the_machine_offline_sends_one_offline_message_and_one_when_it_is_back(world: World) -> None:
    """Vast stops hearing from the machine for an hour: one "vast offline" message, then one "vast online"."""
    world.sim.emu.set_signals(world.sim.machine_id, offline=True)
    world.sim.run_for(hours=1)
    world.settle()
    [offline] = world.titled("vast offline")
    assert "offline" in offline.lower()
    world.sim.emu.set_signals(world.sim.machine_id, offline=False)
    world.sim.run_for(minutes=30)
    world.settle()
    assert len(world.titled("vast offline")) == 1
    assert len(world.titled("vast online")) == 1


def test_a_verification_change_sends_one_message_with_the_old_and_new_state(world: World) -> None:
    """Vast deverifies the machine: one "verification changed" message saying from what to what."""
    world.sim.emu.set_signals(world.sim.machine_id, verification="deverified")
    world.sim.run_for(hours=1)
    world.settle()
    [changed] = world.titled("verification changed")
    assert "deverified" in changed
    assert "verified" in changed.replace("deverified", "")


def test_a_restart_does_not_repeat_news_already_sent(world: World) -> None:
    """GPU 5 lost, the agent restarted twice (a crash loop): still one "health fault" message within the window."""
    world.sim.set_gpu(LOST_GPU, health="lost")
    world.sim.run_for(minutes=10)
    world.settle()
    for _ in range(2):
        world.sim.restart()
        world.sim.run_for(minutes=10)
    world.settle()
    faults = [e for e in world.sim.journal("event") if e.what.startswith("health_fault")]
    assert len(faults) == 1  # the new processes knew the fault was announced...
    assert len(world.titled("health fault")) == 1  # ...and the owner heard it once


def test_a_recovery_while_the_agent_was_down_is_announced_by_the_next_process(world: World) -> None:
    """GPU 5 lost, the agent stopped, the GPU back before it restarts: one "health recovered" message."""
    world.sim.set_gpu(LOST_GPU, health="lost")
    world.sim.run_for(minutes=10)
    world.settle()
    world.sim.set_gpu(LOST_GPU, health=None)
    world.sim.restart()
    world.sim.run_for(minutes=10)
    world.settle()
    assert len(world.titled("health fault")) == 1
    [recovered] = world.titled("health recovered")
    assert "every check passes" in recovered


def test_a_write_vast_refuses_sends_one_write_failed_message_with_vasts_answer(world: World) -> None:
    """The price write refused at every reconcile for an hour: one "write failed" message naming it."""
    world.sim.emu.inject(Fault("status", method="PUT", path_contains="create_asks", status=400, times=0))
    world.sim.set_gpu(LOST_GPU, health="lost")  # unlist, then relist once back: the relist write fails
    world.sim.run_for(minutes=20)
    world.sim.set_gpu(LOST_GPU, health=None)
    world.sim.run_for(hours=1)
    world.settle()
    failed = world.titled("write failed")
    journaled = [e for e in world.sim.journal("event") if e.what.startswith("write_failed")]
    assert len(journaled) >= 2  # the agent tried again at each reconcile...
    assert len(failed) == 1  # ...and the owner heard it once
    assert "list" in failed[0]
    assert "400" in failed[0]


def test_a_flapping_gpu_sends_at_most_the_configured_number_of_messages(world: World) -> None:
    """10 hot/cool cycles of GPU 3 in an hour: one health fault message, never more than max_per_hour."""
    before = len(world.rx.messages)
    for _ in range(10):
        world.sim.set_gpu(HOT_GPU, temperature_c=95)
        world.sim.run_for(minutes=3)
        world.sim.set_gpu(HOT_GPU, temperature_c=None)
        world.sim.run_for(minutes=3)
    world.settle()
    faults = [e for e in world.sim.journal("event") if e.what.startswith("health_fault")]
    assert len(faults) >= 3  # it really flapped
    assert len(world.titled("health fault")) == 1
    assert len(world.rx.messages) - before <= MAX_PER_HOUR


def test_a_receiver_down_for_ten_minutes_delays_no_reconcile_and_gets_its_messages_after(world: World) -> None:
    """The receiver hangs for 10 simulated minutes: the unlist still happens at the next tick; the messages
    arrive once it answers again."""
    world.rx.set_mode("hang")
    lost_at = world.sim.now
    world.sim.set_gpu(LOST_GPU, health="lost")
    world.sim.run_for(minutes=10)
    assert world.wait_for(lambda: world.rx.attempts >= 1)  # the sender did try, and hung, meanwhile
    unlists = [e for e in world.sim.journal(ActionKind.UNLIST.value) if e.at >= lost_at]
    assert unlists
    assert unlists[0].at - lost_at <= timedelta(seconds=world.sim.config.agent.tick_s)
    assert world.titled("health fault") == []
    world.rx.set_mode("up")
    world.sim.run_for(minutes=10)  # past the backoff (at most 5 min)
    world.settle()
    assert len(world.titled("health fault")) == 1
    assert len(world.titled("unlisted")) == 1


def test_no_token_reaches_a_log_the_journal_the_state_files_or_status(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """After faults, failures and sends, the URL's token is in none of the places an owner or attacker reads."""
    world.rx.set_mode("down")
    world.sim.set_gpu(LOST_GPU, health="lost")
    world.sim.run_for(minutes=10)
    world.rx.set_mode("up")
    world.sim.run_for(minutes=10)
    world.settle()
    assert world.rx.messages  # the token was used...
    assert all(TOKEN in m.path for m in world.rx.messages)  # ...only on the wire to the destination
    assert main(["status", "--config", str(world.config_file), "--json"]) == 0
    status_out = capsys.readouterr().out
    journal = json.dumps([e.what + e.why + str(e.result) for e in world.sim.journal()])
    state_dir = world.sim.config.agent.state_dir
    files = b"".join(p.read_bytes() for p in state_dir.rglob("*") if p.is_file())
    assert "owner-hook" in world.log.getvalue()  # the destination is named in the log...
    for where, text in (("log", world.log.getvalue()), ("status", status_out), ("journal", journal)):
        assert TOKEN not in text, where  # ...its URL's token never
    assert TOKEN.encode() not in files
    assert os.stat(world.sim.config.notify.destinations[0].url_file or "").st_mode & 0o077 == 0


def test_run_once_as_a_real_process_delivers_its_events_before_it_exits(tmp_path: Path) -> None:
    """`hostagent run --once` with GPU 5 lost: the health fault reaches the receiver by the time it exits 0,
    and the process's output never shows the token."""
    from commands_env import write_world

    from hostagent.testing.emulator import Emulator
    from hostagent.testing.scenario import edit_gpu

    with Emulator(rate_limits=False) as emu, NotificationReceiver() as rx:
        config = write_world(tmp_path, emu.url, emu.api_key)
        edit_gpu(tmp_path / "fake-gpus.toml", LOST_GPU, health="lost")
        (tmp_path / "hook.url").write_text(rx.url(TOKEN))
        (tmp_path / "hook.url").chmod(0o600)
        with config.open("a") as toml:
            toml.write('\n[[notify.destinations]]\nname = "owner-hook"\nurl_file = "hook.url"\n')
        proc = subprocess.run(
            [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once", "--log-level", "info"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        faults = [m.body for m in rx.messages if m.title == "hostagent demo-h100-01: health fault"]
    assert len(faults) == 1
    assert "GPU 5 lost" in faults[0]
    assert "notification_sent" in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
