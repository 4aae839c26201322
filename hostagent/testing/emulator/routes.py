"""Which handler answers which request, and the read-only endpoints.

Paths are matched after dropping the `/api/v0` prefix and any trailing slash, so both slash forms of every
endpoint work and nothing is ever redirected (requests turns a redirected POST into a GET).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hostagent.testing.emulator import metrics, writes
from hostagent.testing.emulator.market import QueryError, search
from hostagent.testing.emulator.state import DayEarnings, EmulatorState
from hostagent.testing.emulator.wire import ApiError, Reply
from hostagent.testing.emulator.writes import Call, owned

Handler = Callable[[EmulatorState, Call, tuple[str, ...]], "object | Reply"]


@dataclass(frozen=True)
class Route:
    name: str  # also the rate-limit key
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True


def _show_user(state: EmulatorState, call: Call, _: tuple[str, ...]) -> object:
    account = state.account
    return {
        "id": account.id, "key_id": 9001, "username": account.username, "email": account.email,
        "fullname": account.fullname, "balance": round(account.balance_usd, 2), "credit": account.credit_usd,
        "email_verified": True, "has_billing": True, "has_payout": True, "host_agreement_accepted": True,
        "sid": "emulator-session", "ssh_key": None, "paypal_email": None,
        "api_key": call.api_key,  # Vast echoes the caller's key; the CLI drops it before printing
    }


def _gpu_names(state: EmulatorState, _call: Call, _: tuple[str, ...]) -> object:
    names = {str(o["gpu_name"]) for o in state.peer_offers} | {m.gpu_name for m in state.machines.values()}
    return {"gpu_names": sorted(names)}


def _show_machines(state: EmulatorState, call: Call, _: tuple[str, ...]) -> object:
    return {"machines": [state.machines[i].to_wire(call.now_s) for i in sorted(state.machines)]}


def _show_machine(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    return [owned(state, groups[0]).to_wire(call.now_s)]  # Vast sends a one-element array


def _show_maints(state: EmulatorState, call: Call, _: tuple[str, ...]) -> object:
    ids = call.query.get("machine_ids")
    if isinstance(ids, int) and not isinstance(ids, bool):
        ids = [ids]
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "invalid_args", "machine_ids cannot be empty")
    mine = [state.machines[i] for i in ids if isinstance(i, int) and i in state.machines]
    if not mine:
        raise ApiError(404, "not_found", "No machines found for the given machine_ids")
    return [w.to_wire() for m in mine for w in m.maintenances if w.active(call.now_s)]


def _reports(state: EmulatorState, _call: Call, groups: tuple[str, ...]) -> object:
    return list(owned(state, groups[0]).reports[-20:])


def _earnings(state: EmulatorState, call: Call, groups: tuple[str, ...]) -> object:
    if groups[0] not in ("me", str(state.account.id)):
        raise ApiError(403, "not_authorized", "You can only see your own earnings")
    sday, eday, machid = call.query.get("sday"), call.query.get("eday"), call.query.get("machid")
    for name, value in (("sday", sday), ("eday", eday)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError(400, "invalid_args", f"Invalid input syntax: {name}={value!r}")
    if machid is not None and (isinstance(machid, bool) or not isinstance(machid, int)):
        raise ApiError(400, "invalid_args", f"Invalid input syntax: machid={machid!r}")
    assert isinstance(sday, int | float)
    assert isinstance(eday, int | float)
    first, last = int(sday), int(eday)
    rows = {
        key: value for key, value in state.earnings.items()
        if first <= key[1] <= last and (machid is None or key[0] == machid)
    }
    per_day = [_row(_sum(v for (_, d), v in rows.items() if d == day), day=day)
               for day in sorted({d for _, d in rows})]
    per_machine = [_row(_sum(v for (m, _), v in rows.items() if m == mid), machine_id=mid)
                   for mid in sorted({m for m, _ in rows})]
    for row in per_machine:
        row["reliability"] = state.machines[int(str(row["machine_id"]))].reliability2
    total = _sum(rows.values())
    account = state.account
    return {
        "sday": first, "eday": last, "username": account.username, "email": account.email,
        "fullname": account.fullname, "address1": None, "address2": None, "city": None, "zip": None,
        "country": account.country, "taxinfo": None,
        "summary": {
            "total_gpu": round(total.gpu_usd, 4), "total_stor": round(total.storage_usd, 4),
            "total_bwu": round(total.upload_usd, 4), "total_bwd": round(total.download_usd, 4),
            "total_sla": round(total.sla_usd, 4),
            "avg_reliability": round(sum(m.reliability2 for m in state.machines.values()) / len(state.machines), 4),
        },
        "current": {"balance": round(account.balance_usd, 2), "service_fee": 0.0,
                    "total": round(account.balance_usd, 2), "credit": account.credit_usd},
        "per_machine": per_machine,
        "per_day": per_day,
    }


def _sum(days: object) -> DayEarnings:
    total = DayEarnings()
    for d in days:  # type: ignore[attr-defined]
        total.gpu_usd += d.gpu_usd
        total.storage_usd += d.storage_usd
        total.upload_usd += d.upload_usd
        total.download_usd += d.download_usd
        total.sla_usd += d.sla_usd
    return total


def _row(d: DayEarnings, **key: int) -> dict[str, object]:
    return {**key, "gpu_earn": round(d.gpu_usd, 4), "sto_earn": round(d.storage_usd, 4),
            "bwu_earn": round(d.upload_usd, 4), "bwd_earn": round(d.download_usd, 4), "sla_earn": round(d.sla_usd, 4)}


def _bundles(state: EmulatorState, call: Call, _: tuple[str, ...]) -> object:
    query = call.json_body
    if call.method == "GET":  # documented GET /bundles/?q=<json>
        query = call.query.get("q", {})
    elif call.method == "PUT" and isinstance(query, dict):  # `search offers --new`: {"select_cols", "q"}
        query = query.get("q", {})
    if not isinstance(query, dict):
        raise ApiError(400, "invalid_args", "the search query must be a JSON object")
    try:
        return {"offers": search(state, query, call.now_s)}
    except QueryError as err:
        raise ApiError(400, "invalid_args", str(err)) from err


_ID = r"(\d+)"
ROUTES: tuple[Route, ...] = tuple(
    Route(name, method, re.compile(f"^{path}$"), handler, auth)
    for name, method, path, handler, auth in (
        ("show_user", "GET", "/users/current", _show_user, True),
        ("gpu_names", "GET", "/gpu_names/unique", _gpu_names, False),
        ("show_machines", "GET", "/machines", _show_machines, True),
        ("show_maints", "GET", "/machines/maintenances", _show_maints, True),
        ("show_machine", "GET", f"/machines/{_ID}", _show_machine, True),
        ("create_asks", "PUT", "/machines/create_asks", writes.create_asks, True),
        ("unlist", "DELETE", f"/machines/{_ID}/asks", writes.unlist, True),
        ("minbid", "PUT", f"/machines/{_ID}/minbid", writes.minbid, True),
        ("dnotify", "PUT", f"/machines/{_ID}/dnotify", writes.dnotify, True),
        ("cancel_maint", "PUT", f"/machines/{_ID}/cancel_maint", writes.cancel_maint, True),
        ("create_bids", "PUT", "/machines/create_bids", writes.create_bids, True),
        ("remove_defjob", "DELETE", f"/machines/{_ID}/defjob", writes.remove_defjob, True),
        ("cleanup", "PUT", f"/machines/{_ID}/cleanup", writes.cleanup, True),
        ("reports", "GET", f"/machines/{_ID}/reports", _reports, True),
        ("earnings", "GET", r"/users/(me|\d+)/machine-earnings", _earnings, True),
        ("bundles", "POST", "/bundles", _bundles, True),
        ("bundles", "GET", "/bundles", _bundles, True),
        ("bundles", "PUT", "/search/asks", _bundles, True),
        ("gpu_metrics_current", "GET", "/metrics/gpu/current", lambda s, c, _: metrics.current(s, c.query, c.now_s),
         True),
        ("gpu_metrics_history", "GET", "/metrics/gpu/history", lambda s, c, _: metrics.history(s, c.query, c.now_s),
         True),
    )
)


def normalise(path: str) -> str:
    """`/api/v0/machines/create_asks/` and `//api/v0/machines/create_asks` -> `/machines/create_asks`."""
    path = re.sub(r"/{2,}", "/", path)
    if path.startswith("/api/v0/"):
        path = path[len("/api/v0"):]
    return path.rstrip("/") or "/"


def find(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    """The route for this request. Raises ApiError 405 when the path exists but not for this method."""
    allowed = False
    for route in ROUTES:
        match = route.pattern.match(path)
        if match:
            if route.method == method:
                return route, match.groups()
            allowed = True
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{method} is not allowed on this endpoint")
    return None

