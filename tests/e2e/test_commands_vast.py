"""maint and doctor against the Vast emulator, with the fake GPU backend and a real key file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from commands_env import REPO, write_world

from hostagent.cli import main
from hostagent.runtime.lock import StateLock
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault
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


def windows(emu: Emulator) -> list[object]:
    return [m for m in emu.state.machines[DEMO_MACHINE_ID].maintenances if m.active(emu.now_s())]


def test_maint_add_schedules_a_notice_prints_the_config_block_and_journals_it(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    start = (datetime.now(timezone.utc) + timedelta(days=10)).strftime("%Y-%m-%d 10:00")
    code, out, _ = cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "2.5",
                       "--category", "disk", "--tz", "Europe/Berlin", "--yes")
    assert code == 0, out
    assert "[[maintenance.windows]]" in out
    assert 'timezone = "Europe/Berlin"' in out
    assert "duration_h = 2.5" in out
    puts = [r for r in emu.requests if r.method == "PUT" and "dnotify" in r.path]
    assert len(puts) == 1
    assert puts[0].json_body["duration"] == 3.0
    assert puts[0].json_body["maintenance_category"] == "disk"
    with StateStore.open(config.parent / "state", readonly=True) as store:
        [entry] = store.journal_entries(kind="operator")
    assert entry.ok
    assert entry.what.startswith(f"schedule_maint machine {DEMO_MACHINE_ID}")
    code, out, _ = cli(capsys, config, "maint", "list")
    assert code == 0
    assert "weekly reboot" in out
    assert "read from Vast now" in out
    assert "disk" in out


def test_maint_cancel_asks_first_sends_nothing_on_no_and_cancels_on_yes(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    start = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%d 12:00")
    assert cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "1", "--yes")[0] == 0
    assert len(windows(emu)) == 1
    proc = subprocess.run(
        [sys.executable, "-m", "hostagent", "--config", str(config), "maint", "cancel"],
        input="n\n", capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )
    assert proc.returncode == 1
    assert "[y/N]" in proc.stdout
    assert "nothing sent" in proc.stdout
    assert not [r for r in emu.requests if "cancel_maint" in r.path]
    code, out, _ = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 0
    assert "cancelled" in out
    assert windows(emu) == []


def test_maint_add_takes_the_agents_write_path_intent_first_then_read_back(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator's notice is journaled as an intent before it is sent, finished after, and read back from Vast."""
    start = (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%d 09:00")
    assert cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "1", "--yes")[0] == 0
    with StateStore.open(config.parent / "state", readonly=True) as store:
        [sent] = store.journal_entries(kind="schedule_maint")
        intent = store.intent(1)
        assert store.open_intents() == []
    assert sent.ok
    assert sent.why == "hostagent maint add"
    assert intent is not None
    assert (intent.kind, intent.action_key, intent.ok) == ("schedule_maint", sent.action_key, True)
    put_at = next(i for i, r in enumerate(emu.requests) if r.method == "PUT")
    assert [r for r in emu.requests[put_at + 1:] if r.method == "GET" and "maintenances" in r.path], "read back"


def test_maint_sends_nothing_while_vast_defers_the_agents_calls(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 `not_before` the agent persisted holds the operator's write too, with a line saying until when."""
    until = datetime.now(timezone.utc) + timedelta(minutes=10)
    with StateStore.open(config.parent / "state") as store:
        store.put("vast.not_before", until.timestamp())
    code, _, err = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 1
    assert f"nothing sent: Vast rate-limited us: API calls deferred until {until.isoformat()}" in err
    assert emu.requests == []


def test_maint_with_a_refused_key_sends_nothing_and_says_so(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key Vast refuses stops the operator's write before any write call, with one clear line."""
    (config.parent / "vast.key").write_text("not-a-known-key\n")
    start = (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%d 09:00")
    code, _, err = cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "1", "--yes")
    assert code == 1
    assert "nothing sent" in err
    assert "refused" in err.lower() or "401" in err
    assert not [r for r in emu.requests if r.method != "GET"]
    assert "not-a-known-key" not in err


def test_maint_refuses_to_guess_among_several_machines_with_this_hostname(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """maint finds the machine by the agent's own lookup: two machines named like this host are named, none chosen."""
    emu.state.machines[4244].hostname = "demo-h100-01"
    code, _, err = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 1
    assert "2 machines with hostname 'demo-h100-01' on this Vast account (4242, 4244); set machine.id" in err
    assert not [r for r in emu.requests if r.method != "GET"]


def test_maint_add_writes_its_intent_beside_a_running_agent(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one documented path beside the agent: lock held and store open by "the agent", maint still journals."""
    start = (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%d 09:00")
    with StateLock(config.parent / "state"), StateStore.open(config.parent / "state") as agent_store:
        agent_store.put("agent.note", "running")
        assert cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "1", "--yes")[0] == 0
        [entry] = agent_store.journal_entries(kind="operator")
    assert entry.ok
    assert len(windows(emu)) == 1


def test_maint_add_without_a_state_store_sends_nothing(
    tmp_path: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The intent comes first: with no state store to take it (the agent never ran here), nothing is sent."""
    config = write_world(tmp_path, emu.url, emu.api_key)
    start = (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%d 09:00")
    code, _, err = cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "1", "--yes")
    assert code == 1
    assert "nothing sent" in err
    assert "the agent has not run" in err
    assert emu.requests == []
    assert not (tmp_path / "state" / "state.db").exists()


def test_maint_never_races_a_maintenance_write_that_may_still_be_in_flight(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An open maintenance intent (the agent's notice, reply lost) holds the operator's cancel: nothing sent."""
    with StateStore.open(config.parent / "state") as store:
        store.begin_action(datetime.now(timezone.utc), "schedule_maint:4242:x", "schedule_maint",
                           {"machine_id": DEMO_MACHINE_ID})
    code, _, err = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 1
    assert "nothing sent: an earlier schedule_maint begun" in err
    assert "may still be in flight" in err
    assert not [r for r in emu.requests if r.method != "GET"]


def record_identity(config: Path) -> None:
    """What the agent stores when it first finds the machine: its id and identity."""
    with StateStore.open(config.parent / "state") as store:
        store.put("machine_id", DEMO_MACHINE_ID)
        store.put("machine_identity", {"machine_id": DEMO_MACHINE_ID, "hostname": "demo-h100-01",
                                       "gpu_name": "H100 SXM", "num_gpus": 8})


def test_maint_cancel_refuses_when_vast_answers_with_another_machine(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator's write is checked like the agent's: another machine's row sends nothing, and is journaled."""
    record_identity(config)
    emu.inject(Fault("swap_machine", method="GET", path_contains=f"/machines/{DEMO_MACHINE_ID}", machine_id=4243))
    code, _, err = cli(capsys, config, "maint", "cancel", "--yes")
    assert code == 1
    assert "Vast answered with machine 4243" in err
    assert "forget-machine" in err
    assert not [r for r in emu.requests if r.method == "PUT"]
    with StateStore.open(config.parent / "state", readonly=True) as store:
        [entry] = store.journal_entries(kind="identity_mismatch")
    assert not entry.ok


def test_maint_add_refuses_a_machine_whose_gpus_changed_since_it_was_recorded(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded identity (hostname, GPU model and count) must still match before a notice goes out."""
    record_identity(config)
    emu.state.machines[DEMO_MACHINE_ID].num_gpus = 4
    start = (datetime.now(timezone.utc) + timedelta(days=10)).strftime("%Y-%m-%d 10:00")
    code, _, err = cli(capsys, config, "maint", "add", "--start", start, "--duration-h", "1", "--yes")
    assert code == 1
    assert "num_gpus 8 -> 4" in err
    assert windows(emu) == []


def test_maint_list_does_not_show_another_machines_windows_as_this_ones(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """show_maints rows of machine 4243 in reply to a read of 4242 are refused, not listed."""
    record_identity(config)
    other = emu.state.machines[4243]
    other.maintenances.append(Maintenance(id=7, machine_id=4243, start_time=emu.now_s() + 86400,
                                          duration_hours=5.0, category="power", created_at=emu.now_s()))
    emu.inject(Fault("swap_machine", path_contains="/maintenances", machine_id=4243))
    code, out, _ = cli(capsys, config, "maint", "list")
    assert code == 0
    assert "windows of machine 4243" in out
    assert "power" not in out


def test_maint_add_refuses_a_start_in_the_past_as_a_usage_error(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, config, "maint", "add", "--start", "2020-01-01 10:00", "--duration-h", "1", "--yes")
    assert code == 2
    assert "future" in err
    assert not [r for r in emu.requests if r.method == "PUT"]


def test_doctor_passes_every_check_against_the_emulator_with_fake_gpus(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each check once, in order; every scope line is a read of its own (show_user is the api check's read)."""
    code, out, _ = cli(capsys, config, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert code == 0, out
    assert list(checks) == ["config", "gpus", "devices", "api key", "api", "scope show_machines", "scope search_offers",
                            "scope show_earnings", "machine", "state dir", "metrics", "clock"]
    assert all(c["status"] == "ok" for c in checks.values())
    assert "8 GPU(s)" in checks["gpus"]["detail"]


def test_doctor_fails_when_the_machine_on_vast_is_not_the_one_the_agent_recorded(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Doctor reads the recorded machine and names the fix for a real change: forget-machine."""
    record_identity(config)
    code, out, _ = cli(capsys, config, "doctor")
    assert f"ok    machine               machine {DEMO_MACHINE_ID} on Vast is the one recorded" in out
    emu.state.machines[DEMO_MACHINE_ID].hostname = "someone-else"
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 1
    assert "fail  machine               identity mismatch" in out
    assert "hostname 'demo-h100-01' -> 'someone-else'" in out
    assert "forget-machine" in out


def test_doctor_finds_the_machine_by_the_agents_own_lookup(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """No id recorded: doctor looks the machine up by hostname as the agent would, and fails where it would."""
    code, out, _ = cli(capsys, config, "doctor")
    assert f"ok    machine               machine {DEMO_MACHINE_ID} on Vast is found (identity not recorded yet)" in out
    emu.state.machines[4244].hostname = "demo-h100-01"
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 1
    assert "fail  machine               2 machines with hostname 'demo-h100-01'" in out


def test_doctor_counts_a_rate_limited_scope_as_a_warning_not_a_refused_key(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 (say the running agent just searched offers) means Vast accepted the key: warn, exit 0."""
    emu.inject(Fault("status", path_contains="bundles", status=429, retry_after="60"))
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 0, out
    assert "warn  scope search_offers" in out
    assert "rate limited" in out
    assert "fail" not in out


def test_doctor_names_the_chmod_fix_for_a_world_readable_key_file(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = config.parent / "vast.key"
    os.chmod(key_file, 0o644)
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 1
    assert "fail  api key" in out
    assert f"fix: run: chmod 600 {key_file}" in out
    assert "hostagent-demo-key" not in out


def test_doctor_reports_a_refused_key_with_its_fix(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config.parent / "vast.key").write_text("not-a-known-key\n")
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 1
    assert "fail  api" in out
    assert "refused" in out
    assert "fix:" in out
    assert "not-a-known-key" not in out


def test_doctor_with_an_invalid_config_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[pricing]\ndefault_usd_per_gpu_hour = -1\n")
    code, out, _ = cli(capsys, bad, "doctor")
    assert code == 78
    assert "fail  config" in out
    assert "default_usd_per_gpu_hour" in out


def test_maint_list_without_a_usable_key_shows_the_config_and_what_the_agent_last_saw(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (config.parent / "vast.key").unlink()
    monkeypatch.delenv("VAST_API_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    code, out, _ = cli(capsys, config, "maint", "list")
    assert code == 0
    assert "weekly reboot" in out
    assert "no usable API key" in out
    assert "last seen by the agent" in out
    assert cli(capsys, config, "maint", "cancel", "--yes")[0] == 78, "writing needs the key"


def test_doctor_fails_with_the_fix_when_machine_id_names_no_machine_on_the_account(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine.id Vast does not know (a 404 in `plan`) fails doctor, and the fix lists the account's machines."""
    config.write_text(config.read_text().replace("[machine]\n", "[machine]\nid = 999999\n"))
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 1
    assert "fail  machine               machine.id 999999: no such machine on this Vast account" in out
    assert "(or remove the id to find it by hostname)" in out
    assert f"{DEMO_MACHINE_ID}  hostname 'demo-h100-01'" in out


def test_doctor_fails_with_the_fix_when_no_machine_has_this_hosts_hostname(
    config: Path, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """No machine.id and no machine with this host's name fails doctor as the agent would; an id fixes it."""
    emu.state.machines[DEMO_MACHINE_ID].hostname = "renamed"
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 1
    assert "fail  machine               no machine with hostname 'demo-h100-01' on this Vast account" in out
    assert f"{DEMO_MACHINE_ID}  hostname 'renamed'" in out
    config.write_text(config.read_text().replace("[machine]\n", f"[machine]\nid = {DEMO_MACHINE_ID}\n"))
    code, out, _ = cli(capsys, config, "doctor")
    assert code == 0, out
