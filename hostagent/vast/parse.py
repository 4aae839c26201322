"""Vast's JSON replies -> typed values. Unknown fields are ignored; a missing or wrongly typed field
raises `VastBadReply` naming it by path, e.g. `machines[0].num_gpus: expected int, got "x"`.

Rules: an int field takes a JSON integer (or an integral float such as 4.0) within ±2**63; a float field
takes any finite JSON number; bool is never accepted as a number; `null` counts as missing.

Absurd numbers: the machine's own prices must lie in 0..MAX_SANE_PRICE_USD_PER_GPU_HOUR, its GPU
count in 1..1024, its dates (and maintenance windows') in 0..year 3000 epoch s, else the reply is a
`VastBadReply`: the machine record is what every write is planned from, so a reply we cannot believe
plans nothing, and the next reconcile reads it again. A peer offer with an impossible price is kept
here and dropped by the core, which counts it in the journaled market reason: dropping it here would
hide from the search-limit check that Vast's page was full, and one odd peer must not cost the whole search.
"""

from __future__ import annotations

import json
import math
from typing import NoReturn

import structlog

from hostagent.core.market import impossible_offers
from hostagent.core.model import (
    MAX_EPOCH_S,
    MAX_SANE_PRICE_USD_PER_GPU_HOUR,
    EarningsDay,
    EarningsReport,
    MachineState,
    Offer,
    VastMaintenance,
)
from hostagent.errors import VastBadReply
from hostagent.vast import parse_signals
from hostagent.vast.models import VastUser

log = structlog.get_logger(__name__)

_INT_LIMIT = 2**63
MAX_GPUS_PER_MACHINE = 1024  # far above any real chassis; 0 or fewer is not a machine
MAX_MAINTENANCE_H = 24.0 * 366  # Vast takes notices within a year; a longer window is no window
_SHOWN_CHARS = 40


def describe(value: object) -> str:
    """A short JSON rendering of a bad value for an error message."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


class Fields:
    """Typed access to one JSON object found at `path` in a reply of operation `endpoint`."""

    def __init__(self, obj: object, path: str, endpoint: str) -> None:
        self.path = path
        self.endpoint = endpoint
        if not isinstance(obj, dict):
            self.fail(path, "expected object", obj)
        self._obj: dict[str, object] = obj

    def fail(self, field: str, what: str, value: object | None = None, *, show: bool = True) -> NoReturn:
        detail = f"{field}: {what}" + (f", got {describe(value)}" if show else "")
        raise VastBadReply(f"{self.endpoint}: bad reply: {detail}", endpoint=self.endpoint, field=field)

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> object:
        return self._obj.get(key)

    def _present(self, key: str) -> object:
        value = self._obj.get(key)
        if value is None:
            self.fail(self.name(key), "missing", show=False)
        return value

    def int_(self, key: str) -> int:
        return self._to_int(key, self._present(key))

    def opt_int(self, key: str) -> int | None:
        value = self._obj.get(key)
        return None if value is None else self._to_int(key, value)

    def _to_int(self, key: str, value: object) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.name(key), "expected int", value)
        if not -_INT_LIMIT < value < _INT_LIMIT:
            self.fail(self.name(key), "int out of range", value)
        return value

    def float_(self, key: str) -> float:
        return self._to_float(key, self._present(key))

    def opt_float(self, key: str) -> float | None:
        value = self._obj.get(key)
        return None if value is None else self._to_float(key, value)

    def _to_float(self, key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(self.name(key), "expected number", value)
        try:
            result = float(value)
        except OverflowError:
            self.fail(self.name(key), "number out of range", value)
        if not math.isfinite(result):
            self.fail(self.name(key), "number not finite", value)
        return result

    def opt_price(self, key: str) -> float | None:
        """A price the machine shows ($/GPU/h, $/GB, $/GB/month): 0 up to the sane ceiling."""
        value = self.opt_float(key)
        if value is not None and not 0.0 <= value <= MAX_SANE_PRICE_USD_PER_GPU_HOUR:
            self.fail(self.name(key), f"price outside 0..{MAX_SANE_PRICE_USD_PER_GPU_HOUR:g} USD", self.raw(key))
        return value

    def opt_epoch(self, key: str) -> float | None:
        """A date in epoch seconds: 0 up to year 3000 (beyond, `datetime` overflows in the core)."""
        value = self.opt_float(key)
        if value is not None and not 0.0 <= value <= MAX_EPOCH_S:
            self.fail(self.name(key), f"time outside 0..{MAX_EPOCH_S:.0f} epoch s", self.raw(key))
        return value

    def epoch(self, key: str) -> float:
        self._present(key)
        value = self.opt_epoch(key)
        assert value is not None  # present: checked above
        return value

    def gpu_count(self, key: str) -> int:
        value = self.int_(key)
        if not 1 <= value <= MAX_GPUS_PER_MACHINE:
            self.fail(self.name(key), f"GPU count outside 1..{MAX_GPUS_PER_MACHINE}", value)
        return value

    def str_(self, key: str) -> str:
        return self._to_str(key, self._present(key))

    def opt_str(self, key: str) -> str | None:
        value = self._obj.get(key)
        return None if value is None else self._to_str(key, value)

    def _to_str(self, key: str, value: object) -> str:
        if not isinstance(value, str):
            self.fail(self.name(key), "expected string", value)
        return value

    def bool_(self, key: str) -> bool:
        return self._to_bool(key, self._present(key))

    def opt_bool(self, key: str) -> bool | None:
        value = self._obj.get(key)
        return None if value is None else self._to_bool(key, value)

    def _to_bool(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.fail(self.name(key), "expected bool", value)
        return value

    def opt_str_list(self, key: str) -> tuple[str, ...] | None:
        value = self._obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(self.name(key), "expected list of strings", value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{self.name(key)}[{index}]", "expected string", item)
        return tuple(value)

    def objects(self, key: str) -> list[Fields]:
        """A required list of objects, each wrapped for typed access."""
        return items(self._present(key), self.name(key), self.endpoint)

    def obj(self, key: str) -> Fields:
        return Fields(self._present(key), self.name(key), self.endpoint)


def items(value: object, path: str, endpoint: str) -> list[Fields]:
    """A JSON array of objects (e.g. a bare-array reply), each wrapped for typed access."""
    if not isinstance(value, list):
        raise VastBadReply(
            f"{endpoint}: bad reply: {path or 'reply'}: expected array, got {describe(value)}",
            endpoint=endpoint,
            field=path or None,
        )
    return [Fields(item, f"{path}[{index}]", endpoint) for index, item in enumerate(value)]


# ---- replies -> models -------------------------------------------------------------------------


def machine(f: Fields) -> MachineState:
    """One machine object (GET /machines items); Vast's signals about it are checked in parse_signals."""
    return MachineState(
        id=f.int_("id"),
        hostname=f.str_("hostname"),
        gpu_name=f.str_("gpu_name"),
        num_gpus=f.gpu_count("num_gpus"),
        listed=f.bool_("listed"),
        listed_gpu_cost=f.opt_price("listed_gpu_cost"),
        listed_storage_cost=f.opt_price("listed_storage_cost"),
        listed_inet_up_cost=f.opt_price("listed_inet_up_cost"),
        listed_inet_down_cost=f.opt_price("listed_inet_down_cost"),
        min_bid_price=f.opt_price("min_bid_price"),
        listed_min_gpu_count=f.opt_int("listed_min_gpu_count"),
        credit_discount_max=f.opt_float("credit_discount_max"),
        end_date=f.opt_epoch("end_date"),
        client_end_date=f.opt_epoch("client_end_date"),
        bid_gpu_cost=f.opt_price("bid_gpu_cost"),
        bid_image=f.opt_str("bid_image"),
        bid_image_args=f.opt_str_list("bid_image_args"),
        current_rentals_running=f.opt_int("current_rentals_running") or 0,
        current_rentals_on_demand=f.opt_int("current_rentals_on_demand") or 0,
        gpu_occupancy=f.opt_str("gpu_occupancy"),
        reliability=parse_signals.reliability(f),
        verification=parse_signals.verification(f),
        timeout_s=parse_signals.timeout_s(f),
        earn_day=f.opt_float("earn_day"),
        volume_size_gb=f.opt_int("vol_size"),
        listed_volume_cost=f.opt_price("listed_volume_cost"),
        error_description=parse_signals.error_description(f),
        num_reports=parse_signals.num_reports(f),
    )


def _first_float(f: Fields, *keys: str) -> float | None:
    for key in keys:
        value = f.opt_float(key)
        if value is not None:
            return value
    return None


def maintenance(f: Fields) -> VastMaintenance:
    """One maintenance window (GET /machines/maintenances items); a null category reads as an empty string."""
    return VastMaintenance(
        id=f.int_("id"),
        machine_id=f.int_("machine_id"),
        start_time=f.epoch("start_time"),
        duration_hours=_duration_h(f, "duration_hours"),
        category=f.opt_str("maintenance_category") or "",
    )


def _duration_h(f: Fields, key: str) -> float:
    value = f.float_(key)
    if not 0.0 <= value <= MAX_MAINTENANCE_H:
        f.fail(f.name(key), f"duration outside 0..{MAX_MAINTENANCE_H:g} h", value)
    return value


def earnings_day(f: Fields, day: int, machine_id: int | None) -> EarningsDay:
    """One per_day or per_machine row; `gpu_earn` is required, the other splits default to 0."""
    return EarningsDay(
        day=day,
        gpu_usd=f.float_("gpu_earn"),
        storage_usd=f.opt_float("sto_earn") or 0.0,
        upload_usd=f.opt_float("bwu_earn") or 0.0,
        download_usd=f.opt_float("bwd_earn") or 0.0,
        sla_usd=f.opt_float("sla_earn") or 0.0,
        machine_id=machine_id,
    )


def earnings(f: Fields, machine_id: int | None) -> EarningsReport:
    """The machine-earnings reply. Day numbers may come as floats; they are floored."""
    sday = math.floor(f.float_("sday"))
    eday = math.floor(f.float_("eday"))
    per_day = tuple(earnings_day(row, math.floor(row.float_("day")), machine_id) for row in f.objects("per_day"))
    per_machine = tuple(earnings_day(row, eday, row.int_("machine_id")) for row in f.objects("per_machine"))
    return EarningsReport(sday=sday, eday=eday, per_day=per_day, per_machine=per_machine)


def offer(f: Fields) -> Offer:
    """One offer from POST /bundles/. `verified` falls back to `verification == "verified"`.

    `dph_base` (the GPU price) and `host_id` (the offering account) are optional: without `dph_base` the core
    prices the offer from `dph_total` and says so; without `host_id` it cannot tell the owner's other machines.
    """
    identity = (f.int_("id"), f.int_("machine_id"), f.str_("gpu_name"), f.int_("num_gpus"), f.float_("dph_total"))
    verified = f.opt_bool("verified")
    if verified is None:
        verified = f.opt_str("verification") == "verified"
    return Offer(
        id=identity[0],
        machine_id=identity[1],
        gpu_name=identity[2],
        num_gpus=identity[3],
        dph_total=identity[4],
        verified=verified,
        reliability=_first_float(f, "reliability", "reliability2"),
        rented=f.opt_bool("rented"),
        dph_base=f.opt_float("dph_base"),
        host_id=f.opt_int("host_id"),
    )


def offers(f: Fields) -> list[Offer]:
    """The offers of a search reply; those with an impossible price are counted and logged, then kept."""
    found = [offer(row) for row in f.objects("offers")]
    impossible = impossible_offers(found)
    if impossible:  # kept for the search-limit check; the core drops them and journals the count
        log.warning("vast_offers_impossible_prices", endpoint=f.endpoint, count=impossible, offers=len(found))
    return found


def user(f: Fields) -> VastUser:
    """GET /users/current. The reply's `api_key` is deliberately never read."""
    return VastUser(
        id=f.int_("id"),
        username=f.opt_str("username"),
        email=f.opt_str("email"),
        balance_usd=f.opt_float("balance"),
        credit_usd=f.opt_float("credit"),
        host_agreement_accepted=f.opt_bool("host_agreement_accepted"),
    )


report = parse_signals.report  # renter reports are read with the other signals
