"""Vast's market metrics for hosts (GET /metrics/gpu/current/ and /history/), computed from the emulator's market.

The market is the peer offers and the account's own machines. Counts are GPUs: a machine's GPUs are rented
(a client contract runs on them; a peer offer's `rented` flag), available (on offer, free) or unavailable
(listed, free, but fewer than its min chunk). `usage` is the rented share of all counted GPUs in percent.
Prices are $/GPU/h, one per machine: the asked price (`dph_base` per GPU, our `listed_gpu_cost`) for
`price_*` and `avail_*`, and for `rented_*` what the renters pay (our contracts' frozen price).
The history is the same computation at each step's instant: our contracts have start and end times; peer
offers do not change. An account without machines gets Vast's `needs_machine` answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hostagent.testing.emulator.state import EmulatorState
from hostagent.testing.emulator.wire import ApiError

VERIFIED = {"yes": True, "no": False, "all": None}
HOSTING = {"community": 0, "secure_cloud": 1, "all": None}
BUCKETS = ("1", "2", "4", "8")
DEFAULT_HISTORY_S = 86400.0  # Vast's default window: the last day
DEFAULT_STEP_S = 3600
MIN_STEP_S = 60
MAX_POINTS = 500  # Vast raises the step to cap the points it returns


@dataclass(frozen=True)
class Unit:
    """One machine in the market at one instant."""

    gpu_name: str
    num_gpus: int
    verified: bool
    hosting_type: int
    rented_gpus: int
    free_gpus: int
    rentable: bool
    ask_usd: float | None  # per GPU-hour; None when not on offer
    paid_usd: float | None  # per GPU-hour, mean of the running contracts


def _units(state: EmulatorState, at_s: float) -> list[Unit]:
    units: dict[int, Unit] = {}
    for offer in state.peer_offers:  # a peer with several offers counts once, at its first
        machine_id = int(str(offer["machine_id"]))
        gpus = int(str(offer["num_gpus"]))
        price = float(str(offer["dph_base"])) / gpus
        rented = bool(offer.get("rented"))
        units.setdefault(machine_id, Unit(
            str(offer["gpu_name"]), gpus, bool(offer["verified"]), int(str(offer.get("hosting_type", 0))),
            gpus if rented else 0, 0 if rented else gpus, not rented, price, price if rented else None))
    for m in state.machines.values():
        running = m.running(at_s)
        busy = sum(c.gpus for c in running)
        on_offer = m.listed and m.listed_gpu_cost is not None and (m.end_date is None or m.end_date > at_s)
        if not on_offer and not busy:
            continue
        paid = sum(c.gpus * c.price_usd_per_gpu_hour for c in running) / busy if busy else None
        free = m.num_gpus - busy if on_offer else 0
        units[m.id] = Unit(m.gpu_name, m.num_gpus, m.verification == "verified", 0, busy, free,
                           free >= m.listed_min_gpu_count, m.listed_gpu_cost if on_offer else None, paid)
    return list(units.values())


def _filters(query: Mapping[str, object]) -> tuple[bool | None, int | None, str]:
    verified, hosting, bucket = (str(query.get(k, "all")) for k in ("verified", "hosting_type", "num_gpus"))
    if verified not in VERIFIED:
        raise ApiError(400, "invalid_args", f"verified must be yes, no or all, got {verified!r}")
    if hosting not in HOSTING:
        raise ApiError(400, "invalid_args", f"hosting_type must be secure_cloud, community or all, got {hosting!r}")
    if bucket not in (*BUCKETS, "other", "all"):
        raise ApiError(400, "invalid_args", f"num_gpus must be all, 1, 2, 4, 8 or other, got {bucket!r}")
    return VERIFIED[verified], HOSTING[hosting], bucket


def _selected(units: list[Unit], query: Mapping[str, object]) -> list[Unit]:
    verified, hosting, bucket = _filters(query)
    return [
        u for u in units
        if (verified is None or u.verified == verified) and (hosting is None or u.hosting_type == hosting)
        and (bucket == "all" or str(u.num_gpus) == bucket or (bucket == "other" and str(u.num_gpus) not in BUCKETS))
    ]


def _pct(values: list[float], pct: float) -> float | None:
    """Linear interpolation between closest ranks, rounded as Vast's table shows prices (4 places)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = pct / 100.0 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 4)


def _row(gpu_name: str, units: list[Unit]) -> dict[str, object]:
    def gpus(rented: bool, verified: bool) -> int:
        return sum(u.rented_gpus if rented else u.free_gpus * u.rentable for u in units if u.verified == verified)

    total = sum(u.num_gpus for u in units)
    rented = sum(u.rented_gpus for u in units)
    available = sum(u.free_gpus for u in units if u.rentable)
    asks = [u.ask_usd for u in units if u.ask_usd is not None]
    return {
        "gpu_name": gpu_name, "total": total, "available": available, "unavailable": total - rented - available,
        "usage": round(100.0 * rented / total, 1) if total else 0.0,
        "rented_verified": gpus(True, True), "avail_verified": gpus(False, True),
        "rented_unverified": gpus(True, False), "avail_unverified": gpus(False, False),
        "dlperf": None, "tflops": None, "tflops_per_dollar": None,
        "price_p10": _pct(asks, 10), "price_median": _pct(asks, 50), "price_p90": _pct(asks, 90),
    }


def _by_model(units: list[Unit]) -> dict[str, list[Unit]]:
    models: dict[str, list[Unit]] = {}
    for unit in units:
        models.setdefault(unit.gpu_name, []).append(unit)
    return models


def current(state: EmulatorState, query: Mapping[str, object], now_s: float) -> dict[str, object]:
    if not state.machines:
        return {"success": True, "gpus": [], "needs_machine": True}
    models = _by_model(_selected(_units(state, now_s), query))
    return {"success": True, "gpus": [_row(name, models[name]) for name in sorted(models)]}


def _times(query: Mapping[str, object], now_s: float) -> list[float]:
    def number(key: str, default: float) -> float:
        value = query.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ApiError(400, "invalid_args", f"{key} must be a unix timestamp or seconds, got {value!r}")
        return float(value)

    end = number("end", now_s)
    start = number("start", end - DEFAULT_HISTORY_S)
    step = max(number("step", DEFAULT_STEP_S), MIN_STEP_S, (end - start) / MAX_POINTS)
    if start > end:
        raise ApiError(400, "invalid_args", "start must not be after end")
    first = math.ceil(start / step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


PRICE_COLUMNS = ("rented_p10", "rented_median", "rented_p90", "avail_p10", "avail_median", "avail_p90")
SUPPLY_COLUMNS = ("rented_verified", "avail_verified", "rented_unverified", "avail_unverified")


def history(state: EmulatorState, query: Mapping[str, object], now_s: float) -> dict[str, object]:
    """Every model seen at any instant gets a value at every instant (zero counts, null prices when absent)."""
    if not state.machines:
        return {"success": True, "gpus": {}, "needs_machine": True}
    wanted = str(query.get("gpu_name", "all"))
    names = None if wanted == "all" else {n.strip().replace("_", " ") for n in wanted.split(",")}
    instants = [(at, _by_model(_selected(_units(state, at), query))) for at in _times(query, now_s)]
    seen = sorted({name for _, models in instants for name in models if names is None or name in names})
    gpus: dict[str, object] = {}
    for name in seen:
        columns: dict[str, list[object]] = {k: [] for k in ("timestamps", *SUPPLY_COLUMNS, "total", *PRICE_COLUMNS)}
        for at, models in instants:
            units = models.get(name, [])
            row = _row(name, units)
            paid = [u.paid_usd for u in units if u.paid_usd is not None]
            asks = [u.ask_usd for u in units if u.ask_usd is not None and u.free_gpus]
            point: dict[str, object] = {"timestamps": int(at), "total": row["total"]}
            point.update({k: row[k] for k in SUPPLY_COLUMNS})
            for prefix, values in (("rented", paid), ("avail", asks)):
                for label, pct in (("p10", 10), ("median", 50), ("p90", 90)):
                    point[f"{prefix}_{label}"] = _pct(values, pct)
            for key, value in point.items():
                columns[key].append(value)
        gpus[name] = {
            "supply_demand": {k: columns[k] for k in ("timestamps", *SUPPLY_COLUMNS, "total")},
            "pricing": {k: columns[k] for k in PRICE_COLUMNS},
            "stats": {"tflops": None, "dlperf": None, "tflops_per_dollar": None},
        }
    return {"success": True, "gpus": gpus}
