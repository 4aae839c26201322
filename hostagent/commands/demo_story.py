"""`hostagent demo`: a few simulated days of the real agent, told as a timeline.

The agent, its Vast client, state store and service scheduler are the production ones; Vast is the
embedded emulator and the GPUs a temporary copy of the fake GPU file, all on one accelerated FakeClock
(hostagent.testing.scenario). The demo changes the world at scripted moments (no renters, then a rush;
a GPU overheats and cools) and prints what the agent did about it, one line per event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from hostagent.config.model import Config
from hostagent.core import maintenance as core_maint
from hostagent.service.earnings import day_of, summarize
from hostagent.testing.scenario import Event, Simulation

# The first Sunday of December 2026 holds demo.toml's monthly window; the demo ends 6 h after it.
REFERENCE = datetime(2026, 12, 1, tzinfo=timezone.utc)
CHUNK = timedelta(minutes=10)  # how often the timeline looks for news
HOT_GPU = 3


@dataclass(frozen=True)
class WorldChange:
    at: datetime
    text: str
    act: Callable[[Simulation], None]


def demo_config(config: Config) -> Config:
    """Accelerated cadences so days pass in seconds (the rules themselves are the config's)."""
    return replace(config, agent=replace(config.agent, tick_s=120.0, reconcile_s=600.0))


def demo_start(config: Config, days: int) -> datetime:
    """So that the demo ends 6 h after the config's first maintenance window in December 2026."""
    windows = core_maint.upcoming_windows(config.maintenance, REFERENCE, timedelta(days=35))
    end = windows[0].end + timedelta(hours=6) if windows else REFERENCE + timedelta(days=days)
    return end - timedelta(days=days)


def world_changes(start: datetime) -> list[WorldChange]:
    return [
        WorldChange(start, "no renters are looking (renter demand 0)", lambda s: s.set_demand(0.0)),
        WorldChange(start + timedelta(hours=13), "renters are back (renter demand x2)", lambda s: s.set_demand(2.0)),
        WorldChange(start + timedelta(hours=30), f"GPU {HOT_GPU} overheats: 91 C (fake GPU file edited)",
                    lambda s: s.set_gpu(HOT_GPU, temperature_c=91)),
        WorldChange(start + timedelta(hours=32), f"GPU {HOT_GPU} cooled down to 33 C",
                    lambda s: s.set_gpu(HOT_GPU, temperature_c=None)),
        WorldChange(start + timedelta(hours=40), "normal renter demand", lambda s: s.set_demand(1.0)),
    ]


def price_story(why: str) -> str:
    """The pricing steps of a LIST reason, shortened: `base $2.00, schedule ..., market p50 ..., idle decay ...`."""
    parts: list[str] = []
    for part in why.split("; "):
        if part.startswith("base:"):
            parts.append("base " + part.split(": ")[-1].split(" ")[0])
        elif part.startswith("schedule: rule"):
            match = re.search(r"rule '([^']+)'", part)
            rule = match.group(1) if match else "?"
            parts.append(f"schedule \"{rule}\" {part.rsplit(': ', 1)[-1]}")
        elif part.startswith("market:") and "skipped" not in part:
            match = re.search(r"(\d+) peers.*?: (p\d+ \S+) \+ offset (\S+)", part)
            parts.append(f"market {match.group(2)} of {match.group(1)} peers {match.group(3)}" if match else part)
        elif part.startswith("market:"):
            parts.append("market " + part.split(": ", 1)[1].split(";")[0])
        elif part.startswith("idle_decay: unrented") and "(step" in part:
            match = re.search(r"unrented ([\d.]+) h \(step after ([\d.]+) h\): (\S+) .*? - ([\d.]+)%", part)
            parts.append(f"idle {match.group(1)} h: -{match.group(4)}% of {match.group(3)}" if match else part)
        elif part.startswith("idle_decay: rented now"):
            parts.append("rented: no idle cut")
        elif part.startswith("guard."):
            parts.append(part.split(" (")[0])
    return ", ".join(parts)


class Timeline:
    """Turns simulation events into one readable line each, with the simulated local time."""

    def __init__(self, out: TextIO, tz: str) -> None:
        self.out = out
        self.zone = ZoneInfo(tz)
        self.listed = False
        self.counts: dict[str, int] = {}

    def line(self, at: datetime, text: str) -> None:
        print(f"{at.astimezone(self.zone):%a %H:%M}  {text}", file=self.out)

    def event(self, event: Event) -> None:
        text = self._text(event)
        if text is not None:
            self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
            self.line(event.at, text)

    def _text(self, event: Event) -> str | None:  # noqa: PLR0911 - one branch per kind of line
        entry = event.entry
        if entry is None:
            return event.text
        request = entry.request or {}
        if entry.kind == "list_machine":
            price = request.get("price_usd_per_gpu_hour")
            verb = "price now" if self.listed else ("relisted" if "relist" in entry.why else "listed")
            self.listed = True
            end = request.get("end_date")
            days = request.get("duration_days")
            ends = f"; offer ends {_local(end, self.zone)}" if isinstance(end, (int, float)) else (
                f"; offer rolls {days} days ahead" if isinstance(days, int) else "")
            return f"{verb} at ${price}/GPU/h ({price_story(entry.why)}){ends}"
        if entry.kind == "unlist_machine":
            self.listed = False
            return entry.why if entry.why.startswith("unlisted") else "unlisted: " + entry.why
        if entry.kind == "schedule_maint":
            return "maintenance notice sent to Vast: " + entry.why
        if entry.kind == "set_defjob":
            price = request.get("price_usd_per_gpu_hour")
            cost = f"${price:.2f}" if isinstance(price, (int, float)) else "?"
            return f"default job set: {request.get('image')} at {cost}/GPU/h on idle GPUs"
        if entry.kind == "cleanup_machine":
            return "cleanup: " + entry.result
        if entry.kind in ("set_min_bid", "cancel_maint", "remove_defjob", "mismatch", "intent_resolved"):
            return f"{entry.kind}: {entry.what} ({entry.why}) -> {entry.result}"
        return None  # decisions: the action lines already say what and why


def _local(epoch_s: float, zone: ZoneInfo) -> str:
    return f"{datetime.fromtimestamp(epoch_s, tz=timezone.utc).astimezone(zone):%a %d %b %H:%M}"


def run_demo(config: Config, workdir: Path, *, days: int, seed: int, out: TextIO) -> Simulation:
    """Live `days` simulated days and print the timeline. The caller closes the returned simulation."""
    config = demo_config(config)
    start = demo_start(config, days)
    sim = Simulation(config, workdir, start=start, seed=seed)
    timeline = Timeline(out, config.pricing.timezone)
    end = start + timedelta(days=days)
    changes = [c for c in world_changes(start) if c.at < end]
    print(f"hostagent demo: {days} simulated day{'s' if days != 1 else ''} of the real agent against the Vast "
          "emulator and 8 fake H100s "
          f"(telemetry every {config.agent.tick_s:g} s, reconcile every {config.agent.reconcile_s:g} s, "
          f"simulated time; times in {config.pricing.timezone})", file=out)
    while sim.now < end:
        for change in [c for c in changes if c.at <= sim.now]:
            changes.remove(change)
            change.act(sim)
            timeline.line(change.at, f">> {change.text}")
        sim.run_until(min(sim.now + CHUNK, end))
        for event in sim.observe():
            timeline.event(event)
    _earnings_report(sim, out)
    return sim


def _earnings_report(sim: Simulation, out: TextIO) -> None:
    today = day_of(sim.now)
    summary = summarize(sim.agent.store, sim.machine_id, today, days=30)
    occupancy = "n/a" if summary.occupancy is None else f"{summary.occupancy:.0%} (renters)"
    if summary.default_job_share is not None:
        occupancy += f", default job {summary.default_job_share:.0%}"
    realised = summary.realised_usd_per_gpu_hour
    print(f"\nearnings (stored from Vast's per-day report): today ${summary.today_usd:.2f}, "
          f"last 7 days ${summary.last_7d_usd:.2f} (GPU ${summary.gpu_usd:.2f}, storage ${summary.storage_usd:.2f}, "
          f"bandwidth ${summary.upload_usd + summary.download_usd:.2f}); occupancy {occupancy}, realised "
          f"{'n/a' if realised is None else f'${realised:.2f}'}/GPU-hour", file=out)


def write_config_copy(source: Path | None, state_dir: Path, dest: Path) -> Path | None:
    """The demo's config with `state_dir` pointing at the demo's state, for `status`, `journal`, `earnings`."""
    if source is None or not source.is_file():
        return None
    text = source.read_text(encoding="utf-8")
    text = re.sub(r'^state_dir = .*$', f'state_dir = "{state_dir}"', text, count=1, flags=re.MULTILINE)
    text = re.sub(r'^fake_file = .*$', f'fake_file = "{dest.parent / "fake-gpus.toml"}"', text, count=1,
                  flags=re.MULTILINE)
    dest.write_text(text, encoding="utf-8")
    return dest
