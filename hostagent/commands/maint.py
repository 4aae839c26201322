"""`hostagent maint list|add|cancel`: maintenance windows, configured and on Vast.

list    the configured windows expanded over `--days` (35), then the windows Vast holds for the machine
        (read from Vast; when Vast cannot be read, the last ones the agent saw, from the state store).
add     schedule a one-off notice with Vast now. An explicit operator command, so it writes in observe
        mode too. The agent never cancels a window it did not schedule (Vast's cancel removes every window
        of the machine); it plans around it, and this prints the `[[maintenance.windows]]` block to add
        unless the config already has the window. Windows show as Vast holds them: whole hours.
cancel  cancel the machine's windows on Vast (Vast's cancel removes every window of the machine; the
        agent schedules configured windows again when they come within `lead_time_h`).
add and cancel ask first unless `--yes`, then go through the agent's one write path
(hostagent.service.operator: the API gate, the intent, the call, the read-back, the journal; kind `operator`
records who asked). The machine is found by the agent's own lookup and must be the one the agent recorded
(hostagent.service.identity); otherwise nothing is sent and the refusal is journaled (kind `identity_mismatch`).
While Vast defers the agent (a persisted 429 `not_before`) or refuses the key, nothing is sent.
Exit codes: 0 done; 1 Vast refused, deferred or could not be reached, the machine is not the one recorded, the
state store could not take the intent, or the answer was no; 2 usage (bad --start/--tz/--duration-h); 78 invalid
config or unsafe key file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_or_report, require_state_access

if TYPE_CHECKING:

    from hostagent.config.model import Config
    from hostagent.core.maintenance import ConcreteWindow
    from hostagent.service.operator import OperatorResult, OperatorWrites

CATEGORIES = ("power", "internet", "disk", "gpu", "software", "other")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="list|add|cancel")
    listing = sub.add_parser("list", help="configured windows and the ones Vast holds")
    listing.add_argument("--days", type=int, default=35, help="how far ahead to expand configured windows (35)")
    add = sub.add_parser("add", help="schedule a one-off maintenance notice with Vast now")
    add.add_argument("--start", required=True, metavar="'YYYY-MM-DD HH:MM'", help="local start time in --tz")
    add.add_argument("--duration-h", type=float, required=True, metavar="H", help="hours (Vast rounds up to whole)")
    add.add_argument("--category", default="other", choices=CATEGORIES)
    add.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA zone of --start (UTC)")
    add.add_argument("--yes", action="store_true", help="do not ask")
    cancel = sub.add_parser("cancel", help="cancel the machine's maintenance windows on Vast")
    cancel.add_argument("--yes", action="store_true", help="do not ask")


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import SecretError, StateError  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")
    config = config_or_report(args.config, "maint")
    if config is None:
        return EXIT_CONFIG
    # Before anything is sent: list reads the store and add/cancel journal into it (another user: exit 77).
    require_state_access(config.agent.state_dir)
    try:
        key = bootstrap.api_key(config)
    except SecretError as exc:
        if args.action == "list":  # listing works offline: the config and what the agent last saw
            return _list(config, None, args.days, offline=f"no usable API key: {exc}")
        print("hostagent maint: cannot start:", str(exc), sep="\n  ", file=sys.stderr)
        return EXIT_CONFIG
    try:
        parts = bootstrap.build_operator(config, key, read_only=args.action == "list")
    except StateError as exc:
        print(f"hostagent maint: cannot open the state store, which takes the intent before a write; nothing "
              f"sent: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        return _dispatch(config, parts.writes, args)
    finally:
        parts.close()


def _dispatch(config: Config, writes: OperatorWrites, args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(config, writes, args.days)
    if args.action == "add":
        return _add(config, writes, args)
    return _cancel(config, writes, args.yes)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _machine_id(writes: OperatorWrites) -> int | None:
    """The configured id, the one the agent stored, or this host's machine on Vast (the agent's lookup)."""
    from hostagent.errors import VastError  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    try:
        return writes.machine_id(_now())
    except (VastError, ApiDeferred, LookupError) as exc:
        print(f"hostagent maint: cannot find the machine on Vast: {exc}", file=sys.stderr)
        return None


def _fmt(start: datetime, end: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    local = start.astimezone(ZoneInfo(zone))
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC ({local:%a %Y-%m-%d %H:%M} {zone})"


def _list(config: Config, writes: OperatorWrites | None, days: int, offline: str | None = None) -> int:
    from hostagent.core.maintenance import upcoming_windows  # noqa: PLC0415
    from hostagent.errors import StateError, VastError  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    windows = upcoming_windows(config.maintenance, _now(), timedelta(days=days))
    print(f"configured (next {days} days, lead_time_h {config.maintenance.lead_time_h:g}; "
          "as Vast holds them, in whole hours):")
    for w in windows:
        # As Vast will hold it: whole hours, so a fractional window shows its rounded-up end
        print(f"  {w.name:<20} {_fmt(w.start, w.vast_end, w.timezone)}  {w.category}")
    if not windows:
        print("  none")
    machine_id = _machine_id(writes) if writes is not None else _recorded_machine_id(config)
    if machine_id is None and writes is not None:
        print("on Vast: machine not found (set [machine] id)", file=sys.stderr)
        return EXIT_FAILURE
    held: list[tuple[float, float, str, object]] = []
    try:
        if writes is None or machine_id is None:
            raise _Offline(offline or "offline")
        held = [(m.start_time, m.end_time, m.category, m.id) for m in writes.maints(machine_id, _now())]
        source = "read from Vast now"
    except (VastError, ApiDeferred, _Offline) as exc:
        with contextlib.suppress(StateError):
            held = _stored_windows(config)
        source = f"Vast not asked or unreachable ({exc}); last seen by the agent"
    print(f"on Vast for machine {machine_id if machine_id is not None else '(id unknown)'} ({source}):")
    for start_s, end_s, category, wid in held:
        start, end = (datetime.fromtimestamp(t, tz=timezone.utc) for t in (start_s, end_s))
        print(f"  id {wid!s:<18} {_fmt(start, end, 'UTC')}  {category}")
    if not held:
        print("  none")
    return EXIT_OK


class _Offline(Exception):
    """Vast cannot be asked (no usable key): the windows come from the state store."""


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


def _stored_windows(config: Config) -> list[tuple[float, float, str, object]]:
    """The windows in the last status document (hostagent.service.status_doc: maintenance.vast_windows)."""
    from hostagent import bootstrap  # noqa: PLC0415

    if not (config.agent.state_dir / "state.db").exists():
        return []
    with bootstrap.open_store(config.agent.state_dir, read_only=True) as store:
        saved = store.load_status()
    stored = saved[0].get("maintenance", {}).get("vast_windows", []) if saved else []
    return [
        (datetime.fromisoformat(w["start"]).timestamp(), datetime.fromisoformat(w["end"]).timestamp(), w["category"],
         "?")
        for w in stored
    ]


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    print(f"{question} [y/N] ", end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _window_from_args(args: argparse.Namespace) -> ConcreteWindow:
    """Raises ValueError naming the bad flag."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    from hostagent.core.maintenance import ConcreteWindow  # noqa: PLC0415

    try:
        zone = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--tz {args.tz!r}: not an IANA time zone (e.g. UTC, Europe/Berlin)") from None
    try:
        local = datetime.strptime(args.start, "%Y-%m-%d %H:%M")  # noqa: DTZ007 -- read in --tz just below
    except ValueError:
        raise ValueError(f"--start {args.start!r}: use 'YYYY-MM-DD HH:MM'") from None
    if not 0 < args.duration_h <= 24 * 14:
        raise ValueError(f"--duration-h {args.duration_h:g}: must be above 0 and at most 336")
    start = local.replace(tzinfo=zone).astimezone(timezone.utc)
    now = datetime.now(timezone.utc)
    if not now < start < now + timedelta(days=365):
        raise ValueError(f"--start {args.start}: Vast takes a start in the future and within a year")
    return ConcreteWindow("operator", start, start + timedelta(hours=args.duration_h), args.category, args.tz)


def _config_block(w: ConcreteWindow) -> str:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    local = w.start.astimezone(ZoneInfo(w.timezone))
    return (
        "[[maintenance.windows]]\n"
        f'name = "one-off {local:%Y-%m-%d}"\n'
        f'start = "{local:%Y-%m-%d %H:%M}"\n'
        f"duration_h = {w.duration_h:g}\n"
        f'timezone = "{w.timezone}"\n'
        f'category = "{w.category}"'
    )


def _add(config: Config, writes: OperatorWrites, args: argparse.Namespace) -> int:
    from hostagent.core.maintenance import VAST_HORIZON, matches, upcoming_windows, vast_duration_h  # noqa: PLC0415
    from hostagent.core.model import VastMaintenance  # noqa: PLC0415

    try:
        window = _window_from_args(args)
    except ValueError as exc:
        print(f"hostagent maint add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    machine_id = _checked_machine(writes)
    if machine_id is None:
        return EXIT_FAILURE
    hours = vast_duration_h(window)
    as_vast = VastMaintenance(0, machine_id, window.start.timestamp(), hours, window.category)
    configured = upcoming_windows(config.maintenance, _now(), VAST_HORIZON)
    in_config = any(matches(as_vast, w) for w in configured)
    print(f"machine {machine_id}: maintenance {_fmt(window.start, window.vast_end, window.timezone)}, "
          f"{hours:g} h notice (Vast keeps whole hours), category {window.category}; renters are notified")
    if not in_config:
        print("NOTE: this window is not in the config. The agent never cancels it (it did not schedule it) and plans "
              "around it (unlisted during it, offers end at its start). To make it part of the plan, add:\n\n"
              + _config_block(window) + "\n")
    if not _confirm("Send the notice to Vast now?", args.yes):
        print("nothing sent")
        return EXIT_FAILURE
    return _report("add", writes.schedule(machine_id, window, _now(), "hostagent maint add"))


def _cancel(config: Config, writes: OperatorWrites, yes: bool) -> int:
    machine_id = _checked_machine(writes)
    if machine_id is None:
        return EXIT_FAILURE
    print(f"machine {machine_id}: Vast cancels EVERY scheduled maintenance window of this machine. Configured windows "
          f"are scheduled again by the agent (enforce mode) once within lead_time_h "
          f"{config.maintenance.lead_time_h:g}.")
    if not _confirm("Cancel them now?", yes):
        print("nothing sent")
        return EXIT_FAILURE
    return _report("cancel", writes.cancel(machine_id, _now(), "hostagent maint cancel"))


def _checked_machine(writes: OperatorWrites) -> int | None:
    """This host's machine read from Vast now, as the agent recorded it (or none is recorded yet); else say why.
    A mismatch is journaled by the identity guard (kind `identity_mismatch`)."""
    from hostagent.errors import VastError, VastWrongMachine  # noqa: PLC0415
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    try:
        return writes.machine(_now()).id
    except VastWrongMachine as exc:
        print(f"hostagent maint: nothing sent: {exc}", file=sys.stderr)
    except ApiDeferred as exc:
        print(f"hostagent maint: nothing sent: {exc.reason}", file=sys.stderr)
    except LookupError as exc:
        print(f"hostagent maint: cannot find the machine on Vast, nothing sent: {exc}", file=sys.stderr)
    except VastError as exc:
        print(f"hostagent maint: cannot check the machine on Vast, nothing sent: {exc}", file=sys.stderr)
    return None


def _report(action: str, result: OperatorResult) -> int:
    why = f"hostagent maint {action}"
    if result.not_journaled is not None:
        print(f"hostagent maint: not journaled: {result.not_journaled}", file=sys.stderr)
    if result.deferred:
        print(f"{why}: nothing sent: {result.text}", file=sys.stderr)
        return EXIT_FAILURE
    if not result.ok:
        print(f"{why}: Vast refused: {result.text}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.text)
    return EXIT_OK
