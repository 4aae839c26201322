"""A simulated world for the REAL agent: the Vast emulator, fake GPUs in an editable file, one FakeClock.

Used by the end-to-end week test, `hostagent demo` and `bench/agent.py`. The agent, its Vast client, its
state store and the service's scheduler are the production ones (built by `bootstrap.build`); only time
(a FakeClock shared by the agent, its client and the emulator) and the world (the fake GPU file, renter
demand, the peer market) are driven from here.

    with Simulation(load_config("config/demo.toml"), tmp_path, start=MONDAY) as sim:
        sim.run_for(hours=6)          # the service's jobs run at their cadences on the fake clock
        sim.set_gpu(3, temperature_c=91)
        sim.run_for(hours=1)
        for event in sim.observe(): print(event.at, event.text)
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from hostagent.bootstrap import Parts, build
from hostagent.config.model import Config
from hostagent.core.model import ActionKind
from hostagent.runtime.service import Service
from hostagent.service.agent import Agent
from hostagent.service.earnings import day_of, summarize
from hostagent.store.rows import JournalEntry
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, RecordedRequest, routes
from hostagent.testing.emulator.state import CLIENT_KINDS, Machine
from hostagent.testing.emulator.wire import ApiError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

WRITE_KINDS = tuple(k.value for k in ActionKind)  # the journal kinds of writes the reconciler sends


@dataclass(frozen=True)
class Event:
    """One thing worth a line in a timeline, at its simulated time."""

    at: datetime
    kind: str  # an ActionKind value, "rented", "rental_ended", "health", "earnings", "decision", ...
    text: str
    entry: JournalEntry | None = None


class Simulation:
    """The real agent and service on a FakeClock against the embedded emulator (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        workdir: Path,
        *,
        start: datetime,
        seed: int = 0,
        rate_limits: bool = False,
        fake_file: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.clock = FakeClock(start)
        self.emu = Emulator(clock=self.clock, seed=seed, rate_limits=rate_limits)
        url = self.emu.start()
        source = fake_file or config.hardware.fake_file
        if source is None:
            raise ValueError("the simulation needs a fake GPU file (hardware.fake_file)")
        self.fake_file = self.workdir / "fake-gpus.toml"
        shutil.copy(source, self.fake_file)
        self._url = url
        self.config = self._here(config)
        self.parts: Parts = self._build()
        self.service = self._service()
        self._seen_journal_id = 0
        self._seen_contracts: set[int] = set()
        self._ended_contracts: set[int] = set()
        self._health_ok: bool | None = None
        self._earnings_days = 0
        self._parked_peers: list[dict[str, object]] = []

    # ---- life cycle -------------------------------------------------------------------------------
    def _here(self, config: Config) -> Config:
        """`config` pointed at this world: the emulator, its own state directory, the fake GPU file."""
        return replace(
            config,
            vast=replace(config.vast, api_url=self._url),
            agent=replace(config.agent, state_dir=self.workdir / "state"),
            hardware=replace(config.hardware, backend="fake", fake_file=self.fake_file),
            metrics=replace(config.metrics, enabled=False),
        )

    def _build(self) -> Parts:
        return build(self.config, clock=self.clock, environ={"VAST_API_KEY": self.emu.api_key}, with_metrics=False)

    def _service(self) -> Service:
        service = Service(self.parts.agent(), self.clock, max_sleep_s=3600.0, simulated_time=True,
                          reload=lambda: self.config)
        service.schedule_jobs()
        return service

    def restart(self) -> None:
        """A new agent process on the same state directory, as after a crash or `systemctl restart`."""
        self.parts.close()
        self.parts = self._build()
        self.service = self._service()

    def reload(self, config: Config | None = None) -> None:
        """SIGHUP: the running service takes `config` (or the same one again) and keeps its memory."""
        if config is not None:
            self.config = self._here(config)
        self.service.reload()

    def close(self) -> None:
        self.parts.close()
        self.emu.stop()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def agent(self) -> Agent:
        return self.service.agent

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def machine(self) -> Machine:
        """The emulator's view of the demo machine (Vast's truth)."""
        return self.emu.state.machines[self.machine_id]

    @property
    def machine_id(self) -> int:
        return self.agent.machine_id or DEMO_MACHINE_ID

    # ---- time -------------------------------------------------------------------------------------
    def run_until(self, when: datetime) -> None:
        """Drive the service's scheduler on the fake clock up to `when`: each job runs at its cadence.

        Jobs due at exactly `when` run at the next call, after whatever the caller changes at `when`.
        """
        scheduler = self.service.scheduler
        while (when - self.clock.now()).total_seconds() > 0:
            scheduler.run_pending()
            left_s = (when - self.clock.now()).total_seconds()
            if left_s <= 0:
                return
            idle_s = scheduler.idle_seconds
            step_s = left_s if idle_s is None else min(max(idle_s, 0.0), left_s)
            self.clock.advance(step_s if step_s > 0 else min(left_s, 1.0))

    def run_for(self, *, hours: float = 0.0, minutes: float = 0.0) -> None:
        self.run_until(self.clock.now() + timedelta(hours=hours, minutes=minutes))

    # ---- the world --------------------------------------------------------------------------------
    def set_gpu(self, index: int, **fields: object) -> None:
        """Change keys of one [[gpu]] (None removes a key, back to the idle healthy default)."""
        edit_gpu(self.fake_file, index, **fields)

    def set_demand(self, factor: float) -> None:
        self.emu.set_demand(factor)

    def thin_market(self) -> None:
        """Take the peers with our GPU model and count off the market: the market step has too few to use."""
        machine = self.machine
        offers = self.emu.state.peer_offers
        keep = [o for o in offers if not (o["gpu_name"] == machine.gpu_name and o["num_gpus"] == machine.num_gpus)]
        self._parked_peers += [o for o in offers if o not in keep]
        offers[:] = keep

    def restore_market(self) -> None:
        self.emu.state.peer_offers.extend(self._parked_peers)
        self._parked_peers = []

    # ---- what happened ----------------------------------------------------------------------------
    def journal(self, kind: str | None = None) -> list[JournalEntry]:
        return self.parts.store.journal_entries(kind=kind)

    def observe(self) -> list[Event]:
        """Events since the last call, in time order: agent writes and decisions, rentals, health, earnings."""
        events = [*self._journal_events(), *self._rental_events(), *self._health_events(), *self._earnings_events()]
        return sorted(events, key=lambda e: e.at)

    def _journal_events(self) -> Iterator[Event]:
        for entry in self.parts.store.journal_entries():
            if entry.id <= self._seen_journal_id:
                continue
            self._seen_journal_id = entry.id
            yield Event(entry.at, entry.kind, entry.what, entry)

    def _rental_events(self) -> Iterator[Event]:
        now_s = self.emu.now_s()
        for contract in self.machine.contracts:
            if contract.kind not in CLIENT_KINDS:
                continue
            if contract.id not in self._seen_contracts and contract.start_s <= now_s:
                self._seen_contracts.add(contract.id)
                yield Event(
                    _at(contract.start_s), "rented",
                    f"rented: {contract.gpus} GPU(s) {contract.kind} at ${contract.price_usd_per_gpu_hour:.4g}/GPU/h "
                    f"for {(contract.end_s - contract.start_s) / 3600:.0f} h",
                )
            if contract.id not in self._ended_contracts and contract.end_s <= now_s:
                self._ended_contracts.add(contract.id)
                yield Event(_at(contract.end_s), "rental_ended", f"rental ended: {contract.gpus} GPU(s) free again")

    def _health_events(self) -> Iterator[Event]:
        health = self.agent.health
        if health is None or health.ok == self._health_ok:
            return
        self._health_ok = health.ok
        text = "health: every check passes" if health.ok else "health: " + "; ".join(health.reasons)
        yield Event(self.clock.now(), "health", text)

    def _earnings_events(self) -> Iterator[Event]:
        today = day_of(self.clock.now())
        rows = self.parts.store.earnings(today - 30, today, self.machine_id)
        if len(rows) == self._earnings_days or not rows:
            return
        self._earnings_days = len(rows)
        summary = summarize(self.parts.store, self.machine_id, today, days=30)
        yield Event(
            self.clock.now(), "earnings",
            f"earnings fetched: today ${summary.today_usd:.2f}, last 7 days ${summary.last_7d_usd:.2f}"
            + (f", occupancy {summary.occupancy:.0%} (renters)" if summary.occupancy is not None else ""),
        )

    def writes(self) -> list[tuple[datetime, str, RecordedRequest]]:
        """(simulated time, action kind, request) of every write request the emulator received."""
        offset_s = self.clock.now().timestamp() - self.clock.monotonic()  # FakeClock: both move together
        found = []
        for request in self.emu.requests:
            kind = write_kind(request)
            if kind is not None:
                found.append((_at(request.at_s + offset_s), kind, request))
        return found


WRITE_ROUTES = {
    "create_asks": ActionKind.LIST.value, "unlist": ActionKind.UNLIST.value, "minbid": ActionKind.SET_MIN_BID.value,
    "dnotify": ActionKind.SCHEDULE_MAINT.value, "cancel_maint": ActionKind.CANCEL_MAINT.value,
    "create_bids": ActionKind.SET_DEFJOB.value, "remove_defjob": ActionKind.REMOVE_DEFJOB.value,
    "cleanup": ActionKind.CLEANUP.value,
}


def write_kind(request: RecordedRequest) -> str | None:
    """The ActionKind value of a write request to the emulator, or None for a read."""
    try:
        found = routes.find(request.method, routes.normalise(request.path))
    except ApiError:
        return None
    return WRITE_ROUTES.get(found[0].name) if found is not None else None


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"the fake GPU file holds no {type(value).__name__} values")


def edit_gpu(fake_file: Path, index: int, **fields: object) -> None:
    """Change keys of one [[gpu]] of a fake GPU file, atomically (a reader never sees half a file)."""
    doc: dict[str, Any] = tomllib.loads(fake_file.read_text(encoding="utf-8"))
    for gpu in doc.get("gpu", []):
        if gpu.get("index") == index:
            for key, value in fields.items():
                if value is None:
                    gpu.pop(key, None)
                else:
                    gpu[key] = value
    tmp = fake_file.with_name(fake_file.name + ".tmp")
    tmp.write_text(dump_fake_file(doc), encoding="utf-8")
    tmp.replace(fake_file)


def dump_fake_file(doc: dict[str, Any]) -> str:
    """The fake GPU document back as TOML (top-level keys, then [[gpu]] and [[disk]] tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, list) or k not in ("gpu", "disk")]
    for table in ("gpu", "disk"):
        for item in doc.get(table, []):
            lines += ["", f"[[{table}]]", *(f"{k} = {_toml_value(v)}" for k, v in item.items())]
    return "\n".join(lines) + "\n"
