"""The guard rails and the min bid: the last pricing steps, which no number may pass unchecked.

The min bid has its own bounds ([pricing.min_bid]) and Vast's remembered cap, never the on-demand guard bounds.

Order: floor/ceiling, the largest change per cycle, never below the min bid, no flapping (min change).
A non-finite number is refused here: `clamp` raises rather than let NaN through (min/max would), and a
remembered or shown price that is not finite and possible is no reference. Pure, like pricing.py.
"""

from __future__ import annotations

import math

from hostagent.config.model import GuardConfig, MinBidConfig, PriceBounds
from hostagent.core.market import possible_price
from hostagent.core.model import MAX_SANE_POWER_W, History, MachineState, Reason

PRICE_DECIMALS = 4  # published prices are rounded so journals and action keys stay readable and stable


def usd(value: float) -> str:
    """Dollars with 2 to 4 decimals: $2.10, $1.9475."""
    text = f"{abs(value):.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return f"-${text}" if value < 0 else f"${text}"


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


def min_bid_price(cfg: MinBidConfig, history: History) -> tuple[float | None, list[Reason]]:
    """Fixed, or power per GPU (W / 1000 x $/kWh x margin); then the min bid's own bounds; then Vast's cap.

    Not the on-demand guard bounds: the min bid is a floor for bidders near the cost of power, and lifting it to
    the on-demand floor would sell interruptible time at on-demand prices. `pricing.price` then keeps it at or
    below the published price. One reason per step that acted, so the journal shows how the bid was reached.
    """
    if cfg.mode == "fixed":
        if cfg.usd_per_gpu_hour is None:
            return None, [Reason("min_bid", "fixed mode without a price: Vast's min bid is left alone")]
        raw, why = cfg.usd_per_gpu_hour, f"fixed {usd(cfg.usd_per_gpu_hour)}"
    else:
        measured = history.median_power_under_load_w
        refused = ""
        if measured is not None and not (math.isfinite(measured) and 0.0 <= measured <= MAX_SANE_POWER_W):
            # A power that no GPU draws (NaN, inf, negative, beyond any board) must not price anything.
            refused, measured = f"refused measured power {measured!r} W (not physical); ", None
        watts = measured if measured is not None else cfg.fallback_power_w
        if watts is None:
            return None, [Reason(
                "min_bid", f"{refused}power mode, no power measured and no fallback_power_w: left alone"
            )]
        source = "measured under load" if measured is not None else "fallback_power_w"
        raw = watts / 1000.0 * cfg.tariff_usd_per_kwh * cfg.margin
        why = (
            f"{refused}{watts:.0f} W ({source}) / 1000 x {usd(cfg.tariff_usd_per_kwh)}/kWh x {cfg.margin:g} "
            f"= {usd(raw)}"
        )
    if not math.isfinite(raw):
        return None, [Reason("min_bid", f"{why}: refused, not a finite price; Vast's min bid is left alone")]
    reasons = [Reason("min_bid", why)]
    own = PriceBounds(cfg.floor_usd_per_gpu_hour, cfg.ceiling_usd_per_gpu_hour)
    bid = publishable(raw, own)
    if abs(bid - raw) > 10 ** -PRICE_DECIMALS:
        reasons.append(Reason("min_bid.bounds", f"{usd(raw)} clamped into the min bid's own bounds "
                              f"[{usd(own.floor_usd_per_gpu_hour)}, {usd(own.ceiling_usd_per_gpu_hour)}]: {usd(bid)}"))
    cap = known_price(history.vast_min_bid_max_usd_per_gpu_hour)
    if cap is not None:
        # Rounded down, so rounding never lifts the bid above what Vast accepts and the write is refused again.
        allowed = math.floor(cap * 10**PRICE_DECIMALS + 1e-6) / 10**PRICE_DECIMALS
        if allowed <= 0.0:
            reasons.append(Reason("min_bid.vast_cap", f"Vast's bound {cap!r} leaves no positive min bid at "
                                  f"{PRICE_DECIMALS} decimals: Vast's min bid is left alone"))
            return None, reasons
        if bid > allowed:
            seen = history.vast_min_bid_max_seen_at
            when = f" on {seen:%Y-%m-%d %H:%M} UTC" if seen is not None else ""
            reasons.append(Reason("min_bid.vast_cap", f"{usd(bid)} lowered to {usd(allowed)}: Vast refused a higher "
                                  f"min bid{when} (422 \"min_bid must be <= {cap:g}\")"))
            bid = allowed
    return bid, reasons


def guard_rails(
    guard: GuardConfig, machine: MachineState, history: History, target: float, min_bid: float | None,
    *, step_held: bool = False,
) -> tuple[float, list[Reason]]:
    """Floor/ceiling, then the largest change per cycle, then never below the min bid, then no flapping.

    Every branch ends inside [floor, ceiling]: a raise toward the min bid (which has bounds of its own) stops at
    the max-change band, which is intersected with them, and a kept listed price is kept only when it is inside them.
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
        # One step per cycle: a price that moved less than one reconcile ago (a restart, a reload) holds still.
        step = 0.0 if step_held else reference * guard.max_change_pct / 100.0
        low, high = clamp(reference - step, bounds), clamp(reference + step, bounds)
        limited = min(max(price, low), high)
        if abs(limited - price) > 1e-12:
            per = ("no second step: the price moved less than one reconcile_s ago" if step_held
                   else f"at most {guard.max_change_pct:g}% from {usd(reference)}")
            reasons.append(Reason("guard.max_change", f"{usd(price)} limited to {usd(limited)}: {per}"))
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
