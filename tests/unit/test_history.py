"""The agent's memory: observations folded into History and persisted; a damaged document reads as empty."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.core.health import HealthVerdict
from hostagent.core.model import GpuHealth, GpuReading, History, HostSnapshot, MachineState, VastMaintenance
from hostagent.service.history import HISTORY_KEY, HistoryKeeper, rented_gpu_count
from hostagent.store.store import StateStore

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
WINDOW = VastMaintenance(id=42, machine_id=4242, start_time=1795888017.0, duration_hours=3.0, category="power")


def _verdict() -> HealthVerdict:
    return HealthVerdict(
        ok=False, may_list=False, reasons=(), notes=(),
        hot_since=((3, T0 - timedelta(minutes=6)),), unhealthy_since=T0 - timedelta(minutes=6),
        healthy_since=None, last_telemetry_at=T0,
    )


def _busy_snapshot(at: datetime, power_w: float) -> HostSnapshot:
    gpu = GpuReading(index=0, uuid="GPU-0", name="H100", health=GpuHealth.OK, utilization_pct=95, power_w=power_w)
    return HostSnapshot(taken_at=at, gpus=(gpu,), disks=(), backend="fake")


class NotFiniteMedianStore:
    """A store whose telemetry median is not a number (as an old database may give)."""

    def __init__(self) -> None:
        self.saved: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        return self.saved.get(key)

    def put(self, key: str, value: object) -> None:
        self.saved[key] = value

    def median_power_under_load_w(self, since: datetime, min_utilization_pct: float = 50.0) -> float | None:
        return float("nan")


def test_observations_are_folded_and_a_new_keeper_on_the_same_store_reads_them_back(tmp_path: Path) -> None:
    """Health streaks, Vast's windows and the agent's own unlisting survive a restart, datetimes as datetimes."""
    with StateStore.open(tmp_path) as store:
        keeper = HistoryKeeper(store)
        assert keeper.history == History()
        keeper.observe_health(_verdict())
        keeper.observe_maintenances([WINDOW], T0)
        keeper.observe_listing_change(listed=False, cause="health")
        keeper.save()
        folded = keeper.history
    assert folded.hot_since == ((3, T0 - timedelta(minutes=6)),)
    assert folded.unhealthy_since == T0 - timedelta(minutes=6)
    assert folded.last_telemetry_at == T0
    assert folded.vast_maintenances == (WINDOW,)
    assert (folded.unlisted_by_agent, folded.unlisted_cause) == (True, "health")
    with StateStore.open(tmp_path) as store:
        assert HistoryKeeper(store).history == folded


def test_relisting_clears_the_agents_unlisting_and_remembers_the_published_price(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as store:
        keeper = HistoryKeeper(store)
        keeper.observe_listing_change(listed=False, cause="maintenance")
        keeper.observe_listing_change(listed=True, price=2.0611)
    assert (keeper.history.unlisted_by_agent, keeper.history.unlisted_cause) == (False, None)
    assert keeper.history.last_published_price_usd_per_gpu_hour == 2.0611


def test_the_power_under_load_is_the_stores_median_of_the_last_week(tmp_path: Path) -> None:
    """Samples older than the week's window do not count; the median ignores one outlier."""
    with StateStore.open(tmp_path) as store:
        store.record_snapshot(_busy_snapshot(T0 - timedelta(days=8), 50.0))  # outside the window
        for minutes, power_w in ((10, 600.0), (20, 610.0), (30, 700.0)):
            store.record_snapshot(_busy_snapshot(T0 - timedelta(minutes=minutes), power_w))
        keeper = HistoryKeeper(store)
        keeper.observe_power(T0)
    assert keeper.history.median_power_under_load_w == 610.0


def test_a_power_median_that_is_not_finite_is_never_kept() -> None:
    store = NotFiniteMedianStore()
    keeper = HistoryKeeper(store)
    keeper.observe_power(T0)
    keeper.save()
    assert keeper.history.median_power_under_load_w is None
    assert HistoryKeeper(store).history == History()


def test_the_cores_history_after_a_plan_replaces_the_keepers_and_none_keeps_it(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as store:
        keeper = HistoryKeeper(store)
        planned = History(first_seen_at=T0, rentals_running=2)
        keeper.adopt(planned)
        keeper.adopt(None)
    assert keeper.history == planned


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(["not", "an", "object"], id="a list"),
        pytest.param("history", id="a string"),
        pytest.param({"vast_maintenances": [{"__maint__": {"id": 1}}]}, id="a window missing its fields"),
        pytest.param({"last_rented_at": {"__dt__": 1e300}}, id="a time out of range"),
        pytest.param({"unknown_field": 1, "not_history": True}, id="only unknown keys"),
    ],
)
def test_a_damaged_history_document_reads_as_empty(tmp_path: Path, document: object) -> None:
    """The agent starts with an empty memory rather than failing, and its next save replaces the document."""
    with StateStore.open(tmp_path) as store:
        store.put(HISTORY_KEY, document)
        keeper = HistoryKeeper(store)
        assert keeper.history == History()
        keeper.save()
        assert HistoryKeeper(store).history == History()


def test_rented_gpus_are_counted_from_vasts_occupancy_codes_else_from_running_rentals() -> None:
    """'x' marks a free GPU; without occupancy codes a running rental counts the whole machine."""
    machine = MachineState(id=4242, hostname="h", gpu_name="H100", num_gpus=8, listed=True)
    assert rented_gpu_count(machine) == 0
    assert rented_gpu_count(MachineState(id=4242, hostname="h", gpu_name="H100", num_gpus=8, listed=True,
                                         gpu_occupancy="D D x X i x x x")) == 3
    assert rented_gpu_count(MachineState(id=4242, hostname="h", gpu_name="H100", num_gpus=8, listed=True,
                                         current_rentals_running=1)) == 8
