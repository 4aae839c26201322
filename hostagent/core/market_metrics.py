"""The market step from Vast's own market metrics (`[pricing.market] source = "metrics"`).

Vast publishes per GPU model what renters pay (P10/median/P90 of rented machines' prices, a time series) and
how much of the listed supply is rented (`usage`, %). The target is the chosen percentile of the latest
rented point, moved by demand, plus the configured offset:

    demand %  = demand_adjust_pct x clamp(share, -1, 1), share = (usage - pivot) / (100 - pivot) above the pivot,
                (usage - pivot) / pivot below it: +demand_adjust_pct at 100 % usage, 0 at the pivot,
                -demand_adjust_pct when nothing is rented
    target    = rented percentile x (1 + demand % / 100) + offset_usd_per_gpu_hour

Like the offers step, a target REPLACES the scheduled price and then passes the same guard rails; when the
metrics cannot be used (none yet, too old, no row or no rented price for our model) the price stays.
"""

from __future__ import annotations

from datetime import datetime, timezone

from hostagent.config.model import MarketConfig
from hostagent.core.guard import usd
from hostagent.core.market import possible_price
from hostagent.core.model import GpuPricePoint, MachineState, MarketSample, Reason


def demand_adjust_pct(cfg: MarketConfig, usage_pct: float) -> float:
    """The percent the rented price moves for `usage_pct` (see the module docstring); 0 when the knob is off."""
    if cfg.demand_adjust_pct <= 0:
        return 0.0
    pivot = cfg.demand_pivot_pct
    share = (usage_pct - pivot) / (100.0 - pivot) if usage_pct >= pivot else (usage_pct - pivot) / pivot
    return cfg.demand_adjust_pct * max(-1.0, min(1.0, share))


def _rented(point: GpuPricePoint, which: str) -> float | None:
    return {"p10": point.rented_p10, "median": point.rented_median, "p90": point.rented_p90}[which]


def metrics_market_price(
    cfg: MarketConfig, machine: MachineState, sample: MarketSample | None, now: datetime, current: float
) -> tuple[float, Reason]:
    keep = f"keeping {usd(current)}"

    def skip(why: str) -> tuple[float, Reason]:
        return current, Reason("market", f"Vast metrics: skipped: {why}; {keep}")

    if sample is None:
        return skip("no market metrics yet")
    age_s = (now - sample.taken_at).total_seconds()
    if age_s > cfg.max_age_s:
        return skip(f"metrics are {age_s:.0f} s old (max_age_s {cfg.max_age_s:g})")
    row = sample.metrics
    if row is None or row.gpu_name != machine.gpu_name:
        return skip(f"Vast's metrics have no {machine.gpu_name} row")
    label = cfg.metrics_percentile
    priced = [(p, _rented(p, label)) for p in sample.history]
    usable = [(p, v) for p, v in priced if v is not None and possible_price(v)]
    if not usable:
        return skip(f"no rented {label} price for {machine.gpu_name} in Vast's history")
    point, paid = usable[-1]  # the history is oldest first: the latest rented price
    point_age_s = now.timestamp() - point.at_epoch_s
    if point_age_s > cfg.max_age_s:
        return skip(f"the latest rented price is {point_age_s:.0f} s old (max_age_s {cfg.max_age_s:g})")
    demand = demand_adjust_pct(cfg, row.usage_pct)
    adjusted = paid * (1.0 + demand / 100.0)
    target = adjusted + cfg.offset_usd_per_gpu_hour
    at = datetime.fromtimestamp(point.at_epoch_s, tz=timezone.utc)
    return target, Reason(
        "market",
        f"Vast metrics, {machine.gpu_name} rented {label} {usd(paid)} ({at:%H:%M} UTC), usage {row.usage_pct:.0f} % "
        f"-> demand {demand:+.1f}% = {usd(adjusted)} + offset {usd(cfg.offset_usd_per_gpu_hour)} = {usd(target)} "
        f"replaces {usd(current)}",
    )
