"""plan(): values in, the desired listing and the fewest actions out, each with its reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

from core_values import GPU_NAME, MACHINE_ID, NOW, ago, gpu, listed_machine, machine, snapshot

from hostagent.config.model import (
    Config,
    DefaultJobConfig,
    MaintenanceConfig,
    MaintenanceWindow,
    MinBidConfig,
    PricingConfig,
)
from hostagent.core.actions import LISTING_FIELDS, SetDefaultJob
from hostagent.core.model import ActionKind, History, MachineState, Plan
from hostagent.core.plan import plan

CFG = Config(pricing=PricingConfig(models=((GPU_NAME, 2.00),)))
SEEN = History(last_telemetry_at=NOW, first_seen_at=ago(days=3), healthy_since=ago(days=3))
JOB = DefaultJobConfig(image="vastai/kvm:cuda-12", args=("--idle",), price_usd_per_gpu_hour=0.12)


def plan_for(
    host: MachineState, cfg: Config = CFG, history: History = SEEN, now: datetime = NOW, **snap: object
) -> Plan:
    return plan(snapshot(at=now, **snap), host, None, cfg, now, history)  # type: ignore[arg-type]


def kinds(p: Plan) -> list[ActionKind]:
    return [a.kind for a in p.actions]


def test_a_steady_state_plans_no_action() -> None:
    assert plan_for(listed_machine(2.00)).actions == ()


def test_an_unlisted_healthy_machine_is_listed_with_every_listing_field() -> None:
    p = plan_for(machine())
    assert kinds(p) == [ActionKind.LIST]
    assert [name for name, _ in p.actions[0].params()] == list(LISTING_FIELDS)
    assert p.actions[0].listing.price_usd_per_gpu_hour == 2.00
    assert p.actions[0].listing.storage_usd_per_gb_month == 0.10
    assert p.desired.listed


def test_the_config_is_the_source_of_intent_even_when_someone_else_unlisted_it() -> None:
    p = plan_for(machine(), history=replace(SEEN, unlisted_by_agent=False))
    assert kinds(p) == [ActionKind.LIST]
    assert "the config asks for a listing" in p.actions[0].reason


def test_a_price_change_relists_and_names_the_pricing_steps() -> None:
    p = plan_for(listed_machine(2.00), cfg=replace(CFG, pricing=replace(CFG.pricing, models=((GPU_NAME, 2.20),))))
    assert kinds(p) == [ActionKind.LIST]
    assert "changed: price_usd_per_gpu_hour" in p.actions[0].reason
    assert "base:" in p.actions[0].reason
    assert p.target_price_usd_per_gpu_hour == 2.20


def test_a_listing_field_other_than_the_price_relists() -> None:
    assert kinds(plan_for(listed_machine(2.00, listed_storage_cost=0.20))) == [ActionKind.LIST]
    assert kinds(plan_for(listed_machine(2.00, listed_min_gpu_count=8))) == [ActionKind.LIST]


def test_only_a_different_min_bid_is_set_on_its_own() -> None:
    cfg = replace(CFG, pricing=replace(CFG.pricing, min_bid=MinBidConfig(usd_per_gpu_hour=0.40)))
    p = plan_for(listed_machine(2.00, min_bid_price=0.30), cfg=cfg)
    assert kinds(p) == [ActionKind.SET_MIN_BID]
    assert p.actions[0].price_usd_per_gpu_hour == 0.40
    assert plan_for(listed_machine(2.00, min_bid_price=0.40), cfg=cfg).actions == ()


def test_a_failing_health_check_unlists_a_listed_machine_with_the_reason() -> None:
    hot_gpu = tuple(gpu(i, remapped_rows_failure=(i == 5)) for i in range(8))
    p = plan(snapshot(*hot_gpu), listed_machine(2.00), None, CFG, NOW, SEEN)
    assert kinds(p) == [ActionKind.UNLIST]
    assert p.actions[0].cause == "health"
    assert "row-remap failure on GPU 5" in p.actions[0].reason
    assert not p.desired.listed


def test_an_unhealthy_machine_already_unlisted_plans_nothing_more() -> None:
    assert plan_for(machine(), count=6).actions == ()


def test_relisting_after_a_health_unlist_waits_for_the_cooldown() -> None:
    recovering = replace(SEEN, unhealthy_since=ago(hours=1), healthy_since=ago(seconds=600), unlisted_by_agent=True,
                         unlisted_cause="health")
    waiting = plan_for(machine(), history=recovering)
    assert waiting.actions == ()
    assert any(r.step == "health.cooldown" for r in waiting.reasons)
    ready = plan_for(machine(), history=replace(recovering, healthy_since=ago(seconds=900)))
    assert kinds(ready) == [ActionKind.LIST]
    assert "relist" in ready.actions[0].reason


def test_the_health_memory_comes_back_in_the_plan() -> None:
    p = plan_for(listed_machine(2.00), count=7)
    assert p.memory is not None
    assert p.memory.unhealthy_since == NOW
    assert p.memory.healthy_since is None


def test_a_new_rental_becomes_the_idle_decay_anchor_in_memory() -> None:
    rented = listed_machine(1.80, current_rentals_running=1)
    memory = plan_for(rented, history=replace(SEEN, last_published_price_usd_per_gpu_hour=1.80)).memory
    assert memory is not None
    assert memory.last_rented_at == NOW
    assert memory.last_rented_price_usd_per_gpu_hour == 1.80
    assert memory.rentals_running == 1
    assert plan_for(machine(), history=History()).memory.first_seen_at == NOW  # type: ignore[union-attr]


# ---- maintenance through plan() -------------------------------------------------------------

WINDOW_START = datetime(2026, 12, 6, 1, 0, tzinfo=timezone.utc)
MAINT = MaintenanceConfig(lead_time_h=72, unlist_before_h=2, windows=(
    MaintenanceWindow("monthly power", 4, "power", "Europe/Berlin", recur="monthly", weekday="sun", nth=1,
                      at=time(2, 0)),))
WITH_MAINT = replace(CFG, maintenance=MAINT)


def test_a_listed_machine_gets_its_end_date_pulled_in_to_the_window_start() -> None:
    p = plan_for(listed_machine(2.00), cfg=WITH_MAINT)
    assert kinds(p) == [ActionKind.LIST]
    assert p.actions[0].listing.end_date == WINDOW_START.timestamp()
    steady = listed_machine(2.00, end_date=WINDOW_START.timestamp())
    assert plan_for(steady, cfg=WITH_MAINT).actions == ()


def test_the_window_is_announced_and_the_machine_unlisted_before_and_relisted_after() -> None:
    host = listed_machine(2.00, end_date=WINDOW_START.timestamp())
    notice = plan_for(host, cfg=WITH_MAINT, now=WINDOW_START - timedelta(hours=71))
    assert kinds(notice) == [ActionKind.SCHEDULE_MAINT]
    before = plan_for(host, cfg=WITH_MAINT, now=WINDOW_START - timedelta(hours=1))
    assert kinds(before) == [ActionKind.UNLIST, ActionKind.SCHEDULE_MAINT]
    assert before.actions[0].cause == "maintenance"
    away = replace(SEEN, unlisted_by_agent=True, unlisted_cause="maintenance")
    during = plan_for(machine(), cfg=WITH_MAINT, history=away, now=WINDOW_START + timedelta(hours=2))
    assert during.actions == ()
    after = plan_for(machine(), cfg=WITH_MAINT, history=away, now=WINDOW_START + timedelta(hours=4))
    assert kinds(after) == [ActionKind.LIST]


def test_without_relist_after_the_machine_stays_unlisted_after_its_window() -> None:
    cfg = replace(WITH_MAINT, maintenance=replace(MAINT, relist_after=False))
    away = replace(SEEN, unlisted_by_agent=True, unlisted_cause="maintenance")
    p = plan_for(machine(), cfg=cfg, history=away, now=WINDOW_START + timedelta(hours=5))
    assert p.actions == ()
    assert "by hand" in p.reasons[-1].text


def test_a_contract_running_into_the_window_is_a_plan_warning() -> None:
    host = listed_machine(2.00, end_date=WINDOW_START.timestamp(),
                          client_end_date=(WINDOW_START + timedelta(days=2)).timestamp())
    assert len(plan_for(host, cfg=WITH_MAINT).warnings) == 1


# ---- default job ----------------------------------------------------------------------------


def test_the_default_job_is_set_when_missing() -> None:
    p = plan_for(listed_machine(2.00), cfg=replace(CFG, default_job=JOB))
    assert kinds(p) == [ActionKind.SET_DEFJOB]
    (action,) = p.actions
    assert isinstance(action, SetDefaultJob)
    assert (action.image, action.args, action.price_usd_per_gpu_hour) == (JOB.image, ("--idle",), 0.12)


def test_the_default_job_is_changed_when_image_args_or_price_differ() -> None:
    same = {"bid_image": JOB.image, "bid_image_args": ("--idle",), "bid_gpu_cost": 0.12}
    cfg = replace(CFG, default_job=JOB)
    assert plan_for(listed_machine(2.00, **same), cfg=cfg).actions == ()
    for change in ({"bid_image": "old/image"}, {"bid_image_args": ()}, {"bid_gpu_cost": 0.10}):
        assert kinds(plan_for(listed_machine(2.00, **{**same, **change}), cfg=cfg)) == [ActionKind.SET_DEFJOB]


def test_the_default_job_is_removed_when_the_config_drops_it() -> None:
    p = plan_for(listed_machine(2.00, bid_image="old/image", bid_gpu_cost=0.1))
    assert kinds(p) == [ActionKind.REMOVE_DEFJOB]
    assert p.actions[0].machine_id == MACHINE_ID


def test_a_price_that_moved_less_than_one_reconcile_ago_takes_no_second_step() -> None:
    """After a restart or reload: the target moved to $3.00, the last step was 60 s ago, so $2.00 holds."""
    cfg = Config(pricing=PricingConfig(models=((GPU_NAME, 3.00),)))
    moved = replace(SEEN, last_published_price_usd_per_gpu_hour=2.00, last_price_change_at=ago(seconds=60))
    held = plan_for(listed_machine(2.00), cfg, moved)
    assert held.desired.price_usd_per_gpu_hour == 2.00
    assert any(r.step == "guard.max_change" and "no second step" in r.text for r in held.reasons)
    a_cycle_later = replace(moved, last_price_change_at=ago(seconds=cfg.agent.reconcile_s))
    assert plan_for(listed_machine(2.00), cfg, a_cycle_later).desired.price_usd_per_gpu_hour == 2.30
