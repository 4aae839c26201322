"""The small interfaces the agent is built from; adapters and fakes implement them.

Passed in through constructors (see `bootstrap.py`); nothing patches module globals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from hostagent.core.events import Event
from hostagent.core.model import (
    DesiredListing,
    EarningsReport,
    GpuMetricsCurrent,
    GpuMetricsHistory,
    HostSnapshot,
    MachineReport,
    MachineState,
    Offer,
    VastMaintenance,
)


class Journal(Protocol):
    """The state store's action journal (`hostagent.store.StateStore.journal`): one row per decision, write or
    event, with the request and result; returns the row id. Raises StateError when the store refuses it."""

    def journal(  # noqa: PLR0917  (the store's signature)
        self,
        at: datetime,
        kind: str,
        what: str,
        why: str,
        request: Mapping[str, object] | None = None,
        result: str = "",
        ok: bool = True,
        action_key: str | None = None,
    ) -> int: ...


class EventSink(Protocol):
    """Where events go (hostagent.service.events.EventLog: journal, log, metrics, notifier).

    `emit` never raises and never waits on the network: a notification destination that is down delays nothing."""

    def emit(self, event: Event) -> None: ...


class Clock(Protocol):
    """Wall time for schedules, monotonic time for intervals and deadlines."""

    def now(self) -> datetime:
        """Timezone-aware UTC."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Hardware(Protocol):
    """Reads every GPU and disk. Never raises for one bad GPU: that GPU's reading says so."""

    def read(self, now: datetime) -> HostSnapshot: ...

    def close(self) -> None: ...


class Marketplace(Protocol):
    """Vast's host API, one method per operation (hostagent.vast.client.VastClient implements it).

    Every method raises only `hostagent.errors.VastError` subclasses.
    """

    def show_machines(self) -> list[MachineState]: ...

    def account_id(self) -> int:
        """The account's user id (GET /users/current): the `host_id` its machines' offers carry."""
        ...

    def show_machine(self, machine_id: int) -> MachineState: ...

    def list_machine(self, machine_id: int, listing: DesiredListing) -> int:
        """Returns Vast's `extended` count (client contracts whose end was extended)."""
        ...

    def unlist_machine(self, machine_id: int) -> None: ...

    def set_min_bid(self, machine_id: int, price_usd_per_gpu_hour: float) -> None: ...

    def schedule_maint(self, machine_id: int, start_epoch_s: float, duration_h: float, category: str) -> None: ...

    def cancel_maint(self, machine_id: int) -> None: ...

    def show_maints(self, machine_ids: Sequence[int]) -> list[VastMaintenance]: ...

    def machine_reports(self, machine_id: int) -> list[MachineReport]:
        """Renter reports against the machine, the 20 most recent (GET /machines/{id}/reports/)."""
        ...

    def set_defjob(
        self,
        machine_id: int,
        *,
        image: str,
        args: Sequence[str] | None,
        price_usd_per_gpu_hour: float,
        upload_usd_per_gb: float,
        download_usd_per_gb: float,
    ) -> None: ...

    def remove_defjob(self, machine_id: int) -> None: ...

    def cleanup_machine(self, machine_id: int) -> int:
        """Returns how many expired contracts were deleted (0 for Vast's 'No expired contracts')."""
        ...

    def show_earnings(self, start: datetime, end: datetime, machine_id: int | None = None) -> EarningsReport: ...

    def search_offers(self, query: Mapping[str, object]) -> list[Offer]:
        """`query` is the bundles query object of Vast's offer search (wire operators, wire value encoding)."""
        ...

    def gpu_metrics_current(
        self, *, verified: str = "all", hosting_type: str = "all", num_gpus: str = "all"
    ) -> GpuMetricsCurrent:
        """Vast's market metrics per GPU model (hosts only); filters as Vast spells them (yes|no|all...)."""
        ...

    def gpu_metrics_history(
        self, gpu_name: str, *, verified: str = "all", hosting_type: str = "all", num_gpus: str = "all",
        start_epoch_s: int | None = None, end_epoch_s: int | None = None, step_s: int | None = None,
    ) -> GpuMetricsHistory: ...


class CallLedger(Protocol):
    """When each endpoint was last called by other processes on the same key (the agent, `plan`, `doctor`).

    Times are wall-clock epoch seconds, the one clock processes share (hostagent.service.ratelimits)."""

    def others(self) -> Mapping[str, float]:
        """Rate key -> when another process last called it."""
        ...

    def record(self, rate_key: str, at_epoch_s: float) -> None:
        """This process called the endpoint now. Never raises."""
        ...

    def waiting(self, endpoint: str, wait_s: float) -> None:
        """About to wait `wait_s` because another process called `endpoint` just before."""
        ...
