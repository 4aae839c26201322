"""The emulated Vast account: machines, their listings, contracts, maintenance windows, earnings.

Plain mutable dataclasses guarded by the emulator's lock. Times are epoch seconds (the emulator's clock);
prices are USD in the units Vast uses on the wire ($/GPU/h, $/GB/month for storage, $/GB for bandwidth).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SECONDS_PER_DAY = 86400.0
SECONDS_PER_MONTH = 30.0 * SECONDS_PER_DAY

# Kinds of contract. A default job is Vast's own interruptible bid placed by the host on its idle GPUs.
ON_DEMAND = "on-demand"
INTERRUPTIBLE = "interruptible"
DEFAULT_JOB = "default-job"
CLIENT_KINDS = (ON_DEMAND, INTERRUPTIBLE)


@dataclass
class Account:
    id: int
    username: str
    email: str
    fullname: str
    api_keys: set[str]
    balance_usd: float = 0.0
    credit_usd: float = 0.0
    country: str = "SE"
    # Vast caps the min bid a host may ask (422 "min_bid must be <= {max}"); generous unless a test lowers it.
    max_min_bid_usd_per_gpu_hour: float = 100.0


@dataclass
class Contract:
    """A rental. Its terms (price, storage, bandwidth prices) are frozen when it starts."""

    id: int
    machine_id: int
    kind: str
    gpus: int
    start_s: float
    end_s: float
    price_usd_per_gpu_hour: float
    storage_gb: float = 0.0
    storage_usd_per_gb_month: float = 0.0
    upload_usd_per_gb: float = 0.0
    download_usd_per_gb: float = 0.0
    wanted_end_s: float = 0.0  # the renter's own end; later than end_s when the offer's end_date cut it

    def running(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s


@dataclass
class ExpiredContract:
    """A client contract that ended but whose storage record remains until `cleanup machine`."""

    id: int
    machine_id: int
    ended_s: float
    storage_gb: float


@dataclass
class Maintenance:
    id: int
    machine_id: int
    start_time: float
    duration_hours: float
    category: str
    created_at: float
    reason: str | None = None
    cancelled_at: float | None = None
    by_vast: bool = False  # scheduled by Vast itself: the host's cancel_maint leaves it

    @property
    def end_time(self) -> float:
        return self.start_time + self.duration_hours * 3600.0

    def active(self, now_s: float) -> bool:
        return self.cancelled_at is None and self.end_time > now_s

    def to_wire(self) -> dict[str, object]:
        hours = self.duration_hours
        return {
            "id": self.id,
            "machine_id": self.machine_id,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration_hours": int(hours) if float(hours).is_integer() else hours,
            "maintenance_category": self.category,
            "maintenance_reason": self.reason,
            "created_at": self.created_at,
            "cancelled_at": self.cancelled_at,
        }


@dataclass
class DayEarnings:
    gpu_usd: float = 0.0
    storage_usd: float = 0.0
    upload_usd: float = 0.0
    download_usd: float = 0.0
    sla_usd: float = 0.0


@dataclass
class Machine:
    """One of the account's machines, with every listing field of Vast's machine object."""

    id: int
    hostname: str
    gpu_name: str
    num_gpus: int
    gpu_ram_mb: int
    total_flops: float
    cpu_name: str = "AMD EPYC 7543 32-Core Processor"
    cpu_cores: int = 64
    cpu_ram_mb: int = 257655
    disk_space_gb: float = 1500.0
    inet_up_mbps: float = 850.0
    inet_down_mbps: float = 920.0
    public_ipaddr: str = "203.0.113.10"
    geolocation: str = "Sweden, SE"
    driver_version: str = "550.54.14"
    cuda_max_good: str = "12.4"
    reliability2: float = 0.995
    verification: str = "verified"
    offline_since_s: float | None = None  # when Vast last heard from the machine; None: online (timeout 0)
    error_description: str | None = None  # the red error line on Vast's Machines page
    # listing
    listed: bool = False
    listed_gpu_cost: float | None = None
    listed_storage_cost: float = 0.10
    listed_volume_cost: float = 0.10
    listed_inet_up_cost: float = 0.005
    listed_inet_down_cost: float = 0.005
    min_bid_price: float | None = None
    listed_min_gpu_count: int = 1
    credit_discount_max: float = 0.4
    end_date: float | None = None
    listing_duration_s: float | None = None  # `duration` of create_asks: end_date is re-set daily
    vol_size_gb: int = 0  # the volume offer's size in GB; 0 = none
    # default job
    bid_gpu_cost: float | None = None
    bid_image: str | None = None
    bid_image_args: list[str] | None = None
    # what happened on it
    contracts: list[Contract] = field(default_factory=list)
    expired: list[ExpiredContract] = field(default_factory=list)
    maintenances: list[Maintenance] = field(default_factory=list)
    reports: list[dict[str, object]] = field(default_factory=list)

    def running(self, now_s: float, kinds: tuple[str, ...] = CLIENT_KINDS) -> list[Contract]:
        return [c for c in self.contracts if c.kind in kinds and c.running(now_s)]

    def client_gpus(self, now_s: float) -> int:
        return sum(c.gpus for c in self.running(now_s))

    def occupancy(self, now_s: float) -> str:
        """Per-GPU codes: D on-demand client, I interruptible (client or the default job), x idle."""
        codes: list[str] = []
        for contract in self.running(now_s, (ON_DEMAND, INTERRUPTIBLE, DEFAULT_JOB)):
            codes += ["D" if contract.kind == ON_DEMAND else "I"] * contract.gpus
        codes += ["x"] * (self.num_gpus - len(codes))
        return " ".join(codes[: self.num_gpus])

    def earn_hour(self, now_s: float) -> float:
        kinds = (ON_DEMAND, INTERRUPTIBLE, DEFAULT_JOB)
        return sum(c.gpus * c.price_usd_per_gpu_hour for c in self.running(now_s, kinds))

    def to_wire(self, now_s: float) -> dict[str, object]:
        running = self.running(now_s)
        on_demand = [c for c in running if c.kind == ON_DEMAND]
        active = [m for m in self.maintenances if m.active(now_s)]
        earn_hour = round(self.earn_hour(now_s), 4)
        return {
            "id": self.id,
            "machine_id": self.id,
            "hostname": self.hostname,
            "geolocation": self.geolocation,
            "public_ipaddr": self.public_ipaddr,
            "timeout": 0.0 if self.offline_since_s is None else round(max(0.0, now_s - self.offline_since_s), 3),
            "hosting_type": 0,
            "verification": self.verification,
            "error_description": self.error_description,
            "num_reports": len(self.reports),
            "num_gpus": self.num_gpus,
            "gpu_name": self.gpu_name,
            "gpu_ram": self.gpu_ram_mb,
            "total_flops": self.total_flops,
            "gpu_max_cur_temp": 61,
            "gpu_lanes": 16,
            "gpu_mem_bw": 912.1,
            "bw_nvlink": 0.0,
            "pcie_bw": 24.8,
            "pci_gen": 4.0,
            "cpu_name": self.cpu_name,
            "cpu_ram": self.cpu_ram_mb,
            "cpu_cores": self.cpu_cores,
            "mobo_name": "ROMED8-2T",
            "disk_space": self.disk_space_gb,
            "disk_name": "Samsung SSD 990 PRO 2TB",
            "disk_bw": 3500.0,
            "inet_up": self.inet_up_mbps,
            "inet_down": self.inet_down_mbps,
            "direct_port_count": 200,
            "driver_version": self.driver_version,
            "cuda_max_good": self.cuda_max_good,
            "listed": self.listed,
            "start_date": None,
            "end_date": self.end_date,
            "client_end_date": max((c.end_s for c in running), default=None),
            "listed_min_gpu_count": self.listed_min_gpu_count,
            "listed_gpu_cost": self.listed_gpu_cost,
            "listed_storage_cost": self.listed_storage_cost,
            "listed_volume_cost": self.listed_volume_cost,
            "vol_size": self.vol_size_gb,  # the volume offer next to the machine offer; 0 = none
            "listed_inet_up_cost": self.listed_inet_up_cost,
            "listed_inet_down_cost": self.listed_inet_down_cost,
            "min_bid_price": self.min_bid_price,
            "credit_discount_max": self.credit_discount_max,
            "bid_gpu_cost": self.bid_gpu_cost,
            "bid_image": self.bid_image,
            "bid_image_args": self.bid_image_args,
            "bid_image_args_str": " ".join(self.bid_image_args) if self.bid_image_args else None,
            "gpu_occupancy": self.occupancy(now_s),
            "current_rentals_running": len(running),
            "current_rentals_running_on_demand": len(on_demand),
            "current_rentals_resident": len(running),
            "current_rentals_on_demand": len(on_demand),
            "earn_hour": earn_hour,
            "earn_day": round(earn_hour * 24.0, 4),
            "reliability2": self.reliability2,
            "machine_maintenance": active[0].to_wire() if active else None,
        }


@dataclass
class EmulatorState:
    """Everything the emulator knows. `peer_offers` are other hosts' offers (dicts in Vast's offer shape)."""

    account: Account
    machines: dict[int, Machine]
    peer_offers: list[dict[str, object]]
    earnings: dict[tuple[int, int], DayEarnings] = field(default_factory=dict)  # (machine_id, day) -> USD
    next_id: int = 100_000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def day(self, machine_id: int, day: int) -> DayEarnings:
        return self.earnings.setdefault((machine_id, day), DayEarnings())

    def peer_machine_ids(self) -> set[int]:
        return {int(str(o["machine_id"])) for o in self.peer_offers}
