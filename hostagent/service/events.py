"""The agent's one event sink: every event is journaled (kind `event`), logged, counted and handed on.

`EventLog.emit` never raises: a state store that refuses the row is logged, and a subscriber (the notifier)
that raises is logged and counted; neither stops the agent. Subscribers must not block: the notifier queues
and sends on its own thread (hostagent.service.notify).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import structlog

from hostagent.core.events import Event, Severity
from hostagent.errors import StateError
from hostagent.ports import Journal

log = structlog.get_logger(__name__)

JOURNAL_KIND = "event"


class EventMetrics(Protocol):
    def observe_event(self, kind: str) -> None: ...


Subscriber = Callable[[Event], None]


class EventLog:
    """Journal + log + metrics + subscribers. `read_only` (`hostagent plan`): log only, record nothing."""

    def __init__(
        self, journal: Journal | None, metrics: EventMetrics | None = None, *, read_only: bool = False
    ) -> None:
        self._journal = journal
        self._metrics = metrics
        self._read_only = read_only
        self._subscribers: list[Subscriber] = []
        self.emitted: list[Event] = []  # this process's last 100 events, newest last: what tests read

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        level = {Severity.INFO: log.info, Severity.WARNING: log.warning, Severity.CRITICAL: log.error}[event.severity]
        level("event", kind=event.kind.value, summary=event.summary, machine_id=event.machine_id)
        if self._read_only:
            return
        self.emitted.append(event)
        del self.emitted[:-100]
        if self._metrics is not None:
            self._metrics.observe_event(event.kind.value)
        if self._journal is not None:
            try:
                self._journal.journal(
                    event.at, JOURNAL_KIND, f"{event.kind.value}: {event.summary}", event.detail,
                    result=event.severity.value,
                )
            except StateError as exc:
                log.error("state_store_failed", step="journal_event", error=str(exc))
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception as exc:  # noqa: BLE001 -- a broken subscriber never stops the agent
                log.error("event_subscriber_failed", kind=event.kind.value, error=repr(exc))
