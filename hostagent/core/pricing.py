"""The on-demand price and min bid, composed in a fixed order; every step leaves a named Reason.

Order (docs/deciding.md explains each with a worked example):
    base -> schedule -> market -> idle_decay -> guard rails (floor/ceiling, max change, min bid, min change)
The min bid is computed beside the price (fixed, or from measured power; its own bounds; Vast's cap) and then
kept at or below the published price.
Pure: `now` and every memory come in as parameters.

Numbers from outside (peer offers, remembered prices, measured power) are checked where they are used:
a non-finite step result is refused (the price before the step stands, and a reason says so), and
`clamp` raises rather than pass NaN on, so no path can publish `nan` or `inf`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from hostagent.config.model import WEEKDAYS, IdleDecayConfig, MarketConfig, PricingConfig, ScheduleRule
from hostagent.core.guard import clamp, guard_rails, min_bid_price, usd
from hostagent.core.market import drop_outliers, impossible_offers, lowest_price_per_machine, peer_notes, percentile
from hostagent.core.market_metrics import metrics_market_price
from hostagent.core.model import History, MachineState, MarketSample, Reason

__all__ = ["PriceDecision", "clamp", "price", "usd"]  # clamp and usd live in guard.py; callers import them here


@dataclass(frozen=True, slots=True)
class PriceDecision:
    price_usd_per_gpu_hour: float  # after the guard rails: what may be published
    target_usd_per_gpu_hour: float  # before the guard rails
    min_bid_usd_per_gpu_hour: float | None  # None: leave Vast's min bid alone
    reasons: tuple[Reason, ...]
    rule: str = "base"  # the step that set the price last: what `status` names as "the rule that set it"


# ---- schedule -------------------------------------------------------------------------------


def rule_matches(rule: ScheduleRule, local: datetime) -> bool:
    """Does `rule` cover the local wall time? `days` name the day a window starts on.

    start == end means the whole day; end < start wraps past midnight, so a Friday 22:00-06:00 rule
    also covers Saturday 03:00.
    """
    clock: time = local.time()
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if rule.start == rule.end:
        return today in rule.days
    if rule.start < rule.end:
        return today in rule.days and rule.start <= clock < rule.end
    return (today in rule.days and clock >= rule.start) or (yesterday in rule.days and clock < rule.end)


def schedule_price(cfg: PricingConfig, base: float, now: datetime) -> tuple[float, Reason]:
    """The last matching rule wins (later rules are the more specific overrides, as in a firewall list read upward)."""
    local = now.astimezone(ZoneInfo(cfg.timezone))
    fired = [rule for rule in cfg.rules if rule_matches(rule, local)]
    stamp = f"{local:%a %H:%M} {cfg.timezone}"
    if not fired:
        return base, Reason("schedule", f"no rule matches {stamp}: {usd(base)}")
    rule = fired[-1]
    if rule.price_usd_per_gpu_hour is not None:
        return rule.price_usd_per_gpu_hour, Reason(
            "schedule", f"rule '{rule.name}' matches {stamp}: absolute {usd(rule.price_usd_per_gpu_hour)}"
        )
    multiplier = 1.0 if rule.multiplier is None else rule.multiplier
    price = base * multiplier
    return price, Reason("schedule", f"rule '{rule.name}' matches {stamp}: {usd(base)} x {multiplier:g} = {usd(price)}")


# ---- market ---------------------------------------------------------------------------------


def market_price(
    cfg: MarketConfig, machine: MachineState, sample: MarketSample | None, now: datetime, current: float
) -> tuple[float, Reason]:
    """When it applies, the market target REPLACES the scheduled price; when it is skipped, the price stays."""
    if not cfg.enabled:
        return current, Reason("market", "off")
    keep = f"keeping {usd(current)}"
    if sample is None:
        return current, Reason("market", f"skipped: no market sample yet; {keep}")
    age_s = (now - sample.taken_at).total_seconds()
    if age_s > cfg.max_age_s:
        return current, Reason("market", f"skipped: sample is {age_s:.0f} s old (max_age_s {cfg.max_age_s:g}); {keep}")
    if sample.hit_limit or len(sample.offers) >= cfg.search_limit:
        return current, Reason(
            "market", f"skipped: the search hit its limit ({len(sample.offers)} offers), peers may be missing; {keep}"
        )
    prices = lowest_price_per_machine(
        sample.offers, machine.gpu_name, machine.num_gpus, machine.id, cfg.verified_only,
        own_host_id=sample.own_host_id,
    )
    impossible = impossible_offers(sample.offers)  # NaN, <= 0 or absurd: no peer asks that, so none counts
    dropped = f"{impossible} offers with impossible prices dropped; " if impossible else ""
    peers = drop_outliers(prices, cfg.outlier_iqr_k)
    if len(peers.prices) < cfg.min_peers:
        return current, Reason(
            "market", f"skipped: {dropped}{len(peers.prices)} peers{peer_notes(sample, machine)}, "
            f"fewer than min_peers {cfg.min_peers}; {keep}"
        )
    point = percentile(peers.prices, cfg.percentile)
    target = point + cfg.offset_usd_per_gpu_hour
    return target, Reason(
        "market",
        f"{dropped}{len(peers.prices)} peers ({machine.gpu_name} x{machine.num_gpus}, "
        f"{peers.outliers_dropped} outliers dropped{peer_notes(sample, machine)}): p{cfg.percentile:g} {usd(point)} "
        f"+ offset {usd(cfg.offset_usd_per_gpu_hour)} = {usd(target)} "
        f"replaces {usd(current)}",
    )


# ---- idle decay -----------------------------------------------------------------------------


def idle_decay_price(
    cfg: IdleDecayConfig, machine: MachineState, history: History, now: datetime, current: float
) -> tuple[float, Reason]:
    """Step the price down while unrented: anchor x (1 - cut/100) of the deepest step reached; never raises it.

    Idle time runs from the last tick a rental was seen (never rented: from the agent's first sight of
    the machine); the anchor is the last price that got rented, else the price before this step.
    """
    if not cfg.enabled:
        return current, Reason("idle_decay", "off")
    if machine.current_rentals_running > 0:
        return current, Reason("idle_decay", f"rented now ({machine.current_rentals_running} running): no cut")
    idle_since = history.last_rented_at or history.first_seen_at
    if idle_since is None:
        return current, Reason("idle_decay", "idle time unknown yet: no cut")
    if idle_since > now:  # the wall clock went back (fault 19): no idle time can be measured yet
        return current, Reason("idle_decay", f"idle since {idle_since:%Y-%m-%d %H:%M} UTC, after now: no cut")
    idle_h = (now - idle_since).total_seconds() / 3600.0
    reached = [step for step in sorted(cfg.steps, key=lambda s: s.after_h) if step.after_h <= idle_h]
    if not reached:
        return current, Reason("idle_decay", f"unrented {idle_h:.1f} h, below the first step: no cut")
    step = reached[-1]
    rented = history.last_rented_price_usd_per_gpu_hour
    anchor = rented if rented is not None else current
    decayed = anchor * (1.0 - step.cut_pct / 100.0)
    what = "last rented price" if rented is not None else "price before decay"
    price = min(current, decayed)
    return price, Reason(
        "idle_decay",
        f"unrented {idle_h:.1f} h (step after {step.after_h:g} h): {usd(anchor)} ({what}) - {step.cut_pct:g}% "
        f"= {usd(decayed)}; price {usd(price)}",
    )


def price(
    cfg: PricingConfig, machine: MachineState, sample: MarketSample | None, now: datetime, history: History,
    *, step_held: bool = False,
) -> PriceDecision:
    """Compose every step in the documented order and return the price, the target and the min bid.

    `step_held`: the price moved less than one reconcile ago (a restart or reload): no second step now.
    """
    base = cfg.base_for(machine.gpu_name)
    source = "pricing.models" if any(name == machine.gpu_name for name, _ in cfg.models) else "default"
    reasons = [Reason("base", f"{machine.gpu_name}: {usd(base)} ({source})")]
    scheduled, why = _finite(schedule_price(cfg, base, now), base)
    reasons.append(why)
    step = metrics_market_price if cfg.market.enabled and cfg.market.source == "metrics" else market_price
    relative, why = _finite(step(cfg.market, machine, sample, now, scheduled), scheduled)
    reasons.append(why)
    target, why = _finite(idle_decay_price(cfg.idle_decay, machine, history, now, relative), relative)
    reasons.append(why)
    bid, bid_reasons = min_bid_price(cfg.min_bid, history)
    reasons.extend(bid_reasons)
    final, guards = guard_rails(cfg.guard, machine, history, target, bid, step_held=step_held)
    reasons.extend(guards)
    if bid is not None and bid > final:
        # The guard raises the price toward the bid by at most max_change_pct; meanwhile the bid follows the price.
        reasons.append(Reason("min_bid.price", f"{usd(bid)} lowered to the published price {usd(final)}: "
                              "a min bid is never above the on-demand price"))
        bid = final
    rule = _setting_step(base, ((reasons[1], scheduled), (reasons[2], relative), (reasons[3], target)), guards)
    return PriceDecision(final, target, bid, tuple(reasons), rule)


def _finite(result: tuple[float, Reason], before: float) -> tuple[float, Reason]:
    """A step whose result is not finite is refused: the price before it stands, and its reason says why."""
    value, why = result
    if math.isfinite(value):
        return value, why
    return before, Reason(why.step, f"refused a non-finite result ({value!r}); keeping {usd(before)} ({why.text})")


def _setting_step(base: float, steps: tuple[tuple[Reason, float], ...], guards: list[Reason]) -> str:
    """The last step that moved the price; a guard rail that acted (they leave a reason only then) wins."""
    rule, previous = "base", base
    for reason, value in steps:
        matched_rule = reason.step == "schedule" and reason.text.startswith("rule ")
        if matched_rule or abs(value - previous) > 1e-9:
            rule = reason.step
        previous = value
    acting = [r.step for r in guards if r.step != "guard"]
    return acting[-1] if acting else rule
