"""The fake backend: GPUs and disks described in a TOML or JSON file, read again at every `read()`.

A test, the demo or an operator rehearsing edits the file while the agent runs: raise a temperature,
add an XID, mark a GPU lost, delete a `[[gpu]]` block. The format is documented in
docs/hardware.md; `config/fake-gpus.toml` is the shipped example (8 idle H100s, one disk).

XIDs: a GPU's `xid` list is a log. Each read reports the entries appended since the previous read
(matched by GPU uuid), so reading an unchanged file twice reports nothing the second time. A list
that is edited rather than appended to (e.g. `[79]` -> `[48]`) reports its whole new content once;
a shortened or emptied list reports nothing. The first read reports everything listed.

A file that is missing, does not parse or holds a wrong key or value gives a snapshot with
`backend_ok=False` and a hint naming the file and every problem; `read()` never raises. Once a good
reading was made, a file that cannot be read or parsed (or is empty: a writer caught mid-write) gives
the last good GPUs back marked stale, health unknown, as NVML does when a read hangs: never "0 GPUs",
which would unlist the machine at once; the staleness check (`stale_after_s`) judges it instead.
Numbers outside their physical range (`inf` and `nan` are valid TOML) read as unknown (hardware/bounds.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from hostagent.core.model import DiskReading, GpuHealth, GpuReading, HostSnapshot, XidEvent
from hostagent.errors import HardwareError
from hostagent.hardware.bounds import SensorBounds
from hostagent.hardware.disk import DiskReader

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # absent where mypy runs on 3.11+

log = structlog.get_logger(__name__)

GB = 1_000_000_000  # disk sizes in the file are decimal gigabytes, as disks and Vast count them

# An idle, healthy H100 SXM, as NVML reports one (a probe of an H100 80GB HBM3 SXM, driver 580.159.04).
GPU_DEFAULTS: dict[str, Any] = {
    "name": "NVIDIA H100 80GB HBM3",
    "health": "ok",
    "temperature_c": 33,
    "utilization_pct": 0,
    "memory_used_mib": 480,
    "memory_total_mib": 81559,
    "power_w": 73.5,
    "power_limit_w": 700.0,
    "sm_clock_mhz": 345,
    "clock_event_reasons": 1,
    "pstate": 0,
    "ecc_uncorrected_volatile": 0,
    "ecc_corrected_volatile": 0,
    "remapped_rows_pending": False,
    "remapped_rows_failure": False,
    "pcie_link_gen": 5,
    "pcie_link_width": 16,
    "pcie_link_gen_max": 5,
    "pcie_link_width_max": 16,
    "compute_processes": 0,
    "pcie_tx_kb_per_s": None,
    "pcie_rx_kb_per_s": None,
    "energy_mj": None,
    "stale": False,
    "error": None,
}
_INT_KEYS = {k for k, v in GPU_DEFAULTS.items() if isinstance(v, int) and not isinstance(v, bool)} | {
    "index",
    "pcie_tx_kb_per_s",
    "pcie_rx_kb_per_s",
    "energy_mj",
}
_FLOAT_KEYS = {"power_w", "power_limit_w"}
_BOOL_KEYS = {"remapped_rows_pending", "remapped_rows_failure", "stale"}
_STR_KEYS = {"name", "uuid", "health", "error"}
_GPU_KEYS = _INT_KEYS | _FLOAT_KEYS | _BOOL_KEYS | _STR_KEYS | {"xid", "unsupported"}
# Fields that may be null (JSON) or listed in `unsupported`: the readings NVML can leave out.
_OPTIONAL_KEYS = (_INT_KEYS | _FLOAT_KEYS | {"remapped_rows_pending", "remapped_rows_failure"}) - {"index"}
# Per-tick values a lost or unknown GPU cannot give (NVML answers nothing for it).
_STATIC_KEYS = {"name", "memory_total_mib", "pcie_link_gen_max", "pcie_link_width_max"}
_DISK_KEYS = {"path", "total_gb", "free_gb", "error"}
_TOP_KEYS = {"gpu", "disk", "backend_ok", "hint"}


class FakeHardware:
    """`Hardware` from a description file. `disks` reads the real Docker root when the file lists none."""

    backend = "fake"

    def __init__(self, path: Path, docker_root: Path, *, disks: DiskReader | None = None) -> None:
        if not path.is_file():
            raise HardwareError(f"fake GPU file {path} does not exist (hardware.fake_file)")
        self._path = path
        self._disks = disks if disks is not None else DiskReader([docker_root])
        self._xids_seen: dict[str, tuple[int, ...]] = {}
        self._bounds = SensorBounds(self.backend)
        self._last: HostSnapshot | None = None  # the last reading from a file that parsed

    def read(self, now: datetime) -> HostSnapshot:
        """Parse the file now; a bad file gives `backend_ok=False` and a hint, never an exception."""
        try:
            doc = _load(self._path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
            return self._unreadable(now, f"{type(exc).__name__}: {exc}")
        problems = _check(doc)
        if problems:
            hint = f"fake GPU file {self._path}: " + "; ".join(problems)
            log.warning("fake_gpu_file_invalid", path=str(self._path), problems=problems)
            return HostSnapshot(now, (), (), self.backend, backend_ok=False, hint=hint)
        try:
            gpus = tuple(self._gpu(position, entry) for position, entry in enumerate(doc.get("gpu", [])))
        except (TypeError, ValueError) as exc:  # a case _check missed: still never raise out of read()
            log.exception("fake_gpu_file_unusable", path=str(self._path))
            return HostSnapshot(now, (), (), self.backend, backend_ok=False, hint=f"fake GPU file {self._path}: {exc}")
        disks = tuple(_disk(entry) for entry in doc["disk"]) if "disk" in doc else self._disks.read()
        self._last = HostSnapshot(
            now, gpus, disks, self.backend, backend_ok=doc.get("backend_ok", True), hint=doc.get("hint")
        )
        return self._last

    def _unreadable(self, now: datetime, problem: str) -> HostSnapshot:
        """The last good GPUs, stale and of unknown health; with none yet, backend_ok=False and the hint."""
        hint = f"fake GPU file {self._path}: {problem}"
        log.warning("fake_gpu_file_unreadable", path=str(self._path), problem=problem, stale=self._last is not None)
        last = self._last
        if last is None or not last.gpus:
            return HostSnapshot(now, (), (), self.backend, backend_ok=False, hint=hint)
        why = f"fake GPU file unreadable ({problem}): readings are stale"
        gpus = tuple(
            dataclasses.replace(g, stale=True, health=GpuHealth.UNKNOWN, error=why, xid_events=()) for g in last.gpus
        )
        return HostSnapshot(now, gpus, last.disks, self.backend, backend_ok=True, hint=hint)

    def close(self) -> None:
        """Nothing to release: the file is opened and closed at each read."""

    def _gpu(self, position: int, entry: Mapping[str, Any]) -> GpuReading:
        index = entry.get("index", position)
        uuid = entry.get("uuid", f"GPU-fa4e0000-0000-4000-8000-{index:012d}")
        values = {**GPU_DEFAULTS, **entry}
        health = GpuHealth(values.pop("health"))
        for key in entry.get("unsupported", ()):
            values[key] = None
        if health is not GpuHealth.OK:
            values = {k: (v if k in _STATIC_KEYS or k not in GPU_DEFAULTS else None) for k, v in values.items()}
            values["error"] = entry.get("error", f"GPU is {health.value} (fake GPU file)")
            values["stale"] = entry.get("stale", False)
        xids = tuple(entry.get("xid", ()))
        seen = self._xids_seen.get(uuid, ())
        new = xids[len(seen) :] if xids[: len(seen)] == seen else xids
        self._xids_seen[uuid] = xids
        for key in ("index", "uuid", "xid", "unsupported"):
            values.pop(key, None)
        return self._bounds.check(GpuReading(
            index=index,
            uuid=uuid,
            health=health,
            xid_events=tuple(XidEvent(index, xid, "xid") for xid in new),
            unsupported=tuple(entry.get("unsupported", ())),
            **values,
        ))


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        # Not "no GPUs": an empty file is what a reader sees between a writer's truncate and its write.
        raise ValueError("the file is empty (caught mid-write?)")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return tomllib.loads(text)


def _disk(entry: Mapping[str, Any]) -> DiskReading:
    path = str(entry["path"])
    if "error" in entry:
        return DiskReading(path, path, None, None, error=entry["error"])
    return DiskReading(path, path, int(entry.get("total_gb", 2000) * GB), int(entry.get("free_gb", 1500) * GB))


def _check(doc: Any) -> list[str]:
    """Every problem in the document, each as 'dotted.path: what'."""
    if not isinstance(doc, dict):
        return ["the top level must be a table (TOML) or an object (JSON)"]
    expected = ", ".join(sorted(_TOP_KEYS))
    problems = [f"{key}: unknown key (expected one of {expected})" for key in sorted(doc.keys() - _TOP_KEYS)]
    if "backend_ok" in doc and not isinstance(doc["backend_ok"], bool):
        problems.append("backend_ok: must be true or false")
    if "hint" in doc and not isinstance(doc["hint"], str):
        problems.append("hint: must be a string")
    gpus, disks = doc.get("gpu", []), doc.get("disk", [])
    for name, items in (("gpu", gpus), ("disk", disks)):
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            problems.append(f"{name}: must be a list of tables ([[{name}]] in TOML)")
            return problems
    indexes: set[int] = set()
    for position, gpu in enumerate(gpus):
        problems += _check_gpu(f"gpu[{position}]", gpu)
        index = gpu.get("index", position)
        if index in indexes:
            problems.append(f"gpu[{position}].index: {index} is used twice")
        indexes.add(index)
    for position, disk in enumerate(disks):
        problems += _check_disk(f"disk[{position}]", disk)
    return problems


def _check_gpu(where: str, gpu: Mapping[str, Any]) -> list[str]:
    problems = [f"{where}.{key}: unknown key" for key in sorted(gpu.keys() - _GPU_KEYS)]
    for key, value in gpu.items():
        if value is None and (key in _OPTIONAL_KEYS or key == "error"):
            continue  # JSON null: the field is unsupported on this GPU
        if key in _INT_KEYS and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{where}.{key}: must be an integer")
        elif key in _FLOAT_KEYS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"{where}.{key}: must be a number")
        elif key in _BOOL_KEYS and not isinstance(value, bool):
            problems.append(f"{where}.{key}: must be true or false")
        elif key in _STR_KEYS and not isinstance(value, str):
            problems.append(f"{where}.{key}: must be a string")
    if gpu.get("health", "ok") not in {h.value for h in GpuHealth}:
        problems.append(f"{where}.health: must be one of ok, lost, unknown")
    xid = gpu.get("xid", [])
    if not isinstance(xid, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in xid):
        problems.append(f"{where}.xid: must be a list of integers")
    unsupported = gpu.get("unsupported", [])
    if not isinstance(unsupported, list) or not all(u in _OPTIONAL_KEYS for u in unsupported):
        problems.append(f"{where}.unsupported: must list reading fields, e.g. [\"pstate\"]")
    return problems


def _check_disk(where: str, disk: Mapping[str, Any]) -> list[str]:
    problems = [f"{where}.{key}: unknown key" for key in sorted(disk.keys() - _DISK_KEYS)]
    if not isinstance(disk.get("path"), str):
        problems.append(f"{where}.path: required, a string")
    for key in ("total_gb", "free_gb"):
        value = disk.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problems.append(f"{where}.{key}: must be a number >= 0")
    if "error" in disk and not isinstance(disk["error"], str):
        problems.append(f"{where}.error: must be a string")
    if not problems and disk.get("free_gb", 0) > disk.get("total_gb", 2000):
        problems.append(f"{where}.free_gb: larger than total_gb")
    return problems
