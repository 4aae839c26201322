"""An operator who is not the service user gets one line saying what to run instead, and exit 77 (EX_NOPERM).

The state directory is the unit's: mode 0700, owned by the service user; the command runs as another user
(see other_user.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from other_user import AS_ROOT, give_away, run_hostagent

from hostagent.store import StateStore

EX_NOPERM = 77


@pytest.fixture
def world() -> Iterator[Path]:
    """A config and a state directory holding a real state.db, the directory shut to the operator."""
    # Not pytest's tmp_path: its parents may be shut to the command, which must reach the config.
    root = Path(tempfile.mkdtemp(prefix="hostagent-perm-"))
    state_dir = root / "state"
    try:
        os.chmod(root, 0o755)  # noqa: S103 -- nobody must reach the config; the state dir stays shut
        with StateStore.open(state_dir) as store:
            store.journal(datetime.now(timezone.utc), "decision", "listed", "test")
            store.put("machine_id", 4242)
        (root / "config.toml").write_text(f'[agent]\nstate_dir = "{state_dir}"\n[machine]\nid = 4242\n')
        os.chmod(root / "config.toml", 0o644)
        give_away(state_dir, *state_dir.iterdir())  # the service user's (DynamicUser) directory
        os.chmod(state_dir, 0o700 if AS_ROOT else 0o000)
        yield root
    finally:
        os.chmod(state_dir, 0o700)
        shutil.rmtree(root)


@pytest.mark.parametrize(
    "args",
    [("status",), ("status", "--json"), ("journal",), ("earnings",), ("maint", "list"), ("hold", "--reason", "x"),
     ("release",), ("pause",), ("resume",)],
    ids=["status", "status --json", "journal", "earnings", "maint list", "hold", "release", "pause", "resume"],
)
def test_a_command_on_a_state_dir_it_may_not_read_says_to_use_sudo_and_exits_77(
    world: Path, args: tuple[str, ...]
) -> None:
    """No traceback: one line naming the directory and the exact command to run with sudo, exit 77."""
    done = run_hostagent(world, "--config", str(world / "config.toml"), *args)
    assert done.returncode == EX_NOPERM, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(world / "state") in lines[0]
    assert f"sudo hostagent --config {world / 'config.toml'} {' '.join(args)}" in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("args", [("hold",), ("pause",)], ids=["hold", "pause"])
def test_hold_and_pause_on_a_state_store_it_may_read_but_not_write_exit_77_and_change_nothing(
    world: Path, args: tuple[str, ...]
) -> None:
    """The operator can read the store (status works) but not write it: one line saying how to fix it, exit 77."""
    state_dir = world / "state"
    os.chmod(state_dir, 0o755)  # noqa: S103 -- readable by the operator, writable by its owner only
    for path in state_dir.iterdir():
        os.chmod(path, 0o644 if AS_ROOT else 0o444)
    done = run_hostagent(world, "--config", str(world / "config.toml"), *args)
    assert done.returncode == EX_NOPERM, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "cannot be written" in line
    assert str(state_dir / "state.db") in line
    with StateStore.open(state_dir, readonly=True) as store:
        assert store.get("owner_hold") is None
        assert store.get("owner_pause") is None
