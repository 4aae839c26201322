"""Small value builders for the pure-core tests: a healthy 8 x H100 host, its Vast machine, a peer market."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hostagent.core.model import (
    DiskReading,
    GpuHealth,
    GpuReading,
    HostSnapshot,
    MachineState,
    MarketSample,
    Offer,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)  # a Thursday
GPU_NAME = "H100 SXM"
MACHINE_ID = 4242


def gpu(index: int, **changes: object) -> GpuReading:
    values: dict[str, object] = {
        "index": index,
        "uuid": f"GPU-{index}",
        "name": "NVIDIA H100 80GB HBM3",
        "health": GpuHealth.OK,
        "temperature_c": 55,
        "utilization_pct": 0,
        "ecc_uncorrected_volatile": 0,
        "remapped_rows_failure": False,
    }
    values.update(changes)
    return GpuReading(**values)  # type: ignore[arg-type]


def snapshot(
    *gpus: GpuReading, at: datetime = NOW, free_gb: float = 500.0, backend_ok: bool = True, count: int = 8
) -> HostSnapshot:
    readings = gpus or tuple(gpu(i) for i in range(count))
    disk = DiskReading("/var/lib/docker", "/var/lib/docker", 2_000 * 10**9, int(free_gb * 10**9))
    return HostSnapshot(at, readings if backend_ok else (), (disk,), "fake", backend_ok=backend_ok)


def machine(**changes: object) -> MachineState:
    values: dict[str, object] = {"id": MACHINE_ID, "hostname": "demo-h100-01", "gpu_name": GPU_NAME, "num_gpus": 8,
                                 "listed": False}
    values.update(changes)
    return MachineState(**values)  # type: ignore[arg-type]


def listed_machine(price: float, **changes: object) -> MachineState:
    """A machine listed exactly as the default pricing config (plus `price`) would list it."""
    values: dict[str, object] = {
        "listed": True,
        "listed_gpu_cost": price,
        "listed_storage_cost": 0.10,
        "listed_inet_up_cost": 0.005,
        "listed_inet_down_cost": 0.005,
        "listed_min_gpu_count": 1,
        "credit_discount_max": 0.4,
        "end_date": (NOW + timedelta(days=30)).timestamp(),  # the default rolling duration, just rolled
        "volume_size_gb": 0,
    }
    values.update(changes)
    return machine(**values)


def offer(machine_id: int, price_per_gpu: float, *, num_gpus: int = 8, verified: bool = True,
          gpu_name: str = GPU_NAME, offer_id: int | None = None) -> Offer:
    return Offer(offer_id or machine_id * 10, machine_id, gpu_name, num_gpus, price_per_gpu * num_gpus, verified)


def market(*prices: float, at: datetime = NOW, hit_limit: bool = False) -> MarketSample:
    """One verified 8-GPU peer machine per price."""
    return MarketSample(tuple(offer(100 + i, p) for i, p in enumerate(prices)), at, hit_limit)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)
