"""What one tick of GPU readings costs, per GPU.

    .venv/bin/python bench/telemetry.py [--ticks 2000] [--smi-runs 20] [--json]

Measures, each as the median of many ticks:
1. the fake backend (config/fake-gpus.toml, 8 GPUs): one `read()` including the file parse;
2. the NVML backend against hostagent.testing.fake_pynvml (8 GPUs): hostagent's own Python cost
   per GPU per tick (the worker-thread hand-off, the NotSupported memory, building readings) plus
   the fake module's cost. It is NOT a GPU figure: no driver is called;
3. when NVML initialises here: the NVML backend on the real GPUs, the same per-tick calls made
   plainly with pynvml (the floor), and `nvidia-smi --query-gpu=...` in a subprocess, with ratios.
Disks are left out of every figure (psutil.disk_usage is ~40 µs per path, once per tick).
A tick here is the per-tick fields: the medium-cadence ones (PCIe link gen/width, the compute-process
count, every `medium_counters_s` = 30 s) are read in the warm-up only; on a GPU their plain cost is
printed apart. The slow counters are off (`slow_counters_s` = 0, the default).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostagent.clock import SystemClock
from hostagent.config.model import HardwareConfig
from hostagent.hardware import nvml_fields
from hostagent.hardware.deadline import DeadlineRunner
from hostagent.hardware.disk import DiskReader
from hostagent.hardware.fake import FakeHardware
from hostagent.hardware.nvml import NvmlHardware
from hostagent.testing.fake_pynvml import FakePynvml

REPO = Path(__file__).resolve().parents[1]
SMI_QUERY = (
    "temperature.gpu,utilization.gpu,memory.used,power.draw,power.limit,clocks.sm,"
    "ecc.errors.uncorrected.volatile.total,clocks_event_reasons.active,pstate"
)


def median_us(fn: Callable[[], object], runs: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000.0


def bench_fake_file(ticks: int) -> dict[str, float]:
    clock = SystemClock()
    backend = FakeHardware(REPO / "config" / "fake-gpus.toml", Path("/nonexistent"), disks=DiskReader([]))
    gpus = len(backend.read(clock.now()).gpus)
    tick_us = median_us(lambda: backend.read(clock.now()), ticks)
    return {"gpus": gpus, "tick_us": tick_us, "per_gpu_us": tick_us / gpus}


class _FreeCalls(FakePynvml):
    """fake_pynvml without its call counting and fault checks: each call costs almost nothing."""

    def _enter(self, function: str, gpu: object = None) -> None:
        return None


def _backend_tick_us(module: FakePynvml, ticks: int) -> float:
    clock = SystemClock()
    backend = NvmlHardware(HardwareConfig(nvml_deadline_s=5.0), clock, nvml=module, disks=DiskReader([]))
    try:
        return median_us(lambda: backend.read(clock.now()), ticks)
    finally:
        backend.close()


def bench_nvml_on_fake_module(ticks: int) -> dict[str, float]:
    fake = FakePynvml(8)
    tick_us = _backend_tick_us(fake, ticks)
    free = _FreeCalls(8)
    free.initialized = True
    free_tick_us = _backend_tick_us(free, ticks)
    runner = DeadlineRunner("bench")
    handoff_us = median_us(lambda: runner.run(lambda: None, 5.0), ticks)
    runner.close()
    raw_fake_us = median_us(lambda: _plain_tick(fake, fake.gpus), ticks) / 8
    return {
        "gpus": 8,
        "tick_us": tick_us,
        "per_gpu_us": tick_us / 8,
        "thread_handoff_us": handoff_us,
        "free_calls_tick_us": free_tick_us,
        "free_calls_per_gpu_us": free_tick_us / 8,
        "fake_module_calls_per_gpu_us": raw_fake_us,
    }


def _plain_tick(n: Any, handles: list[Any], fields: Any = nvml_fields.TICK_FIELDS) -> None:
    """The backend's per-tick calls (or `fields`), made plainly: no NotSupported memory, no readings built."""
    for handle in handles:
        for _, getter in fields:
            try:  # noqa: SIM105  (contextlib.suppress would add a context manager per call to the floor)
                getter(n, handle)
            except n.NVMLError:
                pass


def bench_real_nvml(ticks: int, smi_runs: int) -> dict[str, Any] | None:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001  (any failure means: no NVML here)
        return {"available": False, "why": f"{type(exc).__name__}: {exc}"}
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        name = pynvml.nvmlDeviceGetName(handles[0])
        clock = SystemClock()
        backend = NvmlHardware(HardwareConfig(), clock, nvml=pynvml, disks=DiskReader([]))
        try:
            tick_us = median_us(lambda: backend.read(clock.now()), ticks)
            unsupported = backend.read(clock.now()).gpus[0].unsupported
        finally:
            backend.close()
        plain_us = median_us(lambda: _plain_tick(pynvml, handles), ticks)
        medium_us = median_us(lambda: _plain_tick(pynvml, handles, nvml_fields.MEDIUM_FIELDS), ticks)
    finally:
        pynvml.nvmlShutdown()
    result: dict[str, Any] = {
        "available": True,
        "gpus": count,
        "name": name if isinstance(name, str) else name.decode(),
        "tick_us": tick_us,
        "per_gpu_us": tick_us / count,
        "plain_calls_per_gpu_us": plain_us / count,
        "plain_medium_calls_per_gpu_us": medium_us / count,
        "unsupported_on_gpu0": list(unsupported),
    }
    smi = shutil.which("nvidia-smi")
    if smi:
        argv = [smi, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"]
        smi_us = median_us(lambda: subprocess.run(argv, capture_output=True, check=False), smi_runs, warmup=2)
        result.update(nvidia_smi_us=smi_us, smi_over_backend=smi_us / tick_us)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--smi-runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "fake_file_backend": bench_fake_file(args.ticks),
        "nvml_backend_on_fake_pynvml": bench_nvml_on_fake_module(args.ticks),
        "nvml_real": bench_real_nvml(args.ticks, args.smi_runs),
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0


def report(r: dict[str, Any]) -> None:
    fake, onfake, real = r["fake_file_backend"], r["nvml_backend_on_fake_pynvml"], r["nvml_real"]
    print(f"Python {r['python']} on {r['machine']}; medians; disks excluded")
    print(f"fake file backend ({fake['gpus']} GPUs, file parsed each tick): "
          f"{fake['tick_us']:.0f} µs per tick = {fake['per_gpu_us']:.1f} µs per GPU")
    print(f"NVML backend on fake_pynvml ({onfake['gpus']} GPUs; Python overhead, NOT a GPU figure): "
          f"{onfake['tick_us']:.0f} µs per tick = {onfake['per_gpu_us']:.1f} µs per GPU "
          f"(the same calls made plainly on fake_pynvml: {onfake['fake_module_calls_per_gpu_us']:.1f} µs per GPU; "
          f"worker-thread hand-off alone: {onfake['thread_handoff_us']:.0f} µs per tick)")
    print(f"NVML backend on a no-cost stub module (hostagent's own overhead only): {onfake['free_calls_tick_us']:.0f} "
          f"µs per tick = {onfake['free_calls_per_gpu_us']:.1f} µs per GPU")
    if not real["available"]:
        print(f"NVML not available here ({real['why']}): no real-GPU or nvidia-smi figures")
        return
    print(f"NVML backend on {real['gpus']} x {real['name']}: {real['tick_us']:.0f} µs per tick = "
          f"{real['per_gpu_us']:.1f} µs per GPU (plain pynvml, same calls: {real['plain_calls_per_gpu_us']:.1f} µs "
          f"per GPU); NotSupported on GPU 0: {real['unsupported_on_gpu0']}")
    print(f"medium-cadence calls (PCIe link gen/width, processes), plain pynvml: "
          f"{real['plain_medium_calls_per_gpu_us']:.1f} µs per GPU, once per medium_counters_s")
    if "nvidia_smi_us" in real:
        print(f"nvidia-smi --query-gpu (9 fields, all GPUs): {real['nvidia_smi_us'] / 1000:.1f} ms per call; "
              f"{real['smi_over_backend']:.0f}x the backend's tick")
    else:
        print("nvidia-smi not found: no comparison")


if __name__ == "__main__":
    sys.exit(main())
