"""The agent's shared lock: reentrant for its holder, set down entirely while a Vast call waits."""

from __future__ import annotations

import threading

from hostagent.service.sharedlock import SharedLock

WAIT_S = 5.0


def _contender(lock: SharedLock) -> tuple[threading.Thread, threading.Event]:
    """Another thread that takes the lock once (the event is set when it has it) and lets it go."""
    got = threading.Event()

    def take() -> None:
        with lock:
            got.set()

    thread = threading.Thread(target=take)
    thread.start()
    return thread, got


def test_the_holder_may_take_it_again_and_others_wait_until_every_level_is_released() -> None:
    """Reentrant for the holding thread; another thread gets it only after the outermost release."""
    lock = SharedLock()
    with lock, lock:
        other, got = _contender(lock)
        assert not got.wait(0.2), "another thread waits while the lock is held"
    other.join(WAIT_S)
    assert got.is_set(), "and gets it once every level was released"


def test_set_down_releases_every_level_for_the_block_and_takes_them_all_back() -> None:
    """While a Vast call waits (set_down), telemetry on another thread can take the lock."""
    lock = SharedLock()
    with lock, lock:
        with lock.set_down():
            first, got_first = _contender(lock)
            first.join(WAIT_S)
            assert got_first.is_set(), "taken by another thread while set down"
        second, got_second = _contender(lock)
        assert not got_second.wait(0.2), "both levels are back: the outer block holds it again"
    second.join(WAIT_S)
    assert got_second.is_set()


def test_set_down_by_a_thread_that_does_not_hold_it_changes_nothing() -> None:
    """`hostagent plan` calls Vast without the lock: setting it down is then a no-op."""
    lock = SharedLock()
    with lock.set_down():
        other, got = _contender(lock)
        other.join(WAIT_S)
        assert got.is_set()
