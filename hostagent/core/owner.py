"""The owner in control: a hold (`hostagent hold`, or a change made outside hostagent), a pause, and how a
change made outside hostagent is told apart from the agent's own writes and Vast's own doings.

Pure: values in, values out. The agent (hostagent.service.owner) reads the state store and Vast and feeds
these functions; `plan()` takes the hold as an input fact.

Two kinds of hold:
- "command" (`hostagent hold`): the machine is kept unlisted (running rentals continue) until release or `until`.
- "outside" (someone listed, unlisted or repriced the machine in Vast's console or with the `vastai` CLI, and
  `agent.outside_changes = "hold"`): hostagent leaves the listing exactly as that person set it, terms included,
  until `hostagent release`. Health and maintenance may still take a listing away (that never harms a renter);
  nothing lists the machine or changes its terms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from hostagent.core.actions import Action, ListMachine, SetMinBid, UnlistMachine
from hostagent.core.model import MachineState

HoldSource = Literal["command", "outside"]
END_DATE_TOLERANCE_S = 60.0
DAY_S = 86400.0
# Vast stores prices as floats and may round what it was sent; a move below this is not somebody's change.
PRICE_TOLERANCE_USD = 0.001
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_UNIT_S = {"m": 60.0, "min": 60.0, "h": 3600.0, "d": DAY_S, "w": 7 * DAY_S}


# The state store keys (kv) of the hold and the pause: written by the commands, read by the agent and `status`.
HOLD_KEY = "owner_hold"
PAUSE_KEY = "owner_pause"

@dataclass(frozen=True, slots=True)
class OwnerHold:
    """The machine is held: see the module docstring for the two sources."""

    by: str  # who: the user who ran `hostagent hold`, or "changed outside hostagent"
    at: datetime
    reason: str
    until: datetime | None = None  # the hold ends by itself then (commands only)
    source: HoldSource = "command"

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def describe(self) -> str:
        """The plan's reason: "held by root at 2026-11-29 01:00 UTC: disk swap (until ...)"."""
        if self.source == "outside":
            return f"{self.reason} (seen {shown(self.at)}); the listing stays as set until `hostagent release`"
        until = f" (until {shown(self.until)})" if self.until is not None else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"held by {self.by} at {shown(self.at)}{reason}{until}"


@dataclass(frozen=True, slots=True)
class OwnerPause:
    """`hostagent pause`: the agent sends no write at all (it still decides and journals `would_send`)."""

    by: str
    at: datetime
    reason: str = ""


def shown(at: datetime | None) -> str:
    """How hold and pause times are written for people, as `status` writes times: "2026-11-29 01:25 UTC"."""
    return "" if at is None else f"{at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def parse_until(text: str, now: datetime) -> datetime:
    """`--until`: an ISO 8601 time (UTC when it names no zone) or a duration from now (90m, 2h, 3d, 1w).
    Raises ValueError for anything else or a time not after `now`."""
    match = _DURATION.match(text)
    if match is not None:
        amount = float(match.group(1))
        if amount <= 0:
            raise ValueError(f"--until {text!r}: a duration must be more than zero")
        return now + timedelta(seconds=amount * _UNIT_S[match.group(2)])
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--until {text!r}: not an ISO time (2026-12-01T08:00Z) nor a duration (90m, 2h, 3d, 1w)"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    if at <= now:
        raise ValueError(f"--until {text!r}: {shown(at)} is not in the future (now {shown(now)})")
    return at


# ---- the stored form (kv `owner_hold`, `owner_pause`): JSON objects, epoch seconds ---------------------------


def hold_to_json(hold: OwnerHold) -> dict[str, object]:
    return {
        "state": "held", "by": hold.by, "at": hold.at.timestamp(), "reason": hold.reason,
        "until": None if hold.until is None else hold.until.timestamp(), "source": hold.source,
    }


def released_json(by: str, at: datetime, why: str) -> dict[str, object]:
    """What `hostagent release` (or the agent, when `until` passed) stores: who released it, when and why."""
    return {"state": "released", "by": by, "at": at.timestamp(), "reason": why}


def pause_to_json(pause: OwnerPause) -> dict[str, object]:
    return {"state": "paused", "by": pause.by, "at": pause.at.timestamp(), "reason": pause.reason}


def resumed_json(by: str, at: datetime) -> dict[str, object]:
    return {"state": "resumed", "by": by, "at": at.timestamp(), "reason": ""}


def _epoch(value: object) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    return None


def hold_from_json(raw: object) -> OwnerHold | None:
    """The stored hold, or None when released, absent or unreadable (an unreadable one holds nothing: the
    command that wrote it checked it, so only a damaged file gets here)."""
    if not isinstance(raw, Mapping) or raw.get("state") != "held":
        return None
    at = _epoch(raw.get("at"))
    source = raw.get("source")
    if at is None or source not in ("command", "outside"):
        return None
    return OwnerHold(
        by=str(raw.get("by", "")), at=at, reason=str(raw.get("reason", "")), until=_epoch(raw.get("until")),
        source="outside" if source == "outside" else "command",
    )


def pause_from_json(raw: object) -> OwnerPause | None:
    if not isinstance(raw, Mapping) or raw.get("state") != "paused":
        return None
    at = _epoch(raw.get("at"))
    return None if at is None else OwnerPause(by=str(raw.get("by", "")), at=at, reason=str(raw.get("reason", "")))


def record_id(raw: object) -> str | None:
    """Identifies one stored hold/pause/release, so the agent emits each change once, across restarts."""
    if not isinstance(raw, Mapping):
        return None
    return f"{raw.get('state')}@{raw.get('at')}"


# ---- changes made outside hostagent ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingSeen:
    """The listing fields an owner changes by hand: on the market or not, and its terms."""

    listed: bool
    price_usd_per_gpu_hour: float | None = None
    min_bid_usd_per_gpu_hour: float | None = None
    end_date: float | None = None  # epoch s

    def describe(self) -> str:
        if not self.listed:
            return "unlisted"
        price = "" if self.price_usd_per_gpu_hour is None else f" at {self.price_usd_per_gpu_hour:.2f}"
        bid = "" if self.min_bid_usd_per_gpu_hour is None else f", min bid {self.min_bid_usd_per_gpu_hour:.2f}"
        return f"listed{price}{bid}"


def listing_seen(machine: MachineState) -> ListingSeen:
    return ListingSeen(machine.listed, machine.listed_gpu_cost, machine.min_bid_price, machine.end_date)


def listing_to_json(seen: ListingSeen) -> dict[str, object]:
    return {"listed": seen.listed, "price": seen.price_usd_per_gpu_hour, "min_bid": seen.min_bid_usd_per_gpu_hour,
            "end_date": seen.end_date}


def listing_from_json(raw: object) -> ListingSeen | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("listed"), bool):
        return None

    def num(key: str) -> float | None:
        value = raw.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None  # type: ignore[arg-type]

    return ListingSeen(bool(raw["listed"]), num("price"), num("min_bid"), num("end_date"))


def _same_price(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=PRICE_TOLERANCE_USD)


def _end_date_explained(before: ListingSeen, now_s: float, duration_days: int | None, new_end: float | None) -> bool:
    """Vast itself moves a `duration` offer's end date to now + duration once a day."""
    if new_end is None or before.end_date is None:
        return new_end is before.end_date or not before.listed
    if abs(new_end - before.end_date) <= END_DATE_TOLERANCE_S:
        return True
    if duration_days is None:
        return False
    rolled_s = now_s + duration_days * DAY_S
    return rolled_s - DAY_S - END_DATE_TOLERANCE_S <= new_end <= rolled_s + END_DATE_TOLERANCE_S


def _matches_expected(now: ListingSeen, expected: ListingSeen) -> bool:
    """A write of ours would leave Vast like this (a field it does not set: None, anything goes)."""
    if now.listed != expected.listed:
        return False
    if not now.listed:
        return True
    return all(
        want is None or _same_price(have, want)
        for have, want in ((now.price_usd_per_gpu_hour, expected.price_usd_per_gpu_hour),
                           (now.min_bid_usd_per_gpu_hour, expected.min_bid_usd_per_gpu_hour))
    )


def outside_change(
    before: ListingSeen | None,
    expected: Sequence[ListingSeen],
    now_seen: ListingSeen,
    now: datetime,
    duration_days: int | None,
) -> str | None:
    """"listed at 2.10 → unlisted" when Vast's listing differs from what the agent last saw and no write of
    ours explains it, else None. Not outside: the first sight (`before` None), a state one of our writes
    (`expected`, recorded before each send) would leave, Vast's own doings (an offer unlisted once its end
    date passed, the daily roll of a `duration` end date, rounding), and renters (they change no listing field)."""
    if before is None or any(_matches_expected(now_seen, want) for want in expected):
        return None
    now_s = now.timestamp()
    expired = before.end_date is not None and now_s >= before.end_date - END_DATE_TOLERANCE_S
    if before.listed != now_seen.listed:
        # Vast takes an offer off the market itself once its end date passes
        changed = not (expired and before.listed)
    elif not now_seen.listed:
        changed = False  # terms of an unlisted machine are not on the market
    else:
        changed = not (_same_price(before.price_usd_per_gpu_hour, now_seen.price_usd_per_gpu_hour)
                       and _same_price(before.min_bid_usd_per_gpu_hour, now_seen.min_bid_usd_per_gpu_hour))
        if not changed and not _end_date_explained(before, now_s, duration_days, now_seen.end_date):
            return f"end date {shown(_epoch(before.end_date))} → {shown(_epoch(now_seen.end_date))}"
    return f"{before.describe()} → {now_seen.describe()}" if changed else None


def expected_after(actions: Sequence[Action], before: ListingSeen) -> list[ListingSeen]:
    """What Vast shows once these writes land (each, and all of them): recorded before they are sent, so a
    kill between a send and the next read can never make the agent's own write look like someone else's."""
    expected: list[ListingSeen] = []
    state = before
    for action in actions:
        if isinstance(action, UnlistMachine):
            state = ListingSeen(False)
        elif isinstance(action, ListMachine):
            want = action.listing
            state = ListingSeen(True, want.price_usd_per_gpu_hour, want.min_bid_usd_per_gpu_hour, want.end_date)
        elif isinstance(action, SetMinBid):
            state = ListingSeen(state.listed, state.price_usd_per_gpu_hour, action.price_usd_per_gpu_hour,
                                state.end_date)
        else:
            continue
        expected.append(state)
    return expected
