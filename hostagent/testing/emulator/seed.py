"""The default account: the demo machine 4242 (what config/demo.toml describes), two other machines with a
month of history, and a market of peer offers for each model. Deterministic for a given seed and start time.
"""

from __future__ import annotations

import math
import random

from hostagent.testing.emulator.market import peer_offer
from hostagent.testing.emulator.state import (
    DEFAULT_JOB,
    ON_DEMAND,
    SECONDS_PER_DAY,
    Account,
    Contract,
    EmulatorState,
    ExpiredContract,
    Machine,
)

DEMO_API_KEY = "hostagent-demo-key"
DEMO_ACCOUNT_ID = 424242
DEMO_MACHINE_ID = 4242

# gpu_name -> (market median $/GPU/h the peers spread around, GPU RAM in MB, GPU counts peers offer)
MODELS: dict[str, tuple[float, int, tuple[int, ...]]] = {
    "H100 SXM": (2.00, 81559, (8, 8, 8, 8, 8, 8, 8, 8, 4, 4, 4, 2, 2, 1, 1)),
    "RTX 4090": (0.40, 24564, (1, 1, 2, 2, 4, 4, 4, 4, 8, 8)),
    "A100 SXM4": (0.95, 81920, (8, 8, 8, 8, 4, 4, 2, 1)),
}


def default_state(now_s: float, seed: int = 0) -> EmulatorState:
    rng = random.Random(seed)
    account = Account(
        id=DEMO_ACCOUNT_ID, username="demo-host", email="demo-host@example.invalid", fullname="Demo Host",
        api_keys={DEMO_API_KEY}, balance_usd=1234.56,
    )
    machines = {m.id: m for m in _machines(now_s)}
    state = EmulatorState(account=account, machines=machines, peer_offers=_market(rng, now_s))
    _history(state, rng, now_s)
    return state


def _machines(now_s: float) -> list[Machine]:
    demo = Machine(
        id=DEMO_MACHINE_ID, hostname="demo-h100-01", gpu_name="H100 SXM", num_gpus=8, gpu_ram_mb=81559,
        total_flops=535.2, cpu_name="AMD EPYC 9654 96-Core Processor", cpu_cores=192, cpu_ram_mb=2_063_000,
        disk_space_gb=7000.0, public_ipaddr="203.0.113.42", reliability2=0.991,
    )
    demo.expired = [
        ExpiredContract(id=90001, machine_id=demo.id, ended_s=now_s - 5 * SECONDS_PER_DAY, storage_gb=120.0),
        ExpiredContract(id=90002, machine_id=demo.id, ended_s=now_s - 2 * SECONDS_PER_DAY, storage_gb=40.0),
    ]
    rtx = Machine(
        id=4243, hostname="demo-4090-01", gpu_name="RTX 4090", num_gpus=4, gpu_ram_mb=24564, total_flops=330.4,
        public_ipaddr="203.0.113.43", listed=True, listed_gpu_cost=0.38, min_bid_price=0.25,
        end_date=now_s + 60 * SECONDS_PER_DAY, reliability2=0.9951,
    )
    a100 = Machine(
        id=4244, hostname="demo-a100-01", gpu_name="A100 SXM4", num_gpus=8, gpu_ram_mb=81920, total_flops=156.0,
        public_ipaddr="203.0.113.44", listed=True, listed_gpu_cost=0.95, min_bid_price=0.60,
        end_date=now_s + 45 * SECONDS_PER_DAY, reliability2=0.987, bid_gpu_cost=0.30,
        bid_image="vastai/test:latest", bid_image_args=["python", "-c", "print(1)"],
    )
    rtx.contracts.append(Contract(
        id=80001, machine_id=rtx.id, kind=ON_DEMAND, gpus=2, start_s=now_s - 6 * 3600.0,
        end_s=now_s + 30 * 3600.0, wanted_end_s=now_s + 30 * 3600.0, price_usd_per_gpu_hour=0.36,
        storage_gb=50.0, storage_usd_per_gb_month=0.10, upload_usd_per_gb=0.005, download_usd_per_gb=0.005,
    ))
    a100.contracts += [
        Contract(
            id=80002, machine_id=a100.id, kind=ON_DEMAND, gpus=4, start_s=now_s - 20 * 3600.0,
            end_s=now_s + 52 * 3600.0, wanted_end_s=now_s + 52 * 3600.0, price_usd_per_gpu_hour=0.92,
            storage_gb=200.0, storage_usd_per_gb_month=0.10, upload_usd_per_gb=0.005, download_usd_per_gb=0.005,
        ),
        Contract(
            id=80003, machine_id=a100.id, kind=DEFAULT_JOB, gpus=4, start_s=now_s - 20 * 3600.0,
            end_s=math.inf, wanted_end_s=math.inf, price_usd_per_gpu_hour=0.30,
        ),
    ]
    return [demo, rtx, a100]


def _market(rng: random.Random, now_s: float) -> list[dict[str, object]]:
    offers: list[dict[str, object]] = []
    for model_index, (gpu_name, (median, gpu_ram_mb, counts)) in enumerate(MODELS.items()):
        peers = rng.randint(15, 25)
        for i in range(peers):
            # log-normal spread around the median; the first two peers are outliers (a dumper, a dreamer)
            factor = 0.35 if i == 0 else 3.0 if i == 1 else math.exp(rng.gauss(0.0, 0.12))
            machine_id = 50_000 + model_index * 1000 + i
            offers.append(peer_offer(
                rng, offer_id=7_770_000 + machine_id, machine_id=machine_id, gpu_name=gpu_name,
                num_gpus=counts[i % len(counts)], gpu_ram_mb=gpu_ram_mb,
                price_usd_per_gpu_hour=round(median * factor, 3), now_s=now_s,
            ))
    return offers


def _history(state: EmulatorState, rng: random.Random, now_s: float) -> None:
    """30 past days of earnings on the machines that have been hosting (not on the new demo machine)."""
    today = int(now_s // SECONDS_PER_DAY)
    for machine in state.machines.values():
        if machine.id == DEMO_MACHINE_ID or machine.listed_gpu_cost is None:
            continue
        for day in range(today - 30, today):
            occupancy = rng.uniform(0.3, 0.9)
            earned = state.day(machine.id, day)
            earned.gpu_usd = round(occupancy * machine.num_gpus * 24 * machine.listed_gpu_cost, 4)
            earned.storage_usd = round(occupancy * 150.0 * machine.listed_storage_cost / 30.0, 4)
            earned.upload_usd = round(occupancy * 40.0 * machine.listed_inet_up_cost, 4)
            earned.download_usd = round(occupancy * 120.0 * machine.listed_inet_down_cost, 4)
