"""Who uses the GPUs: renters (on-demand, bids) or the host's own default job, from Vast's codes and counts."""

from __future__ import annotations

from core_values import machine

from hostagent.core.occupancy import GpuUse, gpu_use

JOB = "vastai/kvm:ubuntu_cli_22.04"


def test_the_default_job_alone_is_no_renter() -> None:
    """All 8 GPUs show I, the default job is set and no contract runs: 0 rented, 8 default job."""
    idle = machine(gpu_occupancy="I I I I I I I I", bid_image=JOB, current_rentals_running=0)
    assert gpu_use(idle) == GpuUse(renters=0, default_job=8)


def test_on_demand_renters_and_the_default_job_are_told_apart() -> None:
    half = machine(gpu_occupancy="D D D D I I I I", bid_image=JOB, current_rentals_running=1,
                   current_rentals_on_demand=1)
    assert gpu_use(half) == GpuUse(renters=4, default_job=4)


def test_an_interruptible_renter_beside_the_default_job_counts_one_gpu_per_bid() -> None:
    """Both show I: Vast gives no GPU count per bid, so each counts as one GPU (never more renters than there are)."""
    mixed = machine(gpu_occupancy="D D I I I I I I", bid_image=JOB, current_rentals_running=3,
                    current_rentals_on_demand=1)
    assert gpu_use(mixed) == GpuUse(renters=4, default_job=4)


def test_without_a_default_job_every_busy_gpu_is_a_renter() -> None:
    bids = machine(gpu_occupancy="D I I x x x x x", bid_image=None, current_rentals_running=2)
    assert gpu_use(bids) == GpuUse(renters=3, default_job=0)


def test_without_per_gpu_codes_a_running_rental_counts_the_whole_machine() -> None:
    assert gpu_use(machine(gpu_occupancy=None, current_rentals_running=1)) == GpuUse(renters=8, default_job=0)
    assert gpu_use(machine(gpu_occupancy=None, current_rentals_running=0)) == GpuUse(renters=0, default_job=0)
