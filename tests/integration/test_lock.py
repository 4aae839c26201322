"""One agent per state directory: the lock names its holder and dies with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostagent.errors import LockHeldError, StateError
from hostagent.runtime.lock import StateLock

REPO = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from pathlib import Path
from hostagent.runtime.lock import StateLock
StateLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_lock_on_the_same_directory_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    first = StateLock(tmp_path / "state").acquire()
    assert first.held
    assert (tmp_path / "state" / "agent.lock").read_text().strip() == str(os.getpid())
    with pytest.raises(LockHeldError, match=f"pid {os.getpid()}") as caught:
        StateLock(tmp_path / "state").acquire()
    assert caught.value.pid == os.getpid()
    first.release()
    assert (tmp_path / "state" / "agent.lock").read_text() == ""
    with StateLock(tmp_path / "state") as again:
        assert again.held


def test_the_lock_of_a_killed_agent_is_free_at_once_and_the_error_names_its_pid(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                          env=env) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f"pid {holder.pid}") as caught:
            StateLock(tmp_path).acquire()
        assert caught.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The stale file still names the dead PID; the kernel released the flock with the process.
    assert (tmp_path / "agent.lock").read_text().strip() == str(holder.pid)
    lock = StateLock(tmp_path).acquire()
    assert (tmp_path / "agent.lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_a_lock_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "agent.lock").symlink_to(target)
    with pytest.raises(StateError, match="cannot open the lock file"):
        StateLock(tmp_path).acquire()
