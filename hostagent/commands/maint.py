"""`hostagent maint list|add|cancel`: maintenance windows: configured, the operator's, and on Vast.

list    the configured windows expanded over `--days` (35), the operator's windows (queued, sent, refused,
        cancelled) and the windows Vast holds, each marked with where it came from (read from Vast; when
        Vast cannot be read, the last ones the agent saw).
add     queue a one-off window for the agent: recorded in the state store (`operator_maints`) and journaled
        (kind `operator`: who, what). The agent's next reconcile sends the notice through its one write path
        (API gate, intent, call, read-back, journal row `schedule_maint`) and keeps it: it is never a stray.
        Shows the window as Vast will hold it (whole hours). A start in the past or more than a year ahead,
        a length over 14 days, or a window that overlaps another (configured, operator's, or on Vast) is
        refused as a usage error with the reason.
cancel  queue a cancel of the machine's windows on Vast (Vast's cancel removes every window of the machine;
        the agent schedules configured windows again when they come within `lead_time_h`); the operator's
        windows are cancelled with it.
The command itself never writes to Vast: with no agent running, the request waits for the agent's first
reconcile (`hostagent run --once` sends it now). The agent sends it in enforce mode only (observe mode: it
journals `would_send`). add and cancel ask first unless `--yes`. The machine is found by the agent's own lookup
and must be the one the agent recorded (hostagent.service.identity; a mismatch is journaled).
Exit codes: 0 queued; 1 the answer was no, or the state store could not take it; 2 usage (bad --start/--tz/
--duration-h, an overlap); 67 Vast refused the key; 68 no machine with this hostname, several, or not the one
recorded; 69 Vast unreachable or deferring our calls; 77 the state store belongs to another user; 78 invalid config
or unsafe key file. docs/maintenance.md has the whole story and an example.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from hostagent.commands import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_KEY_REFUSED,
    EXIT_NO_MACHINE,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    config_or_report,
    require_state_access,
)

if TYPE_CHECKING:
    from hostagent.config.model import Config
    from hostagent.core.model import MachineState
    from hostagent.service.operator import OperatorWrites

CATEGORIES = ("power", "internet", "disk", "gpu", "software", "other")
MAX_DURATION_H = 24 * 14  # a longer notice is a decommission, not maintenance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="list|add|cancel")
    listing = sub.add_parser("list", help="configured windows, the operator's, and the ones Vast holds")
    listing.add_argument("--days", type=int, default=35, help="how far ahead to expand configured windows (35)")
    add = sub.add_parser("add", help="queue a one-off maintenance window; the agent notifies Vast")
    add.add_argument("--start", required=True, metavar="'YYYY-MM-DD HH:MM'", help="local start time in --tz")
    add.add_argument("--duration-h", type=float, required=True, metavar="H",
                     help="hours (sent to Vast as whole hours, rounded up)")
    add.add_argument("--category", default="other", choices=CATEGORIES)
    add.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA zone of --start (UTC)")
    add.add_argument("--reason", default="hostagent maint add", metavar="TEXT", help="why, for the journal")
    add.add_argument("--yes", action="store_true", help="do not ask")
    cancel = sub.add_parser("cancel", help="queue a cancel of the machine's maintenance windows on Vast")
    cancel.add_argument("--reason", default="hostagent maint cancel", metavar="TEXT", help="why, for the journal")
    cancel.add_argument("--yes", action="store_true", help="do not ask")


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.commands.maint_list import list_windows  # noqa: PLC0415
    from hostagent.errors import SecretError, StateError  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")
    config = config_or_report(args.config, "maint")
    if config is None:
        return EXIT_CONFIG
    # Before anything is read: list reads the store and add/cancel write into it (another user: exit 77).
    require_state_access(config.agent.state_dir)
    try:
        key = bootstrap.api_key(config)
    except SecretError as exc:
        if args.action == "list":  # listing works offline: the config and what the agent last saw
            return list_windows(config, None, args.days, offline=f"no usable API key: {exc}")
        print("hostagent maint: cannot start:", str(exc), sep="\n  ", file=sys.stderr)
        return EXIT_CONFIG
    try:
        parts = bootstrap.build_operator(config, key, read_only=args.action == "list")
    except StateError as exc:
        print(f"hostagent maint: cannot open the state store, where the agent takes the request from; nothing "
              f"queued: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        if args.action == "list":
            return list_windows(config, parts.writes, args.days)
        return _add(config, parts.writes, args) if args.action == "add" else _cancel(config, parts.writes, args)
    finally:
        parts.close()


def _now() -> datetime:
    from hostagent import bootstrap  # noqa: PLC0415

    return bootstrap.wall_clock().now()


def fmt(start: datetime, end: datetime, zone: str) -> str:
    """A window as dates: UTC first, then the zone it was given in."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    local, local_end = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    return (f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC "
            f"({local:%a %Y-%m-%d %H:%M} → {local_end:%a %H:%M} {zone})")


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    print(f"{question} [y/N] ", end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _start_from_args(args: argparse.Namespace, now: datetime) -> datetime:
    """The UTC start; raises ValueError naming the bad flag and the limit it breaks."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    from hostagent.core.maintenance import VAST_HORIZON  # noqa: PLC0415

    try:
        zone = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--tz {args.tz!r}: not an IANA time zone (e.g. UTC, Europe/Berlin)") from None
    try:
        local = datetime.strptime(args.start, "%Y-%m-%d %H:%M")  # noqa: DTZ007 -- read in --tz just below
    except ValueError:
        raise ValueError(f"--start {args.start!r}: use 'YYYY-MM-DD HH:MM'") from None
    if not 0 < args.duration_h <= MAX_DURATION_H:
        raise ValueError(f"--duration-h {args.duration_h:g}: must be above 0 and at most {MAX_DURATION_H}")
    start = local.replace(tzinfo=zone).astimezone(timezone.utc)
    if not now < start < now + VAST_HORIZON:
        raise ValueError(f"--start {args.start} {args.tz}: Vast takes a start in the future and within a year "
                         f"(now {now:%Y-%m-%d %H:%M} UTC)")
    return start


def _found(writes: OperatorWrites) -> MachineState | int:
    """This host's machine read from Vast now, as the agent recorded it; else the exit code, after saying why.
    A mismatch is journaled by the identity guard (kind `identity_mismatch`)."""
    from hostagent.errors import VastAuthError, VastError, VastWrongMachine  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    try:
        return writes.machine(_now())
    except VastWrongMachine as exc:
        print(f"hostagent maint: nothing queued: {exc}", file=sys.stderr)
        return EXIT_NO_MACHINE
    except LookupError as exc:
        print(f"hostagent maint: cannot find the machine on Vast, nothing queued: {exc}", file=sys.stderr)
        return EXIT_NO_MACHINE
    except ApiDeferred as exc:
        print(f"hostagent maint: nothing queued: {exc.reason}", file=sys.stderr)
        return EXIT_KEY_REFUSED if "refused the API key" in exc.reason else EXIT_UNAVAILABLE
    except VastAuthError as exc:
        print(f"hostagent maint: nothing queued: Vast refused the API key: {exc}", file=sys.stderr)
        return EXIT_KEY_REFUSED
    except VastError as exc:
        print(f"hostagent maint: cannot check the machine on Vast, nothing queued: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _add(config: Config, writes: OperatorWrites, args: argparse.Namespace) -> int:  # noqa: PLR0911 -- each refusal
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.commands.maint_list import overlapping  # noqa: PLC0415
    from hostagent.core.maintenance import operator_window, vast_duration_h  # noqa: PLC0415
    from hostagent.core.operator_maint import OperatorWindow  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415

    now = _now()
    try:
        start = _start_from_args(args, now)
    except ValueError as exc:
        print(f"hostagent maint add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    machine = _found(writes)
    if isinstance(machine, int):
        return machine
    window = OperatorWindow(
        id=f"op-{now:%Y%m%d-%H%M%S}", machine_id=machine.id, start=start, duration_h=args.duration_h,
        category=args.category, reason=args.reason, by=bootstrap.operator_name(), added_at=now, timezone=args.tz,
    )
    held = operator_window(window)
    try:
        clash = overlapping(config, writes, machine.id, held.start, held.vast_end, now)
    except StateError as exc:
        print(f"hostagent maint: cannot read the state store, nothing queued: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if clash is not None:
        print(f"hostagent maint add: the window {fmt(held.start, held.vast_end, args.tz)} overlaps {clash}; "
              "cancel or move one of them first", file=sys.stderr)
        return EXIT_USAGE
    hours = vast_duration_h(held)
    rounded = f" ({args.duration_h:g} h asked; Vast keeps whole hours)" if hours != args.duration_h else ""
    print(f"machine {machine.id}: Vast will hold {fmt(held.start, held.vast_end, args.tz)}, {hours:g} h{rounded}, "
          f"category {args.category}; renters are notified when the agent sends it")
    if not _confirm("Queue it for the agent?", args.yes):
        print("nothing queued")
        return EXIT_FAILURE
    try:
        window, not_journaled = writes.queue(window, now)
    except StateError as exc:
        print(f"hostagent maint: the state store refused the window, nothing queued: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not_journaled is not None:
        print(f"hostagent maint: queued, but not journaled: {not_journaled}", file=sys.stderr)
    print(f"queued {window.id} (by {window.by}). {_who_sends(config)}")
    return EXIT_OK


def _cancel(config: Config, writes: OperatorWrites, args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.core.operator_maint import OperatorCancel  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415

    machine = _found(writes)
    if isinstance(machine, int):
        return machine
    print(f"machine {machine.id}: Vast cancels EVERY scheduled maintenance window of this machine, and the operator "
          f"windows queued here go with them. Configured windows are scheduled again by the agent (enforce mode) "
          f"once within lead_time_h {config.maintenance.lead_time_h:g}.")
    if not _confirm("Queue the cancel for the agent?", args.yes):
        print("nothing queued")
        return EXIT_FAILURE
    now = _now()
    cancel = OperatorCancel(f"cancel-{now:%Y%m%d-%H%M%S}", machine.id, now, bootstrap.operator_name())
    try:
        dropped, not_journaled = writes.request_cancel(cancel, args.reason, now)
    except StateError as exc:
        print(f"hostagent maint: the state store refused the cancel, nothing queued: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not_journaled is not None:
        print(f"hostagent maint: queued, but not journaled: {not_journaled}", file=sys.stderr)
    print(f"cancel queued ({cancel.id}, by {cancel.by}); {dropped} operator window(s) cancelled. {_who_sends(config)}")
    return EXIT_OK


def _who_sends(config: Config) -> str:
    """Who sends it, and when: the running agent at its next reconcile, or the agent once it starts."""
    from hostagent.commands.status_view import daemon_state  # noqa: PLC0415

    mode = "" if config.agent.mode == "enforce" else (
        f" NOTE: agent.mode is {config.agent.mode!r}: the agent journals it as would_send and sends nothing "
        "until agent.mode = \"enforce\".")
    daemon = daemon_state(config.agent.state_dir)
    if daemon.running:
        pid = f" (pid {daemon.pid})" if daemon.pid is not None else ""
        return (f"The running agent{pid} sends it at its next reconcile (within reconcile_s "
                f"{config.agent.reconcile_s:g} s; `hostagent maint list` shows when it is sent).{mode}")
    return ("No agent is running on this state directory: it waits for the agent's first reconcile "
            f"(start the service, or send it now with `hostagent run --once`).{mode}")
