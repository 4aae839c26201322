"""Free space where Docker keeps containers, through psutil.

The Docker root may not exist yet (a fresh host) or may sit under a mount point that is the
real answer, so the nearest existing parent is read. One failed read makes that reading unknown
(`total_bytes=None`, `error` set); it never raises and never stops the other disks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import structlog

from hostagent.core.model import DiskReading

log = structlog.get_logger(__name__)

DiskUsage = Callable[[str], Any]  # psutil.disk_usage's shape: an object with .total and .free


def nearest_existing(path: Path) -> Path:
    """`path` itself when it exists, else its closest existing ancestor (at worst the root)."""
    candidate = path
    while not candidate.exists() and candidate != candidate.parent:
        candidate = candidate.parent
    return candidate


class DiskReader:
    """Reads each configured path. `usage` is injectable so a test can make a read fail."""

    def __init__(self, paths: Sequence[Path], usage: DiskUsage | None = None) -> None:
        self._paths = tuple(paths)
        self._usage: DiskUsage = usage if usage is not None else psutil.disk_usage

    def read(self) -> tuple[DiskReading, ...]:
        return tuple(self._read_one(path) for path in self._paths)

    def _read_one(self, requested: Path) -> DiskReading:
        try:
            actual = nearest_existing(requested)
        except OSError as exc:  # e.g. a permission error while probing the path
            return DiskReading(str(requested), str(requested), None, None, error=f"cannot resolve path: {exc}")
        try:
            usage = self._usage(str(actual))
            return DiskReading(str(requested), str(actual), int(usage.total), int(usage.free))
        except (OSError, psutil.Error, AttributeError, TypeError, ValueError) as exc:
            # AttributeError/TypeError/ValueError: an answer without usable .total/.free is as unknown as none.
            log.warning("disk_read_failed", path=str(actual), error=str(exc))
            return DiskReading(str(requested), str(actual), None, None, error=f"{type(exc).__name__}: {exc}")
