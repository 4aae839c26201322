"""Applies a Plan's actions through the Marketplace: only what differs, each once, each journaled.

Enforce mode, per action: skip it when Vast already shows its effect; otherwise write the intent
ahead (`store.begin_action`), send, `finish_action`, read the machine back and journal any mismatch.
A lost reply (`VastWriteUncertain`) leaves the intent open; so does a kill mid-call. Open intents are
resolved at the next tick by reading Vast's state, never by sending again blindly: if the effect is
there the intent is confirmed, if not it is closed as not applied and the plan asks for it afresh.
Observe mode journals what it would send (once per distinct action) and sends no write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from hostagent.apigate import ApiDeferred, ApiGate
from hostagent.core.model import Action, ActionKind, DesiredListing, MachineState, Plan, VastMaintenance
from hostagent.core.plan import listing_diffs
from hostagent.errors import StateError, VastAuthError, VastError, VastWriteUncertain
from hostagent.ports import Marketplace

log = structlog.get_logger(__name__)

PRICE_EPS = 0.0005  # Vast echoes prices as floats; closer than this is the same price
_LISTING_FIELDS = {f.name for f in dataclasses.fields(DesiredListing)}
_MAINT_KINDS = (ActionKind.SCHEDULE_MAINT, ActionKind.CANCEL_MAINT)


class Intent(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def action_key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def request(self) -> Mapping[str, object]: ...


class ReconcileStore(Protocol):
    """The part of the state store the reconciler uses (journal and write-ahead intents)."""

    def journal(  # noqa: PLR0917  (the store's signature)
        self,
        at: datetime,
        kind: str,
        what: str,
        why: str,
        request: Mapping[str, object] | None = None,
        result: str = "",
        ok: bool = True,
        action_key: str | None = None,
    ) -> int: ...

    def begin_action(self, at: datetime, action_key: str, kind: str, request: Mapping[str, object]) -> int: ...

    def finish_action(self, intent_id: int, at: datetime, result: str, ok: bool) -> None: ...

    def open_intents(self) -> Sequence[Intent]: ...


class ActionMetrics(Protocol):
    def observe_action(self, kind: str, result: str) -> None: ...


@dataclass
class ApplyOutcome:
    sent: list[Action] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)  # Vast already showed the effect
    failed: list[tuple[Action, str]] = field(default_factory=list)
    would_send: list[Action] = field(default_factory=list)  # observe mode
    deferred: str | None = None  # why the rest was not sent (auth refused, rate limited)
    machine_after: MachineState | None = None
    deleted_contracts: int | None = None


def _close(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < PRICE_EPS
    return a == b


def _first(params: Mapping[str, object], *names: str) -> object:
    for name in names:
        if name in params:
            return params[name]
    return None


def _fnum(params: Mapping[str, object], *names: str, default: float | None = None) -> float:
    value = _first(params, *names)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if default is not None:
        return default
    raise ValueError(f"the action has no numeric {names[0]}")


def listing_for(action: Action, fallback: DesiredListing) -> DesiredListing:
    """The listing a LIST action asks for: its params when they name listing fields, else the plan's."""
    fields = {k: v for k, v in action.params if k in _LISTING_FIELDS and k != "listed"}
    return dataclasses.replace(fallback, listed=True, **fields) if fields else fallback  # type: ignore[arg-type]


def _list_holds(params: Mapping[str, object], machine: MachineState, _maints: Sequence[VastMaintenance]) -> bool:
    """Listed, and no listing field the action names differs (the core's own comparison, at float precision)."""
    if not machine.listed:
        return False
    fields = {k: v for k, v in params.items() if k in _LISTING_FIELDS and k != "listed"}
    try:
        desired = DesiredListing(listed=True, **fields)  # type: ignore[arg-type]
    except TypeError:
        return False
    return not listing_diffs(desired, machine, PRICE_EPS)


def _maint_scheduled(params: Mapping[str, object], _machine: MachineState, maints: Sequence[VastMaintenance]) -> bool:
    start = _first(params, "start_epoch_s", "start_time", "start")
    if not isinstance(start, (int, float)):
        return False
    return any(abs(m.start_time - float(start)) < 1.0 for m in maints)  # Vast keeps whole seconds


def _defjob_holds(params: Mapping[str, object], machine: MachineState, _maints: Sequence[VastMaintenance]) -> bool:
    price = _first(params, "price_gpu", "price_usd_per_gpu_hour")
    return machine.bid_image == _first(params, "image") and (price is None or _close(price, machine.bid_gpu_cost))


_Check = Callable[[Mapping[str, object], MachineState, Sequence[VastMaintenance]], bool]
_HOLDS: dict[ActionKind, _Check] = {
    ActionKind.LIST: _list_holds,
    ActionKind.UNLIST: lambda _p, m, _x: not m.listed,
    ActionKind.SET_MIN_BID: lambda p, m, _x: _close(
        _first(p, "price_usd_per_gpu_hour", "min_bid_usd_per_gpu_hour", "price"), m.min_bid_price
    ),
    ActionKind.SCHEDULE_MAINT: _maint_scheduled,
    ActionKind.CANCEL_MAINT: lambda _p, _m, maints: not maints,
    ActionKind.SET_DEFJOB: _defjob_holds,
    ActionKind.REMOVE_DEFJOB: lambda _p, m, _x: not m.bid_image,
}


def effect_holds(
    kind: ActionKind, params: Mapping[str, object], machine: MachineState, maints: Sequence[VastMaintenance]
) -> bool:
    """Does Vast's reported state already show what this action would do? (Cleanup never does: it is idempotent.)"""
    check = _HOLDS.get(kind)
    return check is not None and check(params, machine, maints)


def request_of(action: Action) -> dict[str, object]:
    return {"machine_id": action.machine_id, **{k: _jsonable(v) for k, v in action.params}}


def _jsonable(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def describe(action: Action) -> str:
    args = ", ".join(f"{k}={v}" for k, v in action.params)
    return f"{action.kind.value} machine {action.machine_id}" + (f" ({args})" if args else "")


class Reconciler:
    def __init__(
        self,
        market: Marketplace,
        store: ReconcileStore,
        gate: ApiGate,
        *,
        mode: str,
        metrics: ActionMetrics | None = None,
    ) -> None:
        self._market = market
        self._store = store
        self._gate = gate
        self.mode = mode
        self._metrics = metrics
        self._observed_keys: frozenset[str] = frozenset()
        self._maints: list[VastMaintenance] = []  # Vast's windows as last read during apply

    # ---- restart safety ---------------------------------------------------------------------

    def resolve_open_intents(self, now: datetime) -> list[str]:
        """Close every intent a crash or a lost reply left open, from Vast's state. Returns one line each."""
        store = self._store
        lines: list[str] = []
        for intent in store.open_intents():
            request = dict(intent.request)
            raw_id = request.get("machine_id")
            machine_id = raw_id if isinstance(raw_id, int) else 0
            kind = ActionKind(intent.kind)
            if kind is ActionKind.CLEANUP:
                held, result = True, "outcome unknown; cleanup is idempotent and runs again on its schedule"
            else:
                machine = self._read_machine(machine_id, now)
                maints = self._read_maints(kind, machine_id, now)
                held = effect_holds(kind, request, machine, maints)
                result = "confirmed from Vast's state" if held else "not applied (Vast's state); re-planned"
            store.finish_action(intent.id, now, result, held)
            store.journal(
                now, "intent_resolved", f"{kind.value} machine {machine_id}", "an earlier write had no recorded end",
                request=request, result=result, ok=held, action_key=intent.action_key,
            )
            lines.append(f"{intent.action_key}: {result}")
        return lines

    def _read_machine(self, machine_id: int, now: datetime) -> MachineState:
        return self._gate.call("show_machine", now, lambda: self._market.show_machine(machine_id))

    def _read_maints(self, kind: ActionKind, machine_id: int, now: datetime) -> list[VastMaintenance]:
        if kind not in _MAINT_KINDS:
            return []
        return self._gate.call("show_maints", now, lambda: self._market.show_maints([machine_id]))

    # ---- applying a plan --------------------------------------------------------------------

    def apply(
        self,
        plan: Plan,
        machine: MachineState,
        maints: Sequence[VastMaintenance],
        now: datetime,
        extra: Sequence[Action] = (),
    ) -> ApplyOutcome:
        """Send each action whose effect Vast does not show yet, judged against the state read back so far."""
        outcome = ApplyOutcome(machine_after=machine)
        self._maints = list(maints)
        actions = (*plan.actions, *extra)
        if self.mode != "enforce":
            self._observe(actions, machine, now, outcome)
            return outcome
        for action in actions:
            current = outcome.machine_after or machine
            if effect_holds(action.kind, dict(action.params), current, self._maints):
                outcome.skipped.append(action)
                continue
            try:
                self._send(action, plan, now, outcome)
            except ApiDeferred as exc:
                outcome.deferred = exc.reason
                break
            except VastAuthError as exc:
                outcome.deferred = str(exc)
                break
        return outcome

    def _observe(self, actions: Sequence[Action], machine: MachineState, now: datetime, outcome: ApplyOutcome) -> None:
        for action in actions:
            if effect_holds(action.kind, dict(action.params), machine, self._maints):
                outcome.skipped.append(action)
                continue
            outcome.would_send.append(action)
            if action.kind is ActionKind.CANCEL_MAINT:
                self._maints = []  # what Vast would hold after it, for the notices that follow
        keys = frozenset(a.key() for a in outcome.would_send)
        for action in outcome.would_send:
            if action.key() in self._observed_keys:
                continue  # already journaled while nothing changed: no flood of identical lines
            self._store.journal(
                now, "would_send", describe(action), action.reason, request=request_of(action),
                result="observe mode: not sent", action_key=action.key(),
            )
            log.info("would_send", action=describe(action), why=action.reason)
        self._observed_keys = keys

    def _send(self, action: Action, plan: Plan, now: datetime, outcome: ApplyOutcome) -> None:
        store = self._store
        request = request_of(action)
        reason = self._gate.blocked(now)
        if reason is not None:
            raise ApiDeferred(reason)
        intent_id = store.begin_action(now, action.key(), action.kind.value, request)
        try:
            result = self._gate.call(action.kind.value, now, lambda: self._call(action, plan))
        except VastWriteUncertain as exc:
            # Left open on purpose: the next tick reads Vast's state instead of sending again.
            self._journal(now, action, request, f"reply lost ({exc}); Vast's state decides next tick", ok=False)
            outcome.failed.append((action, str(exc)))
            return
        except (VastError, ValueError, KeyError) as exc:
            store.finish_action(intent_id, now, str(exc), False)
            self._journal(now, action, request, f"failed: {exc}", ok=False)
            outcome.failed.append((action, str(exc)))
            if isinstance(exc, VastAuthError):
                raise
            return
        store.finish_action(intent_id, now, result, True)
        self._journal(now, action, request, result, ok=True)
        if action.kind is ActionKind.CLEANUP:
            outcome.deleted_contracts = int(result.split()[0]) if result[:1].isdigit() else None
        outcome.sent.append(action)
        self._verify(action, now, outcome)

    def _call(self, action: Action, plan: Plan) -> str:
        market, mid, params = self._market, action.machine_id, dict(action.params)
        kind = action.kind
        if kind is ActionKind.LIST:
            extended = market.list_machine(mid, listing_for(action, plan.desired))
            return f"listed; {extended} running contracts extended"
        if kind is ActionKind.SCHEDULE_MAINT:
            market.schedule_maint(
                mid,
                _fnum(params, "start_epoch_s", "start_time", "start"),
                _fnum(params, "duration_h", "duration_hours"),
                str(_first(params, "category") or "other"),
            )
            return "maintenance scheduled"
        if kind is ActionKind.SET_DEFJOB:
            args = _first(params, "args")
            market.set_defjob(
                mid,
                image=str(params["image"]),
                args=[str(a) for a in args] if isinstance(args, (list, tuple)) else None,
                price_gpu=_fnum(params, "price_gpu", "price_usd_per_gpu_hour"),
                price_inetu=_fnum(params, "price_inetu", "upload_usd_per_gb", default=0.0),
                price_inetd=_fnum(params, "price_inetd", "download_usd_per_gb", default=0.0),
            )
            return "default job set"
        if kind is ActionKind.CLEANUP:
            return f"{market.cleanup_machine(mid)} expired contracts deleted"
        return self._call_simple(kind, mid, params)

    def _call_simple(self, kind: ActionKind, mid: int, params: Mapping[str, object]) -> str:
        market = self._market
        if kind is ActionKind.UNLIST:
            market.unlist_machine(mid)
            return "unlisted"
        if kind is ActionKind.SET_MIN_BID:
            market.set_min_bid(mid, _fnum(params, "price_usd_per_gpu_hour", "min_bid_usd_per_gpu_hour", "price"))
            return "min bid set"
        if kind is ActionKind.CANCEL_MAINT:
            market.cancel_maint(mid)
            return "maintenance cancelled"
        market.remove_defjob(mid)
        return "default job removed"

    def _verify(self, action: Action, now: datetime, outcome: ApplyOutcome) -> None:
        """Read the machine back: the write's reply is not authoritative, Vast's state is."""
        if action.kind is ActionKind.CLEANUP:
            return
        try:
            machine = self._read_machine(action.machine_id, now)
            maints = self._read_maints(action.kind, action.machine_id, now)
        except (VastError, ApiDeferred) as exc:
            log.warning("verify_read_failed", action=describe(action), error=str(exc))
            return
        outcome.machine_after = machine
        if action.kind in _MAINT_KINDS:
            self._maints = list(maints)
        if not effect_holds(action.kind, dict(action.params), machine, maints):
            self._store.journal(
                now, "mismatch", describe(action), "read back after the write",
                request=request_of(action), result=f"Vast shows {_summary(machine)}", ok=False,
                action_key=action.key(),
            )
            log.warning("readback_mismatch", action=describe(action), machine=_summary(machine))

    def _journal(self, now: datetime, action: Action, request: dict[str, object], result: str, *, ok: bool) -> None:
        try:
            self._store.journal(
                now, action.kind.value, describe(action), action.reason, request=request, result=result, ok=ok,
                action_key=action.key(),
            )
        except StateError as exc:
            log.error("journal_write_failed", error=str(exc))
        if self._metrics is not None:
            self._metrics.observe_action(action.kind.value, "ok" if ok else "error")
        log.info("action", action=describe(action), why=action.reason, result=result, ok=ok)


def _summary(machine: MachineState) -> str:
    return (
        f"listed={machine.listed} price={machine.listed_gpu_cost} min_bid={machine.min_bid_price} "
        f"end_date={machine.end_date} defjob={machine.bid_image}"
    )
