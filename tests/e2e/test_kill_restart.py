"""The agent as a real process, SIGKILLed at random points and restarted 200 times, with API faults.

`python -m hostagent --config F run` on the real clock (tick 0.1 s, reconcile 0.2 s) against the emulator
in this process (rate limits off). Between lives the world changes (a GPU is lost and comes back; the
listing or the default job is removed behind the agent's back; the owner moves the maintenance window,
which takes a cancel and a new notice) and faults are injected (503s, 429s, malformed and truncated
replies, dropped connections, and maintenance writes held 30-45 s inside Vast: they land long after the
life that sent them was killed). Afterwards:
  - no duplicated action: every write Vast applied had its own write-ahead intent, begun before it; no
    write was applied twice in a row with nothing in between that called for it; renters were told of
    each window once per time the owner configured it (0 duplicate notices);
  - no lost action: after one clean cycle Vast's listing and windows equal the plan's, a second cycle
    writes nothing;
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.service.ratelimits import AGENT_CALLS_KEY
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault
from hostagent.testing.scenario import edit_gpu, write_kind

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-key-5f1d2e7c9b3a"
KILLS = 200
IDEMPOTENT = ("cleanup_machine",)  # runs at every start by design; deleting nothing twice is harmless
WRITE_GRACE_S = 50.0  # longer than the longest in-flight delay below
IN_FLIGHT_DELAY_S = (30.0, 45.0)
MOVE_WINDOW_EVERY = 15  # lives at least between two moves of the maintenance window by the owner

CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 3
max_retry_time_s = 3.0
retry_after_cap_s = 2.0
read_timeout_s = 3.0
write_grace_s = {grace}

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
# the owner's hand unlists below are undone, so that the end state is the plan's (the default "hold" keeps them)
outside_changes = "revert"

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

[maintenance]
lead_time_h = 240.0

[[maintenance.windows]]
name = "{window}"
start = {start}
duration_h = 2.0
category = "software"
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
@pytest.mark.timeout(900)
def test_two_hundred_sigkills_with_writes_in_flight_lose_no_action_duplicate_none_and_leak_no_key(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261128)
    logs = tmp_path / "logs"
    logs.mkdir()
    with Emulator(rate_limits=False) as emu:
        emu.state.account.api_keys.add(CANARY)
        config = tmp_path / "config.toml"
        windows = _windows_ahead()
        _write_config(config, emu.url, windows[0])
        fake_file = tmp_path / "fake-gpus.toml"
        shutil.copy(REPO / "config" / "fake-gpus.toml", fake_file)
        machine = emu.state.machines[DEMO_MACHINE_ID]
        external: list[float] = []  # monotonic times the test changed Vast or the config behind the agent
        moves: list[float] = []  # monotonic times the owner moved the window (a new notice is then due)
        kills = 0
        current = windows[0]
        hold: tuple[str, float] | None = None  # a held write injected, waiting for the agent to send it
        last_hold_s = float("-inf")  # when the last held write reached Vast
        last_move = 0
        for life in range(KILLS):
            proc = _spawn(config, logs, life)
            if hold is not None:  # kill this life while its write is held inside Vast
                if _wait_held(emu, *hold):
                    last_hold_s = time.monotonic()
                    time.sleep(rng.uniform(0.0, 0.3))
                hold = None
            else:
                time.sleep(rng.uniform(0.35, 0.85))  # start-up is ~0.4 s: some die starting, most mid-tick
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += proc.returncode == -signal.SIGKILL
            _forget_call_times(tmp_path / "state")
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
            if life - last_move >= MOVE_WINDOW_EVERY and time.monotonic() > last_hold_s + WRITE_GRACE_S + 2:
                # The owner moves the window once the last held write is settled; the cancel (or the new notice)
                # that follows is held inside Vast 30-45 s, past the life that sent it and the next ones.
                current = windows[1] if current is windows[0] else windows[0]
                _write_config(config, emu.url, current)
                moves.append(time.monotonic())
                external.append(moves[-1])
                last_move = life
                path = "cancel_maint" if len(moves) % 2 else "dnotify"
                emu.clear_faults()
                emu.inject(Fault("delay", method="PUT", path_contains=path, delay_s=rng.uniform(*IN_FLIGHT_DELAY_S)))
                hold = (path, time.monotonic())
            elif rng.random() < 0.5:
                emu.inject(rng.choice(FAULTS))
        emu.clear_faults()
        edit_gpu(fake_file, 2, health=None)
        _wait_for_writes_in_flight(emu)
        _once(config, logs, "final-1")  # one clean cycle: whatever is still to do gets done
        applied = [r for r in _history(emu) if r[2] is not None]
        emu.clear_requests()
        _once(config, logs, "final-2")  # and then nothing is left to do
        second_writes = [write_kind(r) for r in emu.requests if write_kind(r) is not None]
        held_windows = [m.start_time for m in machine.maintenances if m.active(emu.now_s())]

    state_dir = tmp_path / "state"
    with StateStore.open(state_dir) as store:
        assert store.integrity_check() == "ok"
        assert store.open_intents() == []
        doc, _ = store.load_status() or ({}, None)
        intents = _intents(store)
    listing = doc["listing"]
    duplicates = _duplicates(applied, external)
    unmatched = _unmatched(applied, intents)
    twice_told = _duplicate_notices(applied, moves)
    delayed = [r for r in applied if r[4] - r[0] >= IN_FLIGHT_DELAY_S[0] - 1]
    print(f"\nkill test: kills survived {kills}, write requests applied {len(applied)} "
          f"{dict(Counter(k for _, _, k, _, _ in applied))}, of which landed 30-45 s late {len(delayed)}, "
          f"intents {len(intents)}, window moves {len(moves)}, duplicates found {len(duplicates)}, "
          f"duplicate notices {len(twice_told)}, writes without an intent {len(unmatched)}")
    assert kills == KILLS
    assert len(delayed) >= 2, "writes really were in flight across lives"
    assert duplicates == []
    assert twice_told == []
    assert unmatched == []
    assert second_writes in ([], ["cleanup_machine"])  # steady state: nothing but the idempotent cleanup
    assert machine.listed
    assert listing["listed"] is True
    assert machine.listed_gpu_cost == pytest.approx(listing["desired_price_usd_per_gpu_hour"], abs=1e-4)
    assert machine.min_bid_price == pytest.approx(1.20)
    assert machine.bid_image == "vastai/kvm:ubuntu_cli_22.04"
    assert held_windows == [current.timestamp()], "Vast holds exactly the configured window"
    _assert_no_canary(tmp_path)


def _windows_ahead() -> tuple[datetime, datetime]:
    """Two one-off windows, 3 and 4 days ahead (whole seconds, UTC), well inside the notice lead time."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return now + timedelta(days=3), now + timedelta(days=4)


def _write_config(path: Path, url: str, window: datetime) -> None:
    text = CONFIG.format(url=url, grace=WRITE_GRACE_S, window=f"window {window:%m-%d}",
                         start=window.replace(tzinfo=None).isoformat())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # the next life never reads half a file


def _forget_call_times(state_dir: Path) -> None:
    """A restarted agent waits Vast's per-endpoint intervals (up to 2.5 s) after its previous life's calls
    (tested in test_shared_rate_limits.py). The emulator enforces no limits here, so that memory is dropped
    between lives: otherwise most 0.4-0.9 s lives would only wait, and few would die mid-write."""
    if (state_dir / "state.db").exists():
        with StateStore.open(state_dir) as store:
            store.put(AGENT_CALLS_KEY, None)


def _wait_held(emu: Emulator, path: str, since_s: float) -> bool:
    """Until the agent has sent the write the emulator holds (up to 20 s); False when it never came."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(path in r.path and r.at_s >= since_s and r.answered_at_s is None for r in emu.requests):
            return True
        time.sleep(0.02)
    emu.clear_faults()  # the agent had no reason to send it (e.g. still waiting on an earlier write)
    return False


def _wait_for_writes_in_flight(emu: Emulator) -> None:
    """Until every held write has landed, and the grace of the last one has passed (the agent may resolve it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = [r for r in emu.requests if r.answered_at_s is None]
        last_sent = max((r.at_s for r in emu.requests if write_kind(r) in ("schedule_maint", "cancel_maint")),
                        default=0.0)
        if not pending and time.monotonic() > last_sent + WRITE_GRACE_S + 1:
            return
        time.sleep(0.5)
    raise AssertionError("writes held inside the emulator never landed")


def _history(emu: Emulator) -> list[tuple[float, str, str | None, object, float]]:
    """(wall time received, method path, write kind or None, body, wall time applied) of the requests Vast
    answered 200 (applied; a held write is applied when it is answered, maybe after its sender died)."""
    offset = time.time() - time.monotonic()
    return [
        (r.at_s + offset, f"{r.method} {r.path}", write_kind(r), r.json_body, (r.answered_at_s or r.at_s) + offset)
        for r in emu.requests if r.status == 200
    ]


def _intents(store: StateStore) -> list[tuple[float, str]]:
    rows = store._db
    with rows.read("listing intents") as conn:
        return [(float(at), str(kind)) for at, kind in conn.execute("SELECT begun_at, kind FROM intent ORDER BY id")]


Applied = list[tuple[float, str, str | None, object, float]]


def _unmatched(applied: Applied, intents: list[tuple[float, str]]) -> list[str]:
    """Applied writes with no intent of their kind begun before them and not already used by another write."""
    free = sorted(intents)
    missing: list[str] = []
    for at, what, kind, _, _ in sorted(applied, key=lambda a: a[0]):
        candidates = [i for i, (begun, k) in enumerate(free) if k == kind and begun <= at + 0.01]
        if not candidates:
            missing.append(f"{what} at {at:.3f}")
            continue
        free.pop(candidates[-1])
    return missing


def _duplicates(applied: Applied, external: list[float]) -> list[str]:
    """The same write applied twice in a row with no other write and no change behind the agent between."""
    offset = time.time() - time.monotonic()
    marks = [m + offset for m in external]
    found: list[str] = []
    previous: tuple[float, str, object] | None = None
    for _, what, kind, body, at in sorted(applied, key=lambda a: a[4]):
        if kind in IDEMPOTENT:
            continue
        if previous is not None and previous[1:] == (what, body) and not any(previous[0] < m < at for m in marks):
            found.append(f"{what} {body} at {previous[0]:.3f} and {at:.3f}")
        previous = (at, what, body)
    return found


def _duplicate_notices(applied: Applied, moves: list[float]) -> list[str]:
    """Renters told of the same window twice with no move of the window by the owner in between."""
    offset = time.time() - time.monotonic()
    marks = [m + offset for m in moves]
    told: dict[object, float] = {}
    found: list[str] = []
    for _, _, kind, body, at in sorted(applied, key=lambda a: a[4]):
        if kind != "schedule_maint" or not isinstance(body, dict):
            continue
        start = body.get("sdate")
        before = told.get(start)
        if before is not None and not any(before < m < at for m in marks):
            found.append(f"window {start} notified at {before:.3f} and again at {at:.3f}")
        told[start] = at
    return found


def _assert_no_canary(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert CANARY.encode() not in path.read_bytes(), f"the API key leaked into {path}"
