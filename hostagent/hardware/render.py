"""A snapshot for people (a table) and for programs (a JSON object), used by `hostagent telemetry`.

The JSON object (`snapshot_json`) is documented in docs/hardware.md: every `GpuReading` and
`DiskReading` field by its own name, `health` as a string, `taken_at` in ISO 8601 UTC.
"""

from __future__ import annotations

import dataclasses
from datetime import timezone
from typing import Any

from hostagent.core.model import DiskReading, GpuReading, HostSnapshot

GB = 1_000_000_000


def snapshot_json(snapshot: HostSnapshot) -> dict[str, Any]:
    return {
        "taken_at": snapshot.taken_at.isoformat(),
        "backend": snapshot.backend,
        "backend_ok": snapshot.backend_ok,
        "hint": snapshot.hint,
        "gpus": [_gpu_json(gpu) for gpu in snapshot.gpus],
        "disks": [dataclasses.asdict(disk) for disk in snapshot.disks],
    }


def _gpu_json(gpu: GpuReading) -> dict[str, Any]:
    doc = dataclasses.asdict(gpu)
    doc["health"] = gpu.health.value
    doc["xid_events"] = [dataclasses.asdict(event) for event in gpu.xid_events]
    doc["unsupported"] = list(gpu.unsupported)
    return doc


_COLUMNS = (
    ("GPU", 3),
    ("NAME", 22),
    ("HEALTH", 15),
    ("TEMP C", 6),
    ("UTIL %", 6),
    ("MEM MiB used/total", 18),
    ("POWER W/limit", 13),
    ("SM MHz", 6),
    ("P", 3),
    ("ECC unc/cor", 11),
    ("REMAP pend/fail", 15),
    ("PCIe", 9),
    ("PROCS", 5),
    ("REASONS", 7),
    ("XIDS / ERROR", 0),  # a GPU's read error (lost, unreadable) goes here, after its XIDs
)


def table(snapshot: HostSnapshot) -> str:
    """A fixed-width table of every GPU, then every disk, then the backend line (and hint)."""
    lines = [_row([name for name, _ in _COLUMNS])]
    lines += [_row(_gpu_cells(gpu)) for gpu in snapshot.gpus]
    if not snapshot.gpus:
        lines.append("(no GPU readings)")
    lines.append("")
    lines.append(f"{'DISK':<28} {'READ AT':<28} {'TOTAL GB':>9} {'FREE GB':>9}  ERROR")
    lines += [_disk_line(disk) for disk in snapshot.disks]
    lines.append("")
    state = "ok" if snapshot.backend_ok else "NOT OK"
    taken = snapshot.taken_at.astimezone(timezone.utc)
    lines.append(f"backend {snapshot.backend}: {state}, taken {taken:%Y-%m-%d %H:%M:%S} UTC")
    if snapshot.hint:
        lines.append(f"hint: {snapshot.hint}")
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    padded = (f"{cell:<{width}}" if width else cell for cell, (_, width) in zip(cells, _COLUMNS, strict=True))
    return " ".join(padded).rstrip()


def _v(value: object, fmt: str = "") -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else format(value, fmt)


def _pair(a: object, b: object, fmt: str = "") -> str:
    return f"{_v(a, fmt)}/{_v(b, fmt)}"


def _gpu_cells(gpu: GpuReading) -> list[str]:
    health = gpu.health.value + (" (stale)" if gpu.stale else "")
    pcie = f"g{_v(gpu.pcie_link_gen)} x{_v(gpu.pcie_link_width)}"
    xids = ",".join(f"{e.xid}" if e.event_type == "xid" else e.event_type for e in gpu.xid_events)
    if gpu.error:
        xids = f"{xids} {gpu.error}".strip()
    return [
        str(gpu.index),
        (gpu.name or "-").removeprefix("NVIDIA ")[:22],
        health,
        _v(gpu.temperature_c),
        _v(gpu.utilization_pct),
        _pair(gpu.memory_used_mib, gpu.memory_total_mib),
        _pair(gpu.power_w, gpu.power_limit_w, ".0f"),
        _v(gpu.sm_clock_mhz),
        _v(gpu.pstate),
        _pair(gpu.ecc_uncorrected_volatile, gpu.ecc_corrected_volatile),
        _pair(gpu.remapped_rows_pending, gpu.remapped_rows_failure),
        pcie,
        _v(gpu.compute_processes),
        "-" if gpu.clock_event_reasons is None else f"{gpu.clock_event_reasons:#x}",
        xids or "-",
    ]


def _disk_line(disk: DiskReading) -> str:
    total = "-" if disk.total_bytes is None else f"{disk.total_bytes / GB:.1f}"
    free = "-" if disk.free_bytes is None else f"{disk.free_bytes / GB:.1f}"
    return f"{disk.requested_path:<28} {disk.path:<28} {total:>9} {free:>9}  {disk.error or ''}".rstrip()
