"""The offer's horizon (a rolling duration, or the next window's start) and its volume offer, as plan() sets them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from core_values import GPU_NAME, MACHINE_ID, NOW, ago, listed_machine, machine, snapshot

from hostagent.config.load import parse_config
from hostagent.config.model import Config, ListingConfig, MaintenanceConfig, MaintenanceWindow, PricingConfig
from hostagent.core.actions import ListMachine, action_from_request, request_of
from hostagent.core.model import ActionKind, DesiredListing, History, MachineState, Plan
from hostagent.core.plan import plan
from hostagent.errors import ConfigError
from hostagent.service.effects import effect_holds

CFG = Config(pricing=PricingConfig(models=((GPU_NAME, 2.00),)))
SEEN = History(last_telemetry_at=NOW, first_seen_at=ago(days=3), healthy_since=ago(days=3))
DAY_S = 86400.0
WINDOW_START = datetime(2026, 12, 10, 1, 0, tzinfo=timezone.utc)  # 13.5 days after NOW, inside 30 days
ONE_OFF = MaintenanceWindow("disk swap", 3, "disk", "UTC", start=WINDOW_START.replace(tzinfo=None))
WITH_WINDOW = replace(CFG, maintenance=MaintenanceConfig(lead_time_h=72, windows=(ONE_OFF,)))


def plan_for(host: MachineState, cfg: Config = CFG, now: datetime = NOW, history: History = SEEN) -> Plan:
    return plan(snapshot(at=now), host, None, cfg, now, history)


def only_listing(p: Plan) -> ListMachine:
    [action] = [a for a in p.actions if isinstance(a, ListMachine)]
    return action


# ---- item 2: the horizon ----------------------------------------------------------------------


def test_without_a_window_the_offer_carries_the_rolling_duration_and_no_end_date() -> None:
    """No window inside 30 days: `duration` 30 days is sent, end_date stays null (Vast refuses both)."""
    listing = only_listing(plan_for(machine())).listing
    assert (listing.duration_days, listing.end_date) == (30, None)


def test_a_window_inside_the_duration_replaces_it_with_an_end_date_at_the_windows_start() -> None:
    """The offer ends where the window starts, so no new contract runs into it; no duration is sent."""
    p = plan_for(listed_machine(2.00), cfg=WITH_WINDOW)
    listing = only_listing(p).listing
    assert (listing.end_date, listing.duration_days) == (WINDOW_START.timestamp(), None)
    assert "the offer ends at its start" in next(r.text for r in p.reasons if r.step == "listing.horizon")


def test_a_window_beyond_the_duration_leaves_the_rolling_duration() -> None:
    """A window 60 days away is outside a 30-day horizon: the offer keeps rolling."""
    far = replace(ONE_OFF, start=(NOW + timedelta(days=60)).replace(tzinfo=None))
    cfg = replace(CFG, maintenance=MaintenanceConfig(windows=(far,)))
    assert plan_for(listed_machine(2.00), cfg=cfg).actions == ()


def test_a_window_one_daily_roll_beyond_the_duration_already_sets_the_end_date() -> None:
    """Vast moves the end date once a day, so a window up to a day past the horizon counts as inside it."""
    near = replace(ONE_OFF, start=(NOW + timedelta(days=30, hours=12)).replace(tzinfo=None))
    cfg = replace(CFG, maintenance=MaintenanceConfig(lead_time_h=0, windows=(near,)))
    assert only_listing(plan_for(listed_machine(2.00), cfg=cfg)).listing.duration_days is None


def test_after_the_window_the_offer_goes_back_to_the_rolling_duration() -> None:
    """Vast still shows the window's start as end date: relist with `duration` again."""
    after = WINDOW_START + timedelta(hours=4)
    host = listed_machine(2.00, end_date=WINDOW_START.timestamp())
    action = only_listing(plan_for(host, cfg=WITH_WINDOW, now=after))
    assert (action.listing.duration_days, action.listing.end_date) == (30, None)
    assert "changed: duration_days" in action.reason


def test_an_end_date_vast_rolled_within_the_last_day_is_the_duration_holding() -> None:
    """Vast's daily move leaves the end date up to a day short of now + 30 days: no write for that."""
    rolled = listed_machine(2.00, end_date=(NOW + timedelta(days=29, hours=1)).timestamp())
    assert plan_for(rolled).actions == ()
    stale = listed_machine(2.00, end_date=(NOW + timedelta(days=28)).timestamp())
    assert "changed: duration_days" in only_listing(plan_for(stale)).reason


def test_the_duration_comes_from_the_listing_config() -> None:
    """`listing.duration_days` is what is sent."""
    cfg = replace(CFG, listing=ListingConfig(duration_days=90))
    assert only_listing(plan_for(machine(), cfg=cfg)).listing.duration_days == 90


def test_a_price_raise_on_a_rented_machine_says_vast_will_not_extend_its_contracts() -> None:
    """Vast extends running contracts to a later end only at the same or a lower price: the journal says so."""
    rented = listed_machine(1.80, end_date=(NOW + timedelta(days=20)).timestamp(), current_rentals_running=2)
    reason = only_listing(plan_for(rented)).reason
    assert "price raised from $1.80 to $2.00: Vast will not extend the 2 running contract(s)" in reason


def test_a_price_cut_or_an_idle_machine_says_nothing_about_extensions() -> None:
    """Only a raise with running contracts and a later end date blocks an extension."""
    cheaper = listed_machine(2.20, end_date=(NOW + timedelta(days=20)).timestamp(), current_rentals_running=2)
    idle = listed_machine(1.80, end_date=(NOW + timedelta(days=20)).timestamp())
    for host in (cheaper, idle):
        assert "will not extend" not in only_listing(plan_for(host)).reason


# ---- item 3: the volume offer -----------------------------------------------------------------


def test_by_default_the_listing_sends_a_volume_size_of_zero_and_no_volume_price() -> None:
    """0 is "no volume offer"; null would make Vast offer half of the free disk."""
    listing = only_listing(plan_for(machine())).listing
    assert (listing.volume_size_gb, listing.volume_usd_per_gb_month) == (0, None)


def test_a_configured_volume_offer_is_priced_at_the_storage_price_unless_set() -> None:
    """`volume_usd_per_gb_month` defaults to `pricing.storage_usd_per_gb_month`."""
    cfg = replace(CFG, listing=ListingConfig(volume_size_gb=500))
    assert only_listing(plan_for(machine(), cfg=cfg)).listing.volume_usd_per_gb_month == 0.10
    priced = replace(CFG, listing=ListingConfig(volume_size_gb=500, volume_usd_per_gb_month=0.07))
    assert only_listing(plan_for(machine(), cfg=priced)).listing.volume_usd_per_gb_month == 0.07


def test_a_volume_offer_vast_shows_but_the_config_does_not_want_is_relisted_with_zero() -> None:
    """Vast shows a 3500 GB volume offer (a null vol_size once listed it): relist with 0."""
    action = only_listing(plan_for(listed_machine(2.00, volume_size_gb=3500)))
    assert action.listing.volume_size_gb == 0
    assert "changed: volume_size_gb" in action.reason


def test_a_listing_holds_only_when_vast_shows_the_wanted_volume_offer_and_horizon() -> None:
    """The read-back check compares the volume size and the rolled end date too."""
    action = only_listing(plan_for(machine()))
    good = listed_machine(2.00)
    now_s = NOW.timestamp()
    assert effect_holds(action, good, (), now_s)
    assert not effect_holds(action, replace(good, volume_size_gb=3500), (), now_s)
    assert not effect_holds(action, replace(good, end_date=None), (), now_s)


# ---- the config and the stored intent ---------------------------------------------------------


def test_the_listing_section_is_read_and_bad_values_are_refused_with_their_key() -> None:
    """duration_days 1..365, volume_size_gb not negative; both named in the error."""
    cfg = parse_config({"listing": {"duration_days": 7, "volume_size_gb": 200, "volume_usd_per_gb_month": 0.05}},
                       environ={})
    assert cfg.listing == ListingConfig(7, 200, 0.05)
    with pytest.raises(ConfigError) as bad:
        parse_config({"listing": {"duration_days": 0, "volume_size_gb": -1}}, environ={})
    assert "listing.duration_days" in str(bad.value)
    assert "listing.volume_size_gb" in str(bad.value)


def test_a_stored_list_intent_rebuilds_the_duration_and_volume_fields() -> None:
    """After a crash the intent's request gives back the same listing, whole numbers as whole numbers."""
    listing = DesiredListing(listed=True, price_usd_per_gpu_hour=2.0, duration_days=30, volume_size_gb=0)
    action = ListMachine(MACHINE_ID, "why", listing)
    rebuilt = action_from_request(ActionKind.LIST.value, request_of(action))
    assert isinstance(rebuilt, ListMachine)
    assert rebuilt.listing == listing
