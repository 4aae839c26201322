"""`hostagent emulator`: serve the Vast host API emulator on loopback until SIGINT or SIGTERM.

Try hostagent (or the official `vastai` CLI) without a Vast account: the default account holds machine 4242
"demo-h100-01" (8 x H100 SXM, unlisted), two other machines and a market of peer offers.
"""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import datetime, timedelta
from types import FrameType

from hostagent.clock import SystemClock
from hostagent.commands import EXIT_FAILURE, EXIT_OK

DEFAULT_PORT = 8765


class SpeedClock:
    """Wall time that runs `speed` times faster than the real clock from the moment it is made.

    Monotonic time stays real, so Vast's rate limits are still measured in real seconds.
    """

    def __init__(self, speed: float) -> None:
        self._real = SystemClock()
        self._speed = speed
        self._start = self._real.now()
        self._start_mono = self._real.monotonic()

    def now(self) -> datetime:
        elapsed_s = self._real.monotonic() - self._start_mono
        return self._start + timedelta(seconds=elapsed_s * self._speed)

    def monotonic(self) -> float:
        return self._real.monotonic()

    def sleep(self, seconds: float) -> None:
        self._real.sleep(seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the market and the renters (default 0)")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not answer 429 to calls that come too fast")
    parser.add_argument(
        "--speed", type=float, default=1.0,
        help="simulated seconds per real second (default 1: renters act on real elapsed time)",
    )


def run(args: argparse.Namespace) -> int:
    from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator  # noqa: PLC0415 - loaded only when chosen

    if args.speed <= 0:
        print("hostagent emulator: --speed must be > 0")
        return EXIT_FAILURE
    clock = SystemClock() if args.speed == 1.0 else SpeedClock(args.speed)
    emu = Emulator(clock=clock, seed=args.seed, port=args.port, rate_limits=not args.no_rate_limits)
    try:
        url = emu.start()
    except OSError as err:
        print(f"hostagent emulator: cannot listen on 127.0.0.1:{args.port}: {err.strerror} (try --port 0)")
        return EXIT_FAILURE
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"Vast emulator listening on {url}", flush=True)
    print(f"API key: {emu.api_key}")
    print(f"Demo machine: {DEMO_MACHINE_ID} (demo-h100-01, 8 x H100 SXM, unlisted)")
    print(f"Try: VAST_URL={url} VAST_API_KEY={emu.api_key} vastai show machines")
    print(f"Rate limits: {'off' if args.no_rate_limits else 'on'}; speed: {args.speed:g}x; seed: {args.seed}")
    print("Stop with Ctrl-C.", flush=True)
    while not stop.wait(1.0):
        emu.state  # noqa: B018 - keeps the renter simulation in step with the clock while nobody calls
    emu.stop()
    print("emulator stopped", flush=True)
    return EXIT_OK
