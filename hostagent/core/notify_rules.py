"""Which events a notification destination gets, and when: pure rules, no I/O, no clock reads.

- `wants`: the destination's `events` (kinds or "all") and `min_severity`.
- `Throttle`: one message per event key (kind + machine, `Event.key`) per destination per `dedup_window_s`,
  and at most `max_per_hour` per destination in any sliding hour. A flapping GPU sends one message, not a
  hundred; what is held back is counted as `suppressed` by the caller.
- `in_quiet_hours`: "23:00-07:00" in the configured zone; a span whose end is earlier runs past midnight.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from hostagent.config.model import EVENT_KINDS_ALL, NotifyDestination
from hostagent.config.notify_checks import parse_quiet_hours
from hostagent.core.events import Event, Severity

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
HOUR = timedelta(hours=1)


def wants(destination: NotifyDestination, event: Event) -> bool:
    """True when `destination` subscribes to this kind at this severity."""
    kinds = destination.events
    if EVENT_KINDS_ALL not in kinds and event.kind.value not in kinds:
        return False
    return _RANK[event.severity] >= _RANK[Severity(destination.min_severity)]


def in_quiet_hours(now: datetime, quiet_hours: str, zone: str) -> bool:
    """True while `now` (aware) falls inside the quiet span, read in `zone`; always False when none is set."""
    span = parse_quiet_hours(quiet_hours) if quiet_hours else None
    if span is None:
        return False
    start, end = span
    local = now.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


class Throttle:
    """The dedup window and the hourly cap of every destination; the caller holds any lock it needs."""

    def __init__(self, dedup_window_s: float, max_per_hour: int) -> None:
        self.dedup_window = timedelta(seconds=dedup_window_s)
        self.max_per_hour = max_per_hour
        self._last_sent: dict[tuple[str, str], datetime] = {}  # (destination, event key) -> last admitted at
        self._recent: dict[str, deque[datetime]] = {}  # destination -> admitted times within the last hour

    def admit(self, destination: str, key: str, at: datetime) -> str | None:
        """None when a message may go (and it is counted as gone); else why it is suppressed."""
        last = self._last_sent.get((destination, key))
        if last is not None and at - last < self.dedup_window:
            return f"same news ({key}) within {self.dedup_window.total_seconds():g} s"
        recent = self._recent.setdefault(destination, deque())
        while recent and at - recent[0] >= HOUR:
            recent.popleft()
        if len(recent) >= self.max_per_hour:
            return f"{self.max_per_hour} messages in the last hour"
        recent.append(at)
        self._last_sent[(destination, key)] = at
        self._forget_before(at - max(self.dedup_window, HOUR))
        return None

    def last_sent(self) -> dict[str, float]:
        """"destination\tkey" -> epoch seconds of the last message: what a restart must not send again."""
        return {f"{dest}\t{key}": at.timestamp() for (dest, key), at in self._last_sent.items()}

    def restore(self, last_sent: dict[str, float], tz: tzinfo) -> None:
        """Take back what `last_sent` returned (malformed entries are skipped: memory, not a contract)."""
        for joined, epoch_s in last_sent.items():
            dest, sep, key = joined.partition("\t")
            if sep and isinstance(epoch_s, (int, float)):
                self._last_sent[(dest, key)] = datetime.fromtimestamp(epoch_s, tz)

    def _forget_before(self, cutoff: datetime) -> None:
        """Keys last admitted before `cutoff` can no longer suppress anything: bounded memory."""
        if len(self._last_sent) > 256:
            self._last_sent = {k: t for k, t in self._last_sent.items() if t >= cutoff}
