"""A `schedule.Scheduler` whose jobs keep time on the injected Clock's monotonic time.

`schedule` reads `datetime.now()` itself, which a FakeClock cannot move and a wall-clock jump (NTP,
an operator) would disturb (fault 19). Interval jobs here measure on `clock.monotonic()` instead,
so a simulated week runs in seconds and cadences survive clock jumps. Only `every(n).seconds`
style interval jobs are supported (the agent uses nothing else); `.at()` and weekday jobs raise.
"""

from __future__ import annotations

import datetime as dt

import schedule

from hostagent.ports import Clock

# Monotonic seconds are placed on a naive timeline from here, because schedule compares naive datetimes.
_EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001


class ClockJob(schedule.Job):
    def __init__(self, interval: float, scheduler: ClockScheduler, clock: Clock) -> None:
        super().__init__(interval, scheduler)  # type: ignore[arg-type]  # schedule types it int; floats work
        self._clock = clock

    def _mono_now(self) -> dt.datetime:
        return _EPOCH + dt.timedelta(seconds=self._clock.monotonic())

    @property
    def should_run(self) -> bool:
        return bool(self.next_run is not None and self._mono_now() >= self.next_run)

    def run(self) -> object:
        if self.job_func is None:
            raise schedule.ScheduleError("a job needs do(func) before it runs")
        result = self.job_func()
        self.last_run = self._mono_now()
        self._schedule_next_run()
        return result

    def _schedule_next_run(self) -> None:
        if self.at_time is not None or self.start_day is not None or self.unit is None:
            raise schedule.ScheduleValueError("ClockJob supports plain interval jobs only")
        self.period = dt.timedelta(**{self.unit: self.interval})
        self.next_run = self._mono_now() + self.period

    def due_now(self) -> None:
        """Make the job run at the next `run_pending` (a start-up cycle, or health that just turned bad)."""
        self.next_run = self._mono_now()

    def due_in(self, seconds: float) -> None:
        """Make the job's next run `seconds` from now (a cadence that continues from before a restart)."""
        self.next_run = self._mono_now() + dt.timedelta(seconds=max(0.0, seconds))


class ClockScheduler(schedule.Scheduler):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def every(self, interval: float = 1) -> ClockJob:
        return ClockJob(interval, self, self._clock)

    @property
    def idle_seconds(self) -> float | None:
        """Seconds until the next job is due on the monotonic clock (<= 0: something is due now)."""
        if not self.jobs:
            return None
        next_run = min(job.next_run for job in self.jobs if job.next_run is not None)
        now = _EPOCH + dt.timedelta(seconds=self._clock.monotonic())
        return (next_run - now).total_seconds()
