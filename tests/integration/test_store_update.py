"""`StateStore.update`: read, change and write one key in one transaction, beside another connection."""

from __future__ import annotations

import threading
from pathlib import Path

from hostagent.store import StateStore

ROUNDS = 20


def test_two_connections_changing_one_key_lose_none_of_each_others_changes(tmp_path: Path) -> None:
    """The agent's store and `maint add`'s store beside it each add to one list: every addition survives."""
    StateStore.open(tmp_path).close()
    with StateStore.open(tmp_path) as agent, StateStore.open(tmp_path, beside_agent=True) as command:

        def add_many(store: StateStore, who: str) -> None:
            for i in range(ROUNDS):
                store.update("operator_maints", lambda raw, i=i: [*(raw if isinstance(raw, list) else []), f"{who}{i}"])

        threads = [threading.Thread(target=add_many, args=(s, w)) for s, w in ((agent, "a"), (command, "c"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        stored = agent.get("operator_maints")
    assert isinstance(stored, list)
    assert sorted(stored) == sorted([f"a{i}" for i in range(ROUNDS)] + [f"c{i}" for i in range(ROUNDS)])


def test_update_of_an_absent_key_starts_from_none_and_returns_what_it_stored(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as store:
        seen: list[object] = []
        assert store.update("k", lambda raw: seen.append(raw) or {"n": 1}) == {"n": 1}
        assert seen == [None]
        assert store.get("k") == {"n": 1}
