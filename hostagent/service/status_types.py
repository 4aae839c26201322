"""The status document's typed form (schema 1), and `read_saved`: the one place an older document is upgraded.

TypedDicts, so the document is plain JSON as it is (no conversion on save or load). Standard library only:
`hostagent status` imports this module and must stay fast. `hostagent/data/status.schema.json` describes the
same shape for `status --json` (a unit test keeps the two equal); `hostagent.service.status_doc` builds it.
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from hostagent.errors import StateError

if TYPE_CHECKING:
    from hostagent.core.owner import OwnerHold, OwnerPause

SCHEMA = 1


class Machine(TypedDict):
    id: int
    hostname: str
    gpu_name: str
    num_gpus: int


class Reason(TypedDict):
    step: str
    text: str


class Listing(TypedDict):
    listed: bool | None
    why: str
    price_usd_per_gpu_hour: float | None
    target_price_usd_per_gpu_hour: float | None
    desired_price_usd_per_gpu_hour: float | None
    rule: str | None
    reasons: list[Reason]
    min_bid_usd_per_gpu_hour: float | None
    desired_min_bid_usd_per_gpu_hour: float | None
    end_date: str | None
    warnings: list[str]


class Contracts(TypedDict):
    running: int | None
    on_demand: int | None
    latest_end: str | None
    gpu_occupancy: str | None


class Gpu(TypedDict):
    index: int
    name: str | None
    health: Literal["ok", "lost", "unknown"]
    temperature_c: int | None
    utilization_pct: int | None
    power_w: float | None
    memory_used_mib: int | None
    memory_total_mib: int | None
    ecc_uncorrected_volatile: int | None
    stale: bool
    error: str | None
    hot_since: str | None


class Health(TypedDict):
    ok: bool | None
    reasons: list[str]
    backend: str | None
    backend_ok: bool | None
    hint: str | None
    telemetry_at: str | None
    gpus: list[Gpu]


class Disk(TypedDict):
    path: str
    free_gb: float | None
    total_gb: float | None
    min_free_gb: float
    error: str | None


class Window(TypedDict):
    name: str
    start: str
    end: str
    category: str


class VastWindow(TypedDict):
    start: str
    end: str
    category: str


class Maintenance(TypedDict):
    next: Window | None
    vast_windows: list[VastWindow]
    contract_runs_into_window: bool


class ConfiguredJob(TypedDict):
    image: str
    args: list[str]
    price_usd_per_gpu_hour: float


class JobOnVast(TypedDict):
    image: str
    price_usd_per_gpu_hour: float | None


class DefaultJob(TypedDict):
    configured: ConfiguredJob | None
    on_vast: JobOnVast | None


class ApiError(TypedDict):
    at: str
    operation: str
    kind: str  # the VastError class, e.g. VastRateLimited
    status: int | None  # the HTTP status, None when no reply came
    message: str


class ApiGateState(TypedDict):
    """What the API gate says (hostagent.service.apigate.ApiGate.state)."""

    blocked: str | None
    auth_ok: bool
    not_before: str | None
    last_error: ApiError | None
    last_ok_at: str | None


class Api(ApiGateState):
    problem: str | None


class LastActions(TypedDict):
    sent: list[str]
    failed: list[str]
    would_send: list[str]
    waiting: list[str]
    deferred: str | None


class RecordedIdentity(TypedDict):
    machine_id: int
    hostname: str
    gpu_name: str
    num_gpus: int


class Identity(TypedDict):
    recorded: RecordedIdentity | None
    mismatch: str | None


class RenterReport(TypedDict):
    problem: str
    message: str
    created_at: str


class VastSignals(TypedDict):
    """What Vast says about the machine (hostagent.service.signals); null: not known yet."""

    verification: str | None
    reliability: float | None
    offline: bool | None
    timeout_s: float | None
    error_description: str | None
    num_reports: int | None
    reports: list[RenterReport]
    reports_read_at: str | None
    scheduled_by_vast: list[VastWindow]


EMPTY_VAST_SIGNALS: VastSignals = {
    "verification": None, "reliability": None, "offline": None, "timeout_s": None, "error_description": None,
    "num_reports": None, "reports": [], "reports_read_at": None, "scheduled_by_vast": [],
}
class Hold(TypedDict):
    by: str
    at: str
    reason: str
    until: str | None
    source: Literal["command", "outside"]  # `hostagent hold`, or a change made outside hostagent


class Pause(TypedDict):
    by: str
    at: str
    reason: str


class Owner(TypedDict):
    hold: Hold | None
    pause: Pause | None


def owner_status(hold: OwnerHold | None, pause: OwnerPause | None) -> Owner:
    """The owner's hold and pause (hostagent.core.owner) as the status document shows them."""
    return {
        "hold": None if hold is None else {
            "by": hold.by, "at": hold.at.isoformat(), "reason": hold.reason, "source": hold.source,
            "until": None if hold.until is None else hold.until.isoformat(),
        },
        "pause": None if pause is None else {"by": pause.by, "at": pause.at.isoformat(), "reason": pause.reason},
    }


class StatusDoc(TypedDict):
    """The whole document; hostagent.service.status_doc's docstring says what each field means."""

    schema: int
    tick_at: str
    mode: Literal["observe", "enforce"]
    machine: Machine | None
    listing: Listing
    contracts: Contracts
    health: Health
    disks: list[Disk]
    maintenance: Maintenance
    default_job: DefaultJob
    api: Api
    last_actions: LastActions
    identity: Identity
    vast_signals: VastSignals
    owner: Owner


def read_saved(raw: object) -> StatusDoc:
    """A saved document as this version reads it. Keys added to schema 1 after its first release get what an
    older document meant by leaving them out; anything else that does not fit raises StateError naming the
    field (the agent rewrites the document at its next tick, so nothing is lost)."""
    if not isinstance(raw, dict):
        raise StateError(f"the saved status document is not a JSON object but {type(raw).__name__}")
    doc = dict(raw)
    # A newer schema is read for what this version understands; its extra keys are dropped below.
    doc.setdefault("identity", {"recorded": None, "mismatch": None})  # added with the identity guard
    doc.setdefault("vast_signals", EMPTY_VAST_SIGNALS)  # added with Vast's signals
    doc.setdefault("owner", {"hold": None, "pause": None})  # added with hold and pause
    actions = doc.get("last_actions")
    if isinstance(actions, dict):
        doc["last_actions"] = {"waiting": [], **actions}  # added with writes in flight
    checked: StatusDoc = _checked(doc, StatusDoc, "agent")
    return checked


def _checked(value: object, hint: Any, path: str) -> Any:
    """`value` as `hint` describes it (keys it does not name are dropped); StateError at the first misfit."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(hint):
            return None
        (inner,) = (a for a in get_args(hint) if a is not type(None))
        return _checked(value, inner, path)
    if is_typeddict(hint):
        if not isinstance(value, dict):
            raise StateError(f"the saved status document's {path} is {_short(value)}, not an object")
        fields = _fields(hint)
        missing = [key for key in fields if key not in value]
        if missing:
            raise StateError(f"the saved status document's {path} lacks {', '.join(missing)}")
        return {key: _checked(value[key], kind, f"{path}.{key}") for key, kind in fields.items()}
    if origin is list:
        if not isinstance(value, list):
            raise StateError(f"the saved status document's {path} is {_short(value)}, not a list")
        (item,) = get_args(hint)
        return [_checked(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is Literal:
        if value not in get_args(hint):
            raise StateError(f"the saved status document's {path} is {_short(value)}, not one of {get_args(hint)}")
        return value
    # A float field also takes an int (a config value written as 50, not 50.0); a bool is never a number.
    ok = isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise StateError(f"the saved status document's {path} is {_short(value)}, not {hint.__name__}")
    return value


@functools.cache
def _fields(typed_dict: type) -> dict[str, Any]:
    """A TypedDict's keys and their types (cached: `status` reads one document per run, with a row per GPU)."""
    return get_type_hints(typed_dict)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
