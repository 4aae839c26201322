"""systemd/hostagent.service: the directives the agent relies on, its exposure score, and a clean verify."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostagent.cli import COMMANDS, EXIT_CONFIG, EXIT_NOPERM
from hostagent.commands import EXIT_METRICS_ADDRESS

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "hostagent.service"
INSTALLED_BIN = "/opt/hostagent/bin/hostagent"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
# CI (.ci/run) installs systemd-analyze and sets this, so there these checks can never be skipped silently.
REQUIRED = os.environ.get("HOSTAGENT_REQUIRE_SYSTEMD") == "1"
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None and not REQUIRED,
    reason="systemd-analyze missing (Debian package 'systemd'; .ci/run installs it)",
)


def directives(text: str) -> dict[str, list[str]]:
    """`Section.Key` -> every value assigned, in order (systemd keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return directives(UNIT.read_text())


def test_the_agent_speaks_notify_and_is_watched(unit: dict[str, list[str]]) -> None:
    assert unit["Service.Type"] == ["notify"]
    assert unit["Service.NotifyAccess"] == ["main"]
    assert re.fullmatch(r"\d+s", unit["Service.WatchdogSec"][0])
    assert "PYTHONFAULTHANDLER=1" in unit["Service.Environment"]


def test_it_restarts_after_any_crash_but_not_on_a_bad_config_a_state_store_it_may_not_write_or_a_taken_port(
    unit: dict[str, list[str]],
) -> None:
    """Restart=always, except on the exit codes that restarting cannot fix (73, 77, 78)."""
    assert unit["Service.Restart"] == ["always"]
    assert unit["Service.RestartPreventExitStatus"] == [f"{EXIT_METRICS_ADDRESS} {EXIT_NOPERM} {EXIT_CONFIG}"]


def test_it_runs_the_agent_and_reloads_only_after_checking_the_config(unit: dict[str, list[str]]) -> None:
    config = "--config /etc/hostagent/config.toml"
    assert unit["Service.ExecStart"] == [f"{INSTALLED_BIN} {config} run"]
    assert unit["Service.ExecReload"] == [f"{INSTALLED_BIN} {config} check-config", "/bin/kill -HUP $MAINPID"]
    assert {"run", "check-config"} <= set(COMMANDS)


def test_nvml_gets_exactly_its_devices(unit: dict[str, list[str]]) -> None:
    assert unit["Service.DevicePolicy"] == ["closed"]
    assert sorted(unit["Service.DeviceAllow"]) == ["char-nvidia rw", "char-nvidiactl rw"]
    assert "Service.PrivateDevices" not in unit  # it would hide /dev/nvidia*


def test_nvml_can_read_the_proc_files_it_needs(unit: dict[str, list[str]]) -> None:
    assert "pid" not in unit.get("Service.ProcSubset", [])


def test_psutil_keeps_netlink(unit: dict[str, list[str]]) -> None:
    [families] = unit["Service.RestrictAddressFamilies"]
    assert set(families.split()) == {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}


def test_the_key_comes_as_a_credential_and_the_user_is_transient(unit: dict[str, list[str]]) -> None:
    assert unit["Service.LoadCredential"] == ["vast_api_key:/etc/hostagent/vast_api_key"]
    assert unit["Service.DynamicUser"] == ["yes"]
    for kind in ("State", "Configuration", "Runtime"):
        assert unit[f"Service.{kind}Directory"] == ["hostagent"]
    assert "LoadCredentialEncrypted=vast_api_key:" in UNIT.read_text()  # the encrypted form, documented


def test_the_sandbox_directives_are_set(unit: dict[str, list[str]]) -> None:
    expected = {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "", "AmbientCapabilities": "", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "ProtectClock": "yes", "ProtectHostname": "yes", "RestrictNamespaces": "yes", "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native", "UMask": "0077",
    }
    assert {key: unit[f"Service.{key}"][0] for key in expected} == expected
    assert unit["Service.SystemCallFilter"][0] == "@system-service"
    assert not any("/var/lib/docker" in value for value in unit.get("Service.InaccessiblePaths", []))


def test_systemd_analyze_is_present_wherever_the_checks_are_required() -> None:
    """HOSTAGENT_REQUIRE_SYSTEMD=1 (CI) turns a missing systemd-analyze into this failure, not a skip."""
    assert SYSTEMD_ANALYZE is not None or not REQUIRED, "HOSTAGENT_REQUIRE_SYSTEMD=1 but systemd-analyze is missing"


@needs_systemd_analyze
def test_the_exposure_score_is_at_most_2() -> None:
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "security", "--offline=yes", "--threshold=20", str(UNIT)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    score = re.search(r"Overall exposure level for hostagent\.service: (\d+\.\d)", result.stdout)

    assert result.returncode == 0, result.stdout + result.stderr
    assert score is not None
    assert float(score.group(1)) <= 2.0


def verify(unit_text: str, directory: Path) -> str:
    """systemd-analyze verify's whole output for a unit with the installed binary path replaced."""
    entry_point = Path(sys.executable).parent / "hostagent"
    if not entry_point.exists():
        pytest.skip(f"no hostagent entry point at {entry_point} to stand in for {INSTALLED_BIN}")
    path = directory / "hostagent.service"
    path.write_text(unit_text.replace(INSTALLED_BIN, str(entry_point)))
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", "--man=no", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    return result.stdout + result.stderr + ("" if result.returncode == 0 else f"exit {result.returncode}")


@needs_systemd_analyze
def test_verify_prints_nothing(tmp_path: Path) -> None:
    assert verify(UNIT.read_text(), tmp_path) == ""


@needs_systemd_analyze
def test_verify_output_does_catch_a_mistyped_directive(tmp_path: Path) -> None:
    """verify exits 0 on unknown keys, so the check reads its output: make sure a typo shows there."""
    broken = UNIT.read_text().replace("ProtectHome=yes", "ProtectHomes=yes")

    assert "Unknown key 'ProtectHomes'" in verify(broken, tmp_path)
