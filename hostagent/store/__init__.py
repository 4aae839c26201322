"""hostagent's local state: one SQLite file under the state directory (see store.py and db.py)."""

from hostagent.store.rows import DiskRow, Intent, JournalEntry, TelemetryRow
from hostagent.store.store import StateStore

__all__ = ["DiskRow", "Intent", "JournalEntry", "StateStore", "TelemetryRow"]
