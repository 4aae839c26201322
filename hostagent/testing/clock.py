"""A clock that moves only when told, so a simulated week runs in seconds."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


class FakeClock:
    """Wall and monotonic time advance together, by `advance()` or by `sleep()` (which returns at once)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._monotonic = 1000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards here; use set() for a wall-clock jump")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._monotonic += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def set(self, when: datetime) -> None:
        """Jump the wall clock (monotonic time does not move), as NTP or an operator might."""
        with self._lock:
            self._now = when.astimezone(timezone.utc)

    def epoch_s(self) -> float:
        return self.now().timestamp()
