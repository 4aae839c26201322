"""The notifier: events reach the owner's destinations without ever slowing or stopping the agent.

`Notifier` subscribes to the agent's EventLog. Its `__call__` (the subscriber) only decides and enqueues, under
a lock, with no I/O: which destinations want the event (`core.notify_rules.wants`), the dedup window and the
hourly cap (`Throttle`, else `suppressed`), quiet hours (a non-critical event waits and goes as one digest when
they end). The queue is bounded: when full, the oldest message is dropped (`dropped`).

One sender thread sends each due message with a bounded time per attempt (the sender's timeout). A failed
attempt (`failed`) puts that destination on hold with a growing backoff (30 s doubling to 5 min), so a dead
destination costs one timeout per backoff, not one per message, and the other destinations go on. A message
not delivered within `max_retry_age_s` of its event is dropped (`dropped`). Successes count as `sent`. All four
results are `hostagent_notifications_total{destination,result}`.

Times (dedup, backoff, retry age, quiet hours) come from the agent's clock, so a FakeClock drives them in tests;
the thread itself waits in real time (`poll_s`) and `flush`/`stop` are bounded in real seconds. Messages still
queued when the process ends are lost (logged): a notification is a courtesy, the journal is the record.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import structlog

from hostagent.config.model import NotifyConfig
from hostagent.core.events import Event, Severity
from hostagent.core.notify_rules import Throttle, in_quiet_hours, wants
from hostagent.errors import StateError
from hostagent.masking import mask_text
from hostagent.ports import Clock

log = structlog.get_logger(__name__)

BACKOFF_FIRST_S = 30.0
BACKOFF_MAX_S = 300.0
RESULTS = ("sent", "failed", "suppressed", "dropped")
HELD_MAX = 50  # events one destination keeps for its quiet-hours digest (one message stays readable)


class NotifyMetrics(Protocol):
    def observe_notification(self, destination: str, result: str) -> None: ...


class NotifyMemory(Protocol):
    """The state store's key/value memory (key `notify_state`)."""

    def get(self, key: str) -> object | None: ...
    def put(self, key: str, value: object) -> None: ...


NOTIFY_STATE_KEY = "notify_state"  # {"sent": {"destination\tkey": epoch_s}, "earnings_day": day}
_state_lock = threading.Lock()  # the agent's threads and the notifier share the one key


def update_notify_state(memory: NotifyMemory, change: Callable[[dict[str, object]], bool]) -> bool:
    """Read `notify_state`, let `change` edit it (True: write it back). Raises StateError. Returns `change`'s."""
    with _state_lock:
        raw = memory.get(NOTIFY_STATE_KEY)
        state = dict(raw) if isinstance(raw, dict) else {}
        changed = change(state)
        if changed:
            memory.put(NOTIFY_STATE_KEY, state)
        return changed


class Sender(Protocol):
    """Sends one message to one named destination; None when it went, else the problem (no secret in it)."""

    def send(self, destination: str, title: str, body: str, severity: str) -> str | None: ...


@dataclass
class Message:
    destination: str
    title: str
    body: str
    severity: str
    queued_at: datetime
    attempts: int = 0


@dataclass
class _DestinationState:
    retry_at: datetime | None = None  # no attempt before this (after a failure)
    failures: int = 0  # consecutive failed attempts
    held: list[Event] | None = None  # events that waited out quiet hours, for the digest


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        sender: Sender,
        clock: Clock,
        *,
        hostname: str,
        metrics: NotifyMetrics | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.config = config
        self._sender = sender
        self._clock = clock
        self._hostname = hostname
        self._metrics = metrics
        self._poll_s = poll_s
        self._cv = threading.Condition()
        self._queue: deque[Message] = deque()
        self._throttle = Throttle(config.dedup_window_s, config.max_per_hour)
        self._dests = {d.name: _DestinationState() for d in config.destinations}
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.counts: dict[tuple[str, str], int] = {}  # (destination, result) -> count, for status and tests
        self._memory: NotifyMemory | None = None

    def remember_in(self, memory: NotifyMemory) -> None:
        """Keep the dedup memory in the state store: a restart (even a crash loop) does not repeat the news."""
        self._memory = memory
        try:
            raw = memory.get(NOTIFY_STATE_KEY)
        except StateError as exc:
            log.error("state_store_failed", step="notify_state", error=str(exc))
            return
        sent = raw.get("sent") if isinstance(raw, dict) else None
        if isinstance(sent, dict):
            with self._cv:
                self._throttle.restore(sent, timezone.utc)

    # ---- the subscriber: decide and enqueue, never block ---------------------------------------

    def __call__(self, event: Event) -> None:
        now = self._clock.now()
        with self._cv:
            for dest in self.config.destinations:
                if not wants(dest, event):
                    continue
                why = self._throttle.admit(dest.name, event.key, event.at)
                if why is not None:
                    self._count(dest.name, "suppressed")
                    log.info("notification_suppressed", destination=dest.name, kind=event.kind.value, why=why)
                    continue
                if event.severity is not Severity.CRITICAL and self._quiet(now):
                    self._hold(dest.name, event)
                    continue
                self._enqueue(Message(dest.name, self._title(event), self._body(event), event.severity.value, now))
                self._save_memory()
            self._cv.notify_all()

    def _hold(self, destination: str, event: Event) -> None:
        """Quiet hours: keep the event for the digest; past HELD_MAX the oldest is dropped (counted)."""
        state = self._dests[destination]
        held = [*(state.held or []), event]
        for _ in held[:-HELD_MAX]:
            self._count(destination, "dropped")
        state.held = held[-HELD_MAX:]

    def _save_memory(self) -> None:
        if self._memory is None:
            return
        last_sent = self._throttle.last_sent()

        def put_sent(state: dict[str, object]) -> bool:
            state["sent"] = last_sent
            return True

        try:
            update_notify_state(self._memory, put_sent)
        except StateError as exc:  # the message still goes; only a restart might repeat it
            log.error("state_store_failed", step="notify_state", error=str(exc))

    def send_now(self, destination: str, title: str, body: str) -> str | None:
        """One message sent on the caller's thread (`hostagent notify-test`); None when it went."""
        problem = self._sender.send(destination, title, body, Severity.INFO.value)
        self._count(destination, "sent" if problem is None else "failed")
        return problem

    def _title(self, event: Event) -> str:
        return f"hostagent {self._hostname}: {event.kind.value.replace('_', ' ')}"

    def _body(self, event: Event) -> str:
        lines = [event.summary]
        if event.detail and event.detail not in event.summary:
            lines.append(event.detail)
        where = f"machine {event.machine_id}, " if event.machine_id is not None else ""
        lines.append(f"{where}{event.at:%Y-%m-%d %H:%M} UTC, {event.severity.value}")
        return mask_text("\n".join(lines))

    def _enqueue(self, message: Message) -> None:
        if len(self._queue) >= self.config.queue_size:
            oldest = self._queue.popleft()
            self._count(oldest.destination, "dropped")
            log.warning("notification_dropped", destination=oldest.destination, why="queue full", title=oldest.title)
        self._queue.append(message)

    def _quiet(self, now: datetime) -> bool:
        return in_quiet_hours(now, self.config.quiet_hours, self.config.quiet_timezone)

    def _count(self, destination: str, result: str) -> None:
        self.counts[(destination, result)] = self.counts.get((destination, result), 0) + 1
        if self._metrics is not None:
            self._metrics.observe_notification(destination, result)

    # ---- the sender thread ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None and self.config.destinations:
            self._thread = threading.Thread(target=self._run, name="hostagent-notify", daemon=True)
            self._thread.start()

    def flush(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`, real time) until nothing due now is left to send; True if so."""
        if self._thread is None:
            return self.pending() == 0
        return self._wait_for(lambda: not self._busy and self._next_due(self._clock.now()) is None, timeout_s)

    def stop(self, timeout_s: float) -> None:
        """Send what is due within `timeout_s`, then end the thread (abandoned, as a daemon, if a send hangs)."""
        self.flush(timeout_s)
        with self._cv:
            self._stopping = True
            left = len(self._queue)
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(self._poll_s + 1.0)
        if left:
            log.warning("notifications_not_sent", count=left, why="the agent stopped before they could be sent")

    def pending(self) -> int:
        with self._cv:
            return len(self._queue)

    def _wait_for(self, done: Callable[[], bool], timeout_s: float) -> bool:
        with self._cv:
            return self._cv.wait_for(done, timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._cv:
                if self._stopping:
                    return
                now = self._clock.now()
                self._release_digests(now)
                self._drop_old(now)
                message = self._next_due(now)
                if message is None:
                    self._cv.notify_all()
                    self._cv.wait(self._poll_s)
                    continue
                self._queue.remove(message)
                self._busy = True
            problem = self._attempt(message)
            with self._cv:
                self._busy = False
                self._after_attempt(message, problem, self._clock.now())
                self._cv.notify_all()

    def _attempt(self, message: Message) -> str | None:
        try:
            return self._sender.send(message.destination, message.title, message.body, message.severity)
        except Exception as exc:  # noqa: BLE001 -- a broken destination never ends the sender thread
            return mask_text(repr(exc))

    def _after_attempt(self, message: Message, problem: str | None, now: datetime) -> None:
        state = self._dests[message.destination]
        if problem is None:
            state.failures, state.retry_at = 0, None
            self._count(message.destination, "sent")
            log.info("notification_sent", destination=message.destination, title=message.title)
            return
        message.attempts += 1
        state.failures += 1
        wait_s = min(BACKOFF_FIRST_S * 2 ** (state.failures - 1), BACKOFF_MAX_S)
        state.retry_at = now + timedelta(seconds=wait_s)
        self._count(message.destination, "failed")
        log.warning("notification_failed", destination=message.destination, error=problem,
                    retry_at=state.retry_at.isoformat(), attempts=message.attempts)
        self._queue.appendleft(message)  # first again: order is kept per destination

    def _next_due(self, now: datetime) -> Message | None:
        for message in self._queue:
            retry_at = self._dests[message.destination].retry_at
            if retry_at is None or retry_at <= now:
                return message
        return None

    def _drop_old(self, now: datetime) -> None:
        limit = timedelta(seconds=self.config.max_retry_age_s)
        for message in [m for m in self._queue if now - m.queued_at > limit]:
            self._queue.remove(message)
            self._count(message.destination, "dropped")
            log.warning("notification_dropped", destination=message.destination, title=message.title,
                        why=f"not delivered within {self.config.max_retry_age_s:g} s")

    def _release_digests(self, now: datetime) -> None:
        """Quiet hours over: what each destination held goes as one message."""
        if self._quiet(now):
            return
        for name, state in self._dests.items():
            if not state.held:
                continue
            held, state.held = state.held, None
            lines = [f"{e.at:%H:%M} {e.kind.value}: {e.summary}" for e in held]
            title = f"hostagent {self._hostname}: {len(held)} event(s) during quiet hours"
            self._enqueue(Message(name, title, mask_text("\n".join(lines)), Severity.INFO.value, now))
