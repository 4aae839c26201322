"""A simulated renter population, so that listing, unlisting and price changes have consequences.

Time moves in steps that never cross a whole hour. Between hour marks, running contracts earn (GPU hours x
their frozen price, storage, some bandwidth) into per-day, per-machine earnings. At each hour mark:

1. contracts whose end has come end; a client contract leaves an expired storage record for `cleanup`;
2. a `duration` listing re-sets its end_date to now + duration at each UTC midnight, as Vast does daily;
3. each listed machine with free GPUs (at least its min chunk, its offer not past end_date, no maintenance
   window in progress) is rented on demand with probability

       p_on_demand = 0.25 * min(2, exp(-4 * (price / median - 1)))      per hour

   where `median` is the median $/GPU/h of verified peer offers of the same gpu_name: 0.25/h at the median,
   0.50/h (the cap) at 17 % or more below it, 0.09/h at 25 % above, 0.03/h at 50 % above, 0.005/h at double.
   Failing that, an interruptible renter bids the machine's min bid with probability
   `0.10 * min(2, exp(-4 * (min_bid / (0.6 * median) - 1)))`;
4. the default job, if one is set, takes whatever GPUs no client rents (renters pre-empt it).

A new contract takes a random chunk (1, 2, 4, 8 or all GPUs, at least the min chunk, at most what is free),
lasts 1 + Exp(mean 24) hours (at most 14 days) and never runs beyond the offer's end_date. Its terms are
frozen at rent time: later price changes affect only new contracts. Unlisting ends nothing.
"""

from __future__ import annotations

import math
import random

from hostagent.testing.emulator.market import median_price, own_offer
from hostagent.testing.emulator.state import (
    CLIENT_KINDS,
    DEFAULT_JOB,
    INTERRUPTIBLE,
    ON_DEMAND,
    SECONDS_PER_DAY,
    SECONDS_PER_MONTH,
    Contract,
    EmulatorState,
    ExpiredContract,
    Machine,
)

HOUR_S = 3600.0
BASE_RENT_PER_HOUR = 0.25
BASE_BID_PER_HOUR = 0.10
PRICE_SENSITIVITY = 4.0
MAX_CONTRACT_H = 14 * 24
UPLOAD_GB_PER_GPU_HOUR = 0.5  # what a renter moves, for bandwidth earnings
DOWNLOAD_GB_PER_GPU_HOUR = 2.0


def rent_probability(price: float, median: float, base: float = BASE_RENT_PER_HOUR) -> float:
    """Chance per hour that a renter takes a machine offered at `price` when peers sit at `median`."""
    if median <= 0:
        return 0.0
    return base * min(2.0, math.exp(-PRICE_SENSITIVITY * (price / median - 1.0)))


class RenterSimulation:
    """Steps `state` forward in time. Deterministic for a given seed and sequence of calls."""

    def __init__(self, state: EmulatorState, *, seed: int, start_s: float) -> None:
        self._state = state
        self._rng = random.Random(seed * 7919 + 1)
        self.cursor_s = start_s
        # Scales every rent probability: 0 = no renter comes (a quiet spell), 1 = the model above.
        self.demand = 1.0

    def run_until(self, now_s: float) -> None:
        """Simulate from the last point reached up to `now_s` (a wall clock set backwards changes nothing)."""
        while self.cursor_s < now_s:
            next_hour = (math.floor(self.cursor_s / HOUR_S) + 1) * HOUR_S
            step_end = min(now_s, next_hour)
            self._accrue(self.cursor_s, step_end)
            self.cursor_s = step_end
            if step_end == next_hour:
                self._hour_mark(step_end)

    def _accrue(self, start_s: float, end_s: float) -> None:
        day = int(start_s // SECONDS_PER_DAY)
        for machine in self._state.machines.values():
            for contract in machine.contracts:
                overlap_s = min(end_s, contract.end_s) - max(start_s, contract.start_s)
                if overlap_s <= 0 or contract.gpus <= 0:
                    continue
                gpu_hours = contract.gpus * overlap_s / HOUR_S
                earned = self._state.day(machine.id, day)
                gpu_usd = gpu_hours * contract.price_usd_per_gpu_hour
                earned.gpu_usd += gpu_usd
                total = gpu_usd
                if contract.kind in CLIENT_KINDS:
                    storage = contract.storage_gb * contract.storage_usd_per_gb_month * overlap_s / SECONDS_PER_MONTH
                    upload = gpu_hours * UPLOAD_GB_PER_GPU_HOUR * contract.upload_usd_per_gb
                    download = gpu_hours * DOWNLOAD_GB_PER_GPU_HOUR * contract.download_usd_per_gb
                    earned.storage_usd += storage
                    earned.upload_usd += upload
                    earned.download_usd += download
                    total += storage + upload + download
                self._state.account.balance_usd += total

    def _hour_mark(self, now_s: float) -> None:
        for machine_id in sorted(self._state.machines):
            machine = self._state.machines[machine_id]
            self._end_contracts(machine, now_s)
            if machine.listing_duration_s is not None and now_s % SECONDS_PER_DAY == 0:
                machine.end_date = now_s + machine.listing_duration_s
            self._rent(machine, now_s)
            fit_default_job(self._state, machine, now_s)

    def _end_contracts(self, machine: Machine, now_s: float) -> None:
        keep: list[Contract] = []
        for contract in machine.contracts:
            if contract.end_s > now_s:
                keep.append(contract)
            elif contract.kind in CLIENT_KINDS and contract.storage_gb > 0:
                machine.expired.append(ExpiredContract(contract.id, machine.id, contract.end_s, contract.storage_gb))
        machine.contracts = keep

    def _rent(self, machine: Machine, now_s: float) -> None:
        if own_offer(machine, self._state.account.id, now_s) is None or machine.listed_gpu_cost is None:
            return
        if any(m.active(now_s) and m.start_time <= now_s for m in machine.maintenances):
            return
        median = median_price(self._state, machine.gpu_name)
        free = machine.num_gpus - machine.client_gpus(now_s)
        if median is None or free < machine.listed_min_gpu_count or self.demand <= 0:
            return
        if self._rng.random() < self.demand * rent_probability(machine.listed_gpu_cost, median):
            self._start(machine, ON_DEMAND, machine.listed_gpu_cost, free, now_s)
        elif machine.min_bid_price is not None and self._rng.random() < self.demand * rent_probability(
            machine.min_bid_price, 0.6 * median, BASE_BID_PER_HOUR
        ):
            self._start(machine, INTERRUPTIBLE, machine.min_bid_price, free, now_s)

    def _start(self, machine: Machine, kind: str, price: float, free: int, now_s: float) -> None:
        chunks = sorted({c for c in (1, 2, 4, 8, machine.num_gpus) if machine.listed_min_gpu_count <= c <= free})
        if not chunks:
            return
        hours = min(MAX_CONTRACT_H, 1 + round(self._rng.expovariate(1 / 24)))
        wanted_end_s = now_s + hours * HOUR_S
        end_s = min(wanted_end_s, machine.end_date) if machine.end_date is not None else wanted_end_s
        if end_s - now_s < HOUR_S:
            return  # nobody rents for less than an hour before the offer ends
        machine.contracts.append(Contract(
            id=self._state.new_id(), machine_id=machine.id, kind=kind, gpus=self._rng.choice(chunks),
            start_s=now_s, end_s=end_s, wanted_end_s=wanted_end_s, price_usd_per_gpu_hour=price,
            storage_gb=float(self._rng.choice((20, 50, 100, 200))),
            storage_usd_per_gb_month=machine.listed_storage_cost, upload_usd_per_gb=machine.listed_inet_up_cost,
            download_usd_per_gb=machine.listed_inet_down_cost,
        ))


def fit_default_job(state: EmulatorState, machine: Machine, now_s: float) -> None:
    """Make the default job (if set) occupy exactly the GPUs no client rents; end it when it is removed."""
    jobs = [c for c in machine.contracts if c.kind == DEFAULT_JOB and c.end_s > now_s]
    if machine.bid_gpu_cost is None:
        for job in jobs:
            job.end_s = now_s
        return
    idle = machine.num_gpus - machine.client_gpus(now_s)
    if jobs and jobs[0].price_usd_per_gpu_hour == machine.bid_gpu_cost:
        jobs[0].gpus = idle
        return
    for job in jobs:  # the price changed: the old job ends, a new one starts on the new terms
        job.end_s = now_s
    machine.contracts.append(Contract(
        id=state.new_id(), machine_id=machine.id, kind=DEFAULT_JOB, gpus=idle, start_s=now_s,
        end_s=math.inf, wanted_end_s=math.inf, price_usd_per_gpu_hour=machine.bid_gpu_cost,
    ))
