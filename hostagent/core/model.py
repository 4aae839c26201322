"""The values the agent reasons about: readings, Vast's view of the machine, the market, and plans.

Everything here is a frozen dataclass built from the standard library only, so the pure core
(`hostagent.core`) can be fed values in tests without any adapter. A reading that could not be
taken is `None`, never a magic number. Times are timezone-aware `datetime` in UTC inside the core;
on the wire (Vast) and in SQLite they are epoch seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the variants import this module's values; Plan only names them
    from hostagent.core.actions import Action

# The dearest price per GPU-hour any number from outside (a Vast reply, a peer offer) may carry. Real GPU
# prices are a few dollars; anything above this is a unit mix-up, a test value or an attack, never a market.
MAX_SANE_PRICE_USD_PER_GPU_HOUR = 1000.0
# The most power one GPU may be said to draw when its own power limit is unknown (the largest boards
# are rated near 1.2 kW); a reading above it is a sensor or transfer error.
MAX_SANE_POWER_W = 3000.0
# The latest epoch second a date from outside may carry (year 3000): beyond it `datetime` overflows.
MAX_EPOCH_S = 32_503_680_000.0


class GpuHealth(str, enum.Enum):
    """What the hardware layer can say about one GPU."""

    OK = "ok"
    LOST = "lost"  # NVML said GPU_IS_LOST / unknown error, or the GPU vanished from the count
    UNKNOWN = "unknown"  # no telemetry: NVML absent, refused, or the read hung past its deadline


@dataclass(frozen=True, slots=True)
class XidEvent:
    """One XID (or ECC) event NVML delivered through its event set."""

    gpu_index: int
    xid: int
    event_type: str  # "xid", "ecc_single_bit", "ecc_double_bit", ...


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU at one tick. Fields NVML does not support on this device stay `None`."""

    index: int
    uuid: str | None
    name: str | None
    health: GpuHealth
    temperature_c: int | None = None
    utilization_pct: int | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    clock_event_reasons: int | None = None  # NVML's clocks-event (throttle) bitmask
    pstate: int | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_corrected_volatile: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    xid_events: tuple[XidEvent, ...] = ()  # since the previous read, so repeats are never hidden
    pcie_link_gen: int | None = None
    pcie_link_width: int | None = None
    compute_processes: int | None = None
    stale: bool = False  # the read hit its deadline; values are the last good ones or None
    error: str | None = None  # why health is not OK, for people
    # Added by the hardware layer (all optional): static link maxima, so a degraded link shows
    # (gen 5 x16 running at x8); slow counters, read only every `hardware.slow_counters_s` and
    # carried between those reads; and the fields this device answered NotSupported (never asked again).
    pcie_link_gen_max: int | None = None
    pcie_link_width_max: int | None = None
    pcie_tx_kb_per_s: int | None = None
    pcie_rx_kb_per_s: int | None = None
    energy_mj: int | None = None  # since the driver was loaded
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DiskReading:
    """Free space where Docker keeps containers (or its nearest existing parent)."""

    requested_path: str
    path: str  # the path actually read
    total_bytes: int | None
    free_bytes: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """Everything the hardware layer saw at one tick."""

    taken_at: datetime
    gpus: tuple[GpuReading, ...]
    disks: tuple[DiskReading, ...]
    backend: str  # "nvml" or "fake"
    backend_ok: bool = True  # False when NVML could not be initialised (health then unknown)
    hint: str | None = None  # what an operator can do about backend_ok=False


@dataclass(frozen=True, slots=True)
class MachineState:
    """One machine as Vast reports it (GET /machines). Prices are USD; None when Vast sent none."""

    id: int
    hostname: str
    gpu_name: str
    num_gpus: int
    listed: bool
    listed_gpu_cost: float | None = None  # $/GPU/h on demand
    listed_storage_cost: float | None = None  # $/GB/month
    listed_inet_up_cost: float | None = None  # $/GB
    listed_inet_down_cost: float | None = None  # $/GB
    min_bid_price: float | None = None  # $/GPU/h
    listed_min_gpu_count: int | None = None
    credit_discount_max: float | None = None
    end_date: float | None = None  # epoch s, offer expiry
    client_end_date: float | None = None  # epoch s, latest running contract end
    bid_gpu_cost: float | None = None  # default job price
    bid_image: str | None = None
    bid_image_args: tuple[str, ...] | None = None
    current_rentals_running: int = 0
    current_rentals_on_demand: int = 0
    gpu_occupancy: str | None = None
    reliability: float | None = None  # Vast's `reliability2`, 0..1
    verification: str | None = None  # verified / unverified / deverified; None: not shown or not understood
    timeout_s: float | None = None  # seconds since Vast last heard from the machine (0 = online)
    earn_day: float | None = None
    volume_size_gb: int | None = None  # the volume offer's size (`vol_size`); 0 = none, None = not shown
    listed_volume_cost: float | None = None  # $/GB/month of the volume offer
    error_description: str | None = None  # the error Vast shows in red on the Machines page; None: none
    num_reports: int | None = None  # renter reports Vast counts against the machine


@dataclass(frozen=True, slots=True)
class MachineReport:
    """One renter report against a machine (GET /machines/{id}/reports/)."""

    problem: str
    message: str
    created_at: float  # epoch s

    @property
    def key(self) -> str:
        """Vast gives a report no id: its time and problem tell one report from another."""
        return f"{self.created_at:.3f}|{self.problem}"


@dataclass(frozen=True, slots=True)
class Offer:
    """One peer offer from an offer search (POST /bundles)."""

    id: int
    machine_id: int
    gpu_name: str
    num_gpus: int
    dph_total: float  # $/h for the whole offer: GPU + storage + Vast's SLA fee, as a renter pays it
    verified: bool
    reliability: float | None = None
    rented: bool | None = None
    dph_base: float | None = None  # $/h for the GPUs alone (the host's own price); None when Vast sent none
    host_id: int | None = None  # the account that offers it (the user id of GET /users/current)

    @property
    def price_usd_per_gpu_hour(self) -> float:
        """The GPU price per GPU (`dph_base`), compared with the host's own GPU price; `dph_total` only without it."""
        whole = self.dph_total if self.dph_base is None else self.dph_base
        return whole / self.num_gpus if self.num_gpus else whole

    @property
    def priced_from_total(self) -> bool:
        """No `dph_base`: the price per GPU includes storage and fees, so it reads higher than the GPU price."""
        return self.dph_base is None


@dataclass(frozen=True, slots=True)
class MarketSample:
    """A peer search result and when it was taken; `hit_limit` means the search was truncated."""

    offers: tuple[Offer, ...]
    taken_at: datetime
    hit_limit: bool = False
    own_host_id: int | None = None  # the owner's account id: its other machines are not peers; None = unknown
    # `[pricing.market] source = "metrics"`: Vast's own metrics for our GPU model instead of peer offers
    metrics: GpuMetricsRow | None = None
    history: tuple[GpuPricePoint, ...] = ()


@dataclass(frozen=True, slots=True)
class GpuMetricsRow:
    """One GPU model in Vast's market metrics (GET /metrics/gpu/current/): counts, usage % and asked prices."""

    gpu_name: str
    total: int  # GPUs listed on Vast
    available: int  # on offer, not rented
    usage_pct: float  # rented share of the listed GPUs, 0..100
    price_p10: float | None = None  # $/GPU/h; None when Vast had no price for the model
    price_median: float | None = None
    price_p90: float | None = None


@dataclass(frozen=True, slots=True)
class GpuMetricsCurrent:
    """Vast's current market metrics. `dropped`: rows refused as impossible; `needs_machine`: no data for
    an account without machines (Vast serves the metrics to hosts only)."""

    rows: tuple[GpuMetricsRow, ...]
    dropped: int = 0
    needs_machine: bool = False


@dataclass(frozen=True, slots=True)
class GpuPricePoint:
    """One point of a GPU model's price history: what renters paid (rented_*) and what idle offers ask (avail_*)."""

    at_epoch_s: float
    rented_p10: float | None = None
    rented_median: float | None = None
    rented_p90: float | None = None
    avail_p10: float | None = None
    avail_median: float | None = None
    avail_p90: float | None = None


@dataclass(frozen=True, slots=True)
class GpuMetricsHistory:
    """Vast's market history (GET /metrics/gpu/history/): per GPU model, its points oldest first."""

    series: tuple[tuple[str, tuple[GpuPricePoint, ...]], ...]
    dropped: int = 0  # points refused as impossible
    needs_machine: bool = False

    def points(self, gpu_name: str) -> tuple[GpuPricePoint, ...]:
        return next((points for name, points in self.series if name == gpu_name), ())


@dataclass(frozen=True, slots=True)
class VastMaintenance:
    """A maintenance window Vast holds for a machine (GET /machines/maintenances)."""

    id: int
    machine_id: int
    start_time: float  # epoch s
    duration_hours: float
    category: str

    @property
    def end_time(self) -> float:
        return self.start_time + self.duration_hours * 3600.0


@dataclass(frozen=True, slots=True)
class EarningsDay:
    """USD earned on one UTC day (day = days since the epoch), split as Vast splits it."""

    day: int
    gpu_usd: float
    storage_usd: float
    upload_usd: float
    download_usd: float
    sla_usd: float
    machine_id: int | None = None

    @property
    def total_usd(self) -> float:
        return self.gpu_usd + self.storage_usd + self.upload_usd + self.download_usd + self.sla_usd


@dataclass(frozen=True, slots=True)
class EarningsReport:
    sday: int
    eday: int
    per_day: tuple[EarningsDay, ...]
    per_machine: tuple[EarningsDay, ...]  # day holds eday for these rows


# ---- the plan: what the core wants, and the actions that get there -------------------------


@dataclass(frozen=True, slots=True)
class DesiredListing:
    """The listing the config asks for now. `listed=False` means: no offer for new rentals."""

    listed: bool
    price_usd_per_gpu_hour: float | None = None
    storage_usd_per_gb_month: float | None = None
    upload_usd_per_gb: float | None = None
    download_usd_per_gb: float | None = None
    min_bid_usd_per_gpu_hour: float | None = None
    min_chunk: int | None = None
    end_date: float | None = None  # epoch s; None = no end date
    credit_discount_max: float | None = None
    # Vast rolls the end date to now + duration daily; never sent together with end_date (Vast refuses both).
    duration_days: int | None = None
    # 0 = no volume offer; None sends null, which Vast reads as "half of the free disk", not as "none".
    volume_size_gb: int | None = None
    volume_usd_per_gb_month: float | None = None  # None: Vast uses the storage price


@dataclass(frozen=True, slots=True)
class Reason:
    """One step of a decision, named so the journal and `status` can say which rule fired."""

    step: str  # e.g. "base", "schedule", "market", "idle_decay", "guard.floor", "health.temperature"
    text: str


class ActionKind(str, enum.Enum):
    """The kind of a write (hostagent.core.actions has one variant per kind); also its journal kind."""

    LIST = "list_machine"
    UNLIST = "unlist_machine"
    SET_MIN_BID = "set_min_bid"
    SCHEDULE_MAINT = "schedule_maint"
    CANCEL_MAINT = "cancel_maint"
    SET_DEFJOB = "set_defjob"
    REMOVE_DEFJOB = "remove_defjob"
    CLEANUP = "cleanup_machine"


@dataclass(frozen=True, slots=True)
class Plan:
    desired: DesiredListing
    actions: tuple[Action, ...]
    reasons: tuple[Reason, ...]
    target_price_usd_per_gpu_hour: float | None = None  # before guard rails
    warnings: tuple[str, ...] = field(default=())
    memory: History | None = None  # History after this tick's observations (health streaks...): the agent stores it
    price_rule: str | None = None  # the pricing step that set the published price last (base, schedule, guard.floor...)


@dataclass(frozen=True, slots=True)
class History:
    """What the agent remembers between ticks (kept in the state store), the core's only memory.

    The agent derives it from the journal and telemetry; `plan()` returns nothing to store back
    except through the facts the agent records after acting.
    """

    last_rented_at: datetime | None = None  # last tick a rental was seen running
    last_rented_price_usd_per_gpu_hour: float | None = None  # the listed price that got rented (decay anchor)
    last_published_price_usd_per_gpu_hour: float | None = None  # for the largest change per cycle
    unhealthy_since: datetime | None = None  # first tick of the current failing streak
    healthy_since: datetime | None = None  # first tick of the current passing streak (relist cool-down)
    hot_since: tuple[tuple[int, datetime], ...] = ()  # (gpu index, first tick above its threshold)
    last_telemetry_at: datetime | None = None  # the last snapshot that had fresh readings
    # Per GPU: the median of telemetry under high utilisation, so one bogus sample cannot move it.
    median_power_under_load_w: float | None = None
    vast_maintenances: tuple[VastMaintenance, ...] = ()  # as last read from Vast
    unlisted_by_agent: bool = False  # the agent itself unlisted (health or maintenance), so it may relist
    first_seen_at: datetime | None = None  # the agent's first tick for this machine (idle decay when never rented)
    rentals_running: int = 0  # current_rentals_running at the previous tick (a rise = a new rental: decay anchor)
    unlisted_cause: str | None = None  # "health" or "maintenance": the UnlistMachine action's `cause`
    # Vast's upper bound on the min bid, from its 422 "min_bid must be <= {max}", and when it said so: the next
    # plans keep the min bid at or below it instead of sending the refused write again every reconcile.
    vast_min_bid_max_usd_per_gpu_hour: float | None = None
    vast_min_bid_max_seen_at: datetime | None = None
    # (start epoch s, whole hours sent) of each notice hostagent itself scheduled: Vast's cancel removes every
    # window of the machine, so only when every window Vast holds is one of these may hostagent cancel.
    maintenances_scheduled: tuple[tuple[float, float], ...] = ()
    last_price_change_at: datetime | None = None  # the last published price move (one max_change step per reconcile_s)
