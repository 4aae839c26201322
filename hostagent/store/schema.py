"""The schema as an ordered list of migrations: MIGRATIONS[i] takes `PRAGMA user_version` i to i+1.

Never edit a released migration; append a new one. A file whose user_version is above
len(MIGRATIONS) was written by a newer hostagent and is moved aside (Vast is the source of truth).
"""

from __future__ import annotations

_V1 = (
    # Raw telemetry, one row per GPU per tick; aggregated into gpu_agg after raw_retention.
    """CREATE TABLE gpu_raw (
        at REAL NOT NULL,
        gpu_index INTEGER NOT NULL,
        health TEXT NOT NULL,
        temperature_c REAL,
        utilization_pct REAL,
        memory_used_mib REAL,
        power_w REAL
    )""",
    "CREATE INDEX gpu_raw_at ON gpu_raw (at)",
    """CREATE TABLE gpu_agg (
        bucket_at REAL NOT NULL,
        gpu_index INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        health TEXT NOT NULL,
        temperature_c_min REAL, temperature_c_mean REAL, temperature_c_max REAL,
        utilization_pct_min REAL, utilization_pct_mean REAL, utilization_pct_max REAL,
        memory_used_mib_min REAL, memory_used_mib_mean REAL, memory_used_mib_max REAL,
        power_w_min REAL, power_w_mean REAL, power_w_max REAL,
        power_samples INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (gpu_index, bucket_at)
    )""",
    "CREATE INDEX gpu_agg_at ON gpu_agg (bucket_at)",
    """CREATE TABLE disk_raw (
        at REAL NOT NULL,
        path TEXT NOT NULL,
        free_bytes INTEGER,
        total_bytes INTEGER
    )""",
    "CREATE INDEX disk_raw_at ON disk_raw (at)",
    """CREATE TABLE disk_agg (
        bucket_at REAL NOT NULL,
        path TEXT NOT NULL,
        samples INTEGER NOT NULL,
        free_bytes_min REAL, free_bytes_mean REAL, free_bytes_max REAL,
        total_bytes INTEGER,
        PRIMARY KEY (path, bucket_at)
    )""",
    "CREATE INDEX disk_agg_at ON disk_agg (bucket_at)",
    # AUTOINCREMENT: ids are never reused, so "every id up to N" is a meaningful check after a crash.
    """CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        what TEXT NOT NULL,
        why TEXT NOT NULL,
        request TEXT,
        result TEXT NOT NULL,
        ok INTEGER NOT NULL,
        action_key TEXT
    )""",
    "CREATE INDEX journal_at ON journal (at)",
    """CREATE TABLE intent (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        begun_at REAL NOT NULL,
        action_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        request TEXT NOT NULL,
        finished_at REAL,
        result TEXT,
        ok INTEGER
    )""",
    "CREATE INDEX intent_open ON intent (id) WHERE finished_at IS NULL",
    """CREATE TABLE earnings (
        day INTEGER NOT NULL,
        machine_id INTEGER,
        gpu_usd REAL NOT NULL,
        storage_usd REAL NOT NULL,
        upload_usd REAL NOT NULL,
        download_usd REAL NOT NULL,
        sla_usd REAL NOT NULL
    )""",
    # NULL machine_id is the account-level row; UNIQUE treats NULLs as distinct, hence the IFNULL.
    "CREATE UNIQUE INDEX earnings_key ON earnings (day, IFNULL(machine_id, -1))",
    """CREATE TABLE status (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at REAL NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)
