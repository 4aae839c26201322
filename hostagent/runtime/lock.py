"""One agent per state directory: an exclusive `flock` on `state_dir/agent.lock`.

The kernel drops a flock when its holder dies (even by SIGKILL), so a stale lock file never blocks
a restart; the PID written inside is only there to name the holder in the error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from hostagent.errors import LockHeldError, StateAccessError, StateError

LOCK_NAME = "agent.lock"


class StateLock:
    """`StateLock(state_dir).acquire()` holds the directory until `release()` or process exit."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> StateLock:
        """Take the lock without waiting. Raises LockHeldError (naming the holder's PID) or StateError."""
        if self._fd is not None:
            return self
        try:
            # 0700 as systemd's StateDirectoryMode: the journal and earnings are the owner's business only.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # No O_TRUNC: the holder's PID must stay readable until we own the lock.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):  # not: another user's, or read-only
                raise StateError(f"cannot open the lock file {self.path}: {exc.strerror}") from None
            raise StateAccessError(
                f"cannot open the lock file {self.path}: {exc.strerror}: the state directory {self.path.parent} "
                f"must be writable by uid {os.geteuid()} (`chown {os.geteuid()} {self.path.parent} && chmod 700 "
                f"{self.path.parent}`), or choose another [agent] state_dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            holder = f"pid {pid}" if pid is not None else "another process"
            raise LockHeldError(
                f"another hostagent ({holder}) already runs on {self.path.parent}; stop it first",
                pid=pid,
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock {self.path}: {exc.strerror}") from None
        with contextlib.suppress(OSError):  # the PID is informative only; holding the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race with a starting agent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
