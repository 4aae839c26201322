"""Vast's market metrics replies (GET /metrics/gpu/current/ and /history/) -> typed values.

Every number is checked where it enters: counts are whole and not negative, `usage` is a percentage,
a price is finite, above zero and below MAX_SANE_PRICE_USD_PER_GPU_HOUR, a timestamp lies in 0..year 3000.
A row (current) or a point (history) with a bad number is dropped and counted, not the whole reply: one
odd GPU model must not blind the market step to ours. A reply whose frame is wrong (not an object,
`gpus` of the wrong type) is a `VastBadReply`.
"""

from __future__ import annotations

import math

import structlog

from hostagent.core.model import (
    MAX_EPOCH_S,
    MAX_SANE_PRICE_USD_PER_GPU_HOUR,
    GpuMetricsCurrent,
    GpuMetricsHistory,
    GpuMetricsRow,
    GpuPricePoint,
)
from hostagent.errors import VastBadReply
from hostagent.vast.parse import Fields, items

log = structlog.get_logger(__name__)

PRICE_KEYS = ("rented_p10", "rented_median", "rented_p90", "avail_p10", "avail_median", "avail_p90")


class _Refused(ValueError):
    """One number of a row or point is impossible; the row or point is dropped."""


def _price(value: object, where: str) -> float | None:
    """None (Vast had no price) or a possible price; anything else refuses the row."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refused(f"{where}: not a number")
    number = float(value)
    if not (math.isfinite(number) and 0.0 < number < MAX_SANE_PRICE_USD_PER_GPU_HOUR):
        raise _Refused(f"{where}: impossible price {value!r}")
    return number


def _count(value: object, where: str) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise _Refused(f"{where}: not a count: {value!r}")
    return value


def _usage(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refused(f"{where}: usage not a number")
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 100.0):
        raise _Refused(f"{where}: usage {value!r} is not a percentage")
    return number


def gpu_metrics_current(f: Fields) -> GpuMetricsCurrent:
    """The `gpus` list; `needs_machine: true` (an account without machines) is an empty, flagged result."""
    if f.opt_bool("needs_machine"):
        return GpuMetricsCurrent(rows=(), needs_machine=True)
    rows: list[GpuMetricsRow] = []
    dropped = 0
    for row in items(f.raw("gpus") if f.raw("gpus") is not None else [], "gpus", f.endpoint):
        where = row.path
        try:
            name = row.raw("gpu_name")
            if not isinstance(name, str) or not name.strip():
                raise _Refused(f"{where}.gpu_name: not a name")
            rows.append(GpuMetricsRow(
                gpu_name=name, total=_count(row.raw("total"), f"{where}.total"),
                available=_count(row.raw("available"), f"{where}.available"),
                usage_pct=_usage(row.raw("usage"), f"{where}.usage"),
                price_p10=_price(row.raw("price_p10"), f"{where}.price_p10"),
                price_median=_price(row.raw("price_median"), f"{where}.price_median"),
                price_p90=_price(row.raw("price_p90"), f"{where}.price_p90"),
            ))
        except _Refused as why:
            dropped += 1
            log.warning("vast_metrics_row_dropped", endpoint=f.endpoint, why=str(why))
    return GpuMetricsCurrent(rows=tuple(rows), dropped=dropped)


def gpu_metrics_history(f: Fields) -> GpuMetricsHistory:
    """`gpus` maps a GPU name to `{supply_demand: {timestamps, ...}, pricing: {rented_p10: [...], ...}}`.
    A shorter price array leaves the later points' price None (as the official CLI reads it)."""
    if f.opt_bool("needs_machine"):
        return GpuMetricsHistory(series=(), needs_machine=True)
    gpus = f.raw("gpus")
    if gpus is None:
        gpus = {}
    if not isinstance(gpus, dict):
        f.fail(f.name("gpus"), "expected object", gpus)
    series: list[tuple[str, tuple[GpuPricePoint, ...]]] = []
    dropped = 0
    for name, raw in gpus.items():
        data = Fields(raw, f.name(f"gpus.{name}"), f.endpoint)
        timestamps = _array(data, "supply_demand", "timestamps")
        prices = {key: _array(data, "pricing", key) for key in PRICE_KEYS}
        points: list[GpuPricePoint] = []
        for index, at in enumerate(timestamps):
            where = f"{data.path}[{index}]"
            try:
                if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0.0 <= float(at) <= MAX_EPOCH_S:
                    raise _Refused(f"{where}: timestamp {at!r} is not a date")
                values = {k: _price(v[index] if index < len(v) else None, f"{where}.{k}") for k, v in prices.items()}
                points.append(GpuPricePoint(at_epoch_s=float(at), **values))
            except _Refused as why:
                dropped += 1
                log.warning("vast_metrics_point_dropped", endpoint=f.endpoint, why=str(why))
        series.append((str(name), tuple(sorted(points, key=lambda p: p.at_epoch_s))))
    return GpuMetricsHistory(series=tuple(series), dropped=dropped)


def _array(data: Fields, group: str, key: str) -> list[object]:
    """`data[group][key]` as a list; a missing group or key is an empty series, a wrong type a bad reply."""
    inner = data.raw(group)
    if inner is None:
        return []
    holder = Fields(inner, data.name(group), data.endpoint)
    value = holder.raw(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise VastBadReply(f"{data.endpoint}: bad reply: {holder.name(key)}: expected array",
                           endpoint=data.endpoint, field=holder.name(key))
    return value
