"""`plan` and `doctor` share the key's per-endpoint rate limits with the running agent (defect 9).

Against the emulator with its rate limits on and real time: the agent calls Vast, an operator command
follows at once, then the agent again. Nobody may earn a 429: each side spaces its call after the other's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from agent_env import CONFIG, REPO

from hostagent.bootstrap import Parts, build, put_beside
from hostagent.cli import main
from hostagent.clock import SystemClock
from hostagent.config.load import load_config
from hostagent.service.apigate import NOT_BEFORE_KEY
from hostagent.service.ratelimits import AGENT_CALLS_KEY, OperatorLedger
from hostagent.store import StateStore
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import Emulator
from hostagent.vast.client import SHOW_MACHINES, VastClient

MARKET = "\n[pricing.market]\nenabled = true\nmin_peers = 1\n"


@dataclass
class SharedKey:
    emu: Emulator
    config_path: Path
    parts: Parts

    def too_soon(self) -> list[str]:
        """Every request the emulator refused as too frequent for its endpoint."""
        return [f"{r.method} {r.path}" for r in self.emu.requests if r.status == 429]

    def command(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = main(["--config", str(self.config_path), *args])
        out, err = capsys.readouterr()
        return code, out, err


@contextmanager
def shared_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SharedKey]:
    """The agent (real clock) and the operator commands on one key, against rate-limited Vast."""
    with Emulator(rate_limits=True) as emu:
        (tmp_path / "fake-gpus.toml").write_text((REPO / "config" / "fake-gpus.toml").read_text())
        config_path = tmp_path / "config.toml"
        config_path.write_text(CONFIG.format(url=emu.url, mode="enforce") + MARKET)
        monkeypatch.setenv("VAST_API_KEY", emu.api_key)
        monkeypatch.chdir(tmp_path)
        parts = build(load_config(config_path, environ={}), clock=SystemClock(),
                      environ={"VAST_API_KEY": emu.api_key}, with_metrics=False)
        key = SharedKey(emu, config_path, parts)
        try:
            yield key
        finally:
            key.parts.close()  # the test may have replaced the parts (a restarted agent)


def test_plan_right_after_the_agent_waits_its_turn_and_the_agent_then_waits_for_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No 429 for plan's calls just after the agent's, nor for the agent's calls just after plan's."""
    with shared_key(tmp_path, monkeypatch) as k:
        agent = k.parts.agent()
        assert agent.reconcile(datetime.now(timezone.utc)) is not None
        code, _, err = k.command(capsys, "plan")
        assert code == 0, err
        assert "waiting" in err, "plan says why it pauses"
        assert k.too_soon() == []
        assert agent.reconcile(datetime.now(timezone.utc)) is not None
        assert k.too_soon() == [], "the agent spaced its calls after plan's"


def test_doctor_right_after_the_agent_waits_its_turn_and_the_agent_then_waits_for_doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """doctor's scope checks (machines, offer search, earnings) follow the agent's same calls without a 429."""
    with shared_key(tmp_path, monkeypatch) as k:
        agent = k.parts.agent()
        now = datetime.now(timezone.utc)
        agent.machine_id = None  # found by hostname: the agent calls GET machines, as doctor does
        assert agent.reconcile(now) is not None
        agent.refresh_market(now)
        assert agent.fetch_earnings(now) is not None
        code, out, err = k.command(capsys, "doctor")
        assert code == 0, out + err
        assert "rate limited" not in out
        assert k.too_soon() == []
        agent.refresh_market(datetime.now(timezone.utc))
        assert agent.fetch_earnings(datetime.now(timezone.utc)) is not None
        assert k.too_soon() == [], "the agent spaced its calls after doctor's"


def test_plan_that_cannot_record_its_calls_still_works_and_says_what_that_costs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the state file locked against writes, plan honours the agent's calls and says it cannot record its own."""
    with shared_key(tmp_path, monkeypatch) as k:
        agent = k.parts.agent()
        assert agent.reconcile(datetime.now(timezone.utc)) is not None
        blocker = sqlite3.connect(tmp_path / "state" / "state.db", isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file: plan may read, not write
            code, _, err = k.command(capsys, "plan")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert code == 0, err
        assert "could not record" in err
        assert "429" in err, "it says what the gap may cost"
        assert k.too_soon() == [], "plan still waited for the agent's calls"


def test_doctor_skips_the_api_checks_while_the_agent_is_deferred_by_a_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent's persisted not_before is honoured: doctor calls nothing with the key and says until when."""
    with shared_key(tmp_path, monkeypatch) as k:
        until = datetime.now(timezone.utc) + timedelta(minutes=10)
        k.parts.store.put(NOT_BEFORE_KEY, until.timestamp())
        code, out, _ = k.command(capsys, "doctor")
        assert code == 0, out
        assert "skipped" in out
        assert until.isoformat()[:16] in out
        assert not [r for r in k.emu.requests if "authorization" in {h.lower() for h in r.headers}]


def test_plan_refuses_while_the_agent_is_deferred_by_a_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan honours the agent's persisted not_before too: it calls nothing and says until when."""
    with shared_key(tmp_path, monkeypatch) as k:
        until = datetime.now(timezone.utc) + timedelta(minutes=10)
        k.parts.store.put(NOT_BEFORE_KEY, until.timestamp())
        code, _, err = k.command(capsys, "plan")
        assert code == 1
        assert "rate-limited" in err
        assert until.isoformat()[:16] in err
        assert k.emu.requests == []


def test_a_recorded_call_ahead_of_our_clock_delays_the_next_call_by_one_interval_at_most(tmp_path: Path) -> None:
    """A wall clock stepped back makes the agent's record look future: the wait stays one endpoint interval."""
    clock = FakeClock()
    lines: list[str] = []
    with Emulator(clock=clock, rate_limits=True) as emu, StateStore.open(tmp_path / "state") as store:
        store.put(AGENT_CALLS_KEY, {SHOW_MACHINES.rate_key(): clock.now().timestamp() + 3600.0})
        with VastClient(emu.url, emu.api_key, clock=clock) as client:
            client.share_rate_limits(OperatorLedger(store, lines.append, put_beside(tmp_path / "state")))
            before_s = clock.monotonic()
            client.show_machines()
            waited_s = clock.monotonic() - before_s
    assert SHOW_MACHINES.min_interval_s <= waited_s <= SHOW_MACHINES.min_interval_s + 1.0
    assert any(line.startswith("waiting 2.6 s before show_machines") for line in lines)


def test_a_restarted_agent_spaces_its_first_calls_after_those_of_the_process_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent's own recorded call times survive a restart (systemd's, or a crash): no 429 right after one."""
    with shared_key(tmp_path, monkeypatch) as k:
        assert k.parts.agent().reconcile(datetime.now(timezone.utc)) is not None
        k.parts.close()
        k.parts = build(load_config(k.config_path, environ={}), clock=SystemClock(),
                        environ={"VAST_API_KEY": k.emu.api_key}, with_metrics=False)
        assert k.parts.agent().reconcile(datetime.now(timezone.utc)) is not None
        assert k.too_soon() == []
