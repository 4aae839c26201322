"""`hostagent maint add` beside a real `hostagent run` process that is SIGKILLed and restarted.

The agent sends the operator's notice through its write path (intent first), so a kill between the intent
and the send, or while the notice is held inside Vast, neither loses it nor sends it twice; and the restarted
agent keeps it instead of cancelling it. A window added while no agent runs waits for the next one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.cli import main
from hostagent.errors import StateError
from hostagent.service import operator_maints
from hostagent.service.ratelimits import AGENT_CALLS_KEY
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault

REPO = Path(__file__).resolve().parents[2]
HELD_S = 0.8  # how long Vast holds the notice before applying it (shorter than read_timeout_s)

CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 2
connect_timeout_s = 0.5
read_timeout_s = 1.0
max_retry_time_s = 0.5
write_grace_s = 2.5

[machine]
hostname = "demo-h100-01"

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"

[agent]
mode = "enforce"
state_dir = "state"
tick_s = 0.1
reconcile_s = 0.2

[pricing.models]
"H100 SXM" = 2.00

[pricing.guard.models."H100 SXM"]
floor_usd_per_gpu_hour = 1.00
ceiling_usd_per_gpu_hour = 4.00

[health]
expected_gpu_count = 8

[metrics]
enabled = false
"""


LIVES: list[subprocess.Popen[bytes]] = []  # every agent this test started, killed at the end even on failure


def _spawn(config: Path, life: int) -> subprocess.Popen[bytes]:
    with (config.parent / f"life-{life}.out").open("wb") as out:  # the child keeps its own descriptor
        LIVES.append(subprocess.Popen([sys.executable, "-m", "hostagent", "--config", str(config), "run"],
                                      stdout=out, stderr=subprocess.STDOUT, cwd=config.parent))
    return LIVES[-1]


@pytest.fixture(autouse=True)
def _no_agent_outlives_the_test() -> Iterator[None]:
    yield
    while LIVES:
        proc = LIVES.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def _until(what: str, check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def _store_says(state: Path, read: Callable[[StateStore], bool]) -> Callable[[], bool]:
    def check() -> bool:
        if not (state / "state.db").exists():
            return False
        try:
            with StateStore.open(state, readonly=True) as store:
                return read(store)
        except StateError:  # the agent is still creating it
            return False
    return check


def _forget_call_times(state: Path) -> None:
    """The emulator enforces no rate limits here: a restarted agent need not wait out its last life's calls."""
    with StateStore.open(state) as store:
        store.put(AGENT_CALLS_KEY, None)


def _add(config: Path, start: datetime) -> None:
    assert main(["--config", str(config), "maint", "add", "--start", f"{start:%Y-%m-%d %H:%M}", "--duration-h", "1",
                 "--category", "disk", "--yes"]) == 0


@pytest.mark.timeout(120)
def test_operator_windows_are_sent_exactly_once_across_sigkills_and_never_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed right after the intent, killed while Vast holds the notice, added while no agent runs: one each."""
    with Emulator(rate_limits=False) as emu:
        monkeypatch.setenv("VAST_API_KEY", emu.api_key)  # the children inherit it
        monkeypatch.chdir(tmp_path)
        config = tmp_path / "config.toml"
        config.write_text(CONFIG.format(url=emu.url))
        shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
        state = tmp_path / "state"
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        first, second = now + timedelta(days=3), now + timedelta(days=4)

        proc = _spawn(config, 0)
        _until("the agent found its machine", _store_says(state, lambda s: s.get("machine_id") == DEMO_MACHINE_ID))
        emu.inject(Fault("delay", method="PUT", path_contains="dnotify", delay_s=HELD_S))
        _add(config, first)  # beside the running agent
        _until("the agent began the notice", _store_says(
            state, lambda s: any(i.kind == "schedule_maint" for i in s.open_intents())))
        _kill(proc)  # between the intent and the send, or with the send in flight
        _forget_call_times(state)

        emu.inject(Fault("delay", method="PUT", path_contains="dnotify", delay_s=HELD_S))
        _add(config, second)  # no agent runs: queued for the next one
        proc = _spawn(config, 1)
        _until("the second notice reached Vast", lambda: any(
            "dnotify" in r.path and r.json_body["sdate"] == second.timestamp()  # type: ignore[index]
            for r in emu.requests))
        _kill(proc)  # while Vast may still hold it
        _forget_call_times(state)

        proc = _spawn(config, 2)
        _until("both windows recorded as sent", _store_says(
            state, lambda s: [w.state for w in operator_maints.load(s).windows] == ["sent", "sent"]), 30.0)
        _until("a few more reconciles", _store_says(state, lambda s: not s.open_intents()))
        time.sleep(1.0)
        _kill(proc)
        capsys.readouterr()

        machine = emu.state.machines[DEMO_MACHINE_ID]
        for start in (first, second):
            applied = [m for m in machine.maintenances if m.start_time == start.timestamp()]
            assert len(applied) == 1, f"renters told of the {start} window {len(applied)} times"
            assert applied[0].active(emu.now_s()), "cancelled after a restart"
        assert not [r for r in emu.requests if "cancel_maint" in r.path]
        with StateStore.open(state, readonly=True) as store:
            assert len(store.journal_entries(kind="operator")) == 2
            resolved = store.journal_entries(kind="intent_resolved")
            assert [r.what for r in resolved if r.what.startswith("schedule_maint")], "the first kill left it open"
            assert not store.open_intents()
        assert emu.api_key not in "".join(p.read_text() for p in tmp_path.glob("life-*.out"))
        assert os.path.exists(state / "state.db")
