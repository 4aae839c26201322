"""`hostagent maint list`, and the overlap check of `maint add`: every window of the machine, by origin.

Three kinds of window, shown apart: configured (`[[maintenance.windows]]`, notified by the agent within
`lead_time_h`), the operator's (`maint add`: queued until the agent sends it, then sent; or refused, or
cancelled), and the ones Vast holds, each marked configured / operator / not scheduled by hostagent (Vast's
own, the web console, the `vastai` CLI).
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_FAILURE, EXIT_OK
from hostagent.commands.maint import fmt

if TYPE_CHECKING:
    from hostagent.config.model import Config
    from hostagent.core.maintenance import ConcreteWindow
    from hostagent.core.model import VastMaintenance
    from hostagent.core.operator_maint import OperatorMaints, OperatorWindow
    from hostagent.service.operator import OperatorWrites

_STATE_TEXT = {
    "queued": "queued: the agent sends it at its next reconcile",
    "sent": "sent by the agent",
    "refused": "not sent",
    "cancelled": "cancelled",
}


class _Offline(Exception):
    """Vast cannot be asked (no usable key): the windows come from the state store."""


def _now() -> datetime:
    from hostagent import bootstrap  # noqa: PLC0415

    return bootstrap.wall_clock().now()


def list_windows(config: Config, writes: OperatorWrites | None, days: int, offline: str | None = None) -> int:
    from hostagent.core.maintenance import upcoming_windows  # noqa: PLC0415
    from hostagent.errors import StateError, VastError  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    now = _now()
    configured = upcoming_windows(config.maintenance, now, timedelta(days=days))
    machine_id = _machine_id(writes) if writes is not None else _recorded_machine_id(config)
    if machine_id is None and writes is not None:
        print("on Vast: machine not found (set [machine] id)", file=sys.stderr)
        return EXIT_FAILURE
    held: list[VastMaintenance] = []
    try:
        if writes is None or machine_id is None:
            raise _Offline(offline or "offline")
        held = writes.maints(machine_id, now)
        source = "read from Vast now"
    except (VastError, ApiDeferred, _Offline) as exc:
        with contextlib.suppress(StateError):
            held = _stored_windows(config)
        source = f"Vast not asked or unreachable ({exc}); last seen by the agent"
    ops = _operator(config, writes)
    mine = [w for w in ops.windows if machine_id is None or w.machine_id == machine_id]
    print(f"configured (next {days} days, lead_time_h {config.maintenance.lead_time_h:g}; "
          "as Vast holds them, in whole hours):")
    for w in configured:
        status = "held by Vast" if _held_by(w, held) else "not notified yet"
        print(f"  {w.name:<20} {fmt(w.start, w.vast_end, w.timezone)}  {w.category}  {status}")
    if not configured:
        print("  none")
    print("operator (hostagent maint add; sent by the agent):")
    for op in mine:
        print(f"  {_operator_line(op, held, now)}")
    if not mine:
        print("  none")
    if ops.cancel is not None and (machine_id is None or ops.cancel.machine_id == machine_id):
        print(f"  cancel of every window queued by {ops.cancel.by} at {ops.cancel.requested_at:%Y-%m-%d %H:%M} UTC "
              f"({ops.cancel.id}): the agent sends it at its next reconcile")
    print(f"on Vast for machine {machine_id if machine_id is not None else '(id unknown)'} ({source}):")
    for m in held:
        start, end = (datetime.fromtimestamp(t, tz=timezone.utc) for t in (m.start_time, m.end_time))
        wid = m.id if m.id else "?"
        print(f"  id {wid!s:<18} {fmt(start, end, 'UTC')}  {m.category}  {_origin(m, configured, mine)}")
    if not held:
        print("  none")
    return EXIT_OK


def _operator_line(op: OperatorWindow, held: list[VastMaintenance], now: datetime) -> str:
    from hostagent.core.maintenance import operator_window  # noqa: PLC0415

    window = operator_window(op)
    state = _STATE_TEXT[op.state]
    if op.state == "sent":
        state += ", held by Vast" if _held_by(window, held) else ", NOT held by Vast now (not sent again)"
    if op.end <= now:
        state += ", ended"
    result = f" ({op.result})" if op.result and op.state != "sent" else ""
    return (f"{op.id:<20} {fmt(window.start, window.vast_end, op.timezone)}  {op.category}  {state}{result}; "
            f"by {op.by}: {op.reason}")


def _held_by(window: ConcreteWindow, held: list[VastMaintenance]) -> bool:
    from hostagent.core.maintenance import matches  # noqa: PLC0415

    return any(matches(v, window) for v in held)


def _origin(vast: VastMaintenance, configured: list[ConcreteWindow], ops: list[OperatorWindow]) -> str:
    from hostagent.core.maintenance import matches, operator_window  # noqa: PLC0415

    for w in configured:
        if matches(vast, w):
            return f"configured: {w.name}"
    for op in ops:
        if matches(vast, operator_window(op)):
            return f"operator: {op.id}"
    return "not scheduled by hostagent (Vast's own, the web console or the vastai CLI)"


def overlapping(  # noqa: PLR0917 -- the machine and the window it would hold
    config: Config, writes: OperatorWrites, machine_id: int, start: datetime, end: datetime, now: datetime
) -> str | None:
    """What the window [start, end) would overlap: a configured window, a live operator window of the machine,
    or a window Vast holds (read now; the last ones the agent saw when Vast cannot be read). Raises StateError."""
    from hostagent.core.maintenance import VAST_HORIZON, operator_window, upcoming_windows  # noqa: PLC0415
    from hostagent.core.operator_maint import overlap  # noqa: PLC0415
    from hostagent.errors import VastError  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    others = [(f"configured window '{w.name}'", w.start, w.vast_end)
              for w in upcoming_windows(config.maintenance, now, VAST_HORIZON)]
    for op in writes.recorded().for_machine(machine_id):
        if op.live and op.end > now:
            window = operator_window(op)
            others.append((f"operator window {op.id} ({op.state})", window.start, window.vast_end))
    try:
        held = [(v.start_time, v.end_time, v.id) for v in writes.maints(machine_id, now)]
    except (VastError, ApiDeferred):
        held = [(v.start_time, v.end_time, v.id) for v in _stored_windows(config)]
    others += [(f"the window Vast holds (id {i})", datetime.fromtimestamp(s, tz=timezone.utc),
                datetime.fromtimestamp(e, tz=timezone.utc)) for s, e, i in held]
    return overlap(start, end, others)


def _operator(config: Config, writes: OperatorWrites | None) -> OperatorMaints:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.core.operator_maint import OPERATOR_MAINTS_KEY, OperatorMaints  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415
    from hostagent.service import operator_maints  # noqa: PLC0415

    try:
        if writes is not None:
            return writes.recorded()
        if not (config.agent.state_dir / "state.db").exists():
            return OperatorMaints()
        with bootstrap.open_store(config.agent.state_dir, read_only=True) as store:
            return operator_maints.parse(store.get(OPERATOR_MAINTS_KEY))
    except StateError:
        return OperatorMaints()


def _machine_id(writes: OperatorWrites) -> int | None:
    """The configured id, the one the agent stored, or this host's machine on Vast (the agent's lookup)."""
    from hostagent.errors import VastError  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    try:
        return writes.machine_id(_now())
    except (VastError, ApiDeferred, LookupError) as exc:
        print(f"hostagent maint: cannot find the machine on Vast: {exc}", file=sys.stderr)
        return None


def _recorded_machine_id(config: Config) -> int | None:
    """Offline: the configured id, or the one the agent recorded (read-only), or None."""
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415
    from hostagent.service.machines import known_machine_id  # noqa: PLC0415

    if config.machine.id is not None or not (config.agent.state_dir / "state.db").exists():
        return config.machine.id
    try:
        with bootstrap.open_store(config.agent.state_dir, read_only=True) as store:
            return known_machine_id(None, store)
    except StateError:
        return None


def _stored_windows(config: Config) -> list[VastMaintenance]:
    """The windows in the last status document (hostagent.service.status_doc: maintenance.vast_windows)."""
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.core.model import VastMaintenance  # noqa: PLC0415

    if not (config.agent.state_dir / "state.db").exists():
        return []
    with bootstrap.open_store(config.agent.state_dir, read_only=True) as store:
        saved = store.load_status()
    stored = saved[0].get("maintenance", {}).get("vast_windows", []) if saved else []
    windows = []
    for w in stored:
        start_s = datetime.fromisoformat(w["start"]).timestamp()
        hours = (datetime.fromisoformat(w["end"]).timestamp() - start_s) / 3600.0
        windows.append(VastMaintenance(0, -1, start_s, hours, w["category"]))
    return windows
