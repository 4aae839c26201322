"""The checks of `[notify]` values, and the one parser of `quiet_hours` (the notifier reads it too)."""

from __future__ import annotations

import json
from datetime import time
from typing import Any

from hostagent.config.convert import suggest
from hostagent.config.model import EVENT_KIND_NAMES, EVENT_KINDS_ALL


def event_kinds(value: Any) -> str | None:
    """A destination's `events`: EventKind values, or "all"; at least one."""
    if not value:
        return f'must name at least one event kind, or "{EVENT_KINDS_ALL}"'
    unknown = [v for v in value if v not in (*EVENT_KIND_NAMES, EVENT_KINDS_ALL)]
    if unknown:
        hint = suggest(str(unknown[0]), [*EVENT_KIND_NAMES, EVENT_KINDS_ALL])
        return (f'unknown event kind {json.dumps(unknown[0])}{hint}: use "{EVENT_KINDS_ALL}" or any of '
                + ", ".join(EVENT_KIND_NAMES))
    return None


def destination_name(value: Any) -> str | None:
    """Names a systemd credential (`notify_<name>`) and a metrics label: letters, digits, `-` and `_`."""
    if not value or len(value) > 64 or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in value):
        return f"must be 1 to 64 letters, digits, '-' or '_' (it names the credential notify_<name>), got {value!r}"
    return None


def quiet_hours(value: Any) -> str | None:
    """"" (off) or "HH:MM-HH:MM" (past midnight when the end is earlier); equal ends are refused."""
    if value == "":
        return None
    span = parse_quiet_hours(str(value))
    if span is None:
        return f'expected "HH:MM-HH:MM" such as "23:00-07:00", or "" for none, got {json.dumps(value)}'
    if span[0] == span[1]:
        return "start and end are equal: a whole day of quiet would hold every non-critical event for ever"
    return None


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """("23:00-07:00") -> (23:00, 07:00); None for "" or anything malformed."""
    start, sep, end = text.partition("-")
    first, last = _hh_mm(start), _hh_mm(end)
    if not sep or first is None or last is None:
        return None
    return first, last


def _hh_mm(text: str) -> time | None:
    hour, sep, minute = text.strip().partition(":")
    digits = sep and len(hour) == 2 and len(minute) == 2 and hour.isdigit() and minute.isdigit()
    if digits and int(hour) < 24 and int(minute) < 60:
        return time(int(hour), int(minute))
    return None
