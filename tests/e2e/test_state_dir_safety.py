"""The agent's state on disk: refused at start when it cannot be written, created private, and the metrics
endpoint named when it is exposed beyond this host.

The agent runs as another user than the state file's owner (see other_user.py), or on a file made read-only.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_env import write_world
from other_user import give_away, run_hostagent, run_python

from hostagent.bootstrap import build
from hostagent.cli import main
from hostagent.commands.doctor_checks import FAIL, check_metrics
from hostagent.config.load import load_config
from hostagent.store import StateStore
from hostagent.testing.emulator import Emulator

EX_NOPERM = 77


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A directory of its own for the state (the command runs without the power to ignore file modes)."""
    root = Path(tempfile.mkdtemp(prefix="hostagent-state-"))
    try:
        os.chmod(root, 0o755)  # noqa: S103 -- the command may read the config in here
        yield root
    finally:
        shutil.rmtree(root)


def test_run_once_refuses_a_state_db_it_cannot_write_naming_the_file_and_the_fix(shared_root: Path) -> None:
    """A read-only state.db is refused at start with exit 77, instead of a run that stores nothing and exits 0."""
    with Emulator(rate_limits=False) as emu:
        config = write_world(shared_root, emu.url, emu.api_key)
        StateStore.open(shared_root / "state").close()
        db = shared_root / "state" / "state.db"
        give_away(db)  # the directory stays the agent's: only the file is out of reach
        os.chmod(db, 0o444)
        done = run_hostagent(shared_root, "--config", str(config), "run", "--once")
        assert done.returncode == EX_NOPERM, done.stderr
        assert f"{db}" in done.stderr
        assert "cannot be written" in done.stderr
        assert f"chmod 600 {db}" in done.stderr
        assert "Traceback" not in done.stderr
        assert emu.requests == []  # refused before anything was asked of Vast


def test_a_state_directory_created_by_the_agent_is_0700_and_its_files_0600(shared_root: Path) -> None:
    """Outside systemd (umask 022) the agent still creates its directory 0700 and every file in it 0600."""
    config_path = write_world(shared_root, "http://127.0.0.1:9", "k3y-modes")
    config_path.write_text(config_path.read_text().replace('state_dir = "state"', 'state_dir = "new/state"'))
    old_umask = os.umask(0o022)
    try:
        parts = build(load_config(config_path, environ={}), environ={}, with_metrics=False)
        try:
            parts.store.put("probe", 1)  # the -wal and -shm exist while the store is open
            state_dir = shared_root / "new" / "state"
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state_dir.iterdir()}
        finally:
            parts.close()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert set(modes) >= {"state.db", "state.db-wal", "state.db-shm", "agent.lock"}
    assert modes == dict.fromkeys(modes, 0o600)


def exposed_config(root: Path, address: str) -> Path:
    path = root / "config.toml"
    path.write_text(f'[metrics]\naddress = "{address}"\n')
    return path


def test_check_config_warns_on_metrics_bound_beyond_loopback_and_still_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page has no secrets, so start is not refused; the warning names the key and the fix."""
    assert main(["--config", str(exposed_config(tmp_path, "0.0.0.0:9473")), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("config OK")
    (warning,) = err.strip().splitlines()
    assert warning.startswith("warning: config.toml: metrics.address: 0.0.0.0:9473 serves /metrics without")
    assert "bind 127.0.0.1" in warning
    assert "firewall" in warning


@pytest.mark.parametrize("address", ["127.0.0.1:9473", "[::1]:9473", "localhost:9473"])
def test_check_config_says_nothing_about_metrics_on_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str
) -> None:
    """Loopback is the default and safe: no warning."""
    assert main(["--config", str(exposed_config(tmp_path, address)), "check-config"]) == 0
    assert capsys.readouterr().err == ""


def test_doctor_fails_its_metrics_check_on_an_exposed_endpoint_and_passes_on_loopback(tmp_path: Path) -> None:
    """doctor names the exposure as a problem (fail) with the fix; a disabled or loopback endpoint is ok."""
    exposed = check_metrics(load_config(exposed_config(tmp_path, "[::]:9473"), environ={}))
    assert exposed.status == FAIL
    assert "bind 127.0.0.1" in (exposed.fix or "")
    assert check_metrics(load_config(exposed_config(tmp_path, "127.0.0.1:9473"), environ={})).status == "ok"
    disabled = tmp_path / "off.toml"
    disabled.write_text('[metrics]\nenabled = false\naddress = "0.0.0.0:9473"\n')
    assert check_metrics(load_config(disabled, environ={})).status == "ok"


def test_doctor_fails_its_state_dir_check_on_a_state_db_the_agent_cannot_write(shared_root: Path) -> None:
    """The directory may be writable while state.db is not: doctor names the file and the chmod fix."""
    state_dir = shared_root / "state"
    StateStore.open(state_dir).close()
    db = state_dir / "state.db"
    give_away(db)
    os.chmod(db, 0o444)
    done = run_python(
        shared_root,
        "from pathlib import Path; from hostagent.commands.doctor_checks import check_state_dir; "
        f"c = check_state_dir(Path({str(state_dir)!r})); print(c.status); print(c.detail); print(c.fix)",
    )
    status, detail, fix = done.stdout.splitlines()
    assert (status, detail.split(" is not writable")[0]) == ("fail", str(db)), done.stderr
    assert f"chmod 600 {db}" in fix
