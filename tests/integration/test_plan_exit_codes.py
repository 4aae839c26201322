"""`hostagent plan --detailed-exitcode`: 0 nothing to change, 2 changes pending, 1 any error, as terraform's."""

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


def config_for(tmp_path: Path, emu: Emulator) -> Path:
    shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(url=emu.url, mode="enforce"))
    return config


def hostagent(config: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), *args],
        env={**os.environ, "VAST_API_KEY": key}, capture_output=True, text=True, timeout=60, check=False,
    )


def test_plan_detailed_exitcode_is_2_with_changes_pending_and_0_once_vast_matches(
    tmp_path: Path, emu: Emulator
) -> None:
    """Before the first run the machine must be listed (2); after one `run --once` Vast matches the plan (0)."""
    config = config_for(tmp_path, emu)
    pending = hostagent(config, emu.api_key, "plan", "--detailed-exitcode")
    assert pending.returncode == 2, pending.stderr
    assert "list_machine(" in pending.stdout
    assert hostagent(config, emu.api_key, "plan").returncode == 0, "without the flag: 0 as before"
    assert hostagent(config, emu.api_key, "run", "--once").returncode == 0
    matched = hostagent(config, emu.api_key, "plan", "--detailed-exitcode")
    assert matched.returncode == 0, matched.stdout + matched.stderr
    assert "changes: none" in matched.stdout


def test_plan_detailed_exitcode_is_1_on_any_error(tmp_path: Path, emu: Emulator) -> None:
    """A refused key (1 anyway) and an invalid config (78 without the flag) both exit 1 under the flag."""
    config = config_for(tmp_path, emu)
    refused = hostagent(config, "not-a-known-key", "plan", "--detailed-exitcode")
    assert refused.returncode == 1
    assert "cannot read Vast" in refused.stderr
    config.write_text(config.read_text().replace("hot_for_s = 300.0", "hot_for_s = -5"))
    assert hostagent(config, emu.api_key, "plan").returncode == 78
    invalid = hostagent(config, emu.api_key, "plan", "--detailed-exitcode")
    assert invalid.returncode == 1
    assert "health.hot_for_s" in invalid.stderr
