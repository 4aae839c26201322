"""The owner's config as frozen, typed objects. TOML keys are spelled exactly as the field names.

`hostagent.config.load` turns a TOML file into a `Config` (reporting every problem at once);
`config/hostagent.example.toml` documents each key. Defaults here are what a key left out means.
Only the standard library is imported: the pure core reads these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Literal

DEFAULT_STATE_DIR = Path("/var/lib/hostagent")
DEFAULT_CONFIG_PATH = Path("/etc/hostagent/config.toml")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAINT_CATEGORIES = ("power", "internet", "disk", "gpu", "software", "other")


@dataclass(frozen=True)
class VastConfig:
    api_url: str = "https://console.vast.ai"
    api_key_file: Path | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    max_attempts: int = 4  # total attempts for retryable failures, the first included
    max_retry_time_s: float = 30.0  # all attempts of one call; plus one read timeout, under TimeoutStopSec
    retry_after_cap_s: float = 60.0  # a longer Retry-After defers to a later tick instead
    # A maintenance write whose reply was lost may still land inside Vast this long after it was sent
    # (Vast sits behind a proxy that keeps an origin request up to 100 s): not declared lost before then.
    write_grace_s: float = 300.0
    # Vast's signals about the machine: its renter reports are read this often (and at once when Vast's
    # num_reports moves); verification, reliability, offline and errors come with every reconcile's machine read.
    signals_every_s: float = 900.0
    # Vast's `timeout` (seconds since it last heard from the machine) above which the machine counts as offline.
    offline_after_s: float = 300.0


@dataclass(frozen=True)
class MachineConfig:
    id: int | None = None  # None: found among the account's machines by hostname
    hostname: str | None = None  # None: this host's name (socket.gethostname())


@dataclass(frozen=True)
class HardwareConfig:
    backend: Literal["nvml", "fake"] = "nvml"
    fake_file: Path | None = None  # required when backend = "fake"
    docker_root: Path = Path("/var/lib/docker")
    nvml_deadline_s: float = 2.0  # one tick's NVML reads; past it the reading is stale
    slow_counters_s: float = 0.0  # PCIe throughput / energy cadence; 0 = never read
    medium_counters_s: float = 30.0  # PCIe link gen/width and compute-process count cadence


@dataclass(frozen=True)
class AgentConfig:
    mode: Literal["observe", "enforce"] = "observe"
    state_dir: Path = DEFAULT_STATE_DIR  # $STATE_DIRECTORY wins under systemd when the key is absent
    tick_s: float = 30.0  # telemetry cadence
    reconcile_s: float = 300.0  # plan + reconcile with Vast
    telemetry_retention_raw_h: float = 24.0
    telemetry_retention_agg_days: float = 90.0
    # A listing change made outside hostagent (Vast's console, the vastai CLI): "hold" leaves it as set until
    # `hostagent release`; "revert" puts the plan back (hostagent.core.owner)
    outside_changes: Literal["hold", "revert"] = "hold"


@dataclass(frozen=True)
class ScheduleRule:
    """A time-of-day / day-of-week override, in `pricing.timezone`. Exactly one of the two is set."""

    name: str
    days: tuple[Weekday, ...] = WEEKDAYS
    start: time = time(0, 0)
    end: time = time(0, 0)  # end <= start wraps past midnight; equal means all day
    multiplier: float | None = None
    price_usd_per_gpu_hour: float | None = None


@dataclass(frozen=True)
class MarketConfig:
    enabled: bool = False
    percentile: float = 50.0
    offset_usd_per_gpu_hour: float = 0.0
    min_peers: int = 5
    max_age_s: float = 3600.0
    search_limit: int = 200  # a search returning this many offers hit the limit: skip the step
    refresh_s: float = 900.0
    outlier_iqr_k: float = 1.5  # drop prices outside [q1 - k*iqr, q3 + k*iqr]
    verified_only: bool = True
    # "offers": peer offers (percentile, outliers); "metrics": Vast's market metrics, what renters pay
    source: Literal["offers", "metrics"] = "offers"
    metrics_percentile: Literal["p10", "median", "p90"] = "median"  # of the rented prices (source "metrics")
    demand_adjust_pct: float = 0.0  # most % the metrics price moves with usage; 0 = off
    demand_pivot_pct: float = 70.0  # usage % at which the demand adjustment is zero


@dataclass(frozen=True)
class DecayStep:
    after_h: float  # hours unrented
    cut_pct: float  # percent below the anchor price


@dataclass(frozen=True)
class IdleDecayConfig:
    enabled: bool = False
    steps: tuple[DecayStep, ...] = (DecayStep(6, 5), DecayStep(12, 10), DecayStep(24, 20))


@dataclass(frozen=True)
class MinBidConfig:
    mode: Literal["fixed", "power"] = "fixed"
    usd_per_gpu_hour: float | None = None  # fixed mode; None = leave Vast's min bid alone
    tariff_usd_per_kwh: float = 0.20  # power mode
    margin: float = 1.25  # power mode: floor = watts/1000 * tariff * margin
    fallback_power_w: float | None = None  # power mode, before any load was measured
    # The min bid's own bounds, apart from the on-demand guard rails: a bid near the cost of power must never be
    # lifted to the on-demand floor (Vast: "your floor price should not be close to your expected rental price").
    floor_usd_per_gpu_hour: float = 0.01
    ceiling_usd_per_gpu_hour: float = 10.0


@dataclass(frozen=True)
class PriceBounds:
    floor_usd_per_gpu_hour: float
    ceiling_usd_per_gpu_hour: float


@dataclass(frozen=True)
class GuardConfig:
    floor_usd_per_gpu_hour: float = 0.05
    ceiling_usd_per_gpu_hour: float = 10.0
    models: tuple[tuple[str, PriceBounds], ...] = ()  # per Vast gpu_name
    max_change_pct: float = 15.0  # largest change per cycle
    min_change_usd: float = 0.005  # smaller changes are not worth a write (no flapping)

    def bounds_for(self, gpu_name: str) -> PriceBounds:
        for name, bounds in self.models:
            if name == gpu_name:
                return bounds
        return PriceBounds(self.floor_usd_per_gpu_hour, self.ceiling_usd_per_gpu_hour)


@dataclass(frozen=True)
class PricingConfig:
    default_usd_per_gpu_hour: float = 0.30
    models: tuple[tuple[str, float], ...] = ()  # Vast gpu_name -> $/GPU/h
    storage_usd_per_gb_month: float = 0.10
    upload_usd_per_gb: float = 0.005
    download_usd_per_gb: float = 0.005
    min_chunk: int = 1
    credit_discount_max: float = 0.4
    timezone: str = "UTC"
    rules: tuple[ScheduleRule, ...] = ()
    market: MarketConfig = field(default_factory=MarketConfig)
    idle_decay: IdleDecayConfig = field(default_factory=IdleDecayConfig)
    min_bid: MinBidConfig = field(default_factory=MinBidConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)

    def base_for(self, gpu_name: str) -> float:
        for name, price in self.models:
            if name == gpu_name:
                return price
        return self.default_usd_per_gpu_hour


@dataclass(frozen=True)
class ListingConfig:
    """The offer's horizon and its volume offer (`list machine -l` and `-v`/`-z`)."""

    # Sent as `duration`: Vast rolls the end date daily to now + this. Replaced by end_date = the next
    # maintenance window's start while that window falls inside it.
    duration_days: int = 30
    volume_size_gb: int = 0  # 0 = no volume offer (Vast's default, null, offers half of the free disk)
    volume_usd_per_gb_month: float | None = None  # None = pricing.storage_usd_per_gb_month


@dataclass(frozen=True)
class HealthConfig:
    expected_gpu_count: int | None = None  # None: Vast's num_gpus for the machine
    max_temperature_c: float = 87.0
    temperature_hysteresis_c: float = 5.0  # must fall this far below to count as cool again
    hot_for_s: float = 300.0  # how long above the limit before unlisting
    min_free_disk_gb: float = 50.0
    stale_after_s: float = 180.0  # no fresh telemetry for this long = stale
    critical_xids: tuple[int, ...] = (48, 63, 64, 74, 79, 92, 94, 95, 119, 120)
    unlist_on_unknown: bool = False
    relist_cooldown_s: float = 900.0  # all checks must pass this long before relisting
    unlist_when_vast_offline: bool = False  # Vast already shows no offline machine to renters (docs/vast-signals.md)


@dataclass(frozen=True)
class MaintenanceWindow:
    """One window from config: one-off (`start`) or recurring (`recur`)."""

    name: str
    duration_h: float
    category: str = "other"
    timezone: str = "UTC"
    start: datetime | None = None  # one-off, naive local time in `timezone`
    recur: Literal["daily", "weekly", "monthly"] | None = None
    at: time = time(2, 0)  # recurring: local start time
    weekday: Weekday | None = None  # weekly / monthly
    nth: int | None = None  # monthly: 1..4 = first..fourth, -1 = last `weekday` of the month


@dataclass(frozen=True)
class MaintenanceConfig:
    lead_time_h: float = 72.0  # notify Vast this long before a window
    unlist_before_h: float = 0.0  # unlist this long before the window (0 = at the end-date cut-off only)
    relist_after: bool = True
    windows: tuple[MaintenanceWindow, ...] = ()


@dataclass(frozen=True)
class DefaultJobConfig:
    image: str
    args: tuple[str, ...] = ()
    price_usd_per_gpu_hour: float = 0.10
    upload_usd_per_gb: float = 0.005
    download_usd_per_gb: float = 0.005


@dataclass(frozen=True)
class CleanupConfig:
    enabled: bool = True
    every_h: float = 24.0


@dataclass(frozen=True)
class EarningsConfig:
    enabled: bool = True
    every_h: float = 6.0
    days_back: int = 30


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    address: str = "127.0.0.1:9473"


EVENT_KINDS_ALL = "all"  # in a destination's `events`: every kind
# The values of hostagent.core.events.EventKind, spelled here because config sits below core (a unit test keeps
# the two equal): a destination's `events` is checked by `check-config`, before the agent starts.
EVENT_KIND_NAMES: tuple[str, ...] = (
    "unlisted", "relisted", "health_fault", "health_recovered", "renter_report", "verification_changed",
    "vast_offline", "vast_online", "vast_error", "vast_maintenance", "key_refused", "write_failed",
    "maint_notice_sent", "earnings_daily", "changed_outside", "held", "released", "paused", "resumed",
    "identity_mismatch",
)


@dataclass(frozen=True)
class NotifyDestination:
    """Where notifications go. The URL carries a token: it is a secret, never a TOML value. It is read from the
    systemd credential `notify_<name>` ($CREDENTIALS_DIRECTORY), else from `url_file` (mode 600)."""

    name: str  # what logs, metrics and `status` show instead of the URL
    url_file: Path | None = None
    events: tuple[str, ...] = (EVENT_KINDS_ALL,)  # EventKind values, or "all"
    min_severity: Literal["info", "warning", "critical"] = "info"


@dataclass(frozen=True)
class NotifyConfig:
    destinations: tuple[NotifyDestination, ...] = ()
    dedup_window_s: float = 3600.0  # one message per event key (kind + machine) per destination per window
    max_per_hour: int = 20  # most messages one destination gets in any hour; more are suppressed
    quiet_hours: str = ""  # "HH:MM-HH:MM" in quiet_timezone: non-critical events wait and go as one digest after
    quiet_timezone: str = "UTC"
    timeout_s: float = 10.0  # one send attempt (connect + read), so a dead destination never holds the sender long
    max_retry_age_s: float = 3600.0  # a message not delivered this long after its event is dropped (counted)
    queue_size: int = 1000  # messages waiting; when full, the oldest is dropped (counted)
    daily_earnings: bool = False  # send the earnings line (event earnings_daily) once a day


@dataclass(frozen=True)
class Config:
    source: Path | None = None  # the file it was read from
    vast: VastConfig = field(default_factory=VastConfig)
    machine: MachineConfig = field(default_factory=MachineConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    pricing: PricingConfig = field(default_factory=PricingConfig)
    listing: ListingConfig = field(default_factory=ListingConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)
    default_job: DefaultJobConfig | None = None  # None: no default job (an existing one is removed)
    cleanup: CleanupConfig = field(default_factory=CleanupConfig)
    earnings: EarningsConfig = field(default_factory=EarningsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
