"""`hostagent journal [--since 2h|ISO] [--kind K] [--limit N] [--json]`: the action journal, oldest first.

Every decision the agent took and every call it sent (or, in observe mode, would have sent), with why
and what came back. Read-only. Exit codes: 0 shown (also when nothing matched); 1 no state yet or the
store cannot be read; 2 a bad --since, an unknown --kind (the known ones listed) or a negative --limit; 78 invalid
config.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_or_report, require_state_access

if TYPE_CHECKING:
    from hostagent.store import JournalEntry

# Every kind a journal row can have: the writes (hostagent.core.model.ActionKind, kept equal by a test) and the
# agent's and operator's own rows. An unknown --kind is a typo, not a filter that matches nothing.
ACTION_KINDS = (
    "list_machine", "unlist_machine", "set_min_bid", "schedule_maint", "cancel_maint", "set_defjob",
    "remove_defjob", "cleanup_machine",
)
JOURNAL_KINDS = (
    "decision", *ACTION_KINDS, "would_send", "mismatch", "intent_resolved", "identity_mismatch", "operator",
    "event",
)
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN", help="2h, 30m, 7d, 1w, or an ISO time (naive = UTC)")
    parser.add_argument(
        "--kind", choices=JOURNAL_KINDS, metavar="K", help="only this kind: " + ", ".join(JOURNAL_KINDS)
    )
    parser.add_argument("--limit", type=count, default=50, metavar="N", help="the newest N entries (50; 0 = all)")
    parser.add_argument("--json", action="store_true", help="a JSON array of entries")


def count(text: str) -> int:
    """A whole number >= 0, else argparse's usage error (exit 2) saying so."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def parse_since(text: str, now: datetime) -> datetime:
    """'2h' -> now - 2 h; an ISO time (naive read as UTC). Raises ValueError with what is accepted."""
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS_S[match.group(2)])
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: use a duration like 30m, 2h, 7d, 1w or an ISO time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def entry_json(e: JournalEntry) -> dict[str, object]:
    return {
        "id": e.id, "at": e.at.isoformat(), "kind": e.kind, "what": e.what, "why": e.why,
        "request": e.request, "result": e.result, "ok": e.ok, "action_key": e.action_key,
    }


def entry_text(e: JournalEntry) -> str:
    mark = "ok  " if e.ok else "FAIL"
    lines = [f"{e.at:%Y-%m-%d %H:%M:%S}Z {mark} {e.kind}: {e.what}"]
    if e.why:
        lines.append(f"    why: {e.why}")
    if e.result:
        lines.append(f"    result: {e.result}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415

    config = config_or_report(args.config, "journal")
    if config is None:
        return EXIT_CONFIG
    try:
        since = parse_since(args.since, bootstrap.wall_clock().now()) if args.since else None
    except ValueError as exc:
        print(f"hostagent journal: {exc}", file=sys.stderr)
        return EXIT_USAGE
    state_dir = config.agent.state_dir
    require_state_access(state_dir)  # another user on the service's 0700 directory: exit 77
    if not (state_dir / "state.db").exists():
        print(f"hostagent journal: no state yet in {state_dir} (the agent has not run)", file=sys.stderr)
        return EXIT_FAILURE
    try:
        with bootstrap.open_store(state_dir, read_only=True) as store:
            entries = store.journal_entries(since=since, limit=args.limit or None, kind=args.kind)
    except StateError as exc:
        print(f"hostagent journal: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps([entry_json(e) for e in entries], indent=2, ensure_ascii=False))
    elif entries:
        print("\n".join(entry_text(e) for e in entries))
    else:
        print("no journal entries match", file=sys.stderr)
    return EXIT_OK
