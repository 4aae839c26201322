"""The endpoints that change the account: listing, min bid, maintenance, default job, cleanup.

Validation follows Vast's documented codes: 400 `invalid_args` for a body that cannot be read, 422 for
values out of range (min bid, its cap, maintenance), 403 for another host's machine, 404 for no such machine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from hostagent.testing.emulator.market import median_price
from hostagent.testing.emulator.renters import fit_default_job
from hostagent.testing.emulator.state import CLIENT_KINDS, SECONDS_PER_DAY, EmulatorState, Machine, Maintenance
from hostagent.testing.emulator.wire import ApiError

MAINT_CATEGORIES = ("power", "internet", "disk", "gpu", "software", "other", "not provided")
MAINT_MIN_H = 1.0  # Vast keeps whole hours, at least one
MAINT_MAX_H = 30 * 24.0
YEAR_S = 365 * SECONDS_PER_DAY
_DURATION_UNITS_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": SECONDS_PER_DAY,
                     "week": 7 * SECONDS_PER_DAY, "month": 30 * SECONDS_PER_DAY, "year": YEAR_S}


@dataclass
class Call:
    """One API request as the handlers see it: query values JSON-decoded where they parse."""

    method: str
    path: str
    query: dict[str, object]
    json_body: object
    api_key: str
    now_s: float


def owned(
    state: EmulatorState, raw_id: object, not_owner_msg: str = "error: only the owner can access this machine."
) -> Machine:
    """The account's machine with this id; 404 for no such machine, 403 for another host's machine."""
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or not str(raw_id).isdigit():
        raise ApiError(400, "invalid_args", "Invalid machine id or parameters")
    machine = state.machines.get(int(raw_id))
    if machine is not None:
        return machine
    if int(raw_id) in state.peer_machine_ids():
        raise ApiError(403, "not_authorized", not_owner_msg)
    raise ApiError(404, "not_found", "No such machine id")


def _body(call: Call) -> dict[str, object]:
    if not isinstance(call.json_body, dict):
        raise ApiError(400, "invalid_args", "Invalid machine id or parameters")
    return call.json_body


def _number(body: dict[str, object], key: str, *, low: float = 0.0, high: float | None = None,
            status: int = 400, open_low: bool = False) -> float | None:
    """body[key] as a float (None when absent or null); out of range -> ApiError(status)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(status, "invalid_args", f"{key} must be a number")
    if value < low or (open_low and value == low) or (high is not None and value > high):
        bound = f"> {low}" if open_low else f">= {low}"
        raise ApiError(status, "invalid_args", f"{key} must be {bound}" + (f" and <= {high}" if high else ""))
    return float(value)


def create_asks(state: EmulatorState, call: Call, _: tuple[str, ...]) -> object:
    body = _body(call)
    machine = owned(state, body.get("machine"), "Only the owner can create ask contracts for a machine.")
    price_gpu = _number(body, "price_gpu", open_low=True)
    price_disk = _number(body, "price_disk")
    price_inetu, price_inetd = _number(body, "price_inetu"), _number(body, "price_inetd")
    min_bid = _capped_min_bid(state, _number(body, "price_min_bid", open_low=True))
    min_chunk = _number(body, "min_chunk", low=1, high=machine.num_gpus)
    end_date = _number(body, "end_date")
    discount = _number(body, "credit_discount_max", high=1.0)
    vol_size, vol_price = _number(body, "vol_size"), _number(body, "vol_price")
    duration_s = _duration_s(body.get("duration"))
    if end_date is not None and duration_s is not None:
        raise ApiError(400, "invalid_args", "duration cannot be combined with end_date")
    if end_date is not None and end_date <= call.now_s:
        raise ApiError(400, "invalid_args", "end_date must be in the future")
    if min_chunk is not None and min_chunk != int(min_chunk):
        raise ApiError(400, "invalid_args", "min_chunk must be a whole number of GPUs")

    # null means: keep what the machine has, or Vast's default when it has nothing
    default_price = round(median_price(state, machine.gpu_name) or 1.0, 2)
    # "If you have raised the pricing, you cannot extend the current rental contracts."
    raised = price_gpu is not None and machine.listed_gpu_cost is not None and price_gpu > machine.listed_gpu_cost
    machine.listed = True
    machine.listed_gpu_cost = price_gpu if price_gpu is not None else machine.listed_gpu_cost or default_price
    machine.listed_storage_cost = price_disk if price_disk is not None else machine.listed_storage_cost
    machine.listed_volume_cost = vol_price if vol_price is not None else machine.listed_storage_cost
    machine.listed_inet_up_cost = price_inetu if price_inetu is not None else machine.listed_inet_up_cost
    machine.listed_inet_down_cost = price_inetd if price_inetd is not None else machine.listed_inet_down_cost
    machine.min_bid_price = min_bid if min_bid is not None else machine.min_bid_price
    machine.listed_min_gpu_count = int(min_chunk) if min_chunk is not None else machine.listed_min_gpu_count
    machine.credit_discount_max = discount if discount is not None else machine.credit_discount_max
    # null is not "no volume": the CLI documents -v as "Defaults to half of available disk. Set 0 to not create"
    machine.vol_size_gb = int(vol_size) if vol_size is not None else int(machine.disk_space_gb // 2)
    if duration_s is not None:
        machine.listing_duration_s = duration_s
        end_date = call.now_s + duration_s
    elif end_date is not None:
        machine.listing_duration_s = None
    extended = 0
    if end_date is not None:
        machine.end_date = end_date
        extended = 0 if raised else _extend_contracts(machine, end_date, call.now_s)
    return {"success": True, "extended": extended, "results": [{"success": True}], "you_sent": body}


def _capped_min_bid(state: EmulatorState, min_bid: float | None) -> float | None:
    """Vast's upper bound on the min bid: above it, 422 and nothing changes."""
    cap = state.account.max_min_bid_usd_per_gpu_hour
    if min_bid is not None and min_bid > cap:
        raise ApiError(422, "invalid_args", f"min_bid must be <= {cap:g}")
    return min_bid


def _extend_contracts(machine: Machine, end_date: float, now_s: float) -> int:
    """Contracts the old end_date cut short run on to their renter's end, as far as the new end_date
    (only when the price was not raised: the caller checks)."""
    extended = 0
    for contract in machine.running(now_s, CLIENT_KINDS):
        new_end = min(contract.wanted_end_s, end_date)
        if new_end > contract.end_s:
            contract.end_s = new_end
            extended += 1
    return extended


def _duration_s(raw: object) -> float | None:
    """`"3 months"`, `"2 weeks"`, `"1 year"` or seconds as a string (the CLI passes it through unchanged)."""
    if raw is None:
        return None
    text = str(raw).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*?)s?", text)
    if match and (not match.group(2) or match.group(2) in _DURATION_UNITS_S):
        seconds = float(match.group(1)) * _DURATION_UNITS_S.get(match.group(2) or "second", 1.0)
        if seconds > 0:
            return seconds
    raise ApiError(400, "invalid_args", f"cannot read duration {raw!r}: use 'N days|weeks|months|years'")


def unlist(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    """Removes the offer for new rentals; running contracts go on (Vast never evicts on unlist)."""
    machine = owned(state, groups[0])
    machine.listed = False
    machine.listed_gpu_cost = None
    machine.end_date = None
    machine.listing_duration_s = None
    return {"success": True, "machine_id": machine.id, "user_id": state.account.id, "orphaned_cleaned": 0}


def minbid(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    machine = owned(state, groups[0])
    body = _body(call)
    price = body.get("price")
    if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
        raise ApiError(422, "invalid_args", "min_bid must be greater than 0.")
    machine.min_bid_price = _capped_min_bid(state, float(price))
    return {"success": True, "you_sent": body}


def dnotify(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    machine = owned(state, groups[0])
    body = _body(call)
    sdate = _epoch(body.get("sdate"))
    if sdate <= call.now_s or sdate > call.now_s + YEAR_S:
        raise ApiError(422, "invalid_args", "sdate must be in the future and less than a year away")
    duration = _number(body, "duration", low=MAINT_MIN_H, high=MAINT_MAX_H, status=422)
    if duration is None:
        raise ApiError(422, "invalid_args", "Missing duration")
    duration = float(math.floor(duration))  # like Vast: a fractional value is rounded down (2.5 h is held as 2 h)
    category = body.get("maintenance_category", "not provided")
    if category not in MAINT_CATEGORIES:
        raise ApiError(400, "invalid_args", f"maintenance_category must be one of {', '.join(MAINT_CATEGORIES)}")
    machine.maintenances.append(Maintenance(
        id=state.new_id(), machine_id=machine.id, start_time=sdate, duration_hours=duration,
        category=str(category), created_at=call.now_s,
    ))
    sent = len(machine.running(call.now_s))
    return {"success": True, "machine_id": machine.id, "notifications_sent": sent,
            "you_sent": f"{sent} notifications sent"}


def _epoch(raw: object) -> float:
    """sdate as the CLI sends it (float epoch seconds) or as the docs show it (an ISO 8601 string)."""
    if raw is None:
        raise ApiError(422, "invalid_args", "Missing sdate")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_args", "sdate must be epoch seconds or an ISO 8601 date-time") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def cancel_maint(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    machine = owned(state, groups[0])
    # Every window of the machine goes, except those Vast itself scheduled: a host cannot cancel them.
    active = [w for w in machine.maintenances if w.active(call.now_s) and not w.by_vast]
    for window in active:
        window.cancelled_at = call.now_s
    return {"success": True, "ctime": call.now_s, "machine_id": machine.id,
            "msg": f"deleted {len(active)} scheduled maintenance window(s) on machine {machine.id}"}


def create_bids(state: EmulatorState, call: Call, _: tuple[str, ...]) -> object:
    """The default job. `price_gpu` is read as $/GPU/h, like `bid_gpu_cost`. Not yours: 200 success:false."""
    body = _body(call)
    try:
        machine = owned(state, body.get("machine"))
    except ApiError as err:
        if err.status != 403:
            raise
        return {"success": False, "error": "not_authorized", "msg": "Only the owner can set a default job"}
    price = _number(body, "price_gpu")
    image, args = body.get("image"), body.get("args")
    if price is None or not isinstance(image, str) or not image:
        raise ApiError(400, "invalid_args", "price_gpu and image are required")
    if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise ApiError(400, "invalid_args", "args must be a list of strings or null")
    machine.bid_gpu_cost, machine.bid_image, machine.bid_image_args = price, image, args
    fit_default_job(state, machine, call.now_s)
    return {"success": True, "machine_id": machine.id, "user_id": state.account.id, "you_sent": body}


def remove_defjob(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    machine = owned(state, groups[0])
    machine.bid_gpu_cost, machine.bid_image, machine.bid_image_args = None, None, None
    fit_default_job(state, machine, call.now_s)
    return {"success": True, "machine_id": machine.id, "user_id": state.account.id}


def cleanup(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    machine = owned(state, groups[0])
    count = len(machine.expired)
    if count == 0:
        return {"success": False, "msg": "No expired contracts to delete"}
    machine.expired.clear()
    return {"success": True, "ctime": call.now_s, "machine_id": machine.id, "user_id": state.account.id,
            "num_deleted": count, "msg": f"deleted {count} expired contracts on machine {machine.id}"}
