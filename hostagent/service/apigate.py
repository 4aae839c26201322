"""The one door every Vast call of the agent goes through: auth failures, rate-limit deferral, last error.

- 401/403 (`VastAuthError`): API actions stop (no retry storm); telemetry goes on; the status says so.
  A single read probes again after `AUTH_PROBE_S`, or at once after a config reload (`reset_auth`).
- 429 whose Retry-After exceeds the cap the client honours by itself: every call is deferred until
  `not_before`, which is kept in the state store so a restart does not hammer Vast early.
- Any other `VastError` is recorded as the last error and re-raised to the caller, which goes on with
  its next step: one failing call never stops the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import Protocol, TypeVar

import structlog

from hostagent.errors import HostagentError, StateError, VastAuthError, VastError, VastRateLimited
from hostagent.service.status_types import ApiError, ApiGateState

log = structlog.get_logger(__name__)
T = TypeVar("T")

NOT_BEFORE_KEY = "vast.not_before"
AUTH_PROBE_S = 3600.0  # a revoked key is not fixed by asking again every tick


class KeyValueStore(Protocol):
    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...


class ApiMetrics(Protocol):
    def observe_api_error(self, kind: str, status: int | None) -> None: ...


class ApiDeferred(HostagentError):
    """No Vast call is made now: the key was refused, or Vast asked us to wait. `.reason` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ApiGate:
    def __init__(
        self, store: KeyValueStore, *, retry_after_cap_s: float, metrics: ApiMetrics | None = None
    ) -> None:
        self._store = store
        self._cap_s = retry_after_cap_s
        self._metrics = metrics
        self.auth_failed_at: datetime | None = None
        self.last_error: ApiError | None = None
        self.last_ok_at: datetime | None = None
        # The service's progress mark: a finished call (even a failed one) is progress of the Vast worker.
        self.on_progress: Callable[[], None] | None = None
        # Wraps the Vast call itself: the agent sets its shared lock down here, so telemetry never waits on Vast.
        self.released: Callable[[], AbstractContextManager[object]] = nullcontext
        # Told once when Vast starts refusing the key (not at every probe after): the agent emits key_refused.
        self.on_auth_refused: Callable[[datetime, str, int | None], None] | None = None
        raw = store.get(NOT_BEFORE_KEY)
        self.not_before: datetime | None = (
            datetime.fromtimestamp(float(raw), tz=timezone.utc) if isinstance(raw, (int, float)) else None
        )

    def blocked(self, now: datetime) -> str | None:
        """Why no call may be made now, or None."""
        if self.auth_failed_at is not None and now < self.auth_failed_at + timedelta(seconds=AUTH_PROBE_S):
            return (
                f"Vast refused the API key at {self.auth_failed_at.isoformat()}: API actions stopped, telemetry "
                "continues; fix the key (scopes machine_read, machine_write, misc, billing_read) and reload"
            )
        if self.not_before is not None and now < self.not_before:
            return f"Vast rate-limited us: API calls deferred until {self.not_before.isoformat()}"
        return None

    def reset_auth(self) -> None:
        """After a config reload the key may be new: try again at once."""
        self.auth_failed_at = None

    def call(self, operation: str, now: datetime, fn: Callable[[], T]) -> T:
        """Run one Vast call. Raises `ApiDeferred` without calling, or the call's `VastError`."""
        reason = self.blocked(now)
        if reason is not None:
            raise ApiDeferred(reason)
        try:
            with self.released():
                result = fn()
        except VastError as exc:
            self._record_error(operation, now, exc)
            raise
        finally:
            if self.on_progress is not None:
                self.on_progress()
        self.last_ok_at = now
        self.auth_failed_at = None
        if self.not_before is not None:
            self.not_before = None
            self._persist(None)
        return result

    def _persist(self, not_before_s: float | None) -> None:
        """Keep `not_before` across a restart; a disk that refuses it never stops a Vast call (logged)."""
        try:
            self._store.put(NOT_BEFORE_KEY, not_before_s)
        except StateError as exc:
            log.error("state_store_failed", step="vast.not_before", error=str(exc))

    def _record_error(self, operation: str, now: datetime, exc: VastError) -> None:
        kind = type(exc).__name__
        self.last_error = {
            "at": now.isoformat(),
            "operation": operation,
            "kind": kind,
            "status": exc.status,
            "message": str(exc),
        }
        if self._metrics is not None:
            self._metrics.observe_api_error(kind, exc.status)
        if isinstance(exc, VastAuthError):
            newly = self.auth_failed_at is None
            self.auth_failed_at = now
            log.error("vast_auth_refused", operation=operation, status=exc.status)
            if newly and self.on_auth_refused is not None:
                self.on_auth_refused(now, operation, exc.status)
        elif isinstance(exc, VastRateLimited):
            wait_s = exc.retry_after_s if exc.retry_after_s is not None else self._cap_s
            self.not_before = now + timedelta(seconds=max(wait_s, 1.0))
            self._persist(self.not_before.timestamp())
            log.warning("vast_rate_limited_deferred", operation=operation, not_before=self.not_before.isoformat())
        else:
            log.warning("vast_call_failed", operation=operation, error_kind=kind, status=exc.status, error=str(exc))

    def state(self, now: datetime) -> ApiGateState:
        """For the status document."""
        return {
            "blocked": self.blocked(now),
            "auth_ok": self.auth_failed_at is None,
            "not_before": None if self.not_before is None else self.not_before.isoformat(),
            "last_error": self.last_error,
            "last_ok_at": None if self.last_ok_at is None else self.last_ok_at.isoformat(),
        }
