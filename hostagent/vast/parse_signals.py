"""Vast's signals about the machine, checked where they enter: verification, reliability, offline, errors, reports.

These fields plan no write (only the opt-in `health.unlist_when_vast_offline` acts on one), so a value that
is the right JSON type but absurd (a reliability of 7, a negative timeout, a verification word Vast never
used) reads as unknown (None) and is logged, instead of refusing the whole machine record that every write
is planned from. A value of the wrong JSON type still raises `VastBadReply`, like every other field.
A renter report is news on its own, so an absurd one is a `VastBadReply` for the reports reply.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import structlog

from hostagent.core.model import MAX_EPOCH_S, MachineReport

if TYPE_CHECKING:  # parse imports this module to read a machine: the import at run time would go in a circle
    from hostagent.vast.parse import Fields

log = structlog.get_logger(__name__)

VERIFICATION_STATES = frozenset({"verified", "unverified", "deverified"})
MAX_ERROR_CHARS = 300  # Vast's red line is one sentence; a longer one is cut (status, events, notifications)
MAX_REPORTS = 1_000_000  # a count beyond this is no machine's
MAX_REPORT_CHARS = 2000  # a renter's message is shown whole up to this length


def _unknown(f: Fields, key: str, what: str) -> None:
    log.warning("vast_field_not_understood", endpoint=f.endpoint, field=f.name(key), expected=what,
                got=repr(f.raw(key))[:40])


def verification(f: Fields) -> str | None:
    value = f.opt_str("verification")
    if value is None:
        return None
    if value.strip().lower() not in VERIFICATION_STATES:
        _unknown(f, "verification", "verified, unverified or deverified")
        return None
    return value.strip().lower()


def reliability(f: Fields) -> float | None:
    """`reliability2` (what the CLI shows as "reliab"), else `reliability`: a fraction 0..1."""
    for key in ("reliability2", "reliability"):
        value = f.opt_float(key)
        if value is None:
            continue
        if not 0.0 <= value <= 1.0:
            _unknown(f, key, "a fraction 0..1")
            return None
        return value
    return None


def timeout_s(f: Fields) -> float | None:
    """Seconds since Vast last heard from the machine (0 = online)."""
    value = f.opt_float("timeout")
    if value is not None and not 0.0 <= value <= MAX_EPOCH_S:
        _unknown(f, "timeout", f"seconds 0..{MAX_EPOCH_S:.0f}")
        return None
    return value


def error_description(f: Fields) -> str | None:
    """The red error line; blank means none. One line, cut at MAX_ERROR_CHARS."""
    value = f.opt_str("error_description")
    if value is None:
        return None
    text = " ".join(value.split())
    if not text:
        return None
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def num_reports(f: Fields) -> int | None:
    value = f.opt_int("num_reports")
    if value is not None and not 0 <= value <= MAX_REPORTS:
        _unknown(f, "num_reports", f"a count 0..{MAX_REPORTS}")
        return None
    return value


def _text(f: Fields, key: str, *, required: bool) -> str:
    value = f.str_(key) if required else (f.opt_str(key) or "")
    text = " ".join(value.split())
    if required and not text:
        f.fail(f.name(key), "empty")
    return text if len(text) <= MAX_REPORT_CHARS else text[: MAX_REPORT_CHARS - 3] + "..."


def report(f: Fields) -> MachineReport:
    """`created_at` is epoch seconds (0..year 3000); an older spec sent an ISO date-time string, also accepted."""
    raw = f.raw("created_at")
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            f.fail(f.name("created_at"), "expected epoch seconds or ISO date-time", raw)
        created_at = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
        if not 0.0 <= created_at <= MAX_EPOCH_S:
            f.fail(f.name("created_at"), f"time outside 0..{MAX_EPOCH_S:.0f} epoch s", raw)
    else:
        created_at = f.epoch("created_at")
    return MachineReport(problem=_text(f, "problem", required=True), message=_text(f, "message", required=False),
                         created_at=created_at)
