"""Vast's per-endpoint rate limits belong to the key, so the agent and the operator commands share them.

Vast answers 429 to a call that comes sooner than the endpoint's minimum interval after the key's last
call to it, whichever process made that call. So each side keeps, in the state store, when it last called
each endpoint (wall-clock epoch seconds, the one clock two processes share), and the Vast client spaces its
next call to an endpoint after the other side's (`hostagent.ports.CallLedger`, honoured by the transport):

- the agent (`AgentLedger`) records its calls under `AGENT_CALLS_KEY` and, before each call, reads the
  operator commands' calls under `OPERATOR_CALLS_KEY` (and, once, those of the agent process before it:
  a restart within an endpoint's interval must not earn a 429 either);
- `plan` and `doctor` (`OperatorLedger`) read both keys and the agent's 429 deferral (`NOT_BEFORE_KEY`)
  through a read-only store, wait their turn with a line saying so (at most one endpoint interval, 8 s at
  worst), and record their own calls under `OPERATOR_CALLS_KEY` when they may write the file. When they
  may not (another user, a read-only mount, the agent's write holding the file), they say so: the agent's
  next call to that endpoint may then get one 429, which its client retries after the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Protocol

import structlog

from hostagent.errors import StateError
from hostagent.service.apigate import NOT_BEFORE_KEY

log = structlog.get_logger(__name__)

AGENT_CALLS_KEY = "vast.last_calls"
OPERATOR_CALLS_KEY = "vast.operator_calls"
KEEP_S = 60.0  # longer than any endpoint's interval: older call times are dropped when written


class KeyValueStore(Protocol):
    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...


def call_times(value: object) -> dict[str, float]:
    """A stored {rate key: epoch s} map; anything else reads as empty (a damaged value costs spacing only)."""
    if not isinstance(value, dict):
        return {}
    return {k: float(v) for k, v in value.items() if isinstance(k, str) and isinstance(v, (int, float))}


def _recent(calls: Mapping[str, float], now_epoch_s: float) -> dict[str, float]:
    return {k: at for k, at in calls.items() if now_epoch_s - at < KEEP_S}


def _merged(*maps: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for calls in maps:
        for key, at in calls.items():
            out[key] = max(at, out.get(key, at))
    return out


class AgentLedger:
    """The agent's side: persists its own call times, honours those of `plan` and `doctor`."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._save_failed = False
        try:
            self._before = call_times(store.get(AGENT_CALLS_KEY))  # the previous agent process's calls
        except StateError:
            self._before = {}
        self._mine: dict[str, float] = dict(self._before)

    def others(self) -> Mapping[str, float]:
        before, self._before = self._before, {}  # handed to the transport once; from then on it knows
        try:
            return _merged(before, call_times(self._store.get(OPERATOR_CALLS_KEY)))
        except StateError:
            return before

    def record(self, rate_key: str, at_epoch_s: float) -> None:
        self._mine = _recent({**self._mine, rate_key: at_epoch_s}, at_epoch_s)
        try:
            self._store.put(AGENT_CALLS_KEY, self._mine)
        except StateError as exc:
            if not self._save_failed:  # the store's own error is logged by the next step that needs it
                log.warning("vast_call_times_not_saved", error=str(exc))
            self._save_failed = True
            return
        self._save_failed = False

    def waiting(self, endpoint: str, wait_s: float) -> None:
        log.info("vast_rate_wait_shared", endpoint=endpoint, wait_s=round(wait_s, 3))


class OperatorLedger:
    """`plan` and `doctor`: honour the agent's recorded calls and deferral; record ours if we may.

    `say` prints one line for the operator (each distinct line once)."""

    def __init__(
        self, store: KeyValueStore | None, say: Callable[[str], None], write: Callable[[str, object], None] | None
    ) -> None:
        self._store = store  # None: no state store here, so no agent has called Vast from this host
        self._write = write  # a `put` safe beside a running agent (hostagent.bootstrap.put_beside)
        self._say = say
        self._said: set[str] = set()
        self._mine: dict[str, float] = {}

    def _once(self, line: str) -> None:
        if line not in self._said:
            self._said.add(line)
            self._say(line)

    def _get(self, key: str) -> object | None:
        if self._store is None:
            return None
        try:
            return self._store.get(key)
        except StateError as exc:
            self._once(f"cannot read the agent's rate-limit state ({exc}): calls may collide with the agent's")
            return None

    def deferred(self, now: datetime) -> str | None:
        """Why no call may be made now: the agent's persisted 429 deferral, or None."""
        raw = self._get(NOT_BEFORE_KEY)
        if not isinstance(raw, (int, float)) or now.timestamp() >= raw:
            return None
        until = datetime.fromtimestamp(float(raw), tz=timezone.utc).isoformat()
        return f"Vast rate-limited the agent on this key until {until}; a call now would earn it another 429"

    def others(self) -> Mapping[str, float]:
        return _merged(call_times(self._get(AGENT_CALLS_KEY)), call_times(self._get(OPERATOR_CALLS_KEY)))

    def record(self, rate_key: str, at_epoch_s: float) -> None:
        if self._store is None or self._write is None:
            return
        self._mine[rate_key] = at_epoch_s
        calls = _recent(_merged(call_times(self._get(OPERATOR_CALLS_KEY)), self._mine), at_epoch_s)
        try:
            self._write(OPERATOR_CALLS_KEY, calls)
        except StateError as exc:
            self._once(f"could not record this command's Vast calls for the agent ({exc}): the agent's next call "
                       "to the same endpoint may get one 429, which it retries after the endpoint's interval")

    def waiting(self, endpoint: str, wait_s: float) -> None:
        self._say(f"waiting {wait_s:.1f} s before {endpoint}: the agent called it just now, and Vast refuses (429) "
                  "a key's calls to one endpoint closer than its interval")
