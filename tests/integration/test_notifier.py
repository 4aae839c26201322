"""The notifier with the real apprise sender and a real loopback receiver, on a FakeClock.

Retry, backoff, retry age, the bounded queue, quiet hours and the digest, per-destination isolation, the
metrics, and apprise touching nothing but the destination (no file written, no other connection).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.config.model import NotifyConfig, NotifyDestination
from hostagent.core.events import Event, EventKind, Severity
from hostagent.runtime.metrics import Metrics
from hostagent.service.notify import Notifier
from hostagent.service.notify_send import AppriseSender
from hostagent.testing.clock import FakeClock
from hostagent.testing.receiver import NotificationReceiver

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
TOKEN = "tok-5d1c9e7b3a2f4e6d8c0b"


@pytest.fixture
def rx() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as receiver:
        yield receiver


def _notifier(clock: FakeClock, urls: dict[str, str], *, metrics: Metrics | None = None,
              **rules: object) -> Notifier:
    config = replace(NotifyConfig(destinations=tuple(NotifyDestination(n) for n in urls), timeout_s=0.5), **rules)
    notifier = Notifier(config, AppriseSender(urls, timeout_s=0.5), clock, hostname="gpu-host-01", metrics=metrics,
                        poll_s=0.02)
    notifier.start()
    return notifier


def _event(i: int, at: datetime, severity: Severity = Severity.WARNING) -> Event:
    return Event(EventKind.UNLISTED, at, f"unlisted #{i}", 4242, severity, dedup_key=f"unlisted:{i}")


def _until(done: Callable[[], bool]) -> bool:
    """Bounded wait (real time) for the sender thread."""
    deadline = time.monotonic() + 10.0
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_message_reaches_the_receiver_with_host_kind_reason_and_time(rx: NotificationReceiver) -> None:
    """Title names the host and the kind; the body the summary, the machine and the time."""
    clock = FakeClock(T0)
    notifier = _notifier(clock, {"hook": rx.url(TOKEN)})
    notifier(Event(EventKind.HEALTH_FAULT, T0, "health fault: GPU 5 lost", 4242, Severity.CRITICAL))
    assert notifier.flush(10.0)
    notifier.stop(1.0)
    [message] = rx.messages
    assert message.title == "hostagent gpu-host-01: health fault"
    assert message.body == "health fault: GPU 5 lost\nmachine 4242, 2026-11-02 12:00 UTC, critical"
    assert message.type == "failure"


def test_a_destination_that_is_down_gets_its_messages_in_order_once_it_is_back(rx: NotificationReceiver) -> None:
    """503s: counted failed, retried after the backoff (on the agent's clock), delivered in order."""
    clock = FakeClock(T0)
    metrics = Metrics(hostname="gpu-host-01")
    notifier = _notifier(clock, {"hook": rx.url(TOKEN)}, metrics=metrics)
    rx.set_mode("down")
    for i in range(3):
        notifier(_event(i, T0))
    assert _until(lambda: notifier.counts.get(("hook", "failed"), 0) >= 1)
    assert notifier.flush(10.0)  # nothing due: the destination waits out its backoff
    assert rx.messages == []
    rx.set_mode("up")
    clock.advance(31)
    assert notifier.flush(10.0)
    notifier.stop(1.0)
    assert [m.body.splitlines()[0] for m in rx.messages] == ["unlisted #0", "unlisted #1", "unlisted #2"]
    assert metrics.registry.get_sample_value(
        "hostagent_notifications_total", {"destination": "hook", "result": "sent"}) == 3
    assert metrics.registry.get_sample_value(
        "hostagent_notifications_total", {"destination": "hook", "result": "failed"}) == 1


def test_a_message_not_delivered_within_max_retry_age_is_dropped(rx: NotificationReceiver) -> None:
    """Down for longer than max_retry_age_s: the message is dropped (counted), not sent late."""
    clock = FakeClock(T0)
    notifier = _notifier(clock, {"hook": rx.url(TOKEN)}, max_retry_age_s=600.0)
    rx.set_mode("down")
    notifier(_event(0, T0))
    assert _until(lambda: notifier.counts.get(("hook", "failed"), 0) >= 1)
    clock.advance(601)
    assert _until(lambda: notifier.counts.get(("hook", "dropped"), 0) == 1)
    rx.set_mode("up")
    clock.advance(600)
    assert notifier.flush(10.0)
    notifier.stop(1.0)
    assert rx.messages == []
    assert notifier.pending() == 0


def test_a_full_queue_drops_the_oldest_message(rx: NotificationReceiver) -> None:
    """queue_size 10 and 12 messages waiting for a dead destination: the two oldest are dropped."""
    clock = FakeClock(T0)
    notifier = _notifier(clock, {"hook": rx.url(TOKEN)}, queue_size=10)
    rx.set_mode("down")
    notifier(_event(0, T0))
    assert _until(lambda: notifier.counts.get(("hook", "failed"), 0) >= 1)  # on hold now
    for i in range(1, 12):
        notifier(_event(i, T0))
    assert notifier.counts[("hook", "dropped")] == 2
    rx.set_mode("up")
    clock.advance(31)
    assert notifier.flush(10.0)
    notifier.stop(1.0)
    assert [m.body.splitlines()[0] for m in rx.messages] == [f"unlisted #{i}" for i in range(2, 12)]


def test_a_hanging_destination_never_holds_back_another_one(rx: NotificationReceiver) -> None:
    """One receiver hangs every request: the other destination still gets its message."""
    with NotificationReceiver() as other:
        rx.set_mode("hang")
        clock = FakeClock(T0)
        notifier = _notifier(clock, {"stuck": rx.url(TOKEN), "fine": other.url(TOKEN + "x")})
        notifier(_event(0, T0))
        assert _until(lambda: len(other.messages) == 1)
        notifier.stop(1.0)
        rx.set_mode("up")
    assert rx.messages == []


def test_quiet_hours_hold_non_critical_events_for_one_digest_and_let_critical_ones_through(
    rx: NotificationReceiver,
) -> None:
    """23:00-07:00: a critical fault goes at once; two warnings go as one digest at 07:00."""
    clock = FakeClock(datetime(2026, 11, 2, 23, 30, tzinfo=timezone.utc))
    notifier = _notifier(clock, {"hook": rx.url(TOKEN)}, quiet_hours="23:00-07:00")
    now = clock.now()
    notifier(_event(1, now))
    notifier(_event(2, now + timedelta(minutes=5)))
    notifier(Event(EventKind.HEALTH_FAULT, now, "health fault: GPU 5 lost", 4242, Severity.CRITICAL))
    assert notifier.flush(10.0)
    assert rx.titles() == ["hostagent gpu-host-01: health fault"]
    clock.set(datetime(2026, 11, 3, 7, 0, tzinfo=timezone.utc))
    assert _until(lambda: len(rx.messages) == 2)
    notifier.stop(1.0)
    digest = rx.messages[1]
    assert digest.title == "hostagent gpu-host-01: 2 event(s) during quiet hours"
    assert digest.body == "23:30 unlisted: unlisted #1\n23:35 unlisted: unlisted #2"


def test_apprise_writes_no_file_and_connects_only_to_the_destination(
    rx: NotificationReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every socket connection during a send goes to the receiver; HOME and the working directory stay empty."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    connected: list[object] = []
    watching = True

    def audit(event: str, args: tuple[object, ...]) -> None:
        if watching and event == "socket.connect" and isinstance(args[0], socket.socket):
            connected.append(args[1])

    sys.addaudithook(audit)  # cannot be removed: `watching` turns it off after this test
    try:
        clock = FakeClock(T0)
        notifier = _notifier(clock, {"hook": rx.url(TOKEN)})
        notifier(_event(0, T0))
        assert notifier.flush(10.0)
        notifier.stop(1.0)
    finally:
        watching = False
    assert len(rx.messages) == 1
    assert connected
    assert set(connected) == {("127.0.0.1", rx.port)}
    assert os.listdir(tmp_path / "home") == []
    assert os.listdir(tmp_path / "cwd") == []
