"""The agent's slower cadences beside the reconcile: the market sample and the earnings fetch.

`refresh_market` reads the peers' offers (or Vast's metrics) the price rules compare against; a failed
read keeps the last sample. `fetch_earnings` stores Vast's earnings, feeds the metrics and sends the opt-in
daily earnings line. Both hold `self.lock` like every step of `Agent` (hostagent.service.agent), which they
are part of; `cleanup` stays there, being one reconcile with one extra action.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from hostagent.config.model import MarketConfig
from hostagent.core.model import MachineState, MarketSample
from hostagent.errors import StateError, VastError
from hostagent.service import agent_events
from hostagent.service import earnings as earnings_mod
from hostagent.service.agent_parts import AgentParts
from hostagent.service.apigate import ApiDeferred
from hostagent.service.market_metrics import fetch_metrics_sample
from hostagent.service.sharedlock import holding_lock
from hostagent.vast.client import peer_query

log = structlog.get_logger(__name__)


class PeriodicSteps(AgentParts):
    # ---- market -------------------------------------------------------------------------------

    @holding_lock
    def refresh_market(self, now: datetime) -> None:
        cfg = self.config.pricing.market
        machine = self.machine
        if not cfg.enabled or machine is None:
            return
        sample = self._read_market(cfg, machine, now)
        if sample is not None:  # a failed read keeps the last sample
            self.market_sample = sample

    def _fresh_market(self, now: datetime) -> MarketSample | None:
        if not self.config.pricing.market.enabled:
            return None
        if self.market_sample is None:
            self.refresh_market(now)
        return self.market_sample

    def _read_market(self, cfg: MarketConfig, machine: MachineState, now: datetime) -> MarketSample | None:
        """A fresh sample from `cfg`'s source, or None (logged) when it could not be read."""
        if cfg.source == "metrics":
            try:
                return fetch_metrics_sample(self.market, self.gate, machine, cfg, now)
            except (VastError, ApiDeferred) as exc:
                log.warning("market_refresh_failed", source="metrics", error=str(exc))
            return None
        owner = self._owner_id(now)
        query = peer_query(
            machine.gpu_name, machine.num_gpus, cfg.search_limit, machine.id, verified_only=cfg.verified_only,
            exclude_host_id=owner,
        )
        try:
            offers = self.gate.call("search_offers", now, lambda: self.market.search_offers(query))
        except (VastError, ApiDeferred) as exc:
            log.warning("market_refresh_failed", error=str(exc))
            return None
        sample = MarketSample(tuple(offers), now, hit_limit=len(offers) >= cfg.search_limit, own_host_id=owner)
        log.info("market_refreshed", offers=len(offers), hit_limit=sample.hit_limit)
        return sample

    def _owner_id(self, now: datetime) -> int | None:
        """The account's id, read once: its other machines are not this machine's peers. None while unknown."""
        if self.owner_id is None:
            try:
                self.owner_id = self.gate.call("show_user", now, self.market.account_id)
            except (VastError, ApiDeferred) as exc:  # the market still works, with only this machine left out
                log.warning("owner_id_unknown", error=str(exc))
        return self.owner_id

    # ---- earnings -----------------------------------------------------------------------------

    @holding_lock
    def fetch_earnings(self, now: datetime) -> earnings_mod.EarningsSummary | None:
        if not self.config.earnings.enabled or self.machine_id is None:
            return None
        try:
            summary = earnings_mod.fetch_and_store(
                self.market, self.store, self.gate,
                machine_id=self.machine_id, now=now, days_back=self.config.earnings.days_back,
            )
        except (VastError, ApiDeferred, StateError) as exc:
            log.warning("earnings_fetch_failed", error=str(exc))
            return None
        if self.metrics is not None:
            self.metrics.observe_earnings(summary.today_usd, summary.last_7d_usd, summary.last_30d_usd)
        self._daily_earnings_line(summary, now)
        return summary

    def _daily_earnings_line(self, summary: earnings_mod.EarningsSummary, now: datetime) -> None:
        """The opt-in earnings line: at the first fetch of each UTC day, once (the day is kept across restarts)."""
        if not self.config.notify.daily_earnings or self.machine_id is None or self.read_only:
            return
        if agent_events.claim_earnings_day(self.store, now):
            self.events.emit(agent_events.earnings_line(summary, now, self.machine_id))
