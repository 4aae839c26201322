"""The offer market: peer offers, our own listed machines as offers, and the bundles query of Vast's offer search
(POST /api/v0/bundles/).

Query values arrive as the CLI encodes them: plain numbers as strings ("2", "0.9"), scaled fields as
floats, booleans, lists for `in`/`notin`, and the literal "any" meaning "no filter on this field".
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from functools import partial

from hostagent.testing.emulator.state import SECONDS_PER_MONTH, EmulatorState, Machine

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "notin")
DEFAULT_LIMIT = 64
ASK_ID_BASE = 9_000_000  # our machine N is offered as ask N + ASK_ID_BASE
# Vast adds a fee to what renters pay (dph_total) beside the GPU price (dph_base) and the storage; it does not
# publish the formula, so the emulator assumes a flat share of the GPU price. Hosts compare prices on dph_base.
SLA_FEE_SHARE = 0.05
_NOT_FILTERS = {"order", "limit", "type", "allocated_storage", "disable_bundling", "extra_ids", "show_incompatible"}


class QueryError(ValueError):
    """The query object cannot be read (Vast answers 400 invalid_args)."""


def peer_offer(
    rng: random.Random, *, offer_id: int, machine_id: int, gpu_name: str, num_gpus: int, gpu_ram_mb: int,
    price_usd_per_gpu_hour: float, now_s: float,
) -> dict[str, object]:
    """One other host's offer, in the shape POST /bundles returns."""
    verified = rng.random() < 0.85
    reliability = round(rng.uniform(0.90, 0.999), 4)
    return _offer_fields(
        offer_id=offer_id, machine_id=machine_id, host_id=1000 + machine_id % 997, gpu_name=gpu_name,
        num_gpus=num_gpus, gpu_ram_mb=gpu_ram_mb, dph_base=round(price_usd_per_gpu_hour * num_gpus, 4),
        min_bid=round(price_usd_per_gpu_hour * 0.6, 4), storage_cost=0.10, reliability=reliability,
        verified=verified, rented=rng.random() < 0.1, rentable=True, now_s=now_s,
        end_date=now_s + rng.uniform(30, 180) * 86400.0, geolocation=rng.choice(["SE", "US", "DE", "CA", "JP"]),
    )


def own_offer(machine: Machine, account_id: int, now_s: float) -> dict[str, object] | None:
    """Our machine as the market sees it, or None when it is not on offer (unlisted or past its end_date)."""
    if not machine.listed or machine.listed_gpu_cost is None:
        return None
    if machine.end_date is not None and machine.end_date <= now_s:
        return None
    free = machine.num_gpus - machine.client_gpus(now_s)
    return _offer_fields(
        offer_id=ASK_ID_BASE + machine.id, machine_id=machine.id, host_id=account_id, gpu_name=machine.gpu_name,
        num_gpus=machine.num_gpus, gpu_ram_mb=machine.gpu_ram_mb,
        dph_base=round(machine.listed_gpu_cost * machine.num_gpus, 4),
        min_bid=machine.min_bid_price or 0.0, storage_cost=machine.listed_storage_cost,
        reliability=machine.reliability2, verified=machine.verification == "verified",
        rented=free < machine.listed_min_gpu_count, rentable=free >= machine.listed_min_gpu_count,
        now_s=now_s, end_date=machine.end_date, geolocation=machine.geolocation.split(", ")[-1],
    )


def _offer_fields(
    *, offer_id: int, machine_id: int, host_id: int, gpu_name: str, num_gpus: int, gpu_ram_mb: int,
    dph_base: float, min_bid: float, storage_cost: float, reliability: float, verified: bool, rented: bool,
    rentable: bool, now_s: float, end_date: float | None, geolocation: str,
) -> dict[str, object]:
    dlperf = round(num_gpus * gpu_ram_mb / 1000.0, 2)
    return {
        "id": offer_id, "ask_contract_id": offer_id, "machine_id": machine_id, "host_id": host_id,
        "gpu_name": gpu_name, "num_gpus": num_gpus, "gpu_ram": gpu_ram_mb, "gpu_total_ram": gpu_ram_mb * num_gpus,
        "cpu_ram": 257655, "cpu_cores": 64, "cpu_cores_effective": 64.0, "cuda_max_good": 12.4,
        "compute_cap": 900 if "H100" in gpu_name else 890 if "4090" in gpu_name else 800,
        "driver_version": "550.54.14", "reliability": reliability, "reliability2": reliability,
        "direct_port_count": 200, "pcie_bw": 24.8, "inet_up": 850.2, "inet_down": 920.7, "disk_space": 1500.0,
        "dph_base": dph_base, "dph_total": dph_base, "min_bid": min_bid, "storage_cost": storage_cost,
        "dlperf": dlperf, "dlperf_per_dphtotal": round(dlperf / dph_base, 3) if dph_base else 0.0,
        "score": round(dlperf * reliability, 3), "duration": (end_date - now_s) if end_date else None,
        "start_date": now_s, "end_date": end_date, "verification": "verified" if verified else "unverified",
        "verified": verified, "rentable": rentable, "rented": rented, "external": False, "static_ip": True,
        "geolocation": geolocation, "hosting_type": 0,
    }


def priced(offer: Mapping[str, object], kind: str, allocated_storage_gb: float) -> dict[str, object]:
    """The offer as a search of `kind` shows it: dph_total = GPU price + the storage asked for + the SLA fee."""
    out = dict(offer)
    gpus = _num(out["num_gpus"])
    base = _num(out["min_bid"]) * gpus if kind == "bid" else _num(out["dph_base"])
    storage_per_h = _num(out["storage_cost"]) * allocated_storage_gb * 3600.0 / SECONDS_PER_MONTH
    out["dph_total"] = round(base * (1.0 + SLA_FEE_SHARE) + storage_per_h, 6)
    return out


def search(state: EmulatorState, query: Mapping[str, object], now_s: float) -> list[dict[str, object]]:
    """Every offer (peers and ours) matching `query`, ordered and limited as Vast does. Raises QueryError."""
    kind = str(query.get("type", "on-demand"))
    storage_gb = _as_float(query.get("allocated_storage", 5.0), "allocated_storage")
    own = [own_offer(m, state.account.id, now_s) for m in state.machines.values()]
    offers = [priced(o, kind, storage_gb) for o in [*state.peer_offers, *(o for o in own if o is not None)]]
    filters = {k: v for k, v in query.items() if k not in _NOT_FILTERS}
    for key, cond in filters.items():
        if not isinstance(cond, Mapping):
            raise QueryError(f"filter {key!r} must be an object of operators")
        # a filter on a field the offers lack (e.g. a newer column) is ignored rather than matching nothing
        offers = [o for o in offers if key not in o or _matches(o[key], cond, key)]
    for key, direction in reversed(_order(query.get("order", [["score", "desc"]]))):
        offers.sort(key=partial(_field_key, key), reverse=direction == "desc")
    limit = int(_as_float(query.get("limit", DEFAULT_LIMIT), "limit"))
    return offers[: max(limit, 0)]


def median_price(state: EmulatorState, gpu_name: str) -> float | None:
    """Median $/GPU/h of verified peer offers for `gpu_name`: the reference renters compare prices with."""
    prices = [
        _num(o["dph_base"]) / _num(o["num_gpus"])
        for o in state.peer_offers
        if o["gpu_name"] == gpu_name and o["verified"]
    ]
    return statistics.median(prices) if prices else None


def _matches(value: object, cond: Mapping[str, object], key: str) -> bool:
    for op, want in cond.items():
        if op not in OPERATORS:
            raise QueryError(f"unknown operator {op!r} on {key!r}")
        if want == "any":
            continue
        if not _compare(value, op, want):
            return False
    return True


def _compare(value: object, op: str, want: object) -> bool:
    if op in ("in", "notin"):
        if not isinstance(want, list):
            raise QueryError(f"{op} needs a list")
        found = any(_equal(value, w) for w in want)
        return found if op == "in" else not found
    if op in ("eq", "neq"):
        return _equal(value, want) == (op == "eq")
    left, right = _comparable(value), _comparable(want)
    if left is None or right is None:
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _equal(value: object, want: object) -> bool:
    if isinstance(value, bool) or isinstance(want, bool) or value is None or want is None:
        return value == want
    left, right = _comparable(value), _comparable(want)
    if left is not None and right is not None:
        return left == right
    return str(value) == str(want)


def _comparable(value: object) -> float | None:
    """Numbers, numeric strings, and dotted driver versions (535.86.05 -> 535086005) as floats."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        parts = text.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return float(int(parts[0]) * 1_000_000 + int(parts[1]) * 1000 + int(parts[2]))
        return None


def _order(raw: object) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        raise QueryError("order must be a list of [field, direction]")
    out = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and item[1] in ("asc", "desc")):
            raise QueryError("order items must be [field, 'asc'|'desc']")
        out.append((str(item[0]), str(item[1])))
    return out


def _field_key(key: str, offer: Mapping[str, object]) -> tuple[int, float, str]:
    value = offer.get(key)
    number = _comparable(value)
    return (0, number, "") if number is not None else (1, 0.0, str(value))


def _as_float(value: object, name: str) -> float:
    number = _comparable(value)
    if number is None:
        raise QueryError(f"{name} must be a number")
    return number


def _num(value: object) -> float:
    number = _comparable(value)
    return 0.0 if number is None else number
