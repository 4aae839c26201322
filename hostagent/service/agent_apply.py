"""What runs around each reconcile's apply: the owner's facts before the plan, the notices recorded as ours
before they are sent, the history after the apply, and the decision's journal line.

Part of `Agent` (hostagent.service.agent): its `reconcile` calls these in order; they keep the agent's memory
(history, owner control, reconciler mode) true to what was planned and sent.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from hostagent.core.actions import CancelMaint, ListMachine, ScheduleMaint, UnlistMachine
from hostagent.core.model import MachineState, Plan
from hostagent.service.agent_parts import AgentParts
from hostagent.service.outcome import ApplyOutcome

log = structlog.get_logger(__name__)


class ApplySteps(AgentParts):
    def _owner_facts(self, machine: MachineState, now: datetime, *, intents_busy: bool) -> None:
        """The owner's hold and pause as stored now, and a listing change made outside hostagent (which, with
        the "hold" policy, becomes a hold before this reconcile plans). Paused: this reconcile sends nothing."""
        self.owner.refresh(now, machine.id)
        self.owner.judge(machine, now, intents_busy=intents_busy, policy=self.config.agent.outside_changes,
                         duration_days=self.config.listing.duration_days)
        paused = self.owner.pause is not None
        self.reconciler.mode = "observe" if paused else self.config.agent.mode
        self.reconciler.not_sent = "paused (hostagent pause): not sent" if paused else "observe mode: not sent"

    def _record_notices_ahead(self, plan: Plan) -> None:
        """The notices this reconcile may send are ours before they leave (saved first): only windows recorded
        as ours may ever be cancelled, and a kill between the send and the save must not make ours foreign."""
        notices = [a for a in plan.actions if isinstance(a, ScheduleMaint)]
        if notices and self.reconciler.mode == "enforce":  # paused: nothing is sent
            for action in notices:
                self.history.observe_maint_scheduled(action.start_epoch_s, action.duration_h)
            self._store_call("save_history", self.history.save)

    def _after_apply(self, outcome: ApplyOutcome, now: datetime) -> None:
        for action in outcome.sent:
            if isinstance(action, UnlistMachine):
                self.history.observe_listing_change(listed=False, cause=action.cause or "health")
            elif isinstance(action, ListMachine):
                self.history.observe_listing_change(listed=True, price=action.listing.price_usd_per_gpu_hour, at=now)
            elif isinstance(action, ScheduleMaint):  # ours: the only windows hostagent may ever cancel
                self.history.observe_maint_scheduled(action.start_epoch_s, action.duration_h)
            elif isinstance(action, CancelMaint):
                self.history.observe_maints_cancelled()
        if outcome.min_bid_cap_usd_per_gpu_hour is not None:  # the next plans keep the min bid under it
            self.history.observe_min_bid_cap(outcome.min_bid_cap_usd_per_gpu_hour, now)
            log.warning("vast_min_bid_cap", max_usd_per_gpu_hour=outcome.min_bid_cap_usd_per_gpu_hour,
                        why="Vast refused a higher min bid; the next plan clamps below it")
        if outcome.machine_after is not None:  # read back after the writes: what Vast shows now
            self.machine = outcome.machine_after
            self._observe_machine(outcome.machine_after)
        self._store_call("save_history", self.history.save)

    def _journal_decision(self, now: datetime, plan: Plan) -> None:
        desired = plan.desired
        unlist = next((a for a in plan.actions if isinstance(a, UnlistMachine)), None)
        if desired.listed:
            price = desired.price_usd_per_gpu_hour
            what = f"list at ${_price(price)}/GPU/h" if price is not None else "list (price kept)"
        elif unlist is not None:  # an unlist is journaled as one, with its cause: "unlist: health: GPU 3 lost"
            what = f"unlist: {unlist.cause}: {_unlist_detail(unlist.reason)}"
        else:
            what = "keep unlisted"
        what += f"; {len(plan.actions)} change(s)"
        why = "; ".join(f"{r.step}: {r.text}" for r in plan.reasons)
        self._store_call(
            "journal", lambda: self.store.journal(now, "decision", what, why, result=self.config.agent.mode)
        )
        log.info("decision", what=what, why=why, mode=self.config.agent.mode)


def _unlist_detail(reason: str) -> str:
    """The plan's listing sentence without what the journal line says already ("unlist", "rentals continue")."""
    for prefix in ("unlist, a health check fails: ", "unlisted for maintenance: "):
        reason = reason.removeprefix(prefix)
    return reason.removesuffix(" (rentals continue)")


def _price(usd: float) -> str:
    """2.00, 2.061, 1.8549: cents at least, and every digit the price has up to 4 decimals (as the timeline)."""
    text = f"{usd:.4f}".rstrip("0")
    return text if len(text.partition(".")[2]) >= 2 else f"{usd:.2f}"
