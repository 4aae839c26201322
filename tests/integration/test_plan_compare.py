"""`hostagent plan --compare CANDIDATE`: the current config's plan beside a candidate's, from one read of the facts.

Processes against the Vast emulator on loopback, as an owner runs them; nothing is ever sent to Vast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_env import CONFIG, REPO

from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator

CHEAPER = {'"H100 SXM" = 2.00': '"H100 SXM" = 1.50', "usd_per_gpu_hour = 0.50": "usd_per_gpu_hour = 0.40"}
MARKET = "\n[pricing.market]\nenabled = true\nmin_peers = 1\n"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False) as emulator:  # on the real clock, as the processes are
        yield emulator


def configs(tmp_path: Path, emu: Emulator, changes: dict[str, str], extra: str = "") -> tuple[Path, Path]:
    """The current config and a candidate that differs from it by `changes` (text replaced) and `extra`."""
    shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
    text = CONFIG.format(url=emu.url, mode="enforce")
    (tmp_path / "config.toml").write_text(text)
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "candidate.toml").write_text(text + extra)
    return tmp_path / "config.toml", tmp_path / "candidate.toml"


def compare(config: Path, emu: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "plan", "--compare", *args],
        env={**os.environ, "VAST_API_KEY": emu.api_key}, capture_output=True, text=True, timeout=60, check=False,
    )


def machine_reads(emu: Emulator) -> int:
    """Reads of the machine (found by hostname: the account's machine list) and of its maintenance windows."""
    return sum(1 for r in emu.requests if r.method == "GET" and r.path.startswith("/api/v0/machines"))


def test_a_cheaper_candidate_shows_each_price_step_and_both_writes_side_by_side_and_exits_2(
    tmp_path: Path, emu: Emulator
) -> None:
    """The differing rows carry `*`, each step shows both texts; the machine and its windows were read once."""
    config, candidate = configs(tmp_path, emu, CHEAPER)
    done = compare(config, emu, str(candidate), "--detailed-exitcode")
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout
    assert f"machine {DEMO_MACHINE_ID}: current {config} (enforce mode) vs candidate {candidate}" in out
    assert "* price $/GPU/h           2.00                      1.50" in out
    assert "* min bid $/GPU/h         0.50                      0.40" in out
    assert "  listed                  yes                       yes" in out
    assert "* [base]\n      current:   H100 SXM: $2.00 (pricing.models)\n      candidate: H100 SXM: $1.50" in out
    assert "  [market] off" in out
    assert "* current only    list_machine(price_usd_per_gpu_hour=2.0," in out
    assert "* candidate only  list_machine(price_usd_per_gpu_hour=1.5," in out
    assert out.rstrip().endswith("verdict: the candidate decides differently")
    assert machine_reads(emu) == 2
    assert not [r for r in emu.requests if r.method in ("PUT", "POST", "DELETE")]


def test_a_candidate_that_decides_the_same_exits_0_and_says_so(tmp_path: Path, emu: Emulator) -> None:
    """Only the mode differs: same listing, same writes: exit 0 under --detailed-exitcode."""
    config, candidate = configs(tmp_path, emu, {'mode = "enforce"': 'mode = "observe"'})
    done = compare(config, emu, str(candidate), "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(enforce mode) vs candidate" in done.stdout
    assert "(observe mode), from the same reads" in done.stdout
    assert "  both            list_machine(" in done.stdout
    assert done.stdout.rstrip().endswith("verdict: the candidate decides as the current config does")


def test_json_names_what_differs(tmp_path: Path, emu: Emulator) -> None:
    """--json: both plans as `plan --json` prints them, and the names of what differs."""
    config, candidate = configs(tmp_path, emu, CHEAPER)
    done = compare(config, emu, str(candidate), "--json")
    assert done.returncode == 0, "without --detailed-exitcode: 0 once printed"
    doc = json.loads(done.stdout)
    assert doc["differs"] is True
    assert doc["current"]["desired"]["price_usd_per_gpu_hour"] == 2.0
    assert doc["candidate"]["desired"]["price_usd_per_gpu_hour"] == 1.5
    assert doc["desired_differs"] == ["price $/GPU/h", "rules' target $/GPU/h", "min bid $/GPU/h"]
    assert doc["steps_differ"] == ["base", "schedule", "min_bid", "guard"]
    assert [a.split("(")[0] for a in doc["actions_only_candidate"]] == ["list_machine"]


def test_a_candidate_that_turns_market_pricing_on_reads_the_market_for_it_alone(
    tmp_path: Path, emu: Emulator
) -> None:
    """The current config prices without peers; the candidate's market step runs on one search of the offers."""
    config, candidate = configs(tmp_path, emu, {}, MARKET)
    done = compare(config, emu, str(candidate), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    [current_market] = [r["text"] for r in doc["current"]["reasons"] if r["step"] == "market"]
    [candidate_market] = [r["text"] for r in doc["candidate"]["reasons"] if r["step"] == "market"]
    assert current_market == "off"
    assert candidate_market != "off"
    assert "market" in doc["steps_differ"]
    assert sum(1 for r in emu.requests if "bundles" in r.path) == 1
    assert machine_reads(emu) == 2


def test_an_invalid_candidate_is_refused_before_any_call_to_vast(tmp_path: Path, emu: Emulator) -> None:
    """78 with the candidate's problems by dotted path (1 under --detailed-exitcode); Vast is not asked."""
    config, candidate = configs(tmp_path, emu, {"hot_for_s = 300.0": "hot_for_s = -5"})
    done = compare(config, emu, str(candidate))
    assert done.returncode == 78
    assert f"the candidate {candidate} is invalid" in done.stderr
    assert "health.hot_for_s" in done.stderr
    assert compare(config, emu, str(candidate), "--detailed-exitcode").returncode == 1
    assert emu.requests == []
