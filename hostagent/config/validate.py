"""What makes a config value sensible: per-field checks and checks across the fields of one table.

`FIELD_CHECKS` maps (dataclass, field) to a check of the converted value; `OBJECT_CHECKS` maps a dataclass
to a check of the whole object (run only when each of its fields converted). Each check returns the
problem in words, never raises.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Any

from hostagent.config.convert import FieldCheck, ObjectCheck, suggest
from hostagent.config.model import (
    MAINT_CATEGORIES,
    AgentConfig,
    CleanupConfig,
    Config,
    DecayStep,
    DefaultJobConfig,
    EarningsConfig,
    GuardConfig,
    HardwareConfig,
    HealthConfig,
    IdleDecayConfig,
    ListingConfig,
    MachineConfig,
    MaintenanceConfig,
    MaintenanceWindow,
    MarketConfig,
    MetricsConfig,
    MinBidConfig,
    NotifyConfig,
    NotifyDestination,
    PriceBounds,
    PricingConfig,
    ScheduleRule,
    VastConfig,
)
from hostagent.config.network import api_url_problem
from hostagent.config.notify_checks import destination_name, event_kinds, quiet_hours

# Above this a $/GPU/h price is a typo (an H100 rents for about $2): refuse it rather than list it.
MAX_PRICE_USD_PER_GPU_HOUR = 100.0
MAX_TRANSFER_USD_PER_GB = 10.0
MAX_TARIFF_USD_PER_KWH = 5.0


@dataclass(frozen=True)
class Between:
    """A range check; open ends exclude the bound. `str()` gives the range as docs/configuration.md shows it."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __call__(self, value: Any) -> str | None:
        low, high = self.low, self.high
        if (value <= low if self.low_open else value < low) or (value >= high if self.high_open else value > high):
            return f"must be in {self}, got {value:g}"
        return None

    def __str__(self) -> str:
        left, right = ("(" if self.low_open else "["), (")" if self.high_open else "]")
        return f"{left}{self.low:g}, {self.high:g}{right}"


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> FieldCheck:
    return Between(low, high, low_open=low_open, high_open=high_open)


def positive(value: Any) -> str | None:
    return None if value > 0 else f"must be > 0, got {value:g}"


def not_negative(value: Any) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {value:g}"


@dataclass(frozen=True)
class AtLeast:
    low: int

    def __call__(self, value: Any) -> str | None:
        return None if value >= self.low else f"must be >= {self.low}, got {value}"

    def __str__(self) -> str:
        return f">= {self.low}"


def at_least(low: int) -> FieldCheck:
    return AtLeast(low)


def price(value: Any) -> str | None:
    """A $/GPU/h price: positive and not absurd."""
    if value <= 0:
        return f"must be > 0, got {value:g}"
    if value > MAX_PRICE_USD_PER_GPU_HOUR:
        return f"${value:g}/GPU/h is above ${MAX_PRICE_USD_PER_GPU_HOUR:g}/GPU/h: surely a typo"
    return None


def transfer_price(value: Any) -> str | None:
    return between(0, MAX_TRANSFER_USD_PER_GB)(value)


def non_empty(value: Any) -> str | None:
    return None if value.strip() else "must not be empty"


@cache
def _known_zones() -> frozenset[str]:
    try:
        return frozenset(zoneinfo.available_timezones())
    except (OSError, ValueError):  # no tz database listing: fall back to loading each zone
        return frozenset()


def timezone_name(value: Any) -> str | None:
    """An IANA zone name that this host's tz database (or the tzdata package) knows."""
    if value in _known_zones():
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = suggest(str(value), sorted(_known_zones()))
        return f'unknown time zone {json.dumps(value)}{hint}: use an IANA name such as "Europe/Berlin" or "UTC"'
    return None


def host_port(value: Any) -> str | None:
    """'host:port' with a port 1..65535; an IPv6 host goes in brackets ('[::1]:9473')."""
    host, sep, port = str(value).rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f'expected "host:port" such as "127.0.0.1:9473", got {json.dumps(value)}'
    return None


def maint_category(value: Any) -> str | None:
    if value in MAINT_CATEGORIES:
        return None
    return "must be one of " + ", ".join(f'"{c}"' for c in MAINT_CATEGORIES) + f", got {json.dumps(value)}"


FIELD_CHECKS: dict[tuple[type, str], FieldCheck] = {
    (VastConfig, "api_url"): api_url_problem,  # http:// only to loopback: the key is sent in every request
    (VastConfig, "connect_timeout_s"): positive,
    (VastConfig, "read_timeout_s"): positive,
    (VastConfig, "max_attempts"): between(1, 20),
    (VastConfig, "max_retry_time_s"): positive,
    (VastConfig, "retry_after_cap_s"): not_negative,
    (VastConfig, "write_grace_s"): between(1, 86400),
    (VastConfig, "signals_every_s"): between(60, 86400),  # reports: 1.2 s apart at most per Vast; once a minute
    (VastConfig, "offline_after_s"): between(0, 86400),
    (MachineConfig, "id"): at_least(1),
    (MachineConfig, "hostname"): non_empty,
    (HardwareConfig, "nvml_deadline_s"): positive,
    (HardwareConfig, "slow_counters_s"): not_negative,
    (HardwareConfig, "medium_counters_s"): positive,
    (AgentConfig, "tick_s"): positive,
    (AgentConfig, "reconcile_s"): positive,
    (AgentConfig, "telemetry_retention_raw_h"): positive,
    (AgentConfig, "telemetry_retention_agg_days"): positive,
    (ScheduleRule, "name"): non_empty,
    (ScheduleRule, "days"): lambda days: None if days else "must name at least one day",
    (ScheduleRule, "multiplier"): between(0, 10, low_open=True),
    (ScheduleRule, "price_usd_per_gpu_hour"): price,
    (MarketConfig, "percentile"): between(0, 100),
    (MarketConfig, "offset_usd_per_gpu_hour"): between(-MAX_PRICE_USD_PER_GPU_HOUR, MAX_PRICE_USD_PER_GPU_HOUR),
    (MarketConfig, "min_peers"): at_least(1),
    (MarketConfig, "max_age_s"): positive,
    (MarketConfig, "search_limit"): between(1, 10000),
    (MarketConfig, "refresh_s"): positive,
    (MarketConfig, "outlier_iqr_k"): positive,
    (MarketConfig, "demand_adjust_pct"): between(0, 50),
    (MarketConfig, "demand_pivot_pct"): between(0, 100, low_open=True, high_open=True),
    (DecayStep, "after_h"): not_negative,
    (DecayStep, "cut_pct"): between(0, 100, low_open=True, high_open=True),
    (MinBidConfig, "usd_per_gpu_hour"): price,
    (MinBidConfig, "tariff_usd_per_kwh"): between(0, MAX_TARIFF_USD_PER_KWH, low_open=True),
    (MinBidConfig, "margin"): between(0, 10, low_open=True),
    (MinBidConfig, "fallback_power_w"): between(0, 2000, low_open=True),
    (MinBidConfig, "floor_usd_per_gpu_hour"): price,
    (MinBidConfig, "ceiling_usd_per_gpu_hour"): price,
    (PriceBounds, "floor_usd_per_gpu_hour"): price,
    (PriceBounds, "ceiling_usd_per_gpu_hour"): price,
    (GuardConfig, "floor_usd_per_gpu_hour"): price,
    (GuardConfig, "ceiling_usd_per_gpu_hour"): price,
    (GuardConfig, "max_change_pct"): between(0, 100, low_open=True),
    (GuardConfig, "min_change_usd"): between(0, 1),
    (PricingConfig, "default_usd_per_gpu_hour"): price,
    (PricingConfig, "storage_usd_per_gb_month"): between(0, 10),
    (PricingConfig, "upload_usd_per_gb"): transfer_price,
    (PricingConfig, "download_usd_per_gb"): transfer_price,
    (PricingConfig, "min_chunk"): at_least(1),
    (PricingConfig, "credit_discount_max"): between(0, 1),
    (PricingConfig, "timezone"): timezone_name,
    (ListingConfig, "duration_days"): between(1, 365),
    (ListingConfig, "volume_size_gb"): not_negative,
    (ListingConfig, "volume_usd_per_gb_month"): between(0, 10),
    (HealthConfig, "expected_gpu_count"): at_least(1),
    (HealthConfig, "max_temperature_c"): between(0, 120, low_open=True),
    (HealthConfig, "temperature_hysteresis_c"): between(0, 50),
    (HealthConfig, "hot_for_s"): not_negative,
    (HealthConfig, "min_free_disk_gb"): not_negative,
    (HealthConfig, "stale_after_s"): positive,
    (HealthConfig, "relist_cooldown_s"): not_negative,
    (MaintenanceWindow, "name"): non_empty,
    (MaintenanceWindow, "duration_h"): between(0, 24 * 31, low_open=True),
    (MaintenanceWindow, "category"): maint_category,
    (MaintenanceWindow, "timezone"): timezone_name,
    (MaintenanceWindow, "nth"): lambda n: None if n in (1, 2, 3, 4, -1) else f"must be 1..4 or -1 (last), got {n}",
    # Vast takes a maintenance notice at most a year ahead.
    (MaintenanceConfig, "lead_time_h"): between(0, 24 * 365),
    (MaintenanceConfig, "unlist_before_h"): between(0, 24 * 365),
    (DefaultJobConfig, "image"): non_empty,
    (DefaultJobConfig, "price_usd_per_gpu_hour"): price,
    (DefaultJobConfig, "upload_usd_per_gb"): transfer_price,
    (DefaultJobConfig, "download_usd_per_gb"): transfer_price,
    (CleanupConfig, "every_h"): positive,
    (EarningsConfig, "every_h"): positive,
    (EarningsConfig, "days_back"): between(1, 366),
    (MetricsConfig, "address"): host_port,
    (NotifyDestination, "name"): destination_name,
    (NotifyDestination, "events"): event_kinds,
    (NotifyConfig, "dedup_window_s"): between(0, 7 * 86400),
    (NotifyConfig, "max_per_hour"): between(1, 3600),
    (NotifyConfig, "quiet_hours"): quiet_hours,
    (NotifyConfig, "quiet_timezone"): timezone_name,
    (NotifyConfig, "timeout_s"): between(0.1, 60),
    (NotifyConfig, "max_retry_age_s"): between(60, 7 * 86400),
    (NotifyConfig, "queue_size"): between(10, 100000),
}

# Checks of each entry of an array or of a name -> value table, reported at the entry's own path.
ITEM_CHECKS: dict[tuple[type, str], FieldCheck] = {
    (PricingConfig, "models"): price,
    (HealthConfig, "critical_xids"): positive,
}

Problems = list[tuple[str, str]]  # (key under the checked table, or "" for the table itself; what is wrong)


def _bounds(obj: PriceBounds | GuardConfig | MinBidConfig) -> Problems:
    if obj.floor_usd_per_gpu_hour > obj.ceiling_usd_per_gpu_hour:
        return [("ceiling_usd_per_gpu_hour", f"must be >= floor_usd_per_gpu_hour ({obj.floor_usd_per_gpu_hour:g})")]
    return []


def _rule(rule: ScheduleRule) -> Problems:
    if (rule.multiplier is None) == (rule.price_usd_per_gpu_hour is None):
        return [("", "set exactly one of multiplier or price_usd_per_gpu_hour")]
    return []


def _idle_decay(cfg: IdleDecayConfig) -> Problems:
    problems: Problems = []
    for i in range(1, len(cfg.steps)):
        if cfg.steps[i].after_h <= cfg.steps[i - 1].after_h:
            before = cfg.steps[i - 1].after_h
            problems.append((f"steps[{i}].after_h", f"must be later than the step before it ({before:g} h)"))
    return problems


def _duplicates(names: list[str], what: str) -> Problems:
    seen: set[str] = set()
    problems: Problems = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append((f"{what}[{i}].name", f'"{name}" is used twice: names must be unique'))
        seen.add(name)
    return problems


def _pricing(cfg: PricingConfig) -> Problems:
    problems = _duplicates([r.name for r in cfg.rules], "rules")
    bid = cfg.min_bid.usd_per_gpu_hour
    if cfg.min_bid.mode == "fixed" and bid is not None:
        # The guard never publishes below the min bid nor above a ceiling: both cannot hold.
        ceilings = [("guard.ceiling_usd_per_gpu_hour", cfg.guard.ceiling_usd_per_gpu_hour)]
        ceilings += [(f'guard.models."{n}"', b.ceiling_usd_per_gpu_hour) for n, b in cfg.guard.models]
        before = len(problems)
        for where, ceiling in ceilings:
            if bid > ceiling:
                problems.append(("min_bid.usd_per_gpu_hour", f"{bid:g} is above {where} ceiling ({ceiling:g})"))
        own = cfg.min_bid
        if len(problems) == before and not own.floor_usd_per_gpu_hour <= bid <= own.ceiling_usd_per_gpu_hour:
            problems.append(("min_bid.usd_per_gpu_hour", f"{bid:g} is outside the min bid's own bounds "
                             f"[{own.floor_usd_per_gpu_hour:g}, {own.ceiling_usd_per_gpu_hour:g}]"))
    return problems


def _vast(cfg: VastConfig) -> Problems:
    longest_s = cfg.connect_timeout_s + cfg.read_timeout_s + cfg.max_retry_time_s
    if cfg.write_grace_s <= longest_s:
        return [("write_grace_s", f"must be longer than the longest request can take: connect_timeout_s + "
                 f"read_timeout_s + max_retry_time_s = {longest_s:g} s")]
    return []


def _hardware(cfg: HardwareConfig) -> Problems:
    if cfg.backend == "fake" and cfg.fake_file is None:
        return [("fake_file", 'required when backend = "fake" (a TOML or JSON file describing the fake GPUs)')]
    return []


def _agent(cfg: AgentConfig) -> Problems:
    if cfg.reconcile_s < cfg.tick_s:
        return [("reconcile_s", f"must be >= tick_s ({cfg.tick_s:g}): a reconcile follows a reading")]
    return []


def _window(win: MaintenanceWindow) -> Problems:
    if (win.start is None) == (win.recur is None):
        return [("", "set exactly one of start (a one-off window) or recur (daily, weekly or monthly)")]
    problems: Problems = []
    if win.recur in ("weekly", "monthly") and win.weekday is None:
        problems.append(("weekday", f'required when recur = "{win.recur}"'))
    if win.recur == "monthly" and win.nth is None:
        problems.append(("nth", 'required when recur = "monthly" (1..4, or -1 for the last)'))
    if win.recur in (None, "daily") and win.weekday is not None:
        problems.append(("weekday", "only used with recur = weekly or monthly"))
    if win.recur != "monthly" and win.nth is not None:
        problems.append(("nth", "only used with recur = monthly"))
    return problems


def _config(cfg: Config) -> Problems:
    if cfg.health.stale_after_s <= cfg.agent.tick_s:
        return [("health.stale_after_s", f"must be > agent.tick_s ({cfg.agent.tick_s:g}): readings come every tick")]
    return []


def _maintenance(cfg: MaintenanceConfig) -> Problems:
    return _duplicates([w.name for w in cfg.windows], "windows")


def _notify(cfg: NotifyConfig) -> Problems:
    return _duplicates([d.name for d in cfg.destinations], "destinations")


OBJECT_CHECKS: dict[type, ObjectCheck] = {
    VastConfig: _vast,
    PriceBounds: _bounds,
    MinBidConfig: _bounds,
    GuardConfig: _bounds,
    ScheduleRule: _rule,
    IdleDecayConfig: _idle_decay,
    PricingConfig: _pricing,
    HardwareConfig: _hardware,
    AgentConfig: _agent,
    MaintenanceWindow: _window,
    MaintenanceConfig: _maintenance,
    NotifyConfig: _notify,
    Config: _config,
}
