"""When each slow job last ran, kept in the state store, so its cadence survives restarts and reloads.

The scheduler's clock is monotonic and starts again with each process: on its own it would run cleanup,
earnings and the market refresh at every start, so a cron-driven `run --once` every 5 minutes would send
cleanup 288 times a day. Here a job is due when its interval has passed on the wall clock since it last
ran, in any process. A wall clock that went back (fault 19) makes the job due: better once too often than
never again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

import structlog

from hostagent.errors import StateError
from hostagent.ports import Clock

log = structlog.get_logger(__name__)

CADENCE_KEY = "cadences"  # {job name: epoch s it last ran}


class CadenceStore(Protocol):
    """The part of the state store the cadences use."""

    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...


class Cadences:
    def __init__(self, store: CadenceStore) -> None:
        self._store = store

    def _all(self) -> dict[str, float]:
        raw = self._store.get(CADENCE_KEY)
        if not isinstance(raw, dict):
            return {}
        return {k: float(v) for k, v in raw.items() if isinstance(v, int | float) and not isinstance(v, bool)}

    def last(self, name: str) -> datetime | None:
        at_s = self._all().get(name)
        return None if at_s is None else datetime.fromtimestamp(at_s, tz=timezone.utc)

    def remaining_s(self, name: str, every_s: float, now: datetime) -> float:
        """Seconds until the job is due (0: due now)."""
        last = self.last(name)
        if last is None or last > now:
            return 0.0
        return max(0.0, every_s - (now - last).total_seconds())

    def mark(self, name: str, now: datetime) -> None:
        self._store.put(CADENCE_KEY, {**self._all(), name: now.timestamp()})

    def remaining_or_now(self, name: str, every_s: float, now: datetime) -> float:
        """`remaining_s`, or 0 when the store cannot be read (run it now, as before the store kept cadences)."""
        try:
            return self.remaining_s(name, every_s, now)
        except StateError as exc:
            log.error("cadence_unreadable", job=name, error=str(exc))
            return 0.0

    def job(self, name: str, every_s: float, clock: Clock, fn: Callable[[], bool]) -> Callable[[], None]:
        """`fn`, run only when `every_s` has passed since its last successful run (True), in any process."""
        def job() -> None:
            now = clock.now()
            if self.remaining_s(name, every_s, now) > 0:
                log.info("job_not_due", job=name, last_run=str(self.last(name)), every_s=every_s)
                return
            if fn():
                self.mark(name, now)
        job.__name__ = name
        return job
