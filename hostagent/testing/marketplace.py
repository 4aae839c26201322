"""FakeMarketplace: an in-memory Vast for unit tests of the service layer (implements hostagent.ports.Marketplace).

It holds machines and maintenance windows, and each write changes them the way Vast does, so the
reconciler's effect checks and read-backs see real consequences without a server. Two knobs stage the
failures the reconciler exists for: `fail_next_write(error, applied=...)` (a lost reply: the write may or
may not have landed), and `ignore_writes` (Vast answers success but its state does not change: a read-back
mismatch). For HTTP-level behaviour use the emulator (hostagent.testing.emulator) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from hostagent.core.model import (
    DesiredListing,
    EarningsReport,
    GpuMetricsCurrent,
    GpuMetricsHistory,
    MachineReport,
    MachineState,
    Offer,
    VastMaintenance,
)
from hostagent.errors import VastError, VastNotFound

N = TypeVar("N", int, float)


class FakeMarketplace:
    def __init__(self, *machines: MachineState, maints: Sequence[VastMaintenance] = ()) -> None:
        self.machines: dict[int, MachineState] = {m.id: m for m in machines}
        self.maints: list[VastMaintenance] = list(maints)
        self.reports: dict[int, list[MachineReport]] = {}  # machine id -> renter reports, oldest first
        self.writes: list[tuple[str, int]] = []  # (operation, machine id), in the order they were sent
        self.reads: list[str] = []
        self.ignore_writes = False  # writes succeed and change nothing
        self.now_s = 0.0  # epoch s a listing's rolling duration counts from (Vast: end_date = now + duration)
        self._failure: tuple[VastError, bool] | None = None
        self.owner_id = 424242  # the account's user id: `host_id` on its offers

    def fail_next_write(self, error: VastError, *, applied: bool) -> None:
        """The next write raises `error`, after its effect landed (`applied`) or before it did."""
        self._failure = (error, applied)

    # ---- reads ------------------------------------------------------------------------------

    def account_id(self) -> int:
        self.reads.append("show_user")
        return self.owner_id

    def show_machines(self) -> list[MachineState]:
        self.reads.append("show_machines")
        return list(self.machines.values())

    def show_machine(self, machine_id: int) -> MachineState:
        self.reads.append("show_machine")
        return self._machine(machine_id)

    def show_maints(self, machine_ids: Sequence[int]) -> list[VastMaintenance]:
        self.reads.append("show_maints")
        return [m for m in self.maints if m.machine_id in machine_ids]

    def machine_reports(self, machine_id: int) -> list[MachineReport]:
        self.reads.append("machine_reports")
        self._machine(machine_id)
        return list(self.reports.get(machine_id, ()))[-20:]

    def show_earnings(self, start: datetime, end: datetime, machine_id: int | None = None) -> EarningsReport:
        self.reads.append("show_earnings")
        return EarningsReport(sday=0, eday=0, per_day=(), per_machine=())

    def search_offers(self, query: Mapping[str, object]) -> list[Offer]:
        self.reads.append("search_offers")
        return []

    def gpu_metrics_current(
        self, *, verified: str = "all", hosting_type: str = "all", num_gpus: str = "all"
    ) -> GpuMetricsCurrent:
        self.reads.append("gpu_metrics_current")
        return GpuMetricsCurrent(rows=())

    def gpu_metrics_history(
        self, gpu_name: str, *, verified: str = "all", hosting_type: str = "all", num_gpus: str = "all",
        start_epoch_s: int | None = None, end_epoch_s: int | None = None, step_s: int | None = None,
    ) -> GpuMetricsHistory:
        self.reads.append("gpu_metrics_history")
        return GpuMetricsHistory(series=())

    # ---- writes -----------------------------------------------------------------------------

    def list_machine(self, machine_id: int, listing: DesiredListing) -> int:
        days = listing.duration_days

        def change(m: MachineState) -> MachineState:
            end_date = self.now_s + days * 86400.0 if days is not None else _or(listing.end_date, m.end_date)
            return replace(
                m, listed=True,
                listed_gpu_cost=_or(listing.price_usd_per_gpu_hour, m.listed_gpu_cost),
                listed_storage_cost=_or(listing.storage_usd_per_gb_month, m.listed_storage_cost),
                listed_inet_up_cost=_or(listing.upload_usd_per_gb, m.listed_inet_up_cost),
                listed_inet_down_cost=_or(listing.download_usd_per_gb, m.listed_inet_down_cost),
                min_bid_price=_or(listing.min_bid_usd_per_gpu_hour, m.min_bid_price),
                listed_min_gpu_count=_or(listing.min_chunk, m.listed_min_gpu_count),
                end_date=end_date,
                credit_discount_max=_or(listing.credit_discount_max, m.credit_discount_max),
                # null is Vast's "half of the free disk", which this fake does not know: it keeps the size instead
                volume_size_gb=_or(listing.volume_size_gb, m.volume_size_gb),
                listed_volume_cost=_or(listing.volume_usd_per_gb_month, m.listed_storage_cost),
            )

        self._write("list_machine", machine_id, change)
        return 0

    def unlist_machine(self, machine_id: int) -> None:
        self._write("unlist_machine", machine_id, lambda m: replace(m, listed=False))

    def set_min_bid(self, machine_id: int, price_usd_per_gpu_hour: float) -> None:
        self._write("set_min_bid", machine_id, lambda m: replace(m, min_bid_price=price_usd_per_gpu_hour))

    def schedule_maint(self, machine_id: int, start_epoch_s: float, duration_h: float, category: str) -> None:
        def change(m: MachineState) -> MachineState:
            ident = max((w.id for w in self.maints), default=0) + 1
            self.maints.append(VastMaintenance(ident, m.id, float(int(start_epoch_s)), duration_h, category))
            return m

        self._write("schedule_maint", machine_id, change)

    def cancel_maint(self, machine_id: int) -> None:
        def change(m: MachineState) -> MachineState:
            self.maints = [w for w in self.maints if w.machine_id != m.id]  # Vast removes every window
            return m

        self._write("cancel_maint", machine_id, change)

    def set_defjob(
        self,
        machine_id: int,
        *,
        image: str,
        args: Sequence[str] | None,
        price_usd_per_gpu_hour: float,
        upload_usd_per_gb: float,
        download_usd_per_gb: float,
    ) -> None:
        self._write("set_defjob", machine_id, lambda m: replace(
            m, bid_image=image, bid_image_args=tuple(args or ()), bid_gpu_cost=price_usd_per_gpu_hour,
        ))

    def remove_defjob(self, machine_id: int) -> None:
        self._write("remove_defjob", machine_id, lambda m: replace(
            m, bid_image=None, bid_image_args=None, bid_gpu_cost=None,
        ))

    def cleanup_machine(self, machine_id: int) -> int:
        self._write("cleanup_machine", machine_id, lambda m: m)
        return 0

    # ---- helpers ----------------------------------------------------------------------------

    def _machine(self, machine_id: int) -> MachineState:
        try:
            return self.machines[machine_id]
        except KeyError:
            raise VastNotFound(f"machine {machine_id} not found", endpoint="show_machine", status=404) from None

    def _write(self, operation: str, machine_id: int, change: Callable[[MachineState], MachineState]) -> None:
        machine = self._machine(machine_id)
        self.writes.append((operation, machine_id))
        failure, self._failure = self._failure, None
        if not self.ignore_writes and (failure is None or failure[1]):
            self.machines[machine_id] = change(machine)
        if failure is not None:
            raise failure[0]


def _or(value: N | None, current: N | None) -> N | None:
    """A listing field left None keeps Vast's value, as Vast does."""
    return current if value is None else value
