"""The agent as a real process, SIGKILLed at random points and restarted over 100 times, with API faults.

`python -m hostagent --config F run` on the real clock (tick 0.1 s, reconcile 0.2 s) against the emulator
in this process (rate limits off). Between lives the world changes (a GPU is lost and comes back; the
listing or the default job is removed behind the agent's back) and faults are injected (503s, 429s,
malformed and truncated replies, dropped connections). Afterwards:
  - no duplicated action: every write Vast applied had its own write-ahead intent, begun before it, and
    no write was applied twice in a row with nothing in between that called for it;
  - no lost action: after one clean cycle Vast's listing equals the plan's, a second cycle writes nothing;
  - the state file passes integrity_check; the canary key is nowhere in output, journal or state files.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault
from hostagent.testing.scenario import edit_gpu, write_kind

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-key-5f1d2e7c9b3a"
KILLS = 100
IDEMPOTENT = ("cleanup_machine",)  # runs at every start by design; deleting nothing twice is harmless

CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 3
max_retry_time_s = 3.0
retry_after_cap_s = 2.0
read_timeout_s = 3.0

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

[pricing.market]
enabled = true
min_peers = 3
offset_usd_per_gpu_hour = -0.02
refresh_s = 1.0

[pricing.min_bid]
mode = "fixed"
usd_per_gpu_hour = 1.20

[pricing.guard.models."H100 SXM"]
floor_usd_per_gpu_hour = 1.00
ceiling_usd_per_gpu_hour = 4.00

[health]
expected_gpu_count = 8
hot_for_s = 0.5
stale_after_s = 30.0
relist_cooldown_s = 0.3

[default_job]
image = "vastai/kvm:ubuntu_cli_22.04"
price_usd_per_gpu_hour = 0.10

[metrics]
enabled = false
"""

FAULTS = (
    Fault("status", status=503, times=3),
    Fault("status", status=429, retry_after="1", times=1),
    Fault("malformed", times=1),
    Fault("truncated", method="PUT", times=1),  # a write applied whose reply is lost
    Fault("truncated", method="DELETE", times=1),
    Fault("drop", times=1),
    Fault("status", status=502, method="PUT", times=2),
)


def _spawn(config: Path, logs: Path, life: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VAST_API_KEY": CANARY}
    with (logs / f"life-{life:03d}.out").open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "hostagent", "--config", str(config), "run"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=config.parent,
        )


def _once(config: Path, logs: Path, name: str) -> None:
    env = {**os.environ, "VAST_API_KEY": CANARY}
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--once"],
        capture_output=True, env=env, cwd=config.parent, timeout=60, check=False,
    )
    (logs / f"{name}.out").write_bytes(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_hundred_sigkills_lose_no_action_duplicate_none_and_leak_no_key(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    logs = tmp_path / "logs"
    logs.mkdir()
    with Emulator(rate_limits=False) as emu:
        emu.state.account.api_keys.add(CANARY)
        config = tmp_path / "config.toml"
        config.write_text(CONFIG.format(url=emu.url))
        fake_file = tmp_path / "fake-gpus.toml"
        shutil.copy(REPO / "config" / "fake-gpus.toml", fake_file)
        machine = emu.state.machines[DEMO_MACHINE_ID]
        external: list[float] = []  # monotonic times the test changed Vast behind the agent
        kills = 0
        for life in range(KILLS):
            proc = _spawn(config, logs, life)
            time.sleep(rng.uniform(0.35, 0.85))  # start-up is ~0.4 s: some die starting, most mid-tick
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += proc.returncode == -signal.SIGKILL
            twist = life % 10
            if twist == 2:
                edit_gpu(fake_file, 2, health="lost")
            elif twist == 5:
                edit_gpu(fake_file, 2, health=None)
            elif twist == 7:
                with emu._lock:  # the owner unlists by hand on Vast's site
                    machine.listed, machine.listed_gpu_cost, machine.end_date = False, None, None
                    external.append(time.monotonic())
            elif twist == 8:
                with emu._lock:  # the default job removed by hand
                    machine.bid_gpu_cost, machine.bid_image, machine.bid_image_args = None, None, None
                    external.append(time.monotonic())
            if rng.random() < 0.5:
                emu.inject(rng.choice(FAULTS))
        emu.clear_faults()
        edit_gpu(fake_file, 2, health=None)
        _once(config, logs, "final-1")  # one clean cycle: whatever is still to do gets done
        applied = [r for r in _history(emu) if r[2] is not None]
        emu.clear_requests()
        _once(config, logs, "final-2")  # and then nothing is left to do
        second_writes = [write_kind(r) for r in emu.requests if write_kind(r) is not None]

    state_dir = tmp_path / "state"
    with StateStore.open(state_dir) as store:
        assert store.integrity_check() == "ok"
        assert store.open_intents() == []
        doc, _ = store.load_status() or ({}, None)
        intents = _intents(store)
    listing = doc["listing"]
    duplicates = _duplicates(applied, external)
    unmatched = _unmatched(applied, intents)
    print(f"\nkill test: kills survived {kills}, write requests applied {len(applied)} "
          f"{dict(Counter(k for _, _, k, _ in applied))}, intents {len(intents)}, duplicates found {len(duplicates)}, "
          f"writes without an intent {len(unmatched)}")
    assert kills == KILLS
    assert duplicates == []
    assert unmatched == []
    assert second_writes in ([], ["cleanup_machine"])  # steady state: nothing but the idempotent cleanup
    assert machine.listed
    assert listing["listed"] is True
    assert machine.listed_gpu_cost == pytest.approx(listing["desired_price_usd_per_gpu_hour"], abs=1e-4)
    assert machine.min_bid_price == pytest.approx(1.20)
    assert machine.bid_image == "vastai/kvm:ubuntu_cli_22.04"
    _assert_no_canary(tmp_path)


def _history(emu: Emulator) -> list[tuple[float, str, str | None, object]]:
    """(wall time, method path, write kind or None, body) of the requests Vast answered 200 (applied)."""
    offset = time.time() - time.monotonic()
    return [
        (r.at_s + offset, f"{r.method} {r.path}", write_kind(r), r.json_body)
        for r in emu.requests if r.status == 200
    ]


def _intents(store: StateStore) -> list[tuple[float, str]]:
    rows = store._db
    with rows.read("listing intents") as conn:
        return [(float(at), str(kind)) for at, kind in conn.execute("SELECT begun_at, kind FROM intent ORDER BY id")]


def _unmatched(applied: list[tuple[float, str, str | None, object]], intents: list[tuple[float, str]]) -> list[str]:
    """Applied writes with no intent of their kind begun before them and not already used by another write."""
    free = sorted(intents)
    missing: list[str] = []
    for at, what, kind, _ in sorted(applied, key=lambda a: a[0]):
        candidates = [i for i, (begun, k) in enumerate(free) if k == kind and begun <= at + 0.01]
        if not candidates:
            missing.append(f"{what} at {at:.3f}")
            continue
        free.pop(candidates[-1])
    return missing


def _duplicates(applied: list[tuple[float, str, str | None, object]], external: list[float]) -> list[str]:
    """The same write applied twice in a row with no other write and no change behind the agent between."""
    offset = time.time() - time.monotonic()
    marks = [m + offset for m in external]
    found: list[str] = []
    previous: tuple[float, str, object] | None = None
    for at, what, kind, body in sorted(applied, key=lambda a: a[0]):
        if kind in IDEMPOTENT:
            continue
        if previous is not None and previous[1:] == (what, body) and not any(previous[0] < m < at for m in marks):
            found.append(f"{what} {body} at {previous[0]:.3f} and {at:.3f}")
        previous = (at, what, body)
    return found


def _assert_no_canary(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert CANARY.encode() not in path.read_bytes(), f"the API key leaked into {path}"
