"""Who uses the machine's GPUs now: renters (on-demand and interruptible bids) or the host's own default job.

The default job is no renter: occupancy and realised $/GPU-hour count renters only. Vast's per-GPU codes
(`gpu_occupancy`: D on-demand, I interruptible, x free) show the default job as I too, like an interruptible
renter, so where both are I the split comes from what else Vast says: with no default job set (`bid_image`
empty) every I is a renter; with one set, it fills every GPU no renter uses, and the interruptible renters are
`current_rentals_running - current_rentals_on_demand` contracts (the default job is not one of them). Vast
does not say how many GPUs each of those holds, so each counts as one GPU: the lower bound, never more
renters than there are. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostagent.core.model import MachineState


@dataclass(frozen=True, slots=True)
class GpuUse:
    renters: int  # GPUs rented by others, on demand or by interruptible bids
    default_job: int  # GPUs the host's own default job runs on


def gpu_use(machine: MachineState) -> GpuUse:
    if not machine.gpu_occupancy:  # no per-GPU codes: only the contract count says anything
        return GpuUse(machine.num_gpus if machine.current_rentals_running > 0 else 0, 0)
    codes = [code.upper() for code in machine.gpu_occupancy.split()]
    interruptible = codes.count("I")
    busy_not_i = sum(1 for code in codes if code not in ("I", "X"))  # D, and any code Vast adds: in use by renters
    if not machine.bid_image:
        return GpuUse(busy_not_i + interruptible, 0)
    bid_rentals = max(0, machine.current_rentals_running - machine.current_rentals_on_demand)
    renters_i = min(interruptible, bid_rentals)
    return GpuUse(busy_not_i + renters_i, interruptible - renters_i)
