"""`hostagent status` wall time beside the official `vastai show machines`, against the same emulator.

    .venv/bin/python bench/cli.py [--runs 15]

Starts the Vast emulator in this process, writes one agent cycle's state (`hostagent run --once`, fake
GPUs), then times N runs of each command as a fresh process (what an operator types), after one
warm-up run each (the CLI's first run caches its role and GPU-name list). Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostagent.testing.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _config(root: Path, url: str) -> Path:
    shutil.copy(REPO / "config" / "fake-gpus.toml", root / "fake-gpus.toml")
    text = (REPO / "config" / "demo.toml").read_text()
    text = text.replace('api_url = "http://127.0.0.1:8765"', f'api_url = "{url}"')
    text = text.replace('state_dir = "/tmp/hostagent-demo"', f'state_dir = "{root / "state"}"')
    path = root / "config.toml"
    path.write_text(text)
    return path


def _time(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        with Emulator(rate_limits=False) as emu:
            config = _config(root, emu.url)
            env = {**os.environ, "VAST_API_KEY": emu.api_key, "XDG_CONFIG_HOME": str(root / "xdg-config"),
                   "XDG_CACHE_HOME": str(root / "xdg-cache"), "VAST_URL": emu.url, "CI": "1",
                   "VASTAI_NO_UPDATE_CHECK": "1"}
            hostagent = [sys.executable, "-m", "hostagent", "--config", str(config)]
            subprocess.run([*hostagent, "run", "--once", "--log-level", "error"], env=env, check=True, timeout=120)
            status = _time([*hostagent, "status"], env, args.runs)
            vastai = _time([str(BIN / "vastai"), "--url", emu.url, "show", "machines", "--raw"], env, args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours, theirs = statistics.median(status), statistics.median(vastai)
    print(f"runs each: {args.runs} (after one warm-up run each)")
    print(f"hostagent status          median {ours * 1000:6.0f} ms  (min {min(status) * 1000:.0f}, "
          f"max {max(status) * 1000:.0f})")
    print(f"vastai show machines --raw median {theirs * 1000:6.0f} ms  (min {min(vastai) * 1000:.0f}, "
          f"max {max(vastai) * 1000:.0f})")
    print(f"ratio: hostagent status is {theirs / ours:.1f}x faster (target 3x or better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
