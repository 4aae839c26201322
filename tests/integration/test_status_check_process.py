"""`hostagent status --check` as a process after real `run --once` cycles: one line on stdout, 0 or 1, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_env import CONFIG, REPO

from hostagent.testing.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False) as emulator:  # on the real clock, as the processes are
        yield emulator


@pytest.fixture
def config(tmp_path: Path, emu: Emulator) -> Path:
    shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=emu.url, mode="enforce"))
    return path


def hostagent(config: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), *args],
        env={**os.environ, "VAST_API_KEY": key}, capture_output=True, text=True, timeout=60, check=False,
    )


def test_status_check_is_critical_before_any_run_and_ok_after_a_clean_cycle(config: Path, emu: Emulator) -> None:
    """No state yet is CRITICAL (1); after a `run --once` that listed the machine it is OK (0)."""
    before = hostagent(config, emu.api_key, "status", "--check")
    assert before.returncode == 1
    assert before.stdout.startswith("CRITICAL: no state yet in ")
    assert before.stdout.count("\n") == 1
    assert hostagent(config, emu.api_key, "run", "--once").returncode == 0
    after = hostagent(config, emu.api_key, "status", "--check")
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.startswith("OK: machine 4242 as planned, healthy, last tick ")
    assert after.stderr == ""


def test_status_check_after_a_cycle_with_a_refused_key_is_critical_in_one_line(config: Path, emu: Emulator) -> None:
    """The refused key the cycle met is named on stdout; nothing on stderr, no traceback."""
    assert hostagent(config, "not-a-known-key", "run", "--once").returncode == 67
    check = hostagent(config, emu.api_key, "status", "--check")
    assert check.returncode == 1
    assert check.stdout.startswith("CRITICAL: Vast refused the API key")
    assert check.stdout.count("\n") == 1
    assert check.stderr == ""
