"""Agent benchmark: Vast write calls per simulated day, beside a naive loop, and CPU time per tick.

    .venv/bin/python bench/agent.py [--days 7] [--ticks 300]

1. The real agent and service scheduler live the scripted week of hostagent/testing/week.py (demo.toml's
   rules; telemetry every 300 s, reconcile every 600 s) against the emulator on a FakeClock; every write
   request the emulator received is counted per simulated day.
2. A naive loop, on the same emulator and clock, sends create_asks at every reconcile tick for one
   simulated day (what a cron job re-listing the machine does); its writes per day are the ratio's base.
3. CPU time per tick with 8 fake GPUs: `Agent.telemetry` alone and a full `Agent.tick` (telemetry + plan
   + reconcile with Vast), each the median of `time.thread_time()` around the call (the agent's own thread:
   the in-process emulator's serving thread is not counted), on demo.toml's rules.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hostagent.config.load import load_config
from hostagent.core.model import DesiredListing
from hostagent.runtime.logs import configure_logging
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator
from hostagent.testing.scenario import Simulation, write_kind
from hostagent.testing.week import START, run_week, week_config
from hostagent.vast.client import VastClient

REPO = Path(__file__).resolve().parents[1]


def agent_writes(days: int, workdir: Path) -> tuple[list[int], Counter[str], float]:
    config = week_config(load_config(REPO / "config" / "demo.toml", environ={}))
    with Simulation(config, workdir, start=START) as sim:
        started = time.perf_counter()
        run_week(sim, days=days)
        wall_s = time.perf_counter() - started
        per_day = [0] * days
        kinds: Counter[str] = Counter()
        for at, kind, _ in sim.writes():
            per_day[min((at - START).days, days - 1)] += 1
            kinds[kind] += 1
        return per_day, kinds, wall_s


def naive_writes_per_day(reconcile_s: float) -> int:
    """create_asks at every reconcile tick for one simulated day, counted by the emulator."""
    clock = FakeClock(START)
    with Emulator(clock=clock, rate_limits=False) as emu:
        client = VastClient(emu.url, emu.api_key, clock=clock)
        listing = DesiredListing(listed=True, price_usd_per_gpu_hour=2.0, min_bid_usd_per_gpu_hour=1.0)
        end = clock.now() + timedelta(days=1)
        while clock.now() < end:
            client.list_machine(DEMO_MACHINE_ID, listing)
            clock.advance(reconcile_s)
        client.close()
        return sum(1 for r in emu.requests if write_kind(r) is not None)


def cpu_per_tick(ticks: int, workdir: Path) -> tuple[float, float]:
    config = load_config(REPO / "config" / "demo.toml", environ={})
    with Simulation(config, workdir, start=START) as sim:
        agent = sim.agent
        agent.tick(sim.now)  # the first tick lists the machine and warms caches
        telemetry_s: list[float] = []
        full_s: list[float] = []
        for _ in range(ticks):
            sim.clock.advance(config.agent.tick_s)
            started = time.thread_time()
            agent.telemetry(sim.now)
            telemetry_s.append(time.thread_time() - started)
            sim.clock.advance(config.agent.tick_s)
            started = time.thread_time()
            agent.tick(sim.now)
            full_s.append(time.thread_time() - started)
        return statistics.median(telemetry_s), statistics.median(full_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--ticks", type=int, default=300)
    args = parser.parse_args(argv)
    configure_logging(level="error")
    with tempfile.TemporaryDirectory() as tmp:
        per_day, kinds, wall_s = agent_writes(args.days, Path(tmp) / "week")
        reconcile_s = week_config(load_config(REPO / "config" / "demo.toml", environ={})).agent.reconcile_s
        naive = naive_writes_per_day(reconcile_s)
        telemetry_s, full_s = cpu_per_tick(args.ticks, Path(tmp) / "cpu")
    mean = sum(per_day) / len(per_day)
    print(f"agent, {args.days} simulated days in {wall_s:.1f} s wall: writes per day {per_day} "
          f"(mean {mean:.1f}); by kind {dict(sorted(kinds.items()))}")
    print(f"naive loop (create_asks every {reconcile_s:g} s): {naive} writes per day; "
          f"ratio naive/agent {naive / mean:.0f}x")
    print(f"CPU per tick, 8 fake GPUs, median of {args.ticks}: telemetry {telemetry_s * 1000:.2f} ms, "
          f"full tick (telemetry + plan + reconcile) {full_s * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
