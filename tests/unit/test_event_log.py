"""The event log: every event is journaled, counted and handed on, and nothing it calls can stop the agent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from hostagent.core.events import Event, EventKind, Severity
from hostagent.errors import StateError
from hostagent.service.events import EventLog

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


class _Journal:
    def __init__(self, *, broken: bool = False) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.broken = broken

    def journal(  # noqa: PLR0917
        self, at: datetime, kind: str, what: str, why: str, request: Mapping[str, object] | None = None,
        result: str = "", ok: bool = True, action_key: str | None = None,
    ) -> int:
        if self.broken:
            raise StateError("state store full")
        self.rows.append((kind, what, why, result))
        return len(self.rows)


class _Metrics:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def observe_event(self, kind: str) -> None:
        self.kinds.append(kind)


EVENT = Event(EventKind.UNLISTED, T0, "unlisted: health: GPU 3 lost", machine_id=7,
              severity=Severity.WARNING, detail="health.lost_gpu: GPU 3 lost")


def test_an_event_is_journaled_counted_and_handed_to_each_subscriber() -> None:
    """One emit: a journal row of kind `event`, one count, one call per subscriber."""
    journal, metrics, seen = _Journal(), _Metrics(), list[Event]()
    events = EventLog(journal, metrics)
    events.subscribe(seen.append)
    events.emit(EVENT)
    assert journal.rows == [("event", "unlisted: unlisted: health: GPU 3 lost", "health.lost_gpu: GPU 3 lost",
                             "warning")]
    assert metrics.kinds == ["unlisted"]
    assert seen == [EVENT]


def test_a_refusing_store_or_a_raising_subscriber_never_stops_the_emit() -> None:
    """The journal refuses and the first subscriber raises: the second subscriber still gets the event."""
    seen = list[Event]()

    def broken(_: Event) -> None:
        raise RuntimeError("destination down")

    events = EventLog(_Journal(broken=True), None)
    events.subscribe(broken)
    events.subscribe(seen.append)
    events.emit(EVENT)
    assert seen == [EVENT]


def test_a_read_only_log_records_and_hands_on_nothing() -> None:
    """`hostagent plan` builds a read-only agent: its events are logged only."""
    journal, seen = _Journal(), list[Event]()
    events = EventLog(journal, None, read_only=True)
    events.subscribe(seen.append)
    events.emit(EVENT)
    assert (journal.rows, seen, events.emitted) == ([], [], [])


def test_the_dedup_key_defaults_to_the_kind_and_the_machine() -> None:
    """One flapping GPU's faults share a key; a given key overrides it."""
    assert EVENT.key == "unlisted:7"
    assert Event(EventKind.RENTER_REPORT, T0, "r", machine_id=7, dedup_key="report:991").key == "report:991"
