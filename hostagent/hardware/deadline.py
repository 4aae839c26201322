"""Bound a call that may hang (an NVML read on a wedged driver) with a deadline.

A driver call blocked in the kernel cannot be interrupted from Python, so the call runs in one
persistent worker thread and the caller waits with a timeout. While a timed-out call is still
running, no second call is started: the caller waits for the old one (within its own deadline)
and gets `DeadlineExceeded` again if it is still stuck. That keeps at most one thread inside the
library, however long the hang lasts.

The deadline is real (wall-monotonic) time, not the injected `Clock`: it bounds a real blocked thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call (or an earlier one still running) did not finish within the deadline."""


class _Job(Generic[T]):
    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001  (handed back to the caller, never lost in the thread)
            self.error = exc
        finally:
            self.done.set()


class DeadlineRunner:
    """Runs callables one at a time in a daemon worker thread, each waited on with a timeout."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job[object] | None] = queue.SimpleQueue()
        self._pending: _Job[object] | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while a call that timed out is still running in the worker."""
        pending = self._pending
        return pending is not None and not pending.done.is_set()

    def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        """`fn()`'s result, or its exception re-raised; `DeadlineExceeded` past `timeout_s` in total."""
        if self._closed:
            raise RuntimeError("DeadlineRunner is closed")
        stop_at = time.monotonic() + timeout_s
        pending = self._pending
        if pending is not None and not pending.done.wait(max(0.0, stop_at - time.monotonic())):
            raise DeadlineExceeded("an earlier call is still running")
        job: _Job[T] = _Job(fn)
        self._pending = job  # type: ignore[assignment]  # stored only to wait on it later
        self._jobs.put(job)  # type: ignore[arg-type]
        if not job.done.wait(max(0.0, stop_at - time.monotonic())):
            raise DeadlineExceeded(f"no answer within {timeout_s:g} s")
        self._pending = None
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]  # set by fn() when no error

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the worker. A worker stuck in a call is left behind (it is a daemon thread)."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        if not self.busy:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.run()
