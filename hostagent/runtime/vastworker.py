"""The service's Vast worker: one thread that runs the Vast-facing jobs (reconcile, market, cleanup,
earnings) one at a time, in the order they came due, so Vast calls stay serialised and a hanging call
holds up only the jobs that need Vast, never telemetry, health or the watchdog on the main loop.

The main loop hands jobs over with `submit`. A job already waiting is not queued twice; a job that is
running may be queued once more, so a reconcile made due while another one runs follows it at once.
`stalled_s` says how long the worker has been busy without progress (a finished Vast call or job), which
decides whether the main loop may still ping systemd's watchdog.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from hostagent.ports import Clock

Job = Callable[[], None]


class VastWorker:
    def __init__(self, run_job: Callable[[Job], None], clock: Clock) -> None:
        self._run_job = run_job
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._current: Job | None = None
        self._progress_at = clock.monotonic()
        self._stopping = False
        # An exception no job handled (a bug): the main loop re-raises it, as the single loop did.
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="hostagent-vast-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def accepting(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    def is_worker_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping or job in self._queue:
                return
            self._queue.append(job)
            self._cond.notify_all()

    def progress(self) -> None:
        """A Vast call finished (even a failed one): the worker is alive and moving."""
        with self._cond:
            self._progress_at = self._clock.monotonic()

    def stalled_s(self) -> float:
        """Seconds busy since the last progress; 0 while idle. A dead worker counts as stalled forever."""
        with self._cond:
            if not self._thread.is_alive() and not self._stopping:
                return float("inf")
            if self._current is None:
                return 0.0
            return self._clock.monotonic() - self._progress_at

    @property
    def current(self) -> str | None:
        """The name of the job running now, for logs."""
        job = self._current
        return None if job is None else getattr(job, "__name__", repr(job))

    def wait_idle(self) -> None:
        """Until no job runs or waits (simulated time: the clock must not run ahead of work in flight)."""
        with self._cond:
            self._cond.wait_for(lambda: self.failure is not None or (not self._queue and self._current is None))

    def stop(self, timeout_s: float) -> bool:
        """No further job starts; the one running may finish within `timeout_s` (real time).

        True when the thread has ended; False when it is abandoned (a daemon thread: process exit ends it)."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        return self.join(timeout_s)

    def join(self, timeout_s: float) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                if self._stopping:
                    return
                job = self._current = self._queue.popleft()
                self._progress_at = self._clock.monotonic()
            try:
                self._run_job(job)
            except BaseException as exc:  # noqa: BLE001 -- handed to the main loop, which raises it
                with self._cond:
                    self.failure = exc
                    self._current = None
                    self._cond.notify_all()
                return
            with self._cond:
                self._current = None
                self._progress_at = self._clock.monotonic()
                self._cond.notify_all()
