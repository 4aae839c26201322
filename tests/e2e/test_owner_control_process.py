"""The owner in control, end to end: `hostagent run` as a process against `hostagent emulator` as a process, the
official `vastai` CLI unlisting behind the agent's back, and hold / pause surviving a SIGKILL of the agent.

Real clock (tick 0.1 s, reconcile 0.2 s), loopback only. Waits poll Vast's state or the journal, never a wall time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID
from hostagent.testing.scenario import edit_gpu

REPO = Path(__file__).resolve().parents[2]
KEY = "hostagent-demo-key"  # the emulator's demo account
VASTAI = next((str(p) for p in (Path(sys.executable).parent / "vastai",) if p.exists()), shutil.which("vastai"))

CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 3
max_retry_time_s = 3.0

[machine]
hostname = "demo-h100-01"

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"

[agent]
mode = "enforce"
state_dir = "state"
tick_s = 0.1
reconcile_s = 0.2

[pricing.models]
"H100 SXM" = 2.00

[health]
expected_gpu_count = 8
relist_cooldown_s = 0.3

[metrics]
enabled = false
"""


@dataclass
class Host:
    tmp: Path
    url: str
    config: Path
    env: dict[str, str]
    agent: subprocess.Popen[bytes] | None = None
    lives: int = 0

    def start(self) -> None:
        self.lives += 1
        with (self.tmp / f"agent-{self.lives}.out").open("wb") as out:
            self.agent = subprocess.Popen([sys.executable, "-m", "hostagent", "--config", str(self.config), "run"],
                                          stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp)

    def kill(self) -> None:
        assert self.agent is not None
        self.agent.send_signal(signal.SIGKILL)
        assert self.agent.wait(timeout=10) == -signal.SIGKILL

    def hostagent(self, *words: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hostagent", "--config", str(self.config), *words],
                              capture_output=True, text=True, env=self.env, cwd=self.tmp, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def listed(self) -> bool:
        reply = httpx.get(f"{self.url}/api/v0/machines/{DEMO_MACHINE_ID}/", headers={"Authorization": f"Bearer {KEY}"})
        return bool(reply.json()[0]["listed"])

    def journal(self, kind: str) -> list[str]:
        with StateStore.open(self.tmp / "state", readonly=True) as store:
            return [e.what for e in store.journal_entries(kind=kind)]

    def status_at(self) -> float:
        """When the agent last saved its status (every tick and every reconcile)."""
        with StateStore.open(self.tmp / "state", readonly=True) as store:
            saved = store.load_status()
        return 0.0 if saved is None else saved[1].timestamp()


def wait_for(what: str, check: Callable[[], bool], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)


def a_few_reconciles(host: Host) -> None:
    """Until the agent has saved its status six more times (two ticks per reconcile): it had its chances."""
    start, seen = host.status_at(), set()

    def moved() -> bool:
        seen.add(host.status_at())
        return len(seen - {start}) >= 6

    wait_for("a few more reconciles", moved)


@contextmanager
def host(tmp_path: Path) -> Iterator[Host]:
    with subprocess.Popen([sys.executable, "-m", "hostagent", "emulator", "--port", "0", "--no-rate-limits"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as emulator:
        h: Host | None = None
        try:
            assert emulator.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:\d+", emulator.stdout.readline())
            assert found is not None
            url = found.group(0)
            (tmp_path / "config.toml").write_text(CONFIG.format(url=url))
            shutil.copy(REPO / "config" / "fake-gpus.toml", tmp_path / "fake-gpus.toml")
            home = tmp_path / "home"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST", "XDG_"))}
            env.update({"VAST_API_KEY": KEY, "VAST_URL": url, "HOME": str(home), "CI": "1", "TZ": "UTC",
                        "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
                        "VASTAI_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"})
            h = Host(tmp_path, url, tmp_path / "config.toml", env)
            h.start()
            yield h
        finally:
            if h is not None and h.agent is not None and h.agent.poll() is None:
                h.agent.kill()
                h.agent.wait(timeout=10)
            emulator.send_signal(signal.SIGTERM)
            emulator.wait(timeout=10)


@pytest.mark.skipif(VASTAI is None, reason="the official vastai CLI (a test dependency) is not installed")
def test_an_unlist_with_the_vastai_cli_is_kept_announced_survives_a_kill_and_release_lists_again(
    tmp_path: Path,
) -> None:
    """Default policy: the machine stays unlisted, across a SIGKILL too; the journal names the change; release."""
    with host(tmp_path) as h:
        wait_for("the agent lists the machine", h.listed)
        assert VASTAI is not None
        done = subprocess.run([VASTAI, "unlist", "machine", str(DEMO_MACHINE_ID)], input="y\n", capture_output=True,
                              text=True, env=h.env, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        wait_for("the change is journaled", lambda: any("changed outside hostagent" in w for w in h.journal("event")))
        (change,) = [w for w in h.journal("event") if w.startswith("changed_outside: ")]
        assert "changed outside hostagent: listed at 2.00" in change
        assert "→ unlisted" in change
        a_few_reconciles(h)
        assert not h.listed()
        h.kill()
        h.start()
        a_few_reconciles(h)
        assert not h.listed(), "the hold survived the kill"
        assert "HELD as set outside hostagent since" in h.hostagent("status")
        h.hostagent("release")
        wait_for("release lists it again", h.listed)
        assert len([w for w in h.journal("event") if w.startswith("changed_outside: ")]) == 1


def test_hold_and_pause_each_survive_a_sigkill_and_restart(tmp_path: Path) -> None:
    """A hold keeps the machine unlisted across a kill; a pause sends nothing across a kill; each announced once."""
    with host(tmp_path) as h:
        wait_for("the agent lists the machine", h.listed)
        assert "held by" in h.hostagent("hold", "--reason", "disk swap")
        wait_for("the hold unlists", lambda: not h.listed())
        h.kill()
        h.start()
        a_few_reconciles(h)
        assert not h.listed()
        assert len([w for w in h.journal("event") if w.startswith("held: ")]) == 1, "announced once, not per life"
        h.hostagent("release")
        wait_for("release lists it again", h.listed)

        h.hostagent("pause", "--reason", "by hand")
        wait_for("the pause is seen", lambda: any(w.startswith("paused: ") for w in h.journal("event")))
        h.kill()
        edit_gpu(tmp_path / "fake-gpus.toml", 2, health="lost")  # the agent would unlist now
        h.start()
        wait_for("the unlist it would send is journaled", lambda: any(
            w.startswith("unlist_machine") for w in h.journal("would_send")))
        a_few_reconciles(h)
        assert h.listed(), "paused: nothing was sent"
        h.hostagent("resume")
        wait_for("resume sends the unlist", lambda: not h.listed())
        assert len([w for w in h.journal("event") if w.startswith("paused: ")]) == 1
