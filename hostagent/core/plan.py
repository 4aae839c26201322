"""plan(): the listing the config asks for now, the writes that get Vast there, and why.

Pure: no I/O, no clock reads, no logging. Only what differs from `machine` (and from the maintenance
windows Vast holds) becomes an action, so a steady state plans none. The config is the source of
intent: a healthy machine outside maintenance is listed, unless the owner holds it (`hostagent hold`, or a
change made outside hostagent under `agent.outside_changes = "hold"`: hostagent.core.owner).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

from hostagent.config.model import Config, DefaultJobConfig
from hostagent.core.actions import (
    Action,
    ListMachine,
    RemoveDefaultJob,
    SetDefaultJob,
    SetMinBid,
    UnlistMachine,
)
from hostagent.core.health import HealthVerdict, assess
from hostagent.core.maintenance import MaintenancePlan, plan_maintenance
from hostagent.core.model import (
    DesiredListing,
    History,
    HostSnapshot,
    MachineState,
    MarketSample,
    Plan,
    Reason,
)
from hostagent.core.operator_maint import OperatorMaints
from hostagent.core.owner import OwnerHold
from hostagent.core.pricing import PriceDecision, price, usd
from hostagent.core.signals import offline_reason

END_DATE_TOLERANCE_S = 60.0
SECONDS_PER_DAY = 86400.0
# Vast moves a `duration` offer's end date once a day, so between two moves it lags now + duration by up to
# a day; a maintenance window is taken as inside the horizon a day early, so no roll carries the end past it.
DURATION_ROLL_S = SECONDS_PER_DAY
STEP_SLACK = 0.9  # of reconcile_s: a price move closer than this to the last one is a second step in one cycle


def _same(want: float, have: float | None) -> bool:
    return have is not None and math.isclose(want, have, rel_tol=1e-3, abs_tol=1e-6)


def listing_diffs(
    desired: DesiredListing, machine: MachineState, min_change_usd: float, now_s: float | None = None
) -> list[str]:
    """Names of the listing fields Vast shows differently (beyond tolerance). None in `desired` = leave alone.

    A rolling `duration_days` holds when Vast's end date lies within one daily roll of now + duration
    (judged only when `now_s` is given); a volume offer is judged only when Vast shows its size."""
    diffs: list[str] = []
    price_now = machine.listed_gpu_cost
    if desired.price_usd_per_gpu_hour is not None and (
        price_now is None or abs(desired.price_usd_per_gpu_hour - price_now) >= min_change_usd
    ):
        diffs.append("price_usd_per_gpu_hour")
    pairs = (
        ("storage_usd_per_gb_month", desired.storage_usd_per_gb_month, machine.listed_storage_cost),
        ("upload_usd_per_gb", desired.upload_usd_per_gb, machine.listed_inet_up_cost),
        ("download_usd_per_gb", desired.download_usd_per_gb, machine.listed_inet_down_cost),
        ("credit_discount_max", desired.credit_discount_max, machine.credit_discount_max),
    )
    diffs += [name for name, want, have in pairs if want is not None and not _same(want, have)]
    if desired.min_chunk is not None and desired.min_chunk != machine.listed_min_gpu_count:
        diffs.append("min_chunk")
    bid = desired.min_bid_usd_per_gpu_hour
    if bid is not None and (machine.min_bid_price is None or abs(bid - machine.min_bid_price) >= min_change_usd):
        diffs.append("min_bid_usd_per_gpu_hour")
    end = desired.end_date
    if end is not None and (machine.end_date is None or abs(end - machine.end_date) > END_DATE_TOLERANCE_S):
        diffs.append("end_date")
    if desired.duration_days is not None and now_s is not None:
        rolled_s = now_s + desired.duration_days * SECONDS_PER_DAY
        have, slack_s = machine.end_date, END_DATE_TOLERANCE_S
        if have is None or not rolled_s - DURATION_ROLL_S - slack_s <= have <= rolled_s + slack_s:
            diffs.append("duration_days")
    return diffs + _volume_diffs(desired, machine)


def _volume_diffs(desired: DesiredListing, machine: MachineState) -> list[str]:
    size = desired.volume_size_gb
    if size is None or machine.volume_size_gb is None:
        return []
    if size != machine.volume_size_gb:
        return ["volume_size_gb"]
    price = desired.volume_usd_per_gb_month
    if size > 0 and price is not None and not _same(price, machine.listed_volume_cost):
        return ["volume_usd_per_gb_month"]
    return []


def _decide_listing(
    machine: MachineState, verdict: HealthVerdict, maint: MaintenancePlan, config: Config, history: History
) -> tuple[bool, str, Reason]:
    """(listed?, cause of not listing, why). Health, maintenance and Vast's signals can only take a listing away."""
    failing = "; ".join(r.text for r in verdict.reasons)
    if maint.unlist:
        window = "; ".join(r.text for r in maint.reasons if r.step in ("maintenance.active", "maintenance.unlist"))
        return False, "maintenance", Reason("listing", f"unlisted for maintenance: {window} (rentals continue)")
    if offline_reason(machine, config) is not None:
        verb = "unlist" if machine.listed else "stay unlisted"
        return False, "vast", Reason("listing", f"{verb}: Vast reports the machine offline (rentals continue)")
    if machine.listed and not verdict.ok:
        return False, "health", Reason("listing", f"unlist, a health check fails: {failing} (rentals continue)")
    if not machine.listed and not verdict.may_list:
        why = f"a health check fails: {failing}" if not verdict.ok else "the relist cool-down is running"
        return False, "health", Reason("listing", f"stay unlisted: {why}")
    return _may_list(machine, config, history)


def _may_list(machine: MachineState, config: Config, history: History) -> tuple[bool, str, Reason]:
    relisting_after_maint = history.unlisted_by_agent and history.unlisted_cause == "maintenance"
    if not machine.listed and relisting_after_maint and not config.maintenance.relist_after:
        return False, "maintenance", Reason(
            "listing", "the window is over but maintenance.relist_after is false: list the machine by hand"
        )
    if machine.listed:
        return True, "", Reason("listing", "listed, every check passes")
    if history.unlisted_by_agent:
        return True, "", Reason("listing", "every check passes again: relist")
    return True, "", Reason(
        "listing", "unlisted on Vast, but the config asks for a listing and every check passes: list"
    )


def _horizon(config: Config, maint: MaintenancePlan, now: datetime) -> tuple[float | None, int | None, Reason]:
    """(end_date, duration_days, why): the rolling duration, or the next window's start while it lies inside it."""
    days = config.listing.duration_days
    window_s = maint.end_date
    if window_s is not None and window_s <= now.timestamp() + days * SECONDS_PER_DAY + DURATION_ROLL_S:
        text = (f"the next maintenance window starts within the {days}-day duration (+ one daily roll): "
                "the offer ends at its start instead")
        return window_s, None, Reason("listing.horizon", text)
    return None, days, Reason("listing.horizon", f"rolling duration {days} days (Vast moves the end date daily)")


def _desired(
    config: Config, decision: PriceDecision, maint: MaintenancePlan, listed: bool, now: datetime
) -> tuple[DesiredListing, Reason]:
    pricing, volume = config.pricing, config.listing
    end_date, duration_days, horizon = _horizon(config, maint, now)
    volume_price = volume.volume_usd_per_gb_month
    if volume_price is None:
        volume_price = pricing.storage_usd_per_gb_month
    return DesiredListing(
        listed=listed,
        price_usd_per_gpu_hour=decision.price_usd_per_gpu_hour,
        storage_usd_per_gb_month=pricing.storage_usd_per_gb_month,
        upload_usd_per_gb=pricing.upload_usd_per_gb,
        download_usd_per_gb=pricing.download_usd_per_gb,
        min_bid_usd_per_gpu_hour=decision.min_bid_usd_per_gpu_hour,
        min_chunk=pricing.min_chunk,
        end_date=end_date,
        credit_discount_max=pricing.credit_discount_max,
        duration_days=duration_days,
        volume_size_gb=volume.volume_size_gb,
        # no volume offer: null, as the CLI sends it without -z
        volume_usd_per_gb_month=volume_price if volume.volume_size_gb > 0 else None,
    ), horizon


def _price_story(decision: PriceDecision) -> str:
    return "; ".join(f"{r.step}: {r.text}" for r in decision.reasons)


def raise_blocks_extension(desired: DesiredListing, machine: MachineState, now_s: float) -> str | None:
    """Why Vast will not extend the running contracts with this listing (a price raise), or None.

    Vast extends running contracts to a later end date only when the price is the same or lower."""
    old, new, running = machine.listed_gpu_cost, desired.price_usd_per_gpu_hour, machine.current_rentals_running
    if old is None or new is None or new <= old or running <= 0:
        return None
    end_s = desired.end_date
    if end_s is None and desired.duration_days is not None:
        end_s = now_s + desired.duration_days * SECONDS_PER_DAY
    if end_s is None or (machine.end_date is not None and end_s <= machine.end_date + END_DATE_TOLERANCE_S):
        return None
    return f"price raised from {usd(old)} to {usd(new)}: Vast will not extend the {running} running contract(s)"


def listing_actions(
    desired: DesiredListing, machine: MachineState, *, config: Config, cause: str, why: Reason, decision: PriceDecision,
    now_s: float | None = None,
) -> list[Action]:
    """LIST carries every listing field; SET_MIN_BID alone when only the min bid differs on a listed machine."""
    if not desired.listed:
        if not machine.listed:
            return []
        return [UnlistMachine(machine.id, why.text, cause)]
    min_change = config.pricing.guard.min_change_usd
    diffs = [] if not machine.listed else listing_diffs(desired, machine, min_change, now_s)
    if machine.listed and not diffs:
        return []
    bid = desired.min_bid_usd_per_gpu_hour
    if diffs == ["min_bid_usd_per_gpu_hour"] and bid is not None:  # listing_diffs names it only when set
        text = f"min bid {usd(machine.min_bid_price or 0.0)} -> {usd(bid)}; {_price_story(decision)}"
        return [SetMinBid(machine.id, text, bid)]
    changed = f"changed: {', '.join(diffs)}; " if diffs else ""
    blocked = raise_blocks_extension(desired, machine, now_s) if now_s is not None and machine.listed else None
    extension = f"{blocked}; " if blocked else ""
    return [ListMachine(machine.id, f"{why.text}; {changed}{extension}{_price_story(decision)}", desired)]


def defjob_actions(job: DefaultJobConfig | None, machine: MachineState) -> tuple[list[Action], list[Reason]]:
    """Set the configured default job when Vast's differs (image, args or price); remove it when the config has none."""
    if job is None:
        if machine.bid_image is None:
            return [], []
        text = f"the config has no default job; Vast runs {machine.bid_image}: remove it"
        return [RemoveDefaultJob(machine.id, text)], [Reason("defjob", text)]
    differs = []
    if machine.bid_image != job.image:
        differs.append(f"image {machine.bid_image or 'none'} -> {job.image}")
    if tuple(machine.bid_image_args or ()) != job.args:
        differs.append(f"args {list(machine.bid_image_args or ())} -> {list(job.args)}")
    cost = machine.bid_gpu_cost
    if cost is None or not math.isclose(cost, job.price_usd_per_gpu_hour, abs_tol=1e-6):
        differs.append(f"price {usd(cost) if cost is not None else 'none'} -> {usd(job.price_usd_per_gpu_hour)}")
    if not differs:
        return [], []
    text = "default job: " + ", ".join(differs)
    action = SetDefaultJob(
        machine.id, text, job.image, job.args,
        price_usd_per_gpu_hour=job.price_usd_per_gpu_hour,
        upload_usd_per_gb=job.upload_usd_per_gb,
        download_usd_per_gb=job.download_usd_per_gb,
    )
    return [action], [Reason("defjob", text)]


def remember(history: History, verdict: HealthVerdict, machine: MachineState, now: datetime) -> History:
    """The memory after this tick: health streaks from the verdict, idle-decay facts from the machine.

    A rise in running rentals is a new contract: its price (the listed one) becomes the decay anchor.
    """
    rentals = machine.current_rentals_running
    anchor = history.last_rented_price_usd_per_gpu_hour
    if rentals > history.rentals_running and machine.listed_gpu_cost is not None:
        anchor = machine.listed_gpu_cost
    return replace(
        history,
        hot_since=verdict.hot_since,
        unhealthy_since=verdict.unhealthy_since,
        healthy_since=verdict.healthy_since,
        last_telemetry_at=verdict.last_telemetry_at,
        first_seen_at=history.first_seen_at or now,
        last_rented_at=now if rentals > 0 else history.last_rented_at,
        last_rented_price_usd_per_gpu_hour=anchor,
        rentals_running=rentals,
    )


def step_held(history: History, now: datetime, config: Config) -> bool:
    """The price moved less than one reconcile ago (a restart or a reload made a reconcile due at once).

    A tenth of reconcile_s is slack: the scheduler starts a reconcile a little early or late, and a regular
    cycle must still take its step.
    """
    moved = history.last_price_change_at
    if moved is None:
        return False
    elapsed_s = (now - moved).total_seconds()
    return 0.0 <= elapsed_s < STEP_SLACK * config.agent.reconcile_s


def plan(  # noqa: PLR0917 - the team's agreed signature, positional like the other helpers
    snapshot: HostSnapshot,
    machine: MachineState,
    market: MarketSample | None,
    config: Config,
    now: datetime,
    history: History,
    *,
    hold: OwnerHold | None = None,
    operator: OperatorMaints | None = None,
) -> Plan:
    """Decide the listing and the actions; raises nothing for valid config (see maintenance.expand).

    `hold`: the owner's hold (hostagent.core.owner), an input fact like the readings. A command's hold keeps
    the machine unlisted; a hold after a change made outside hostagent leaves the listing as that person set it.
    Either way health and maintenance may still take a listing away.
    `operator`: the windows and the cancel `hostagent maint` recorded (the agent sends them, never the command)."""
    verdict = assess(snapshot, machine, config.health, now, history)
    decision = price(config.pricing, machine, market, now, history, step_held=step_held(history, now, config))
    maint = plan_maintenance(config.maintenance, machine, now, history, lookahead_s=config.agent.reconcile_s,
                             operator=operator)
    listed, cause, why = _decide_listing(machine, verdict, maint, config, history)
    held = hold if hold is not None and hold.active(now) else None
    # A command's hold is the reason whenever health or maintenance is not (a cool-down included).
    if held is not None and held.source == "command" and (listed or (verdict.ok and not maint.unlist)):
        listed, cause, why = False, "hold", Reason("owner.hold", f"{held.describe()} (rentals continue)")
    elif not listed:
        held = None  # health or maintenance keep it unlisted: they say why
    desired, horizon = _desired(config, decision, maint, listed, now)
    if held is not None and held.source == "outside":  # as the person set it: no list, no new terms
        desired, why = replace(desired, listed=machine.listed), Reason("owner.hold", held.describe())
        listing: list[Action] = []
    else:
        listing = listing_actions(
            desired, machine, config=config, cause=cause, why=why, decision=decision, now_s=now.timestamp()
        )
    unlist = [a for a in listing if isinstance(a, UnlistMachine)]
    other = [a for a in listing if not isinstance(a, UnlistMachine)]
    job_actions, job_reasons = defjob_actions(config.default_job, machine)
    vast = [r for r in (offline_reason(machine, config),) if r is not None]  # health.unlist_when_vast_offline
    reasons = (*decision.reasons, *verdict.reasons, *verdict.notes, *maint.reasons, *vast, horizon, why, *job_reasons)
    return Plan(
        desired=desired,
        # unlisting first: taking a sick machine off the market matters more than any other write
        actions=(*unlist, *maint.actions, *other, *job_actions),
        reasons=reasons,
        target_price_usd_per_gpu_hour=decision.target_usd_per_gpu_hour,
        warnings=maint.warnings,
        memory=remember(history, verdict, machine, now),
        price_rule=decision.rule,
    )
