"""A real agent in a temporary world: the Vast emulator on loopback, fake GPUs from a file, SQLite in tmp_path.

Shared by test_agent*.py and test_service*.py. Everything is real except time (a FakeClock shared by
the agent, its Vast client and the emulator).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hostagent.bootstrap import Parts, build
from hostagent.config.load import load_config
from hostagent.config.model import Config
from hostagent.runtime.service import Service
from hostagent.service.agent import Agent
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator

REPO = Path(__file__).resolve().parents[2]
WRITE_METHODS = ("PUT", "POST", "DELETE")

CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 2
max_retry_time_s = 5.0
retry_after_cap_s = 30.0

[machine]
hostname = "demo-h100-01"

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"

[agent]
mode = "{mode}"
state_dir = "state"
tick_s = 30.0
reconcile_s = 300.0

[pricing]
default_usd_per_gpu_hour = 0.30
timezone = "UTC"

[pricing.models]
"H100 SXM" = 2.00

[pricing.min_bid]
mode = "fixed"
usd_per_gpu_hour = 0.50

[pricing.guard.models."H100 SXM"]
floor_usd_per_gpu_hour = 1.00
ceiling_usd_per_gpu_hour = 4.00

[health]
expected_gpu_count = 8
max_temperature_c = 85.0
temperature_hysteresis_c = 5.0
hot_for_s = 300.0
relist_cooldown_s = 900.0
min_free_disk_gb = 50.0

[cleanup]
every_h = 24.0

[earnings]
every_h = 6.0
days_back = 7

[metrics]
enabled = false
"""


@dataclass
class World:
    tmp: Path
    clock: FakeClock
    emu: Emulator
    config_path: Path
    fake_file: Path
    parts: Parts | None = None

    @property
    def machine(self):  # the emulator's view of the demo machine
        return self.emu.state.machines[DEMO_MACHINE_ID]

    def config(self) -> Config:
        return load_config(self.config_path, environ={})

    def build(self) -> Parts:
        if self.parts is not None:
            self.parts.close()
        self.parts = build(
            self.config(), clock=self.clock, environ={"VAST_API_KEY": self.emu.api_key}, with_metrics=False
        )
        return self.parts

    def agent(self) -> Agent:
        return self.build().agent()

    def service(self) -> Service:
        parts = self.build()
        return Service(parts.agent(), self.clock, simulated_time=True)

    def writes(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.emu.requests if r.method in WRITE_METHODS and not _is_read(r.path)]

    def set_gpu(self, index: int, **fields: object) -> None:
        """Edit one [[gpu]] block of the fake file (the hardware backend re-reads it every tick)."""
        text = self.fake_file.read_text()
        blocks = text.split("[[gpu]]")
        for i, block in enumerate(blocks):
            if re.search(rf"^index = {index}$", block, re.MULTILINE):
                edited = block
                for key, value in fields.items():
                    edited = re.sub(rf"^{key} = .*\n", "", edited, flags=re.MULTILINE)
                    edited = edited.replace(f"index = {index}\n", f"index = {index}\n{key} = {value}\n", 1)
                blocks[i] = edited
        self.fake_file.write_text("[[gpu]]".join(blocks))

    def set_mode(self, mode: str) -> None:
        text = re.sub(r'^mode = "(observe|enforce)"$', f'mode = "{mode}"', self.config_path.read_text(), flags=re.M)
        self.config_path.write_text(text)


def _is_read(path: str) -> bool:
    return path.rstrip("/").endswith("/bundles")  # the offer search is a POST that changes nothing


@contextmanager
def world(tmp_path: Path, *, mode: str = "enforce", rate_limits: bool = False) -> Iterator[World]:
    clock = FakeClock()
    with Emulator(clock=clock, rate_limits=rate_limits) as emu:
        fake_file = tmp_path / "fake-gpus.toml"
        shutil.copy(REPO / "config" / "fake-gpus.toml", fake_file)
        config_path = tmp_path / "config.toml"
        config_path.write_text(CONFIG.format(url=emu.url, mode=mode))
        w = World(tmp_path, clock, emu, config_path, fake_file)
        try:
            yield w
        finally:
            if w.parts is not None:
                w.parts.close()
