"""Physical ranges for the sensor numbers a backend hands in: a value outside its range reads as unknown.

Every number from NVML or the fake GPU file passes through `SensorBounds.check` where it enters. A
field that is not finite or not physical (power above 1.5 x the board's limit, 500 C, more memory used
than the board has) becomes None for that tick, with a logged reason; the rest of the GPU stays as read,
so one garbled sensor cannot unlist a machine or, through telemetry, move the price and the min bid.
"""

from __future__ import annotations

import dataclasses
import math

import structlog

from hostagent.core.model import MAX_SANE_POWER_W, GpuReading

log = structlog.get_logger(__name__)

TEMPERATURE_RANGE_C = (-20.0, 130.0)  # below: a disconnected sensor; above: the board would have shut down
POWER_OVER_LIMIT_FACTOR = 1.5  # transients above the enforced limit are real, but not 50 % above it
UTILIZATION_RANGE_PCT = (0.0, 100.0)


def _finite_in(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


def problems(gpu: GpuReading) -> dict[str, str]:
    """field -> why its value cannot be physical. The power limit is judged first: power is judged by it."""
    found: dict[str, str] = {}
    limit = gpu.power_limit_w
    if limit is not None and not _finite_in(limit, 1e-9, MAX_SANE_POWER_W):
        found["power_limit_w"] = f"{limit!r} W is not a power limit (0..{MAX_SANE_POWER_W:g} W)"
        limit = None
    high_w = MAX_SANE_POWER_W if limit is None else limit * POWER_OVER_LIMIT_FACTOR
    if gpu.power_w is not None and not _finite_in(gpu.power_w, 0.0, high_w):
        found["power_w"] = f"{gpu.power_w!r} W is outside 0..{high_w:g} W"
    low_c, high_c = TEMPERATURE_RANGE_C
    if gpu.temperature_c is not None and not _finite_in(gpu.temperature_c, low_c, high_c):
        found["temperature_c"] = f"{gpu.temperature_c!r} C is outside {low_c:g}..{high_c:g} C"
    low_pct, high_pct = UTILIZATION_RANGE_PCT
    if gpu.utilization_pct is not None and not _finite_in(gpu.utilization_pct, low_pct, high_pct):
        found["utilization_pct"] = f"{gpu.utilization_pct!r} % is outside 0..100 %"
    total = gpu.memory_total_mib
    if total is not None and not _finite_in(total, 1.0, math.inf):
        found["memory_total_mib"] = f"{total!r} MiB is not a memory size"
        total = None
    if gpu.memory_used_mib is not None and not _finite_in(gpu.memory_used_mib, 0.0, total or math.inf):
        found["memory_used_mib"] = f"{gpu.memory_used_mib!r} MiB is outside 0..{total or 'inf'} MiB"
    return found


class SensorBounds:
    """Checks readings and logs a field when it leaves its range and when it is back (not at every tick)."""

    def __init__(self, backend: str) -> None:
        self._backend = backend
        self._bad: set[tuple[str | None, int, str]] = set()  # (uuid, index, field) out of range at the last read

    def check(self, gpu: GpuReading) -> GpuReading:
        found = problems(gpu)
        key = (gpu.uuid, gpu.index)
        for field, why in found.items():
            if (*key, field) not in self._bad:
                log.warning("gpu_reading_out_of_range", backend=self._backend, gpu=gpu.index, field=field,
                            reason=f"{why}: read as unknown")
        for uuid, index, field in sorted(self._bad, key=str):
            if (uuid, index) == key and field not in found:
                log.info("gpu_reading_back_in_range", backend=self._backend, gpu=index, field=field)
        self._bad = {b for b in self._bad if (b[0], b[1]) != key} | {(*key, f) for f in found}
        unknown: dict[str, None] = dict.fromkeys(found)
        return dataclasses.replace(gpu, **unknown) if found else gpu  # type: ignore[arg-type]  # only optional fields
