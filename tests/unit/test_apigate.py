"""The API gate: a refused key stops API calls until a probe, a 429 wait survives a restart, the last error stays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.errors import StateError, VastAuthError, VastRateLimited, VastServerError
from hostagent.service.apigate import AUTH_PROBE_S, NOT_BEFORE_KEY, ApiDeferred, ApiGate
from hostagent.store.store import StateStore

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
CAP_S = 300.0


class Calls:
    """A Vast call stand-in: counts how often the gate let it run, and answers or raises as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.count = 0
        self.error = error

    def __call__(self) -> str:
        self.count += 1
        if self.error is not None:
            raise self.error
        return "answer"


class RecordedMetrics:
    def __init__(self) -> None:
        self.errors: list[tuple[str, int | None]] = []

    def observe_api_error(self, kind: str, status: int | None) -> None:
        self.errors.append((kind, status))


class RefusingStore:
    """A key/value store whose disk refuses every write."""

    def get(self, key: str) -> object | None:
        return None

    def put(self, key: str, value: object) -> None:
        raise StateError(f"writing {key!r}: disk full")


@contextmanager
def gate_on(state_dir: Path, metrics: RecordedMetrics | None = None) -> Iterator[ApiGate]:
    with StateStore.open(state_dir) as store:
        yield ApiGate(store, retry_after_cap_s=CAP_S, metrics=metrics)


def test_a_refused_key_stops_every_call_until_one_probe_an_hour_later(tmp_path: Path) -> None:
    """After a 401/403 no call is made (ApiDeferred says why) until AUTH_PROBE_S has passed; then one read probes."""
    with gate_on(tmp_path) as gate:
        with pytest.raises(VastAuthError):
            gate.call("show_machines", T0, Calls(VastAuthError("refused", status=401)))
        later = Calls()
        with pytest.raises(ApiDeferred, match="refused the API key") as deferred:
            gate.call("show_machines", T0 + timedelta(seconds=AUTH_PROBE_S - 1), later)
        assert "telemetry continues" in deferred.value.reason
        assert later.count == 0
        assert gate.state(T0)["auth_ok"] is False
        assert gate.call("show_machines", T0 + timedelta(seconds=AUTH_PROBE_S), later) == "answer"
        assert later.count == 1
        assert gate.state(T0 + timedelta(seconds=AUTH_PROBE_S))["auth_ok"] is True


def test_a_config_reload_lets_the_next_call_probe_the_key_at_once(tmp_path: Path) -> None:
    """reset_auth (SIGHUP: the key may be new) lifts the stop without waiting for the hourly probe."""
    with gate_on(tmp_path) as gate:
        with pytest.raises(VastAuthError):
            gate.call("show_machines", T0, Calls(VastAuthError("refused", status=403)))
        gate.reset_auth()
        assert gate.blocked(T0 + timedelta(seconds=1)) is None
        assert gate.call("show_machines", T0 + timedelta(seconds=1), Calls()) == "answer"


def test_a_429_defers_every_call_until_not_before_and_a_new_gate_on_the_same_store_honours_it(
    tmp_path: Path,
) -> None:
    """Vast's Retry-After is kept in the state store, so a restarted agent does not call Vast early."""
    with gate_on(tmp_path) as gate:
        with pytest.raises(VastRateLimited):
            gate.call("search_offers", T0, Calls(VastRateLimited("slow down", retry_after_s=900.0)))
        assert gate.not_before == T0 + timedelta(seconds=900)
    with gate_on(tmp_path) as restarted:
        assert restarted.not_before == T0 + timedelta(seconds=900)
        early = Calls()
        with pytest.raises(ApiDeferred, match="deferred until 2026-11-26T12:15:00"):
            restarted.call("show_machines", T0 + timedelta(seconds=899), early)
        assert early.count == 0
        assert restarted.call("show_machines", T0 + timedelta(seconds=900), early) == "answer"
        assert restarted.not_before is None
    with StateStore.open(tmp_path) as store:
        assert store.get(NOT_BEFORE_KEY) is None, "a call that went through clears the stored deferral"


def test_a_429_without_retry_after_defers_for_the_configured_cap(tmp_path: Path) -> None:
    with gate_on(tmp_path) as gate:
        with pytest.raises(VastRateLimited):
            gate.call("search_offers", T0, Calls(VastRateLimited("slow down")))
        assert gate.not_before == T0 + timedelta(seconds=CAP_S)
        assert gate.state(T0)["not_before"] == (T0 + timedelta(seconds=CAP_S)).isoformat()


def test_any_other_vast_error_is_kept_as_the_last_error_reraised_and_the_next_call_still_goes(tmp_path: Path) -> None:
    """One failing call never stops the loop: the error is recorded, counted, raised; the gate stays open."""
    metrics = RecordedMetrics()
    progress: list[str] = []
    with gate_on(tmp_path, metrics) as gate:
        gate.on_progress = lambda: progress.append("done")
        with pytest.raises(VastServerError):
            gate.call("list_machine", T0, Calls(VastServerError("bad gateway", status=502)))
        assert gate.last_error == {"at": T0.isoformat(), "operation": "list_machine", "kind": "VastServerError",
                                   "status": 502, "message": "bad gateway"}
        assert metrics.errors == [("VastServerError", 502)]
        assert gate.blocked(T0) is None
        assert gate.call("show_machines", T0 + timedelta(seconds=5), Calls()) == "answer"
        assert progress == ["done", "done"], "a failed call is progress of the Vast worker too"
        state = gate.state(T0 + timedelta(seconds=5))
        assert state["last_ok_at"] == (T0 + timedelta(seconds=5)).isoformat()
        assert state["last_error"] == gate.last_error, "the last error stays visible after a later success"


def test_a_store_that_cannot_keep_not_before_still_defers_in_memory_and_raises_the_429() -> None:
    """A refused disk write is logged; the caller still sees Vast's 429 and this gate still waits."""
    gate = ApiGate(RefusingStore(), retry_after_cap_s=CAP_S)
    with pytest.raises(VastRateLimited):
        gate.call("search_offers", T0, Calls(VastRateLimited("slow down", retry_after_s=60.0)))
    assert gate.blocked(T0 + timedelta(seconds=59)) is not None
    assert gate.call("search_offers", T0 + timedelta(seconds=60), Calls()) == "answer"
