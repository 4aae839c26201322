"""hostagent's local state: one SQLite file under the state directory (see store.py and db.py).

Its names load on first use (PEP 562), so `hostagent.store.reader`, the fast read-only path of
`hostagent status`, can be imported without the writer's structlog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hostagent.store.rows import DiskRow, Intent, JournalEntry, TelemetryRow
    from hostagent.store.store import StateStore

__all__ = ["DiskRow", "Intent", "JournalEntry", "StateStore", "TelemetryRow"]
_HOMES = {"DiskRow": "rows", "Intent": "rows", "JournalEntry": "rows", "TelemetryRow": "rows", "StateStore": "store"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"hostagent.store.{home}"), name)
