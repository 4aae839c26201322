"""Which events a destination gets and when: subscriptions, severity, dedup, hourly cap, quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hostagent.config.model import EVENT_KIND_NAMES, NotifyDestination
from hostagent.core.events import Event, EventKind, Severity
from hostagent.core.notify_rules import Throttle, in_quiet_hours, wants

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


def _event(kind: EventKind = EventKind.HEALTH_FAULT, severity: Severity = Severity.CRITICAL) -> Event:
    return Event(kind, T0, "health fault: GPU 5 lost", 4242, severity)


def test_the_config_names_exactly_the_event_kinds_the_core_emits() -> None:
    """config sits below core, so it spells the kinds itself: a kind added to EventKind must be added there."""
    assert set(EVENT_KIND_NAMES) == {kind.value for kind in EventKind}


def test_a_destination_gets_the_kinds_it_names_or_all() -> None:
    """`events` filters by kind; "all" takes every kind."""
    only_unlisted = NotifyDestination("a", events=("unlisted",))
    everything = NotifyDestination("b")
    assert not wants(only_unlisted, _event())
    assert wants(only_unlisted, _event(EventKind.UNLISTED))
    assert wants(everything, _event(EventKind.RENTER_REPORT, Severity.INFO))


def test_a_destination_gets_only_events_at_or_above_its_min_severity() -> None:
    """min_severity "warning" drops info events and keeps warning and critical ones."""
    dest = NotifyDestination("a", min_severity="warning")
    assert not wants(dest, _event(EventKind.RELISTED, Severity.INFO))
    assert wants(dest, _event(EventKind.UNLISTED, Severity.WARNING))
    assert wants(dest, _event())


def test_the_same_news_goes_once_per_dedup_window() -> None:
    """One event key is admitted once per window per destination; other keys and destinations are not held."""
    throttle = Throttle(dedup_window_s=3600, max_per_hour=100)
    assert throttle.admit("a", "health_fault:4242", T0) is None
    assert throttle.admit("a", "health_fault:4242", T0 + timedelta(minutes=59)) is not None
    assert throttle.admit("b", "health_fault:4242", T0 + timedelta(minutes=1)) is None
    assert throttle.admit("a", "unlisted:4242", T0 + timedelta(minutes=1)) is None
    assert throttle.admit("a", "health_fault:4242", T0 + timedelta(minutes=60)) is None


def test_a_destination_gets_at_most_max_per_hour_in_any_sliding_hour() -> None:
    """The 4th distinct message within an hour is suppressed; an hour after the first, one more may go."""
    throttle = Throttle(dedup_window_s=0, max_per_hour=3)
    admitted = [throttle.admit("a", f"k{i}", T0 + timedelta(minutes=i)) for i in range(4)]
    assert [why is None for why in admitted] == [True, True, True, False]
    assert "3 messages in the last hour" in str(admitted[3])
    assert throttle.admit("a", "k9", T0 + timedelta(minutes=60)) is None


def test_quiet_hours_run_past_midnight_when_the_end_is_earlier() -> None:
    """"23:00-07:00" covers 23:30 and 06:59 local time, not 07:00 or 12:00; "" is never quiet."""
    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, 2, hour, minute, tzinfo=timezone.utc)

    assert in_quiet_hours(at(23, 30), "23:00-07:00", "UTC")
    assert in_quiet_hours(at(6, 59), "23:00-07:00", "UTC")
    assert not in_quiet_hours(at(7, 0), "23:00-07:00", "UTC")
    assert not in_quiet_hours(at(12), "23:00-07:00", "UTC")
    assert in_quiet_hours(at(12), "09:00-17:00", "UTC")
    assert not in_quiet_hours(at(12), "", "UTC")


def test_quiet_hours_are_read_in_their_time_zone() -> None:
    """22:30 UTC is 23:30 in Berlin (winter): quiet there, not in UTC."""
    now = datetime(2026, 11, 2, 22, 30, tzinfo=timezone.utc)
    assert in_quiet_hours(now, "23:00-07:00", "Europe/Berlin")
    assert not in_quiet_hours(now, "23:00-07:00", "UTC")
