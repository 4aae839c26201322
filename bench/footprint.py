"""The daemon's resident memory and CPU: `hostagent run` with 8 fake GPUs, tick_s = 1, against the emulator.

    .venv/bin/python bench/footprint.py [--seconds 60] [--warmup 5]

The emulator runs in this process; the agent is a child process (`python -m hostagent run`) with the
demo config (market pricing, idle decay, power min bid, maintenance, cleanup, earnings) at tick_s = 1,
reconcile_s = 30 and the metrics endpoint on. After `--warmup` seconds (imports, first reconcile), RSS
is sampled every 0.5 s with psutil and CPU is the child's user+system time over the measured wall time.
Targets: under 60 MiB and under 1 % of one core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from hostagent.testing.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(root: Path, url: str) -> Path:
    shutil.copy(REPO / "config" / "fake-gpus.toml", root / "fake-gpus.toml")
    text = (REPO / "config" / "demo.toml").read_text()
    replacements = {
        'api_url = "http://127.0.0.1:8765"': f'api_url = "{url}"',
        'state_dir = "/tmp/hostagent-demo"': f'state_dir = "{root / "state"}"',
        "tick_s = 30.0": "tick_s = 1.0",
        "reconcile_s = 300.0": "reconcile_s = 30.0",
        "enabled = false\naddress": "enabled = true\naddress",
        'address = "127.0.0.1:9473"': f'address = "127.0.0.1:{_free_port()}"',
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"config/demo.toml changed: cannot find {old!r}")
        text = text.replace(old, new)
    path = root / "config.toml"
    path.write_text(text)
    return path


def measure(config: Path, env: dict[str, str], seconds: float, warmup: float) -> tuple[list[float], float]:
    cmd = [sys.executable, "-m", "hostagent", "--config", str(config), "run", "--log-level", "warning"]
    log_path = config.parent / "agent.log"  # a file, not a pipe: a full pipe would stall the agent
    with log_path.open("wb") as log:
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    proc = psutil.Process(child.pid)
    try:
        time.sleep(warmup)
        if child.poll() is not None:
            raise SystemExit(f"the agent exited with {child.returncode}: {log_path.read_text()[-2000:]}")
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        rss: list[float] = []
        while time.monotonic() - t0 < seconds:
            rss.append(proc.memory_info().rss / MIB)
            time.sleep(0.5)
        cpu1, t1 = proc.cpu_times(), time.monotonic()
    finally:
        child.terminate()
        child.wait(timeout=30)
    used_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return rss, 100.0 * used_s / (t1 - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    try:
        with Emulator(rate_limits=False) as emu:
            config = _config(root, emu.url)
            env = {**os.environ, "VAST_API_KEY": emu.api_key}
            rss, cpu_pct = measure(config, env, args.seconds, args.warmup)
            ticks = sum(1 for r in emu.requests if "/machines" in r.path)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"hostagent run, 8 fake GPUs, tick_s = 1, reconcile_s = 30, {args.seconds:g} s measured "
          f"after {args.warmup:g} s warm-up ({ticks} machine reads seen by the emulator)")
    print(f"RSS  peak {max(rss):.1f} MiB, median {statistics.median(rss):.1f} MiB  (target < 60 MiB)")
    print(f"CPU  {cpu_pct:.2f} % of one core  (target < 1 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
