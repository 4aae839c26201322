"""The state store's modes follow its directory: private in the agent's own 0700 directory, readable by the
group where the directory grants it (scripts/install-host.sh: 0750 for hostagent-ops)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hostagent.store import StateStore
from hostagent.store.reader import readonly_uri


def test_a_store_in_a_group_readable_directory_is_group_readable_and_never_group_writable(tmp_path: Path) -> None:
    """Under the installed unit's UMask=0027, state.db, -wal and -shm are 0640 in a 0750 directory."""
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    old_umask = os.umask(0o027)
    try:
        with StateStore.open(state) as store:
            store.put("probe", 1)  # -wal and -shm exist while the store is open
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir() if p.name.startswith("state.db")}
    finally:
        os.umask(old_umask)
    assert modes == {"state.db": 0o640, "state.db-wal": 0o640, "state.db-shm": 0o640}


def test_a_reader_opens_a_running_agents_store_as_it_is_and_a_stopped_one_immutable_only_when_it_cannot_write(
    tmp_path: Path,
) -> None:
    """With a -wal beside it (an agent has it open) or a directory this user may write, the usual read-only
    open; neither: `immutable=1`, since SQLite could not create the -wal/-shm a WAL store needs."""
    db = tmp_path / "state.db"
    db.touch()
    assert readonly_uri(db).endswith("?mode=ro")  # we may write tmp_path
    gone = tmp_path / "gone" / "state.db"  # a directory that does not exist cannot be written
    assert readonly_uri(gone).endswith("?mode=ro&immutable=1")
    (tmp_path / "gone").mkdir()
    Path(f"{gone}-wal").touch()
    os.chmod(tmp_path / "gone", 0o500)
    try:
        assert readonly_uri(gone).endswith("?mode=ro")  # the -wal says an agent has it open
    finally:
        os.chmod(tmp_path / "gone", 0o700)
