"""maint and doctor against the Vast emulator, with the fake GPU backend and a real key file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_env import write_world

from hostagent.cli import main
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, Fault


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


def record_identity(config: Path) -> None:
    """What the agent stores when it first finds the machine: its id and identity."""
    with StateStore.open(config.parent / "state") as store:
        store.put("machine_id", DEMO_MACHINE_ID)
        store.put("machine_identity", {"machine_id": DEMO_MACHINE_ID, "hostname": "demo-h100-01",
                                       "gpu_name": "H100 SXM", "num_gpus": 8})


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
