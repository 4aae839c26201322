"""A state directory written by the real agent for the operator-command tests.

The agent runs two simulated days against the Vast emulator and fake GPUs on a FakeClock that ends a
minute before the real now, so `status` (which reads the real clock) sees a fresh tick and today's
earnings. The emulator keeps serving for `maint` and `doctor`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hostagent.bootstrap import build
from hostagent.config.load import load_config
from hostagent.runtime.service import Service
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
SIM_DAYS = 2

CONFIG = """
[vast]
api_url = "{url}"
api_key_file = "vast.key"
max_attempts = 2
max_retry_time_s = 5.0

[machine]
hostname = "demo-h100-01"

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"

[agent]
mode = "enforce"
state_dir = "state"
tick_s = 30.0
reconcile_s = 3600.0

[pricing.models]
"H100 SXM" = 2.00

[pricing.guard.models."H100 SXM"]
floor_usd_per_gpu_hour = 1.00
ceiling_usd_per_gpu_hour = 4.00

[health]
expected_gpu_count = 8

[maintenance]
lead_time_h = 72.0

[[maintenance.windows]]
name = "weekly reboot"
recur = "weekly"
weekday = "{weekday}"
at = "03:00"
duration_h = 2.0
timezone = "Europe/Berlin"
category = "software"

[earnings]
every_h = 6.0
days_back = 7

[metrics]
enabled = false
"""


@dataclass
class Env:
    root: Path
    emu: Emulator
    config_path: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def key_file(self) -> Path:
        return self.root / "vast.key"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BERLIN = ZoneInfo("Europe/Berlin")


def reboot_day(now: datetime) -> datetime:
    """The day of the weekly reboot window: three days after today in Berlin, so neither the simulated past
    (SIM_DAYS) nor the tests' own now ever falls into it, whatever day and hour the suite runs (a fixed Sunday
    unlisted the machine for tests run on Sunday night)."""
    return now.astimezone(BERLIN) + timedelta(days=3)


def write_world(root: Path, url: str, key: str) -> Path:
    """Config, fake GPU file and a 0600 key file in `root`; returns the config path."""
    shutil.copy(REPO / "config" / "fake-gpus.toml", root / "fake-gpus.toml")
    key_file = root / "vast.key"
    key_file.write_text(key + "\n")
    os.chmod(key_file, 0o600)
    config_path = root / "config.toml"
    weekday = WEEKDAYS[reboot_day(datetime.now(timezone.utc)).weekday()]
    config_path.write_text(CONFIG.format(url=url, weekday=weekday))
    return config_path


@contextmanager
def agent_world(root: Path) -> Iterator[Env]:
    """Run the agent for SIM_DAYS simulated days (hourly reconcile, earnings every 6 h), then keep the emulator up."""
    end = datetime.now(timezone.utc) - timedelta(minutes=1)
    clock = FakeClock(start=end - timedelta(days=SIM_DAYS))
    with Emulator(clock=clock, rate_limits=False) as emu:
        config_path = write_world(root, emu.url, emu.api_key)
        parts = build(load_config(config_path, environ={}), clock=clock, environ={}, with_metrics=False)
        try:
            service = Service(parts.agent(), clock)
            service.run_once()
            agent = service.agent
            for hour in range(1, SIM_DAYS * 24):
                clock.advance(3600)
                agent.telemetry(clock.now())
                agent.tick(clock.now())
                if hour % 6 == 0:
                    agent.fetch_earnings(clock.now())
            clock.set(end)
            agent.telemetry(end)
            agent.fetch_earnings(end)
        finally:
            parts.close()
        yield Env(root, emu, config_path)
