"""The writes the reconciler may send: one frozen variant per Vast write, each with its own typed arguments.

`Action` is their union. Code that acts on an action matches on the variant and ends with
`typing_extensions.assert_never`, so mypy proves every write is handled. Arguments carry the core's
units (`price_usd_per_gpu_hour`, `start_epoch_s`); Vast's wire names (`price_gpu`, `sdate`, ...) live in
hostagent.vast.client only.

The write-ahead intent stores `request_of(action)` as JSON; after a restart `action_from_request(kind,
request)` rebuilds the variant, so the reconciler can ask Vast whether it applied. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar, Union

from hostagent.core.model import ActionKind, DesiredListing

# The listing fields a LIST carries, in the order the journal and the intent show them.
LISTING_FIELDS = (
    "price_usd_per_gpu_hour",
    "storage_usd_per_gb_month",
    "upload_usd_per_gb",
    "download_usd_per_gb",
    "min_bid_usd_per_gpu_hour",
    "min_chunk",
    "end_date",
    "credit_discount_max",
    "duration_days",
    "volume_size_gb",
    "volume_usd_per_gb_month",
)

_WHOLE_LISTING_FIELDS = ("min_chunk", "duration_days", "volume_size_gb")  # counts, not prices: whole numbers

Params = tuple[tuple[str, object], ...]


class _Write:
    """What every variant shares: the machine, the why text, and the names derived from `params()`."""

    __slots__ = ()
    kind: ClassVar[ActionKind]
    machine_id: int
    reason: str

    def params(self) -> Params:
        """The arguments by name, in a fixed order: what the journal shows and the intent stores."""
        return ()

    def key(self) -> str:
        """A stable identity: the same action planned twice has the same key (used against duplicates)."""
        args = ",".join(f"{k}={v!r}" for k, v in self.params())
        return f"{self.kind.value}:{self.machine_id}:{args}"

    def describe(self) -> str:
        """One line for people: `set_min_bid machine 4242 (price_usd_per_gpu_hour=1.2)`; an epoch-second argument
        (end_date, start_epoch_s) reads as a UTC date, `end_date=2026-12-06 01:00 UTC`, not 1796518800.0."""
        args = ", ".join(f"{k}={shown_value(k, v)}" for k, v in self.params())
        return f"{self.kind.value} machine {self.machine_id}" + (f" ({args})" if args else "")


def shown_value(name: str, value: object) -> object:
    """An action's argument as a person reads it: epoch seconds (end_date, start_epoch_s) as a UTC date."""
    if name in _EPOCH_PARAMS and isinstance(value, (int, float)) and math.isfinite(value):
        return f"{datetime.fromtimestamp(value, tz=timezone.utc):%Y-%m-%d %H:%M} UTC"
    return value


_EPOCH_PARAMS = frozenset({"end_date", "start_epoch_s"})


@dataclass(frozen=True, slots=True)
class ListMachine(_Write):
    """Offer the machine with these listing fields (a field left None keeps Vast's value)."""

    kind: ClassVar[ActionKind] = ActionKind.LIST
    machine_id: int
    reason: str
    listing: DesiredListing

    def params(self) -> Params:
        return tuple((name, getattr(self.listing, name)) for name in LISTING_FIELDS)


@dataclass(frozen=True, slots=True)
class UnlistMachine(_Write):
    """No offer for new rentals (running ones continue). `cause`: "health", "maintenance" or "vast" (offline)."""

    kind: ClassVar[ActionKind] = ActionKind.UNLIST
    machine_id: int
    reason: str
    cause: str

    def params(self) -> Params:
        return (("cause", self.cause),)


@dataclass(frozen=True, slots=True)
class SetMinBid(_Write):
    kind: ClassVar[ActionKind] = ActionKind.SET_MIN_BID
    machine_id: int
    reason: str
    price_usd_per_gpu_hour: float

    def params(self) -> Params:
        return (("price_usd_per_gpu_hour", self.price_usd_per_gpu_hour),)


@dataclass(frozen=True, slots=True)
class ScheduleMaint(_Write):
    """A maintenance notice to renters (not idempotent: each one notifies them again)."""

    kind: ClassVar[ActionKind] = ActionKind.SCHEDULE_MAINT
    machine_id: int
    reason: str
    start_epoch_s: float
    duration_h: float
    category: str

    def params(self) -> Params:
        return (("start_epoch_s", self.start_epoch_s), ("duration_h", self.duration_h), ("category", self.category))


@dataclass(frozen=True, slots=True)
class CancelMaint(_Write):
    """Cancel the machine's windows; `maintenance_ids` are the strays that called for it (Vast removes all)."""

    kind: ClassVar[ActionKind] = ActionKind.CANCEL_MAINT
    machine_id: int
    reason: str
    maintenance_ids: tuple[int, ...]

    def params(self) -> Params:
        return (("maintenance_ids", self.maintenance_ids),)


@dataclass(frozen=True, slots=True)
class SetDefaultJob(_Write):
    kind: ClassVar[ActionKind] = ActionKind.SET_DEFJOB
    machine_id: int
    reason: str
    image: str
    args: tuple[str, ...]
    price_usd_per_gpu_hour: float
    upload_usd_per_gb: float
    download_usd_per_gb: float

    def params(self) -> Params:
        return (
            ("image", self.image),
            ("args", self.args),
            ("price_usd_per_gpu_hour", self.price_usd_per_gpu_hour),
            ("upload_usd_per_gb", self.upload_usd_per_gb),
            ("download_usd_per_gb", self.download_usd_per_gb),
        )


@dataclass(frozen=True, slots=True)
class RemoveDefaultJob(_Write):
    kind: ClassVar[ActionKind] = ActionKind.REMOVE_DEFJOB
    machine_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class CleanupMachine(_Write):
    """Delete expired storage contracts (idempotent)."""

    kind: ClassVar[ActionKind] = ActionKind.CLEANUP
    machine_id: int
    reason: str


Action = Union[  # noqa: UP007 - a runtime alias: `X | Y` of classes needs 3.10 and reads the same
    ListMachine, UnlistMachine, SetMinBid, ScheduleMaint, CancelMaint, SetDefaultJob, RemoveDefaultJob, CleanupMachine
]


# ---- the intent's request: JSON out, the variant back in -------------------------------------


def request_of(action: Action) -> dict[str, object]:
    """The JSON the write-ahead intent and the journal store (tuples become lists)."""
    return {"machine_id": action.machine_id, **{k: _jsonable(v) for k, v in action.params()}}


def _jsonable(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# Names an intent stored by an earlier version may carry, mapped to today's. Intents outlive the process
# that wrote them (a crash, then an upgrade, then the restart resolves them), so an old request must still
# decode; this table is the only place that knows the old names. `price_gpu`/`price_inetu`/`price_inetd`
# were the default job's names until the variants took Vast's wire names out of the core; the others were
# accepted aliases when resolving.
_LEGACY_NAMES: dict[ActionKind, dict[str, str]] = {
    ActionKind.SET_MIN_BID: {"min_bid_usd_per_gpu_hour": "price_usd_per_gpu_hour", "price": "price_usd_per_gpu_hour"},
    ActionKind.SCHEDULE_MAINT: {
        "start_time": "start_epoch_s", "start": "start_epoch_s", "duration_hours": "duration_h",
    },
    ActionKind.SET_DEFJOB: {
        "price_gpu": "price_usd_per_gpu_hour", "price_inetu": "upload_usd_per_gb", "price_inetd": "download_usd_per_gb",
    },
}


class _Request:
    """A stored request read by today's names; every bad value is a ValueError that names the field."""

    def __init__(self, kind: ActionKind, raw: Mapping[str, object]) -> None:
        self.kind = kind
        legacy = _LEGACY_NAMES.get(kind, {})
        self.values = {name: value for name, value in raw.items() if name not in legacy}
        for old, new in legacy.items():  # today's name wins when both are present
            if old in raw:
                self.values.setdefault(new, raw[old])

    def _bad(self, name: str, what: str) -> ValueError:
        return ValueError(f"{self.kind.value} request: {name} must be {what}, got {self.values.get(name)!r}")

    def number(self, name: str, default: float | None = None) -> float:
        value = self.values.get(name)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._bad(name, "a finite number")
        return float(value)

    def optional_number(self, name: str) -> float | None:
        return None if self.values.get(name) is None else self.number(name)

    def integer(self, name: str) -> int:
        value = self.values.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "a whole number")
        return value

    def text(self, name: str, default: str | None = None) -> str:
        value = self.values.get(name)
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            raise self._bad(name, "text")
        return value

    def _list(self, name: str) -> list[object]:
        value = self.values.get(name)
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise self._bad(name, "a list")
        return list(value)

    def whole_numbers(self, name: str) -> tuple[int, ...]:
        value = self._list(name)
        found = tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool))
        if len(found) != len(value):
            raise self._bad(name, "a list of whole numbers")
        return found

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._list(name)
        found = tuple(v for v in value if isinstance(v, str))
        if len(found) != len(value):
            raise self._bad(name, "a list of text")
        return found


def action_from_request(kind: str, request: Mapping[str, object]) -> Action:  # noqa: PLR0911 - one per variant
    """Rebuild the variant an intent stored (today's names or an earlier version's). Raises ValueError."""
    try:
        action_kind = ActionKind(kind)
    except ValueError:
        raise ValueError(f"unknown action kind {kind!r}") from None
    req = _Request(action_kind, request)
    mid, why = req.integer("machine_id"), "rebuilt from a stored intent"
    if action_kind is ActionKind.LIST:
        def whole(name: str) -> int | None:
            return None if req.optional_number(name) is None else req.integer(name)

        prices = {name: req.optional_number(name) for name in LISTING_FIELDS if name not in _WHOLE_LISTING_FIELDS}
        listing = DesiredListing(
            listed=True, min_chunk=whole("min_chunk"), duration_days=whole("duration_days"),
            volume_size_gb=whole("volume_size_gb"), **prices,
        )
        return ListMachine(mid, why, listing)
    if action_kind is ActionKind.UNLIST:
        return UnlistMachine(mid, why, req.text("cause", default="health"))
    if action_kind is ActionKind.SET_MIN_BID:
        return SetMinBid(mid, why, req.number("price_usd_per_gpu_hour"))
    if action_kind is ActionKind.SCHEDULE_MAINT:
        return ScheduleMaint(
            mid, why, req.number("start_epoch_s"), req.number("duration_h"), req.text("category", default="other")
        )
    if action_kind is ActionKind.CANCEL_MAINT:
        return CancelMaint(mid, why, req.whole_numbers("maintenance_ids"))
    if action_kind is ActionKind.SET_DEFJOB:
        return SetDefaultJob(
            mid, why, req.text("image"), req.texts("args"),
            req.number("price_usd_per_gpu_hour"), req.number("upload_usd_per_gb", default=0.0),
            req.number("download_usd_per_gb", default=0.0),
        )
    if action_kind is ActionKind.REMOVE_DEFJOB:
        return RemoveDefaultJob(mid, why)
    return CleanupMachine(mid, why)
