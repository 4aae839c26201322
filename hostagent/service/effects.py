"""What an action does, in terms of what Vast shows: `effect_holds` and the helpers around action params.

The reconciler uses it to skip writes whose effect is already there, to check the read-back after a
write, and to resolve write-ahead intents after a crash (from the request saved with the intent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from hostagent.core.model import Action, ActionKind, DesiredListing, MachineState, VastMaintenance
from hostagent.core.plan import listing_diffs

PRICE_EPS = 0.0005  # Vast echoes prices as floats; closer than this is the same price
_LISTING_FIELDS = {f.name for f in dataclasses.fields(DesiredListing)}


def _close(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < PRICE_EPS
    return a == b


def first(params: Mapping[str, object], *names: str) -> object:
    for name in names:
        if name in params:
            return params[name]
    return None


def fnum(params: Mapping[str, object], *names: str, default: float | None = None) -> float:
    value = first(params, *names)
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
    start = first(params, "start_epoch_s", "start_time", "start")
    if not isinstance(start, (int, float)):
        return False
    return any(abs(m.start_time - float(start)) < 1.0 for m in maints)  # Vast keeps whole seconds


def _defjob_holds(params: Mapping[str, object], machine: MachineState, _maints: Sequence[VastMaintenance]) -> bool:
    price = first(params, "price_gpu", "price_usd_per_gpu_hour")
    return machine.bid_image == first(params, "image") and (price is None or _close(price, machine.bid_gpu_cost))


_Check = Callable[[Mapping[str, object], MachineState, Sequence[VastMaintenance]], bool]
_HOLDS: dict[ActionKind, _Check] = {
    ActionKind.LIST: _list_holds,
    ActionKind.UNLIST: lambda _p, m, _x: not m.listed,
    ActionKind.SET_MIN_BID: lambda p, m, _x: _close(
        first(p, "price_usd_per_gpu_hour", "min_bid_usd_per_gpu_hour", "price"), m.min_bid_price
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
