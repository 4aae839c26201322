"""The one composition root: config, key, Vast client, hardware, state store, metrics, clock and host name.

Commands and tests build their parts here and nowhere else: the key is loaded, the Vast client constructed,
the state store opened and this host's name looked up only in this module (a ruff banned-api rule keeps
`VastClient`, `StateStore`, `sqlite3` and `httpx` out of every other module but their own packages). Which
hardware (NVML or the fake file) follows the config; which Vast (the real API or the emulator) follows
`vast.api_url`; a test passes its own clock (FakeClock), host name and, where it wants, an httpx transport.

Order matters: the state-directory lock is taken first, so a second agent refuses before it touches
anything; the key is loaded before the store, so an unsafe key file exits 78 with nothing written.
The heavy adapters are imported inside the builders, so `hostagent status` (`open_reader`) stays fast.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hostagent.config.load import load_config
from hostagent.config.model import Config, VastConfig
from hostagent.errors import HostagentError, StateError
from hostagent.ports import Clock, Hardware

if TYPE_CHECKING:
    import httpx

    from hostagent.runtime.lock import StateLock
    from hostagent.runtime.metrics import Metrics
    from hostagent.service.agent import Agent
    from hostagent.service.notify import Notifier
    from hostagent.service.operator import OperatorWrites
    from hostagent.service.ratelimits import OperatorLedger
    from hostagent.store import StateStore
    from hostagent.store.reader import StateReader
    from hostagent.vast.client import VastClient


# On close, how long due notifications may take to go: with the Vast worker's 60 s (runtime.service.STOP_TIMEOUT_S)
# still below the unit's TimeoutStopSec=90s.
NOTIFY_STOP_S = 10.0


@dataclass
class Parts:
    config: Config
    clock: Clock
    hardware: Hardware
    market: VastClient
    store: StateStore
    metrics: Metrics | None
    lock: StateLock | None
    hostname: str  # this host's name on Vast (host_name)
    scratch_dir: Path | None = None  # `plan` on a host with no state yet: a throwaway store, removed on close
    notifier: Notifier | None = None  # with [[notify.destinations]]: subscribed to the agent's events

    def agent(self, *, read_only: bool = False) -> Agent:
        from hostagent.service.agent import Agent  # noqa: PLC0415
        from hostagent.service.ratelimits import AgentLedger  # noqa: PLC0415

        if not read_only:  # the agent shares the key's rate limits with `plan` and `doctor` (service.ratelimits)
            self.market.share_rate_limits(AgentLedger(self.store))
        agent = Agent(
            config=self.config, hardware=self.hardware, market=self.market, store=self.store,
            clock=self.clock, hostname=self.hostname, metrics=self.metrics, read_only=read_only,
        )
        if self.notifier is not None and not read_only:
            agent.events.subscribe(self.notifier)
            self.notifier.start()
        return agent

    def close(self) -> None:
        """Close every adapter; each close is attempted even when an earlier one fails. Notifications due now
        get one send attempt's time first (at most NOTIFY_STOP_S), so `run --once` and SIGTERM stay bounded."""
        if self.notifier is not None:
            self.notifier.stop(min(self.config.notify.timeout_s, NOTIFY_STOP_S))
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


def os_host_name(hostname: str | None = None) -> str:
    """This host's name as the OS knows it, unless a test passes one: the only `socket.gethostname()` call."""
    return hostname or socket.gethostname()


def operator_name(environ: Mapping[str, str] | None = None, hostname: str | None = None) -> str:
    """Who runs an operator command, for the journal and `maint list`: user@host. Under sudo (commands run as
    the service user, `sudo -u hostagent`) the person who typed it (SUDO_USER), not the service user."""
    import getpass  # noqa: PLC0415

    env = os.environ if environ is None else environ
    try:
        user = env.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        user = f"uid {os.getuid()}"
    return f"{user}@{os_host_name(hostname)}"


def host_name(config: Config, hostname: str | None = None) -> str:
    """The name the agent looks its machine up by on Vast: `machine.hostname`, else the host's own."""
    return config.machine.hostname or os_host_name(hostname)


def wall_clock(clock: Clock | None = None) -> Clock:
    """The clock every part shares: the system's, unless a test passes its own (FakeClock)."""
    from hostagent.clock import SystemClock  # noqa: PLC0415

    return clock or SystemClock()


def hardware(config: Config, *, clock: Clock | None = None) -> tuple[Hardware, Clock]:
    """The GPU and disk adapter alone (`telemetry`, doctor's GPU check), with its clock. Raises HardwareError."""
    from hostagent.hardware import build_hardware  # noqa: PLC0415

    clock = wall_clock(clock)
    return build_hardware(config.hardware, clock), clock


def api_key(config: Config, environ: Mapping[str, str] = os.environ) -> str:
    """The Vast API key, from the one loader (systemd credential, key file, environment). Raises SecretError."""
    from hostagent.vast.auth import load_api_key  # noqa: PLC0415

    return load_api_key(config.vast, environ)


def notifier(
    config: Config, clock: Clock, hostname: str, metrics: Metrics | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Notifier | None:
    """The notifier of [notify] (None without destinations): every URL loaded and checked now, none sent to.
    Raises SecretError naming each destination whose URL is missing, unsafe or not understood."""
    if not config.notify.destinations:
        return None
    from hostagent.service.notify import Notifier  # noqa: PLC0415
    from hostagent.service.notify_send import AppriseSender, load_urls  # noqa: PLC0415

    sender = AppriseSender(load_urls(config.notify, environ), timeout_s=config.notify.timeout_s)
    return Notifier(config.notify, sender, clock, hostname=hostname, metrics=metrics)


def vast_client(
    cfg: VastConfig, key: str, *, clock: Clock | None = None, transport: httpx.BaseTransport | None = None
) -> VastClient:
    """The Vast client: the only place one is constructed. Raises VastInsecureURL before any connection."""
    from hostagent.vast.client import VastClient  # noqa: PLC0415

    return VastClient(cfg.api_url, key, cfg=cfg, clock=wall_clock(clock), transport=transport)


def open_store(state_dir: Path, *, read_only: bool = False, beside_agent: bool = False) -> StateStore:
    """The state store; read-only never creates, migrates or writes; `beside_agent` writes intents and journal
    rows beside a running agent (see hostagent.store.store). Raises StateError (StateAccessError)."""
    from hostagent.store import StateStore  # noqa: PLC0415

    return StateStore.open(state_dir, readonly=read_only, beside_agent=beside_agent)


def open_reader(state_dir: Path) -> StateReader | None:
    """The fast read-only reader of `hostagent status` (stdlib sqlite3 only), or None with no state yet."""
    from hostagent.store.reader import open_reader as open_fast  # noqa: PLC0415

    return open_fast(state_dir)


def put_beside(state_dir: Path) -> Callable[[str, object], None]:
    """A `put` into the store of an agent that may be running, for a command that holds no lock."""
    from hostagent.store import StateStore  # noqa: PLC0415

    return lambda key, value: StateStore.put_beside(state_dir, key, value)


def operator_ledger(state_dir: Path, say: Callable[[str], None]) -> tuple[OperatorLedger, StateStore | None]:
    """For a command with no store open (`doctor`): the agent's rate-limit state, read-only; close the store after."""
    from hostagent.service.ratelimits import OperatorLedger  # noqa: PLC0415

    store: StateStore | None = None
    if (state_dir / "state.db").exists():
        try:
            store = open_store(state_dir, read_only=True)
        except StateError as exc:
            say(f"cannot read the agent's rate-limit state ({exc}): calls may collide with the agent's "
                "and get a 429 (retried after the endpoint's interval)")
    return OperatorLedger(store, say, put_beside(state_dir)), store


@dataclass
class OperatorParts:
    """What `hostagent maint` uses: the Vast client, the agent's store, and the operator's requests to the agent."""

    config: Config
    clock: Clock
    market: VastClient
    store: StateStore
    writes: OperatorWrites
    scratch_dir: Path | None = None  # read-only on a host with no state yet: a throwaway store, removed on close

    def close(self) -> None:
        for close in (self.market.close, self.store.close):
            try:
                close()
            except HostagentError:
                continue
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)


def build_operator(
    config: Config,
    key: str,
    *,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
    hostname: str | None = None,
    read_only: bool = False,
) -> OperatorParts:
    """An operator's requests beside a running agent: no lock, the agent's store opened for the `operator_maints`
    key and journal rows (safe beside it: see hostagent.store.store). `read_only` (`maint list`): the store
    read-only, or a throwaway one where there is no state yet. Raises StateError, VastInsecureURL (nothing left
    open)."""
    from hostagent.service.operator import OperatorWrites  # noqa: PLC0415

    clock = wall_clock(clock)
    market = vast_client(config.vast, key, clock=clock, transport=transport)
    state_dir = config.agent.state_dir
    scratch = Path(tempfile.mkdtemp(prefix="hostagent-maint-")) if read_only and not _has_state(state_dir) else None
    store: StateStore | None = None
    try:
        if scratch is not None:
            store = open_store(scratch)
        else:
            store = open_store(state_dir, read_only=read_only, beside_agent=not read_only)
        writes = OperatorWrites(config=config, market=market, store=store, hostname=host_name(config, hostname),
                                read_only=read_only)
    except BaseException:
        if store is not None:
            store.close()
        market.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return OperatorParts(config, clock, market, store, writes, scratch)


def build(
    config: Config,
    *,
    clock: Clock | None = None,
    hostname: str | None = None,
    environ: Mapping[str, str] = os.environ,
    transport: httpx.BaseTransport | None = None,
    take_lock: bool = True,
    read_only: bool = False,
    with_metrics: bool = True,
) -> Parts:
    """Build every adapter. Raises LockHeldError, SecretError (the key, a notification URL), StateError,
    HardwareError (nothing left open)."""
    from hostagent.hardware import build_hardware  # noqa: PLC0415
    from hostagent.runtime.lock import StateLock  # noqa: PLC0415
    from hostagent.runtime.metrics import Metrics  # noqa: PLC0415

    clock = wall_clock(clock)
    state_dir = config.agent.state_dir
    lock = StateLock(state_dir).acquire() if take_lock else None
    opened: list[object] = []
    try:
        market = vast_client(config.vast, api_key(config, environ), clock=clock, transport=transport)
        opened.append(market)
        # Notification URLs are secrets too: checked with the key, before anything is written.
        metrics = Metrics(hostname=os_host_name(hostname)) if with_metrics and config.metrics.enabled else None
        notify = None if read_only else notifier(config, clock, host_name(config, hostname), metrics, environ)
        scratch = Path(tempfile.mkdtemp(prefix="hostagent-plan-")) if read_only and not _has_state(state_dir) else None
        store = open_store(scratch) if scratch else open_store(state_dir, read_only=read_only)
        opened.append(store)
        if notify is not None:
            notify.remember_in(store)
        hardware = build_hardware(config.hardware, clock)
    except BaseException:
        for part in reversed(opened):
            part.close()  # type: ignore[attr-defined]
        if lock is not None:
            lock.release()
        raise
    return Parts(config, clock, hardware, market, store, metrics, lock, host_name(config, hostname), scratch, notify)


def _has_state(state_dir: Path) -> bool:
    return (state_dir / "state.db").exists()
