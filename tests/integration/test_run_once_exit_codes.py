"""`hostagent run --once` as a process: a cycle that could not reconcile exits with a code a script can act on."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_env import CONFIG, REPO

from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault

WAIT_S = 60.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False) as emulator:
        yield emulator


def run_once(tmp_path: Path, url: str, key: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(url=url, mode="enforce"))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    return subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once"],
        env={**env, "VAST_API_KEY": key}, capture_output=True, text=True, timeout=WAIT_S, check=False,
    )


def closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_run_once_exits_67_when_vast_refuses_the_key(tmp_path: Path, emu: Emulator) -> None:
    """A refused key is EX_NOUSER (67), with one line saying so, and nothing is written on Vast."""
    done = run_once(tmp_path, emu.url, "not-a-known-key")
    assert done.returncode == 67, done.stderr
    assert "hostagent run --once: " in done.stderr
    assert "refused" in done.stderr.lower() or "401" in done.stderr
    assert not [r for r in emu.requests if r.method != "GET"]


def test_run_once_exits_68_when_no_machine_has_this_hostname(tmp_path: Path, emu: Emulator) -> None:
    """No machine with this host's hostname on the account is EX_NOHOST (68), naming the hostname."""
    emu.state.machines[DEMO_MACHINE_ID].hostname = "someone-else"
    done = run_once(tmp_path, emu.url, emu.api_key)
    assert done.returncode == 68, done.stderr
    assert "no machine with hostname 'demo-h100-01'" in done.stderr


def test_run_once_exits_68_when_several_machines_have_this_hostname(tmp_path: Path, emu: Emulator) -> None:
    """Two machines named like this host are refused, not guessed: EX_NOHOST (68)."""
    emu.state.machines[4244].hostname = "demo-h100-01"
    done = run_once(tmp_path, emu.url, emu.api_key)
    assert done.returncode == 68, done.stderr
    assert "2 machines with hostname 'demo-h100-01'" in done.stderr


def test_run_once_exits_69_when_vast_answers_only_503(tmp_path: Path, emu: Emulator) -> None:
    """Vast's 5xx after every retry is EX_UNAVAILABLE (69)."""
    emu.inject(Fault("status", status=503, times=1000))
    done = run_once(tmp_path, emu.url, emu.api_key)
    assert done.returncode == 69, done.stderr
    assert "cannot read Vast" in done.stderr


def test_run_once_exits_69_when_vast_is_unreachable(tmp_path: Path) -> None:
    """A refused connection (a closed loopback port) is EX_UNAVAILABLE (69) too."""
    done = run_once(tmp_path, f"http://127.0.0.1:{closed_loopback_port()}", "any-key")
    assert done.returncode == 69, done.stderr
    assert "cannot read Vast" in done.stderr


def test_run_once_exits_69_when_a_later_step_of_the_cycle_finds_vast_failing(tmp_path: Path, emu: Emulator) -> None:
    """The reconcile listed the machine, but earnings met only 503s: the cycle was not clean, so 69."""
    emu.inject(Fault("status", method="GET", path_contains="machine-earnings", status=503, times=1000))
    done = run_once(tmp_path, emu.url, emu.api_key)
    assert emu.state.machines[DEMO_MACHINE_ID].listed
    assert done.returncode == 69, done.stderr
    assert "Vast unavailable for show_earnings" in done.stderr
