"""VastClient: hostagent's only way to Vast's host API. Each method sends what the official `vastai` 1.9.1
CLI sends for the same command (method, exact path, query encoding, JSON body keys and value types,
as recorded on the wire) and returns typed values. Every method raises only `hostagent.errors.VastError` subclasses.
"""

from __future__ import annotations

import math
import random
import re
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import httpx

from hostagent.clock import SystemClock
from hostagent.config.model import VastConfig
from hostagent.core.model import (
    DesiredListing,
    EarningsReport,
    GpuMetricsCurrent,
    GpuMetricsHistory,
    MachineState,
    Offer,
    VastMaintenance,
)
from hostagent.errors import (
    SecretError,
    VastBadReply,
    VastClientError,
    VastFailure,
    VastMinBidTooHigh,
    VastNotFound,
    VastWrongMachine,
)
from hostagent.ports import CallLedger, Clock
from hostagent.vast import parse, parse_metrics
from hostagent.vast.auth import register_secret
from hostagent.vast.models import MachineReport, VastUser
from hostagent.vast.parse import Fields
from hostagent.vast.query import earnings_query, peer_query
from hostagent.vast.transport import Endpoint, Transport

T = TypeVar("T")
__all__ = ["ENDPOINTS", "VastClient", "peer_query"]  # peer_query lives in query.py; the agent imports it here
NO_EXPIRED_CONTRACTS = "No expired contracts to delete"
_UNDOCUMENTED_INTERVAL_S = 2.0  # for endpoints whose threshold Vast does not publish
# Vast's words when a min bid is above the bound it allows the host (422 on create_asks and minbid).
_MIN_BID_CAP = re.compile(r"min_bid must be <=\s*\$?([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)")


def _ep(name: str, method: str, path: str, min_interval_s: float, *, write: bool) -> Endpoint:
    return Endpoint(name=name, method=method, path=path, min_interval_s=min_interval_s, write=write)


# Paths exactly as the CLI writes them (trailing slashes differ); thresholds from Vast's API reference.
SHOW_USER = _ep("show_user", "GET", "/api/v0/users/current", _UNDOCUMENTED_INTERVAL_S, write=False)
SHOW_MACHINES = _ep("show_machines", "GET", "/api/v0/machines", 2.5, write=False)
SHOW_MACHINE = _ep("show_machine", "GET", "/api/v0/machines/{id}", 1.1, write=False)
LIST_MACHINE = _ep("list_machine", "PUT", "/api/v0/machines/create_asks/", 5.0, write=True)
UNLIST_MACHINE = _ep("unlist_machine", "DELETE", "/api/v0/machines/{id}/asks/", 1.8, write=True)
SET_MIN_BID = _ep("set_min_bid", "PUT", "/api/v0/machines/{id}/minbid/", 1.5, write=True)
SCHEDULE_MAINT = _ep("schedule_maint", "PUT", "/api/v0/machines/{id}/dnotify/", 2.5, write=True)
CANCEL_MAINT = _ep("cancel_maint", "PUT", "/api/v0/machines/{id}/cancel_maint/", 2.5, write=True)
SHOW_MAINTS = _ep("show_maints", "GET", "/api/v0/machines/maintenances", 2.0, write=False)
SET_DEFJOB = _ep("set_defjob", "PUT", "/api/v0/machines/create_bids/", 2.8, write=True)
REMOVE_DEFJOB = _ep("remove_defjob", "DELETE", "/api/v0/machines/{id}/defjob/", 1.2, write=True)
CLEANUP_MACHINE = _ep("cleanup_machine", "PUT", "/api/v0/machines/{id}/cleanup/", 8.0, write=True)
SHOW_EARNINGS = _ep("show_earnings", "GET", "/api/v0/users/me/machine-earnings", 2.0, write=False)
SEARCH_OFFERS = _ep("search_offers", "POST", "/api/v0/bundles/", 2.0, write=False)  # a POST that only reads
MACHINE_REPORTS = _ep("machine_reports", "GET", "/api/v0/machines/{id}/reports/", 1.2, write=False)
# Market metrics for hosts: 5 requests/s per Vast's API reference (the data itself changes every 5 minutes).
GPU_METRICS_CURRENT = _ep("gpu_metrics_current", "GET", "/api/v0/metrics/gpu/current/", 0.2, write=False)
GPU_METRICS_HISTORY = _ep("gpu_metrics_history", "GET", "/api/v0/metrics/gpu/history/", 0.2, write=False)
ENDPOINTS = (
    SHOW_USER, SHOW_MACHINES, SHOW_MACHINE, LIST_MACHINE, UNLIST_MACHINE, SET_MIN_BID, SCHEDULE_MAINT, CANCEL_MAINT,
    SHOW_MAINTS, SET_DEFJOB, REMOVE_DEFJOB, CLEANUP_MACHINE, SHOW_EARNINGS, SEARCH_OFFERS, MACHINE_REPORTS,
    GPU_METRICS_CURRENT, GPU_METRICS_HISTORY,
)  # fmt: skip


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


class VastClient:
    """Implements `hostagent.ports.Marketplace`, plus `show_user`.

    `transport` is httpx's seam for tests; `rng` seeds the retry jitter. The key is sent only as
    `Authorization: Bearer` and is registered with `hostagent.runtime.logs.add_secret` so no log line shows it.
    Raises `SecretError` at construction for an empty or malformed key, and `VastInsecureURL` for a base URL
    that would carry the key in clear text (plain http:// off loopback): before any connection is made.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        cfg: VastConfig | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key or not api_key.isprintable() or any(ch.isspace() for ch in api_key) or not api_key.isascii():
            raise SecretError("the Vast API key is empty or not one line of printable ASCII")
        register_secret(api_key)
        self.base_url = base_url.rstrip("/")
        self._t = Transport(
            self.base_url, api_key, cfg or VastConfig(), clock or SystemClock(), transport=transport, rng=rng
        )

    def __repr__(self) -> str:
        return f"VastClient(base_url={self.base_url!r}, api_key=<hidden>)"

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS settings requests use (certificate and host name always verified); None with a test transport."""
        return self._t.tls_context

    def close(self) -> None:
        self._t.close()

    def share_rate_limits(self, ledger: CallLedger) -> None:
        """Space calls after those other processes on the same key made, and tell them of ours."""
        self._t.ledger = ledger

    def __enter__(self) -> VastClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------------

    def _call(
        self,
        ep: Endpoint,
        parse_reply: Callable[[object], T],
        *,
        machine_id: int | None = None,
        query: Mapping[str, object] | None = None,
        body: object | None = None,
    ) -> T:
        path = ep.path.replace("{id}", str(int(machine_id))) if machine_id is not None else ep.path
        reply = self._t.request(ep, path, query=query, body=body)
        try:
            return parse_reply(reply)
        except VastBadReply as exc:  # a bad value is quoted in the message: never let it quote the key
            raise VastBadReply(self._t.scrub(str(exc)), endpoint=ep.name, field=exc.field) from None

    def _ok(self, ep: Endpoint) -> Callable[[object], Fields]:
        """A reply object whose `success` (when present) is true; `success: false` -> VastFailure."""

        def check(reply: object) -> Fields:
            f = Fields(reply, "", ep.name)
            if f.opt_bool("success") is False:
                msg = f.opt_str("msg") or f.opt_str("message") or f.opt_str("error") or "(no message)"
                msg = self._t.scrub(msg)
                raise VastFailure(f"{ep.name}: Vast said: {msg}", endpoint=ep.name, status=200, msg=msg)
            return f

        return check

    # ---- reads -------------------------------------------------------------------------------------

    def show_user(self) -> VastUser:
        return self._call(SHOW_USER, lambda r: parse.user(Fields(r, "", SHOW_USER.name)))

    def account_id(self) -> int:
        return self.show_user().id

    def show_machines(self) -> list[MachineState]:
        def read(reply: object) -> list[MachineState]:
            return [parse.machine(m) for m in Fields(reply, "", SHOW_MACHINES.name).objects("machines")]

        return self._call(SHOW_MACHINES, read, query={"owner": "me"})

    def show_machine(self, machine_id: int) -> MachineState:
        """Vast answers a bare one-element array; an empty one means no such machine of ours (VastNotFound).
        A row naming another machine raises VastWrongMachine: nothing about it may steer a write."""

        def read(reply: object) -> MachineState:
            rows = parse.items(reply, "", SHOW_MACHINE.name)
            if not rows:
                raise VastNotFound(f"show_machine: no machine {machine_id} on this account", endpoint="show_machine")
            return parse.machine(rows[0])

        machine = self._call(SHOW_MACHINE, read, machine_id=machine_id, query={"owner": "me"})
        if machine.id != machine_id:
            raise VastWrongMachine(f"show_machine: asked for machine {machine_id}, Vast answered with machine "
                                   f"{machine.id}", asked_id=machine_id, endpoint=SHOW_MACHINE.name)
        return machine

    def show_maints(self, machine_ids: Sequence[int]) -> list[VastMaintenance]:
        """Raises VastWrongMachine when a window belongs to a machine that was not asked for."""

        def read(reply: object) -> list[VastMaintenance]:
            return [parse.maintenance(row) for row in parse.items(reply, "", SHOW_MAINTS.name)]

        query = {"owner": "me", "machine_ids": [int(i) for i in machine_ids]}
        windows = self._call(SHOW_MAINTS, read, query=query)
        stray = sorted({w.machine_id for w in windows} - {int(i) for i in machine_ids})
        if stray:
            asked = ", ".join(str(int(i)) for i in machine_ids)
            raise VastWrongMachine(f"show_maints: asked for machine {asked}, Vast answered with windows of machine "
                                   f"{', '.join(map(str, stray))}", asked_id=int(machine_ids[0]) if machine_ids else 0,
                                   endpoint=SHOW_MAINTS.name)
        return windows

    def show_earnings(self, start: datetime, end: datetime, machine_id: int | None = None) -> EarningsReport:
        """`sday`/`eday` are fractional days since the epoch computed in UTC."""
        query = earnings_query(start, end, machine_id)
        return self._call(SHOW_EARNINGS, lambda r: parse.earnings(Fields(r, "", SHOW_EARNINGS.name), machine_id),
                          query=query)

    def search_offers(self, query: Mapping[str, object]) -> list[Offer]:
        def read(reply: object) -> list[Offer]:
            return parse.offers(Fields(reply, "", SEARCH_OFFERS.name))

        return self._call(SEARCH_OFFERS, read, body=dict(query))

    def gpu_metrics_current(
        self, *, verified: str = "all", hosting_type: str = "all", num_gpus: str = "all"
    ) -> GpuMetricsCurrent:
        """Vast's market per GPU model now; the query as `vastai show gpu-metrics` sends it (all strings)."""
        query = {"verified": verified, "hosting_type": hosting_type, "num_gpus": num_gpus}
        check = self._ok(GPU_METRICS_CURRENT)
        return self._call(GPU_METRICS_CURRENT, lambda r: parse_metrics.gpu_metrics_current(check(r)), query=query)

    def gpu_metrics_history(
        self, gpu_name: str, *, verified: str = "all", hosting_type: str = "all", num_gpus: str = "all",
        start_epoch_s: int | None = None, end_epoch_s: int | None = None, step_s: int | None = None,
    ) -> GpuMetricsHistory:
        """The price and supply series of `gpu_name` (a name, a comma list or "all"); unset times: Vast's default
        (the last day). Sent as `vastai show gpu-trends` sends it: times as decimal strings, after the filters."""
        query: dict[str, object] = {
            "gpu_name": gpu_name, "verified": verified, "hosting_type": hosting_type, "num_gpus": num_gpus,
        }
        for key, value in (("start", start_epoch_s), ("end", end_epoch_s), ("step", step_s)):
            if value is not None:
                query[key] = str(int(value))
        check = self._ok(GPU_METRICS_HISTORY)
        return self._call(GPU_METRICS_HISTORY, lambda r: parse_metrics.gpu_metrics_history(check(r)), query=query)

    def machine_reports(self, machine_id: int) -> list[MachineReport]:
        """GET with a JSON body `{"machine_id": ID}`, as the CLI sends it."""

        def read(reply: object) -> list[MachineReport]:
            return [parse.report(row) for row in parse.items(reply, "", MACHINE_REPORTS.name)]

        return self._call(MACHINE_REPORTS, read, machine_id=machine_id, body={"machine_id": int(machine_id)})

    # ---- writes ------------------------------------------------------------------------------------

    def list_machine(self, machine_id: int, listing: DesiredListing) -> int:
        """PUT create_asks with all twelve keys (unset = null; `min_chunk` 1 when unset, as the CLI).
        The core never sets both `end_date` and `duration_days`: Vast refuses the pair (400).
        `listing.listed` is not consulted: to take the machine off the market call `unlist_machine`."""
        body = {
            "machine": int(machine_id),
            "price_gpu": _float_or_none(listing.price_usd_per_gpu_hour),
            "price_disk": _float_or_none(listing.storage_usd_per_gb_month),
            "price_inetu": _float_or_none(listing.upload_usd_per_gb),
            "price_inetd": _float_or_none(listing.download_usd_per_gb),
            "price_min_bid": _float_or_none(listing.min_bid_usd_per_gpu_hour),
            "min_chunk": int(listing.min_chunk) if listing.min_chunk is not None else 1,
            "end_date": _float_or_none(listing.end_date),
            "credit_discount_max": _float_or_none(listing.credit_discount_max),
            # "N days" makes Vast roll end_date daily to now + N days (the CLI's -l passes the text through)
            "duration": None if listing.duration_days is None else f"{int(listing.duration_days)} days",
            # 0 = no volume offer; null would make Vast offer half of the free disk as a volume
            "vol_size": None if listing.volume_size_gb is None else int(listing.volume_size_gb),
            "vol_price": _float_or_none(listing.volume_usd_per_gb_month),
        }
        check = self._ok(LIST_MACHINE)
        with _min_bid_cap():
            return self._call(LIST_MACHINE, lambda r: check(r).opt_int("extended") or 0, body=body)

    def unlist_machine(self, machine_id: int) -> None:
        self._call(UNLIST_MACHINE, self._ok(UNLIST_MACHINE), machine_id=machine_id, body={})

    def set_min_bid(self, machine_id: int, price_usd_per_gpu_hour: float) -> None:
        body = {"client_id": "me", "price": float(price_usd_per_gpu_hour)}
        with _min_bid_cap():
            self._call(SET_MIN_BID, self._ok(SET_MIN_BID), machine_id=machine_id, body=body)

    def schedule_maint(self, machine_id: int, start_epoch_s: float, duration_h: float, category: str) -> None:
        """dnotify: `sdate` float epoch seconds, `duration` float hours. Not idempotent (each call notifies
        renters and adds a window), which is why a lost reply is never retried."""
        body = {
            "client_id": "me",
            "sdate": float(start_epoch_s),
            "duration": float(duration_h),
            "maintenance_category": category,
        }
        self._call(SCHEDULE_MAINT, self._ok(SCHEDULE_MAINT), machine_id=machine_id, body=body)

    def cancel_maint(self, machine_id: int) -> None:
        body = {"client_id": "me", "machine_id": int(machine_id)}
        self._call(CANCEL_MAINT, self._ok(CANCEL_MAINT), machine_id=machine_id, body=body)

    def set_defjob(
        self,
        machine_id: int,
        *,
        image: str,
        args: Sequence[str] | None,
        price_usd_per_gpu_hour: float,
        upload_usd_per_gb: float,
        download_usd_per_gb: float,
    ) -> None:
        body = {
            "machine": int(machine_id),
            "price_gpu": float(price_usd_per_gpu_hour),
            "price_inetu": float(upload_usd_per_gb),
            "price_inetd": float(download_usd_per_gb),
            "image": image,
            "args": None if args is None else [str(a) for a in args],
        }
        self._call(SET_DEFJOB, self._ok(SET_DEFJOB), body=body)

    def remove_defjob(self, machine_id: int) -> None:
        self._call(REMOVE_DEFJOB, self._ok(REMOVE_DEFJOB), machine_id=machine_id, body={})

    def cleanup_machine(self, machine_id: int) -> int:
        """Returns `num_deleted`; Vast's 200 `{success: false, msg: "No expired contracts to delete"}` is 0."""

        def read(reply: object) -> int:
            f = Fields(reply, "", CLEANUP_MACHINE.name)
            if f.opt_bool("success") is False and (f.opt_str("msg") or "").strip() == NO_EXPIRED_CONTRACTS:
                return 0
            return self._ok(CLEANUP_MACHINE)(reply).opt_int("num_deleted") or 0

        return self._call(CLEANUP_MACHINE, read, machine_id=machine_id, body={})


@contextmanager
def _min_bid_cap() -> Iterator[None]:
    """Vast's 422 "min_bid must be <= {max}" becomes VastMinBidTooHigh, carrying the bound for the next plans."""
    try:
        yield
    except VastClientError as exc:
        found = _MIN_BID_CAP.search(exc.msg or "") if exc.status == 422 else None
        cap = float(found.group(1)) if found else math.nan
        if not (math.isfinite(cap) and cap > 0):
            raise
        raise VastMinBidTooHigh(str(exc), max_usd_per_gpu_hour=cap, endpoint=exc.endpoint, status=exc.status,
                                msg=exc.msg) from None
