"""The lock around the agent's memory, shared by the service's main loop and its Vast worker.

The main loop (telemetry, health, status) and the Vast worker (reconcile, market, cleanup, earnings) both
read and change the agent's snapshot, health, history and status document. Each agent step holds this
lock while it works on them, and the worker sets it down for the length of every Vast call
(`ApiGate.call`), so telemetry waits at most for the local part of a step (milliseconds), never for Vast.
Reentrant, because agent steps call one another (cleanup is a reconcile, a reconcile may read telemetry).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class SharedLock:
    """A reentrant lock that its holder can set down entirely (all levels) while it waits on Vast."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> SharedLock:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
        else:
            self._lock.acquire()
            self._owner, self._depth = me, 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("SharedLock released by a thread that does not hold it")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    @contextmanager
    def set_down(self) -> Iterator[None]:
        """Release every level this thread holds for the block, then take them all back.

        A thread that does not hold the lock (e.g. `hostagent plan`) passes straight through."""
        me = threading.get_ident()
        if self._owner != me:
            yield
            return
        depth, self._owner, self._depth = self._depth, None, 0
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._owner, self._depth = me, depth


class HasLock(Protocol):
    @property
    def lock(self) -> SharedLock: ...


S = TypeVar("S", bound=HasLock)


def holding_lock(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run the method with `self.lock` held."""

    @functools.wraps(method)
    def locked(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return locked
