"""An operator who is not the service user gets one line saying what to run instead, and exit 77 (EX_NOPERM).

The state directory is the unit's: mode 0700, owned by the service user. Root ignores file modes, so when the
tests run as root the command runs as nobody (uid 65534); otherwise the directory is made unreadable to us.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hostagent.store import StateStore

EX_NOPERM = 77
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
# hostagent and its dependencies by path, for an interpreter other than this venv's
PYTHONPATH = os.pathsep.join([str(REPO), *site.getsitepackages()])


def interpreter_for_the_operator() -> str:
    """This Python, or else the system's: a pyenv Python under /root cannot be run by nobody."""
    if not AS_ROOT:
        return sys.executable
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import hostagent.cli"], env={"PYTHONPATH": PYTHONPATH}, capture_output=True,
                check=False, user=NOBODY, group=NOBODY, extra_groups=[], timeout=60,
            )
        except OSError:  # not found, or not executable by nobody
            continue
        if probe.returncode == 0:
            return candidate
    pytest.fail("no Python interpreter that uid 65534 may run: install python3 outside /root")


@pytest.fixture
def world() -> Iterator[Path]:
    """A config and a state directory holding a real state.db, the directory shut to the operator."""
    # Not pytest's tmp_path: its parents are 0700 to root, and nobody must be able to reach the config.
    root = Path(tempfile.mkdtemp(prefix="hostagent-perm-"))
    state_dir = root / "state"
    try:
        os.chmod(root, 0o755)  # noqa: S103 -- nobody must reach the config; the state dir stays shut
        with StateStore.open(state_dir) as store:
            store.journal(datetime.now(timezone.utc), "decision", "listed", "test")
            store.put("machine_id", 4242)
        (root / "config.toml").write_text(f'[agent]\nstate_dir = "{state_dir}"\n[machine]\nid = 4242\n')
        os.chmod(root / "config.toml", 0o644)
        os.chmod(state_dir, 0o700 if AS_ROOT else 0o000)
        yield root
    finally:
        os.chmod(state_dir, 0o700)
        shutil.rmtree(root)


def operator_runs(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": PYTHONPATH}
    who = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if AS_ROOT else {}
    return subprocess.run(  # noqa: PLW1510 -- the exit status is what is tested
        [interpreter_for_the_operator(), "-m", "hostagent", "--config", str(root / "config.toml"), *args],
        capture_output=True, text=True, env=env, cwd=root, timeout=60, **who,  # type: ignore[call-overload]
    )


@pytest.mark.parametrize(
    "args",
    [("status",), ("status", "--json"), ("journal",), ("earnings",), ("maint", "list")],
    ids=["status", "status --json", "journal", "earnings", "maint list"],
)
def test_a_command_on_a_state_dir_it_may_not_read_says_to_use_sudo_and_exits_77(
    world: Path, args: tuple[str, ...]
) -> None:
    """No traceback: one line naming the directory and the exact command to run with sudo, exit 77."""
    done = operator_runs(world, *args)
    assert done.returncode == EX_NOPERM, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(world / "state") in lines[0]
    assert f"sudo hostagent --config {world / 'config.toml'} {' '.join(args)}" in lines[0]
    assert done.stdout == ""
