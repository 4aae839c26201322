"""Telemetry tables: raw samples per GPU and disk per tick, 5-minute aggregates after the raw retention.

Aggregation and deletion of the raw rows happen in one transaction, so a kill never loses or double
counts a sample. Only whole buckets are aggregated (the cut-off is rounded down to a bucket edge);
a sample arriving later for an already aggregated bucket (the clock stepped back) is merged into it.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime

from hostagent.core.model import MAX_SANE_POWER_W, GpuHealth, HostSnapshot
from hostagent.store.rows import DiskRow, TelemetryRow, from_epoch, parse_health, to_epoch

BUCKET_S = 300.0
_GPU_FIELDS = ("temperature_c", "utilization_pct", "memory_used_mib", "power_w")
_WORST = "CASE {e} WHEN 'lost' THEN 2 WHEN 'unknown' THEN 1 ELSE 0 END"


def _merged_mean(field: str, weight: str) -> str:
    """SQL for the weighted mean of an existing aggregate and an incoming one (NULL-aware)."""
    old, new = f"{field}", f"excluded.{field}"
    old_w, new_w = f"{weight}", f"excluded.{weight}"
    return (
        f"CASE WHEN {new} IS NULL THEN {old} WHEN {old} IS NULL THEN {new} "
        f"ELSE ({old} * {old_w} + {new} * {new_w}) / ({old_w} + {new_w}) END"
    )


def _gpu_aggregate_sql() -> str:
    selects = ", ".join(f"MIN({f}), AVG({f}), MAX({f})" for f in _GPU_FIELDS)
    columns = ", ".join(f"{f}_min, {f}_mean, {f}_max" for f in _GPU_FIELDS)
    updates = []
    for f in _GPU_FIELDS:
        weight = "power_samples" if f == "power_w" else "samples"
        updates += [
            f"{f}_min = MIN(IFNULL({f}_min, excluded.{f}_min), IFNULL(excluded.{f}_min, {f}_min))",
            f"{f}_max = MAX(IFNULL({f}_max, excluded.{f}_max), IFNULL(excluded.{f}_max, {f}_max))",
            f"{f}_mean = {_merged_mean(f + '_mean', weight)}",
        ]
    worst_old, worst_new = _WORST.format(e="health"), _WORST.format(e="excluded.health")
    # Built from the constant field names above, never from input.
    return (
        f"INSERT INTO gpu_agg (bucket_at, gpu_index, samples, health, {columns}, power_samples) "  # noqa: S608
        f"SELECT CAST(at / {BUCKET_S} AS INTEGER) * {BUCKET_S} AS b, gpu_index, COUNT(*), "
        f"CASE MAX({_WORST.format(e='health')}) WHEN 2 THEN 'lost' WHEN 1 THEN 'unknown' ELSE 'ok' END, "
        f"{selects}, COUNT(power_w) FROM gpu_raw WHERE at < :cutoff GROUP BY b, gpu_index "
        f"ON CONFLICT (gpu_index, bucket_at) DO UPDATE SET {', '.join(updates)}, "
        f"health = CASE WHEN {worst_new} > {worst_old} THEN excluded.health ELSE health END, "
        f"samples = samples + excluded.samples, power_samples = power_samples + excluded.power_samples"
    )


_GPU_AGGREGATE = _gpu_aggregate_sql()
_DISK_AGGREGATE = (
    f"INSERT INTO disk_agg (bucket_at, path, samples, free_bytes_min, free_bytes_mean, free_bytes_max, "  # noqa: S608
    f"total_bytes) SELECT CAST(at / {BUCKET_S} AS INTEGER) * {BUCKET_S} AS b, path, COUNT(*), "
    f"MIN(free_bytes), AVG(free_bytes), MAX(free_bytes), MAX(total_bytes) FROM disk_raw WHERE at < :cutoff "
    f"GROUP BY b, path ON CONFLICT (path, bucket_at) DO UPDATE SET "
    f"free_bytes_min = MIN(IFNULL(free_bytes_min, excluded.free_bytes_min), "
    f"IFNULL(excluded.free_bytes_min, free_bytes_min)), "
    f"free_bytes_max = MAX(IFNULL(free_bytes_max, excluded.free_bytes_max), "
    f"IFNULL(excluded.free_bytes_max, free_bytes_max)), "
    f"free_bytes_mean = {_merged_mean('free_bytes_mean', 'samples')}, "
    f"total_bytes = IFNULL(excluded.total_bytes, total_bytes), samples = samples + excluded.samples"
)


def _finite(value: float | None) -> float | None:
    """SQLite stores inf as a number that then poisons every mean; the hardware layer already drops it, and
    this keeps the tables clean whoever calls: a non-finite reading is stored as NULL (no reading)."""
    return value if value is None or math.isfinite(value) else None


def insert_snapshot(conn: sqlite3.Connection, snapshot: HostSnapshot) -> None:
    at = to_epoch(snapshot.taken_at)
    conn.executemany(
        "INSERT INTO gpu_raw (at, gpu_index, health, temperature_c, utilization_pct, memory_used_mib, power_w) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (at, g.index, g.health.value, g.temperature_c, g.utilization_pct, g.memory_used_mib, _finite(g.power_w))
            for g in snapshot.gpus
        ],
    )
    conn.executemany(
        "INSERT INTO disk_raw (at, path, free_bytes, total_bytes) VALUES (?, ?, ?, ?)",
        [(at, d.path, d.free_bytes, d.total_bytes) for d in snapshot.disks],
    )


def downsample(conn: sqlite3.Connection, now: datetime, raw_retention_s: float, agg_retention_s: float) -> int:
    """Aggregate whole buckets older than the raw retention, delete them, drop old aggregates.

    Returns how many raw rows were folded into aggregates."""
    now_s = to_epoch(now)
    cutoff = ((now_s - raw_retention_s) // BUCKET_S) * BUCKET_S
    conn.execute(_GPU_AGGREGATE, {"cutoff": cutoff})
    folded = conn.execute("DELETE FROM gpu_raw WHERE at < ?", (cutoff,)).rowcount
    conn.execute(_DISK_AGGREGATE, {"cutoff": cutoff})
    folded += conn.execute("DELETE FROM disk_raw WHERE at < ?", (cutoff,)).rowcount
    oldest = now_s - agg_retention_s
    conn.execute("DELETE FROM gpu_agg WHERE bucket_at < ?", (oldest,))
    conn.execute("DELETE FROM disk_agg WHERE bucket_at < ?", (oldest,))
    return folded


def gpu_rows(conn: sqlite3.Connection, since: datetime, gpu_index: int | None) -> list[TelemetryRow]:
    since_s = to_epoch(since)
    where_gpu = "" if gpu_index is None else " AND gpu_index = :gpu"
    params = {"since": since_s, "bucket_since": since_s - BUCKET_S, "gpu": gpu_index}
    # Only constant SQL fragments are formatted in; values are bound parameters.
    agg_sql = (
        "SELECT bucket_at, gpu_index, health, temperature_c_mean, utilization_pct_mean, memory_used_mib_mean, "
        "power_w_mean, temperature_c_min, temperature_c_max, utilization_pct_min, utilization_pct_max, "
        "memory_used_mib_max, power_w_min, power_w_max, samples FROM gpu_agg WHERE bucket_at > :bucket_since"
    )
    raw_sql = (
        "SELECT at, gpu_index, health, temperature_c, utilization_pct, memory_used_mib, power_w FROM gpu_raw "
        "WHERE at >= :since"
    )
    rows = [
        TelemetryRow(
            at=from_epoch(r[0]), gpu_index=r[1], health=parse_health(r[2]),
            temperature_c=r[3], utilization_pct=r[4], memory_used_mib=r[5], power_w=r[6],
            temperature_c_min=r[7], temperature_c_max=r[8], utilization_pct_min=r[9], utilization_pct_max=r[10],
            memory_used_mib_max=r[11], power_w_min=r[12], power_w_max=r[13], samples=r[14], aggregated=True,
        )
        for r in conn.execute(agg_sql + where_gpu, params)
    ]
    rows += [
        TelemetryRow(
            at=from_epoch(r[0]), gpu_index=r[1], health=parse_health(r[2]),
            temperature_c=r[3], utilization_pct=r[4], memory_used_mib=r[5], power_w=r[6],
            temperature_c_min=r[3], temperature_c_max=r[3], utilization_pct_min=r[4], utilization_pct_max=r[4],
            memory_used_mib_max=r[5], power_w_min=r[6], power_w_max=r[6],
        )
        for r in conn.execute(raw_sql + where_gpu, params)
    ]
    rows.sort(key=lambda row: (row.at, row.gpu_index))
    return rows


def disk_rows(conn: sqlite3.Connection, since: datetime) -> list[DiskRow]:
    since_s = to_epoch(since)
    rows = [
        DiskRow(from_epoch(r[0]), r[1], r[2], r[3], r[4], r[5], samples=r[6], aggregated=True)
        for r in conn.execute(
            "SELECT bucket_at, path, free_bytes_mean, total_bytes, free_bytes_min, free_bytes_max, samples "
            "FROM disk_agg WHERE bucket_at > ?",
            (since_s - BUCKET_S,),
        )
    ]
    rows += [
        DiskRow(from_epoch(r[0]), r[1], r[2], r[3], r[2], r[2])
        for r in conn.execute("SELECT at, path, free_bytes, total_bytes FROM disk_raw WHERE at >= ?", (since_s,))
    ]
    rows.sort(key=lambda row: (row.at, row.path))
    return rows


def median_power_under_load(conn: sqlite3.Connection, since: datetime, min_utilization_pct: float) -> float | None:
    """Median power of one GPU over samples at or above the utilisation threshold (healthy samples only).

    A median, not a mean: one bogus sample (a sensor glitch, an inf from an old database) must not move
    the min bid for the whole window. Raw samples are first averaged per GPU and 5-minute bucket (the
    grain of the aggregates), then the median is taken over those bucket means, each weighted by its
    number of power samples. An aggregate counts only when its minimum utilisation meets the threshold.
    Values outside 0..MAX_SANE_POWER_W (inf written by an older version included) are never counted."""
    since_s = to_epoch(since)
    bound = {"since": since_s, "util": min_utilization_pct, "ok": GpuHealth.OK.value, "max": MAX_SANE_POWER_W}
    raw = conn.execute(
        f"SELECT AVG(power_w), COUNT(power_w) FROM gpu_raw WHERE at >= :since AND utilization_pct >= :util "  # noqa: S608
        f"AND health = :ok AND power_w BETWEEN 0 AND :max GROUP BY CAST(at / {BUCKET_S} AS INTEGER), gpu_index",
        bound,
    ).fetchall()
    agg = conn.execute(
        "SELECT power_w_mean, power_samples FROM gpu_agg WHERE bucket_at >= :since AND utilization_pct_min >= :util "
        "AND power_w_mean BETWEEN 0 AND :max AND power_samples > 0 AND health = :ok",
        bound,
    ).fetchall()
    return weighted_median([(float(value), int(weight)) for value, weight in raw + agg if weight])


def weighted_median(pairs: list[tuple[float, int]]) -> float | None:
    """The value at the middle of the total weight (the mean of the two middle values when it falls between)."""
    if not pairs:
        return None
    pairs = sorted(pairs)
    total = sum(weight for _, weight in pairs)
    seen = 0
    for position, (value, weight) in enumerate(pairs):
        seen += weight
        if seen * 2 > total:
            return value
        if seen * 2 == total:
            return (value + pairs[position + 1][0]) / 2.0
    return pairs[-1][0]  # not reached: the weights sum to `total`
