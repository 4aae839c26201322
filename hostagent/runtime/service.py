"""`hostagent run`: the long-running service around the Agent.

A `ClockScheduler` (a `schedule.Scheduler` instance on the injected clock) drives telemetry every
`agent.tick_s`, plan + reconcile every `agent.reconcile_s`, the market refresh every
`pricing.market.refresh_s`, cleanup every `cleanup.every_h` and earnings every `earnings.every_h`; these three go
on from their last run kept in the state store (service/cadence.py), so no restart or reload repeats them.
Health that turns bad between reconciles makes the reconcile due at once (unlist without waiting).

Two threads, so telemetry never waits on Vast. The main thread keeps the signals, the scheduler, the
watchdog and the jobs that need no Vast (telemetry and health, the status document, store upkeep). The
Vast-facing jobs (reconcile, market, cleanup, earnings) go to one `VastWorker` thread, in the order they
came due, so Vast calls stay serialised as before; a reconcile made due while the worker is busy runs the
moment it is free. Both share the agent's memory under `agent.lock`, which the worker sets down during
each Vast call (hostagent.service.sharedlock); SQLite is one connection serialised by its own lock (store/db.py).

Signals only set flags; the main loop acts on them between steps. SIGTERM: no new job starts, the
worker's call in flight may finish within `stop_timeout_s` (else it is abandoned: its write-ahead intent
is resolved at the next start), then exit 0. SIGHUP reloads the config (an invalid one is logged and the
old one kept). With NOTIFY_SOCKET set: READY=1 once config, key, state and handlers are in place,
WATCHDOG=1 from the main loop each time it makes progress, but not while the Vast worker has been stuck
without progress for longer than the watchdog interval (every Vast call has a deadline well below it), so
systemd restarts a hung worker instead of the loop hiding it; STATUS= lines a person can read.
`run --once` runs every step in order on the calling thread (no worker).
"""

from __future__ import annotations

import signal
import types
from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from hostagent.config.load import load_config
from hostagent.config.model import Config
from hostagent.errors import ConfigError, HostagentError, StateError
from hostagent.ports import Clock
from hostagent.runtime.scheduling import ClockJob, ClockScheduler
from hostagent.runtime.sdnotify import Notifier
from hostagent.runtime.vastworker import VastWorker
from hostagent.service.agent import Agent
from hostagent.service.cadence import Cadences

log = structlog.get_logger(__name__)

MAX_SLEEP_S = 1.0  # the loop wakes at least this often to act on signals
STORE_MAINTAIN_S = 3600.0  # downsample raw telemetry hourly, so raw rows never pile up for a day
# On SIGTERM, how long the Vast call in flight may take to finish: above one call's deadline
# (vast.max_retry_time_s plus a read timeout), below the unit's TimeoutStopSec=90s.
STOP_TIMEOUT_S = 60.0


class Service:
    def __init__(
        self,
        agent: Agent,
        clock: Clock,
        *,
        notifier: Notifier | None = None,
        watchdog_s: float | None = None,
        reload: Callable[[], Config] | None = None,
        max_sleep_s: float = MAX_SLEEP_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        simulated_time: bool = False,
    ) -> None:
        """`simulated_time` (a FakeClock): the loop lets the Vast worker finish before it sleeps, because
        a sleep on such a clock moves time on at once, past work still in flight."""
        self.agent = agent
        self.clock = clock
        self.notifier = notifier or Notifier(None)
        self.watchdog_s = watchdog_s
        self._reload_config = reload
        self._max_sleep_s = max_sleep_s
        self._stop_timeout_s = stop_timeout_s
        self._simulated_time = simulated_time
        self._worker: VastWorker | None = None
        self._stuck_logged = False
        self.stop_requested = False
        self.reload_requested = False
        self.scheduler = ClockScheduler(clock)
        self.cadences = Cadences(agent.store)
        self._reconcile_job: ClockJob | None = None
        self._last_ping = float("-inf")
        self.cycles = 0
        agent.gate.on_progress = self._progress

    # ---- signals --------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, _frame: types.FrameType | None) -> None:
        self.stop_requested = True

    def _on_hup(self, signum: int, _frame: types.FrameType | None) -> None:
        self.reload_requested = True

    # ---- jobs -----------------------------------------------------------------------------------

    def schedule_jobs(self) -> None:
        """(Re)build every cadence from the current config; each job runs once at the first loop."""
        cfg = self.agent.config
        self.scheduler.clear()
        local, vast = self._guarded, self._submit  # vast: on the worker thread while `run` runs one
        jobs: list[tuple[float, Callable[[Callable[[], None]], None], Callable[[], None]]] = [
            (cfg.agent.tick_s, local, self.telemetry),
            (cfg.agent.reconcile_s, vast, self.reconcile),
            (STORE_MAINTAIN_S, local, self.maintain_store),
        ]
        slow = self._slow_jobs()  # name, interval, job: their last run is kept in the state store
        jobs += [(every_s, vast, fn) for _, every_s, fn in slow]
        remaining = {fn: self.cadences.remaining_or_now(name, every_s, self.clock.now()) for name, every_s, fn in slow}
        for interval_s, runner, fn in jobs:
            job = self.scheduler.every(interval_s).seconds.do(runner, fn)
            job.due_in(remaining.get(fn, 0.0))  # the slow jobs go on from their last run, in any process
            if fn == self.reconcile:
                self._reconcile_job = job

    def _slow_jobs(self) -> list[tuple[str, float, Callable[[], None]]]:
        cfg, clock = self.agent.config, self.clock
        wanted = [("market", cfg.pricing.market.enabled, cfg.pricing.market.refresh_s, self.market),
                  ("cleanup", cfg.cleanup.enabled, cfg.cleanup.every_h * 3600.0, self.cleanup),
                  ("earnings", cfg.earnings.enabled, cfg.earnings.every_h * 3600.0, self.earnings)]
        return [(name, every_s, self.cadences.job(name, every_s, clock, fn)) for name, on, every_s, fn in wanted if on]

    def _guarded(self, fn: Callable[[], None]) -> None:
        """One job; a stop request skips it, and no failure of one job stops the loop."""
        if self.stop_requested:
            return
        try:
            fn()
        except (HostagentError, OSError) as exc:
            log.error("job_failed", job=fn.__name__, error=str(exc), error_kind=type(exc).__name__)
        self._progress()

    def _submit(self, fn: Callable[[], None]) -> None:
        """A Vast-facing job: to the worker while `run` runs one; at once otherwise (simulations)."""
        if self._worker is not None and self._worker.accepting:
            self._worker.submit(fn)
        else:
            self._guarded(fn)

    def _progress(self) -> None:
        """A job or a Vast call finished: progress of the worker on its thread, a watchdog ping elsewhere."""
        if self._worker is not None and self._worker.is_worker_thread():
            self._worker.progress()
        else:
            self.ping()

    def telemetry(self) -> None:
        now = self.clock.now()
        with self.agent.lock:
            turned_bad = self.agent.telemetry(now)
            reasons = self.agent.health.reasons if self.agent.health else ()
        if turned_bad and self._reconcile_job is not None:
            log.warning("health_turned_bad", reasons=reasons)
            self._reconcile_job.due_now()  # handed to the worker at the next loop turn, queued if it is busy

    def reconcile(self) -> None:
        outcome = self.agent.reconcile(self.clock.now())
        with self.agent.lock:
            self._status_line()
        if outcome is not None and (outcome.sent or outcome.failed):
            log.info("reconciled", sent=len(outcome.sent), failed=len(outcome.failed), skipped=len(outcome.skipped))

    def market(self) -> bool:
        now = self.clock.now()
        self.agent.refresh_market(now)
        return self.agent.market_sample is not None and self.agent.market_sample.taken_at == now

    def cleanup(self) -> bool:
        deleted = self.agent.cleanup(self.clock.now())
        log.info("cleanup_done", deleted_contracts=deleted)
        return deleted is not None

    def maintain_store(self) -> None:
        agent_cfg = self.agent.config.agent
        try:
            self.agent.store.maintain(
                self.clock.now(),
                raw_retention_h=agent_cfg.telemetry_retention_raw_h,
                agg_retention_days=agent_cfg.telemetry_retention_agg_days,
            )
        except StateError as exc:
            log.error("store_maintain_failed", error=str(exc))

    def earnings(self) -> bool:
        return self.agent.fetch_earnings(self.clock.now()) is not None

    # ---- the loop -------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One full cycle (telemetry, market, reconcile with maintenance, cleanup, earnings), then exit."""
        slow = {name: fn for name, _, fn in self._slow_jobs()}  # each only when due (cron: every few minutes)
        steps: list[Callable[[], None]] = [self.telemetry]
        steps += [slow[name] for name in ("market",) if name in slow]
        steps.append(self.reconcile)
        steps += [slow[name] for name in ("cleanup", "earnings") if name in slow]
        steps.append(self.maintain_store)
        for step in steps:
            self._guarded(step)  # on this thread, in this order: no worker for --once
        return 0

    def run(self, *, max_cycles: int | None = None) -> int:
        """Until SIGTERM (or `max_cycles` loop turns, for tests). Returns the exit code (0)."""
        worker = self._worker = VastWorker(self._guarded, self.clock)
        worker.start()
        try:
            self.schedule_jobs()
            self.notifier.ready(f"started in {self.agent.config.agent.mode} mode")
            log.info("agent_started", mode=self.agent.config.agent.mode,
                     state_dir=str(self.agent.config.agent.state_dir))
            turns = 0
            while not self.stop_requested and (max_cycles is None or turns < max_cycles):
                turns += 1
                if worker.failure is not None:
                    raise worker.failure
                if self.reload_requested:
                    self.reload()
                self.scheduler.run_pending()
                self.cycles += 1
                self.ping()
                if self._simulated_time:
                    worker.wait_idle()
                idle_s = self.scheduler.idle_seconds
                if not self.stop_requested and idle_s is not None and idle_s > 0:
                    self.clock.sleep(min(idle_s, self._max_sleep_s))
            self.notifier.stopping()
            log.info("agent_stopping", cycles=self.cycles, vast_job_in_flight=worker.current)
        finally:
            if not worker.stop(self._stop_timeout_s):
                log.warning("vast_worker_abandoned", job=worker.current, waited_s=self._stop_timeout_s)
        return 0

    def join_worker(self, timeout_s: float) -> bool:
        """Wait for the last run's Vast worker to end (an abandoned one finishes its call); True if it has."""
        return self._worker is None or self._worker.join(timeout_s)

    def reload(self) -> None:
        """SIGHUP: a valid new config replaces the old one; an invalid one is logged and the old one kept."""
        self.reload_requested = False
        if self._reload_config is None:
            return
        self.notifier.reloading()
        try:
            config = self._reload_config()
        except ConfigError as exc:
            log.error("config_reload_rejected", problems=exc.problems, kept="the previous config")
            self.notifier.ready("config reload rejected: kept the previous config")
            return
        self.agent.set_config(config)
        self.schedule_jobs()
        log.info("config_reloaded", source=str(config.source))
        self.notifier.ready(f"config reloaded; {config.agent.mode} mode")

    def ping(self) -> None:
        """WATCHDOG=1, at most every quarter of the watchdog interval (only the main thread calls this),
        and never while the Vast worker is stuck: systemd then restarts us, as it would a stuck loop."""
        if self.watchdog_s is None or self._worker_stuck(self.watchdog_s):
            return
        now = self.clock.monotonic()
        if now - self._last_ping >= self.watchdog_s / 4:
            self._last_ping = now
            self.notifier.watchdog()

    def _worker_stuck(self, limit_s: float) -> bool:
        """Busy without progress for longer than `limit_s`: past every Vast call's deadline, so hung."""
        worker = self._worker
        if worker is None or (not worker.accepting and worker.failure is None):
            return False
        stalled_s = worker.stalled_s()
        if stalled_s <= limit_s:
            self._stuck_logged = False
            return False
        if not self._stuck_logged:
            self._stuck_logged = True
            log.error("vast_worker_stuck", job=worker.current, stalled_s=round(stalled_s, 1), watchdog_s=limit_s)
        return True

    def _status_line(self) -> None:
        self.notifier.status(status_text(self.agent, self.clock.now()))


def status_text(agent: Agent, now: datetime) -> str:
    """One line for `systemctl status`: listing, price, health, API state."""
    machine, plan = agent.machine, agent.plan
    parts: list[str] = [agent.config.agent.mode]
    if machine is None:
        parts.append(agent.problem or "Vast not read yet")
    else:
        listing = f"listed at {machine.listed_gpu_cost} $/GPU/h" if machine.listed else "unlisted"
        parts.append(f"machine {machine.id} {listing}")
        if plan is not None and plan.desired.price_usd_per_gpu_hour is not None:
            parts.append(f"target {plan.desired.price_usd_per_gpu_hour:.3f}")
    if agent.health is not None:
        parts.append("healthy" if agent.health.ok else "UNHEALTHY: " + "; ".join(agent.health.reasons[:2]))
    blocked = agent.gate.blocked(now)
    if blocked:
        parts.append(blocked)
    return ", ".join(parts)


def reloader(path: str | None, environ: Mapping[str, str]) -> Callable[[], Config]:
    return lambda: load_config(path, environ=environ)
