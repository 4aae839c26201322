"""The one composition root: config, key, Vast client, hardware, state store, metrics and clock.

Commands and tests build the agent here and nowhere else. Which hardware (NVML or the fake file)
follows the config; which Vast (the real API or the emulator) follows `vast.api_url`; a test passes
its own clock (FakeClock) and, where it wants, an httpx transport.

Order matters: the state-directory lock is taken first, so a second agent refuses before it touches
anything; the key is loaded before the store, so an unsafe key file exits 78 with nothing written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from hostagent.clock import SystemClock
from hostagent.config.load import load_config
from hostagent.config.model import Config
from hostagent.errors import HostagentError
from hostagent.hardware import build_hardware
from hostagent.ports import Clock, Hardware
from hostagent.runtime.lock import StateLock
from hostagent.runtime.metrics import Metrics
from hostagent.service.agent import Agent
from hostagent.service.ratelimits import AgentLedger
from hostagent.store import StateStore
from hostagent.vast.auth import load_api_key
from hostagent.vast.client import VastClient


@dataclass
class Parts:
    config: Config
    clock: Clock
    hardware: Hardware
    market: VastClient
    store: StateStore
    metrics: Metrics | None
    lock: StateLock | None
    scratch_dir: Path | None = None  # `plan` on a host with no state yet: a throwaway store, removed on close

    def agent(self, *, read_only: bool = False) -> Agent:
        if not read_only:  # the agent shares the key's rate limits with `plan` and `doctor` (service.ratelimits)
            self.market.share_rate_limits(AgentLedger(self.store))
        return Agent(
            config=self.config, hardware=self.hardware, market=self.market, store=self.store,
            clock=self.clock, metrics=self.metrics, read_only=read_only,
        )

    def close(self) -> None:
        """Close every adapter; each close is attempted even when an earlier one fails."""
        for close in (self.market.close, self.hardware.close, self.store.close):
            try:
                close()
            except HostagentError:
                continue
        if self.lock is not None:
            self.lock.release()
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)


def config_from(path: str | Path | None, environ: Mapping[str, str] = os.environ) -> Config:
    """Raises ConfigError listing every problem."""
    return load_config(path, environ=environ)


def build(
    config: Config,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] = os.environ,
    transport: httpx.BaseTransport | None = None,
    take_lock: bool = True,
    read_only: bool = False,
    with_metrics: bool = True,
) -> Parts:
    """Build every adapter. Raises LockHeldError, SecretError, StateError, HardwareError (nothing left open)."""
    clock = clock or SystemClock()
    state_dir = config.agent.state_dir
    lock = StateLock(state_dir).acquire() if take_lock else None
    opened: list[object] = []
    try:
        key = load_api_key(config.vast, environ)
        market = VastClient(config.vast.api_url, key, cfg=config.vast, clock=clock, transport=transport)
        opened.append(market)
        scratch = Path(tempfile.mkdtemp(prefix="hostagent-plan-")) if read_only and not _has_state(state_dir) else None
        store = StateStore.open(scratch) if scratch else StateStore.open(state_dir, readonly=read_only)
        opened.append(store)
        hardware = build_hardware(config.hardware, clock)
        metrics = Metrics() if with_metrics and config.metrics.enabled else None
    except BaseException:
        for part in reversed(opened):
            part.close()  # type: ignore[attr-defined]
        if lock is not None:
            lock.release()
        raise
    return Parts(config, clock, hardware, market, store, metrics, lock, scratch)


def _has_state(state_dir: Path) -> bool:
    return (state_dir / "state.db").exists()
