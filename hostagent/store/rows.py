"""What the state store hands back: frozen rows with aware UTC datetimes (stored as epoch seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from hostagent.core.model import GpuHealth
from hostagent.errors import StateError


def to_epoch(at: datetime) -> float:
    """Epoch seconds of an aware datetime. A naive one is refused: its zone would be a guess."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise StateError(f"naive datetime {at.isoformat()} given to the state store; pass an aware UTC time")
    return at.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def parse_health(value: str | None) -> GpuHealth:
    try:
        return GpuHealth(value)
    except ValueError:
        return GpuHealth.UNKNOWN


@dataclass(frozen=True, slots=True)
class TelemetryRow:
    """One GPU over one raw sample (`samples == 1`) or one 5-minute aggregate (`aggregated`).

    For an aggregate, `at` is the bucket's start, the plain fields are means and `health` is the
    worst seen in the bucket (lost > unknown > ok). For a raw sample min == mean == max.
    """

    at: datetime
    gpu_index: int
    health: GpuHealth
    temperature_c: float | None
    utilization_pct: float | None
    memory_used_mib: float | None
    power_w: float | None
    temperature_c_min: float | None = None
    temperature_c_max: float | None = None
    utilization_pct_min: float | None = None
    utilization_pct_max: float | None = None
    memory_used_mib_max: float | None = None
    power_w_min: float | None = None
    power_w_max: float | None = None
    samples: int = 1
    aggregated: bool = False


@dataclass(frozen=True, slots=True)
class DiskRow:
    """Free space of one disk path: a raw sample or a 5-minute aggregate (mean, min and max free)."""

    at: datetime
    path: str
    free_bytes: float | None
    total_bytes: int | None
    free_bytes_min: float | None = None
    free_bytes_max: float | None = None
    samples: int = 1
    aggregated: bool = False


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One decision or API call, as recorded (secrets already masked)."""

    id: int
    at: datetime
    kind: str
    what: str
    why: str
    request: dict[str, object] | None
    result: str
    ok: bool
    action_key: str | None


@dataclass(frozen=True, slots=True)
class Intent:
    """A write-ahead record of an action: begun before the API call, finished after it.

    An intent with `finished_at is None` after a restart means the process died mid-action: the
    agent must read Vast's state to learn whether the action took effect.
    """

    id: int
    begun_at: datetime
    action_key: str
    kind: str
    request: dict[str, object]
    finished_at: datetime | None = None
    result: str | None = None
    ok: bool | None = None
