"""`hostagent demo` runs the real agent for simulated days and tells it as a timeline, ending with `status`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_prints_listing_rentals_decay_overheating_maintenance_cleanup_earnings_and_status(
    tmp_path: Path,
) -> None:
    state = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(REPO / "config" / "demo.toml"), "demo", "--days", "2",
         "--state-dir", str(state)],
        capture_output=True, text=True, timeout=90, check=False, cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    for expected in (
        "listed at $",                       # the first listing, with its price story
        "default job set: vastai/kvm",
        "cleanup: 2 expired contracts deleted",
        "idle 6.0 h: -5%",                   # idle decay while no renter looks
        "rented: ",
        ">> GPU 3 overheats",
        "unlisted: unlist, a health check fails: GPU 3 above 85 C",
        "relisted at $",
        "maintenance notice sent to Vast",
        "unlisted for maintenance",
        "earnings fetched",
        "earnings (stored from Vast's per-day report)",
        "$ hostagent status",
        "machine 4242 demo-h100-01",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out}"
    assert (state / "state" / "state.db").is_file()
    assert (state / "demo.toml").is_file()  # so status/journal/earnings can be tried on the demo's state
    assert "hostagent-demo-key" not in out + done.stderr


def test_the_demo_refuses_a_state_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(REPO / "config" / "demo.toml"), "demo",
         "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert "not empty" in done.stderr
