"""`hostagent demo` runs the real agent for simulated days and tells it as a timeline, ending with `status`."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from hostagent.cli import main
from hostagent.testing.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
STATUS_SCHEMA = json.loads(resources.files("hostagent").joinpath("data/status.schema.json").read_text(encoding="utf-8"))


def test_the_demo_prints_listing_rentals_decay_overheating_maintenance_cleanup_earnings_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
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
        "default job set: vastai/kvm:ubuntu_cli_22.04 at $0.10/GPU/h",  # the price read back from the journal
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
    assert done.stderr == ""  # the GPU fault is a line of the timeline, not a JSON log line in the middle of it

    # The operator commands work against the state the demo wrote.
    demo_config = state / "demo.toml"
    for args in (["status"], ["status", "--json"], ["earnings", "--days", "3"], ["journal", "--limit", "5"],
                 ["maint", "list"]):
        assert main(["--config", str(demo_config), *args]) == 0, args
        out = capsys.readouterr().out
        assert out, args
        if args == ["status", "--json"]:  # the demo's default job, windows and earnings all fit the schema
            jsonschema.validate(json.loads(out), STATUS_SCHEMA)
    with Emulator(rate_limits=False) as emu:  # the demo's own emulator is gone: plan and doctor ask a fresh one
        live = tmp_path / "demo-live.toml"
        live.write_text(demo_config.read_text().replace('"http://127.0.0.1:8765"', f'"{emu.url}"'))
        monkeypatch.setenv("VAST_API_KEY", emu.api_key)
        assert main(["--config", str(live), "plan"]) == 0
        assert "list_machine" in capsys.readouterr().out
        assert main(["--config", str(live), "doctor"]) == 0
        assert "fail" not in capsys.readouterr().out


def test_the_demo_refuses_a_state_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(REPO / "config" / "demo.toml"), "demo",
         "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert "not empty" in done.stderr
