"""The on-demand price and min bid, composed in a fixed order; every step leaves a named Reason.

Order (the README explains each with a worked example):
    base -> schedule -> market -> idle_decay -> guard rails (floor/ceiling, max change, min bid, min change)
The min bid is computed beside the price (fixed, or from measured power) and then kept at or below it.
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

from hostagent.config.model import (
    WEEKDAYS,
    GuardConfig,
    IdleDecayConfig,
    MarketConfig,
    MinBidConfig,
    PriceBounds,
    PricingConfig,
    ScheduleRule,
)
from hostagent.core.market import (
    drop_outliers,
    impossible_offers,
    lowest_price_per_machine,
    percentile,
    possible_price,
)
from hostagent.core.model import MAX_SANE_POWER_W, History, MachineState, MarketSample, Reason

PRICE_DECIMALS = 4  # published prices are rounded so journals and action keys stay readable and stable


@dataclass(frozen=True, slots=True)
class PriceDecision:
    price_usd_per_gpu_hour: float  # after the guard rails: what may be published
    target_usd_per_gpu_hour: float  # before the guard rails
    min_bid_usd_per_gpu_hour: float | None  # None: leave Vast's min bid alone
    reasons: tuple[Reason, ...]
    rule: str = "base"  # the step that set the price last: what `status` names as "the rule that set it"


def usd(value: float) -> str:
    """Dollars with 2 to 4 decimals: $2.10, $1.9475."""
    text = f"{abs(value):.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return f"-${text}" if value < 0 else f"${text}"


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
        sample.offers, machine.gpu_name, machine.num_gpus, machine.id, cfg.verified_only
    )
    impossible = impossible_offers(sample.offers)  # NaN, <= 0 or absurd: no peer asks that, so none counts
    dropped = f"{impossible} offers with impossible prices dropped; " if impossible else ""
    peers = drop_outliers(prices, cfg.outlier_iqr_k)
    if len(peers.prices) < cfg.min_peers:
        return current, Reason(
            "market", f"skipped: {dropped}{len(peers.prices)} peers, fewer than min_peers {cfg.min_peers}; {keep}"
        )
    point = percentile(peers.prices, cfg.percentile)
    target = point + cfg.offset_usd_per_gpu_hour
    return target, Reason(
        "market",
        f"{dropped}{len(peers.prices)} peers ({machine.gpu_name} x{machine.num_gpus}, "
        f"{peers.outliers_dropped} outliers dropped): p{cfg.percentile:g} {usd(point)} "
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


# ---- min bid and guard rails ----------------------------------------------------------------


def clamp(value: float, bounds: PriceBounds) -> float:
    """Into [floor, ceiling]. Raises ValueError on NaN or ±inf: min/max would pass NaN through unchanged."""
    if not math.isfinite(value):
        raise ValueError(f"price {value!r} is not finite: refused by the guard rails")
    return min(max(value, bounds.floor_usd_per_gpu_hour), bounds.ceiling_usd_per_gpu_hour)


def known_price(value: float | None) -> float | None:
    """A remembered or shown price usable as a reference: finite and possible, else None."""
    return value if value is not None and possible_price(value) else None


def publishable(value: float, bounds: PriceBounds) -> float:
    """Rounded for publishing, then clamped again so rounding can never step outside the bounds."""
    return clamp(round(value, PRICE_DECIMALS), bounds)


def min_bid_price(cfg: MinBidConfig, history: History, bounds: PriceBounds) -> tuple[float | None, Reason]:
    """Fixed, or power per GPU (W / 1000 x $/kWh x margin), clamped into the guard bounds."""
    if cfg.mode == "fixed":
        if cfg.usd_per_gpu_hour is None:
            return None, Reason("min_bid", "fixed mode without a price: Vast's min bid is left alone")
        raw, why = cfg.usd_per_gpu_hour, f"fixed {usd(cfg.usd_per_gpu_hour)}"
    else:
        measured = history.median_power_under_load_w
        refused = ""
        if measured is not None and not (math.isfinite(measured) and 0.0 <= measured <= MAX_SANE_POWER_W):
            # A power that no GPU draws (NaN, inf, negative, beyond any board) must not price anything.
            refused, measured = f"refused measured power {measured!r} W (not physical); ", None
        watts = measured if measured is not None else cfg.fallback_power_w
        if watts is None:
            return None, Reason(
                "min_bid", f"{refused}power mode, no power measured and no fallback_power_w: left alone"
            )
        source = "measured under load" if measured is not None else "fallback_power_w"
        raw = watts / 1000.0 * cfg.tariff_usd_per_kwh * cfg.margin
        why = (
            f"{refused}{watts:.0f} W ({source}) / 1000 x {usd(cfg.tariff_usd_per_kwh)}/kWh x {cfg.margin:g} "
            f"= {usd(raw)}"
        )
    if not math.isfinite(raw):
        return None, Reason("min_bid", f"{why}: refused, not a finite price; Vast's min bid is left alone")
    bid = publishable(raw, bounds)
    if abs(bid - raw) > 10 ** -PRICE_DECIMALS:
        why += f", clamped into [{usd(bounds.floor_usd_per_gpu_hour)}, {usd(bounds.ceiling_usd_per_gpu_hour)}]"
    return bid, Reason("min_bid", why)


def guard_rails(
    guard: GuardConfig, machine: MachineState, history: History, target: float, min_bid: float | None
) -> tuple[float, list[Reason]]:
    """Floor/ceiling, then the largest change per cycle, then never below the min bid, then no flapping.

    Every branch ends inside [floor, ceiling]: the min bid is already inside them, the max-change band is
    intersected with them, and a kept listed price is kept only when it is inside them.
    The max-change band holds on every path: raising toward the min bid and keeping the listed price
    stay inside it too. Its reference is the last price we published, else the last price Vast shows
    (listed or not: after a restart without memory an unlisted machine still shows its old price).
    """
    bounds = guard.bounds_for(machine.gpu_name)
    floor, ceiling = bounds.floor_usd_per_gpu_hour, bounds.ceiling_usd_per_gpu_hour
    reasons: list[Reason] = []
    price = clamp(target, bounds)
    if target < floor:
        reasons.append(Reason("guard.floor", f"{usd(target)} raised to the floor {usd(floor)}"))
    elif target > ceiling:
        reasons.append(Reason("guard.ceiling", f"{usd(target)} lowered to the ceiling {usd(ceiling)}"))
    listed = known_price(machine.listed_gpu_cost) if machine.listed else None
    reference = known_price(history.last_published_price_usd_per_gpu_hour) or known_price(machine.listed_gpu_cost)
    low, high = floor, ceiling  # the max-change band, within the bounds
    if reference is not None:
        step = reference * guard.max_change_pct / 100.0
        low, high = clamp(reference - step, bounds), clamp(reference + step, bounds)
        limited = min(max(price, low), high)
        if abs(limited - price) > 1e-12:
            reasons.append(Reason(
                "guard.max_change",
                f"{usd(price)} limited to {usd(limited)}: at most {guard.max_change_pct:g}% from {usd(reference)}",
            ))
            price = limited
    if min_bid is not None and price < min_bid:
        raised = max(price, min(min_bid, high))
        if raised < min_bid:
            reasons.append(Reason(
                "guard.min_bid",
                f"{usd(price)} raised toward the min bid {usd(min_bid)}: to {usd(raised)}, at most "
                f"{guard.max_change_pct:g}% from {usd(reference or raised)} per cycle (the min bid follows the price)",
            ))
        else:
            reasons.append(Reason("guard.min_bid", f"{usd(price)} raised to the min bid {usd(min_bid)}"))
        price = raised
    price = publishable(price, bounds)
    if (
        listed is not None
        and abs(price - listed) < guard.min_change_usd
        and floor <= listed <= ceiling
        and low - 1e-9 <= listed <= high + 1e-9
        and (min_bid is None or listed >= min_bid)
    ):
        if price != listed:
            reasons.append(Reason(
                "guard.min_change",
                f"{usd(price)} is within {usd(guard.min_change_usd)} of the listed {usd(listed)}: keep it",
            ))
        price = listed
    bounds_text = f"[{usd(floor)}, {usd(ceiling)}] for {machine.gpu_name}"
    first = "" if reference is not None else "; no previous price known (none published, none shown by Vast): " \
        "the first price is the target"
    reasons.append(Reason("guard", f"publish {usd(price)} (bounds {bounds_text}){first}"))
    return price, reasons


def price(
    cfg: PricingConfig, machine: MachineState, sample: MarketSample | None, now: datetime, history: History
) -> PriceDecision:
    """Compose every step in the documented order and return the price, the target and the min bid."""
    base = cfg.base_for(machine.gpu_name)
    source = "pricing.models" if any(name == machine.gpu_name for name, _ in cfg.models) else "default"
    reasons = [Reason("base", f"{machine.gpu_name}: {usd(base)} ({source})")]
    scheduled, why = _finite(schedule_price(cfg, base, now), base)
    reasons.append(why)
    relative, why = _finite(market_price(cfg.market, machine, sample, now, scheduled), scheduled)
    reasons.append(why)
    target, why = _finite(idle_decay_price(cfg.idle_decay, machine, history, now, relative), relative)
    reasons.append(why)
    bounds = cfg.guard.bounds_for(machine.gpu_name)
    bid, why = min_bid_price(cfg.min_bid, history, bounds)
    reasons.append(why)
    final, guards = guard_rails(cfg.guard, machine, history, target, bid)
    reasons.extend(guards)
    if bid is not None:
        bid = min(bid, final)  # already implied by the guard order; stated so the invariant is local
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
