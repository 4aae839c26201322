"""`hostagent run`: the long-running service around the Agent.

A `ClockScheduler` (a `schedule.Scheduler` instance on the injected clock) drives telemetry every
`agent.tick_s`, plan + reconcile every `agent.reconcile_s`, the market refresh every
`pricing.market.refresh_s`, cleanup every `cleanup.every_h` and earnings every `earnings.every_h`.
Health that turns bad between reconciles makes the reconcile due at once (unlist without waiting).

Signals only set flags; the main loop acts on them between steps, so SIGTERM lets the call in flight
finish and then exits 0, and SIGHUP reloads the config (an invalid one is logged and the old one kept).
With NOTIFY_SOCKET set: READY=1 once config, key, state and handlers are in place, WATCHDOG=1 from the
main loop each time it makes progress (and after each Vast call, so a slow reconcile is not killed),
STATUS= lines a person can read.
"""

from __future__ import annotations

import signal
import types
from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from hostagent.agent import Agent
from hostagent.config.load import load_config
from hostagent.config.model import Config
from hostagent.errors import ConfigError, HostagentError, StateError
from hostagent.ports import Clock
from hostagent.scheduling import ClockJob, ClockScheduler
from hostagent.sdnotify import Notifier

log = structlog.get_logger(__name__)

MAX_SLEEP_S = 1.0  # the loop wakes at least this often to act on signals
STORE_MAINTAIN_S = 3600.0  # downsample raw telemetry hourly, so raw rows never pile up for a day


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
    ) -> None:
        self.agent = agent
        self.clock = clock
        self.notifier = notifier or Notifier(None)
        self.watchdog_s = watchdog_s
        self._reload_config = reload
        self._max_sleep_s = max_sleep_s
        self.stop_requested = False
        self.reload_requested = False
        self.scheduler = ClockScheduler(clock)
        self._reconcile_job: ClockJob | None = None
        self._last_ping = float("-inf")
        self.cycles = 0
        agent.gate.on_progress = self.ping

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
        jobs: list[tuple[float, Callable[[], None]]] = [
            (cfg.agent.tick_s, self.telemetry),
            (cfg.agent.reconcile_s, self.reconcile),
            (STORE_MAINTAIN_S, self.maintain_store),
        ]
        if cfg.pricing.market.enabled:
            jobs.append((cfg.pricing.market.refresh_s, self.market))
        if cfg.cleanup.enabled:
            jobs.append((cfg.cleanup.every_h * 3600.0, self.cleanup))
        if cfg.earnings.enabled:
            jobs.append((cfg.earnings.every_h * 3600.0, self.earnings))
        for interval_s, fn in jobs:
            job = self.scheduler.every(interval_s).seconds.do(self._guarded, fn)
            job.due_now()
            if fn == self.reconcile:
                self._reconcile_job = job

    def _guarded(self, fn: Callable[[], None]) -> None:
        """One job; a stop request skips it, and no failure of one job stops the loop."""
        if self.stop_requested:
            return
        try:
            fn()
        except (HostagentError, OSError) as exc:
            log.error("job_failed", job=fn.__name__, error=str(exc), error_kind=type(exc).__name__)
        self.ping()

    def telemetry(self) -> None:
        now = self.clock.now()
        if self.agent.telemetry(now) and self._reconcile_job is not None:
            log.warning("health_turned_bad", reasons=self.agent.health.reasons if self.agent.health else ())
            self._reconcile_job.due_now()

    def reconcile(self) -> None:
        outcome = self.agent.reconcile(self.clock.now())
        self._status_line()
        if outcome is not None and (outcome.sent or outcome.failed):
            log.info("reconciled", sent=len(outcome.sent), failed=len(outcome.failed), skipped=len(outcome.skipped))

    def market(self) -> None:
        self.agent.refresh_market(self.clock.now())

    def cleanup(self) -> None:
        deleted = self.agent.cleanup(self.clock.now())
        log.info("cleanup_done", deleted_contracts=deleted)

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

    def earnings(self) -> None:
        self.agent.fetch_earnings(self.clock.now())

    # ---- the loop -------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One full cycle (telemetry, market, reconcile with maintenance, cleanup, earnings), then exit."""
        steps: list[Callable[[], None]] = [self.telemetry]
        if self.agent.config.pricing.market.enabled:
            steps.append(self.market)
        steps += [self.reconcile, self.cleanup, self.earnings, self.maintain_store]
        for step in steps:
            self._guarded(step)
        return 0

    def run(self, *, max_cycles: int | None = None) -> int:
        """Until SIGTERM (or `max_cycles` loop turns, for tests). Returns the exit code (0)."""
        self.schedule_jobs()
        self.notifier.ready(f"started in {self.agent.config.agent.mode} mode")
        log.info("agent_started", mode=self.agent.config.agent.mode, state_dir=str(self.agent.config.agent.state_dir))
        turns = 0
        while not self.stop_requested and (max_cycles is None or turns < max_cycles):
            turns += 1
            if self.reload_requested:
                self.reload()
            self.scheduler.run_pending()
            self.cycles += 1
            self.ping()
            idle_s = self.scheduler.idle_seconds
            if not self.stop_requested and idle_s is not None and idle_s > 0:
                self.clock.sleep(min(idle_s, self._max_sleep_s))
        self.notifier.stopping()
        log.info("agent_stopping", cycles=self.cycles)
        return 0

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
        """WATCHDOG=1, at most every quarter of the watchdog interval (only the main thread calls this)."""
        if self.watchdog_s is None:
            return
        now = self.clock.monotonic()
        if now - self._last_ping >= self.watchdog_s / 4:
            self._last_ping = now
            self.notifier.watchdog()

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
