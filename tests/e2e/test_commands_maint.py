"""`hostagent maint add|cancel|list` against the Vast emulator: the command queues, the agent sends."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from commands_env import REPO, reboot_day, write_world

from hostagent.cli import main
from hostagent.runtime.lock import StateLock
from hostagent.service import operator_maints
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator
from hostagent.testing.emulator.state import Maintenance


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False) as e:
        yield e


@pytest.fixture
def config(tmp_path: Path, emu: Emulator) -> Path:
    path = write_world(tmp_path, emu.url, emu.api_key)
    StateStore.open(tmp_path / "state").close()
    return path


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def day(days: int, at: str = "10:00") -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime(f"%Y-%m-%d {at}")


def writes(emu: Emulator) -> list[str]:
    return [r.path for r in emu.requests if r.method == "PUT"]


def disk_notices(emu: Emulator) -> list[dict[str, object]]:
    return [r.json_body for r in emu.requests  # type: ignore[misc]
            if r.method == "PUT" and "dnotify" in r.path and r.json_body["maintenance_category"] == "disk"]


def recorded(config: Path) -> operator_maints.OperatorMaints:
    with StateStore.open(config.parent / "state", readonly=True) as store:
        return operator_maints.load(store)


def test_maint_add_queues_the_window_shows_the_dates_vast_will_hold_and_sends_nothing_itself(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2.5 h from Berlin: shown as the 3 whole hours Vast holds, in UTC and Berlin; queued, journaled, not sent."""
    monkeypatch.setenv("SUDO_USER", "alice")  # `sudo -u hostagent hostagent maint add ...`: alice asked
    code, out, _ = cli(capsys, config, "maint", "add", "--start", day(10), "--duration-h", "2.5", "--category", "disk",
                       "--tz", "Europe/Berlin", "--reason", "swap a disk", "--yes")
    assert code == 0, out
    local = datetime.strptime(day(10), "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)  # only its date is read
    assert f"Vast will hold {local:%Y-%m-%d} 0" in out  # 10:00 Berlin is 08:00 or 09:00 UTC
    assert f"({local:%a %Y-%m-%d} 10:00 → {local:%a} 13:00 Europe/Berlin), 3 h (2.5 h asked" in out
    assert "No agent is running on this state directory" in out
    assert "hostagent run --once" in out
    assert writes(emu) == []
    [window] = recorded(config).windows
    assert (window.state, window.category, window.duration_h, window.reason) == ("queued", "disk", 2.5, "swap a disk")
    assert window.by.startswith("alice@")
    with StateStore.open(config.parent / "state", readonly=True) as store:
        [entry] = store.journal_entries(kind="operator")
    assert entry.what.startswith(f"maint add {window.id}: machine {DEMO_MACHINE_ID}")
    assert f"by {window.by}" in entry.what
    assert entry.why == "swap a disk"


def test_the_agent_sends_the_queued_window_through_its_write_path_and_maint_list_shows_it_held(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --once` sends it (intent first, then read back); list tells configured, operator and Vast's apart."""
    assert cli(capsys, config, "maint", "add", "--start", day(5), "--duration-h", "1", "--category", "disk",
               "--yes")[0] == 0
    assert cli(capsys, config, "run", "--once")[0] == 0
    [sent] = disk_notices(emu)
    assert sent["duration"] == 1.0
    put_at = next(i for i, r in enumerate(emu.requests) if r.method == "PUT" and "dnotify" in r.path)
    assert [r for r in emu.requests[put_at + 1:] if r.method == "GET" and "maintenances" in r.path], "read back"
    with StateStore.open(config.parent / "state", readonly=True) as store:
        rows = [r for r in store.journal_entries(kind="schedule_maint") if "operator window" in r.why]
        assert store.open_intents() == []
    [row] = rows
    assert row.ok
    [window] = recorded(config).windows
    assert window.state == "sent"
    assert f"operator window {window.id} added by {window.by}" in row.why
    code, out, _ = cli(capsys, config, "maint", "list")
    assert code == 0
    assert "configured (next 35 days" in out
    assert f"{window.id}" in out
    assert "sent by the agent, held by Vast" in out
    assert f"operator: {window.id}" in out  # the Vast row, marked with where it came from
    assert "read from Vast now" in out
    assert cli(capsys, config, "maint", "add", "--start", day(8), "--duration-h", "2", "--category", "disk",
               "--yes")[0] == 0
    code, out, _ = cli(capsys, config, "status", "--json")
    shown = json.loads(out)["operator_maintenance"]
    assert shown["windows"][0]["id"] == window.id
    assert [w["state"] for w in shown["windows"]] == ["sent", "queued"]
    code, out, _ = cli(capsys, config, "status")
    assert "(disk) queued (the agent sends it at its next reconcile)" in out


def test_maint_cancel_asks_first_queues_nothing_on_no_and_the_agent_cancels_on_yes(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, config, "maint", "add", "--start", day(3, "12:00"), "--duration-h", "1", "--yes")[0] == 0
    proc = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "maint", "cancel"],
        input="n\n", capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )
    assert proc.returncode == 1
    assert "[y/N]" in proc.stdout
    assert "nothing queued" in proc.stdout
    assert recorded(config).cancel is None
    code, out, _ = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 0
    assert "cancel queued" in out
    assert "1 operator window(s) cancelled" in out
    queued = recorded(config)  # the agent sends it (tests/integration/test_agent_operator_maint.py)
    assert queued.cancel is not None
    assert queued.cancel.machine_id == DEMO_MACHINE_ID
    assert [w.state for w in queued.windows] == ["cancelled"]
    assert writes(emu) == []


def test_maint_add_beside_a_running_agent_says_the_agent_sends_it(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lock held and store open by "the agent": the request is recorded and journaled beside it."""
    with StateLock(config.parent / "state").acquire(), StateStore.open(config.parent / "state") as agent_store:
        code, out, _ = cli(capsys, config, "maint", "add", "--start", day(5), "--duration-h", "1", "--yes")
        assert code == 0
        assert "The running agent (pid" in out
        [entry] = agent_store.journal_entries(kind="operator")
        assert [w.state for w in operator_maints.load(agent_store).windows] == ["queued"]
    assert entry.ok
    assert writes(emu) == []


@pytest.mark.parametrize(
    ("other", "expected"),
    [("configured", "overlaps configured window 'weekly reboot'"), ("operator", "overlaps operator window op-")],
)
def test_maint_add_refuses_a_window_that_overlaps_another_as_a_usage_error(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str], other: str, expected: str
) -> None:
    if other == "configured":  # the weekly reboot: 03:00-05:00 Berlin, three days from today (commands_env)
        start, tz = reboot_day(datetime.now(timezone.utc)).strftime("%Y-%m-%d 04:00"), "Europe/Berlin"
    else:
        start, tz = day(5), "UTC"
        assert cli(capsys, config, "maint", "add", "--start", day(5, "09:30"), "--duration-h", "1", "--yes")[0] == 0
    code, _, err = cli(capsys, config, "maint", "add", "--start", start, "--tz", tz, "--duration-h", "1", "--yes")
    assert code == 2
    assert expected in err
    assert len(recorded(config).windows) == (0 if other == "configured" else 1)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [("2020-01-01 10:00", "1", "future and within a year"), (day(400), "1", "future and within a year"),
     (day(5), "400", "at most 336")],
)
def test_maint_add_refuses_a_window_beyond_vasts_limits_as_a_usage_error(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str], *, start: str, hours: str, expected: str
) -> None:
    code, _, err = cli(capsys, config, "maint", "add", "--start", start, "--duration-h", hours, "--yes")
    assert code == 2
    assert expected in err
    assert emu.requests == []


def test_maint_refuses_to_guess_among_several_machines_with_this_hostname_exit_68(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent's own lookup: two machines named like this host are named, none chosen, as the agent does."""
    emu.state.machines[4244].hostname = "demo-h100-01"
    code, _, err = cli(capsys, config, "maint", "add", "--start", day(5), "--duration-h", "1", "--yes")
    assert code == 68
    assert "2 machines with hostname 'demo-h100-01' on this Vast account (4242, 4244); set machine.id" in err
    assert recorded(config).windows == ()


def test_maint_refuses_a_machine_whose_gpus_changed_since_it_was_recorded_exit_68(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded identity must still match; the mismatch is journaled."""
    with StateStore.open(config.parent / "state") as store:
        store.put("machine_id", DEMO_MACHINE_ID)
        store.put("machine_identity", {"machine_id": DEMO_MACHINE_ID, "hostname": "demo-h100-01",
                                       "gpu_name": "H100 SXM", "num_gpus": 8})
    emu.state.machines[DEMO_MACHINE_ID].num_gpus = 4
    code, _, err = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 68
    assert "num_gpus 8 -> 4" in err
    with StateStore.open(config.parent / "state", readonly=True) as store:
        [entry] = store.journal_entries(kind="identity_mismatch")
    assert recorded(config).cancel is None
    assert not entry.ok


def test_maint_queues_nothing_while_vast_defers_our_calls_exit_69(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 `not_before` the agent persisted holds the operator's lookup too, with a line saying until when."""
    until = datetime.now(timezone.utc) + timedelta(minutes=10)
    with StateStore.open(config.parent / "state") as store:
        store.put("vast.not_before", until.timestamp())
    code, _, err = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 69
    assert f"nothing queued: Vast rate-limited us: API calls deferred until {until.isoformat()}" in err
    assert emu.requests == []


def test_maint_with_a_refused_key_queues_nothing_exit_67(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "vast.key").write_text("not-a-known-key\n")
    code, _, err = cli(capsys, config, "maint", "add", "--start", day(5), "--duration-h", "1", "--yes")
    assert code == 67
    assert "nothing queued" in err
    assert "not-a-known-key" not in err
    assert recorded(config).windows == ()


def test_maint_add_without_a_state_store_queues_nothing(
    tmp_path: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent takes requests from its state store: with none (the agent never ran here), nothing is queued."""
    config = write_world(tmp_path, emu.url, emu.api_key)
    code, _, err = cli(capsys, config, "maint", "add", "--start", day(5), "--duration-h", "1", "--yes")
    assert code == 1
    assert "nothing queued" in err
    assert "the agent has not run" in err
    assert emu.requests == []
    assert not (tmp_path / "state" / "state.db").exists()


def test_maint_list_marks_a_window_vast_holds_that_hostagent_did_not_schedule(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A window from the web console is shown as such, apart from the configured and the operator's."""
    emu.state.machines[DEMO_MACHINE_ID].maintenances.append(Maintenance(
        id=77, machine_id=DEMO_MACHINE_ID, start_time=emu.now_s() + 6 * 86400, duration_hours=2.0, category="power",
        created_at=emu.now_s()))
    code, out, _ = cli(capsys, config, "maint", "list")
    assert code == 0
    assert "power  not scheduled by hostagent" in out
