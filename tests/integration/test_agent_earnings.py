"""Earnings stored per day and machine, occupancy sampled at each reconcile, and `hostagent plan` changing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_env import world

from hostagent.commands.status_view import earnings_view
from hostagent.runtime.metrics import Metrics
from hostagent.service.earnings import day_of, summarize
from hostagent.store.reader import StateReader
from hostagent.testing.emulator import DEMO_MACHINE_ID


def test_earnings_are_stored_per_day_and_machine_with_occupancy_and_realised_price(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        # The default job takes every GPU no renter takes, so the machine surely earns (at its $0.10/GPU/h).
        with w.config_path.open("a") as config:
            config.write('\n[default_job]\nimage = "vastai/kvm:ubuntu_cli_22.04"\nprice_usd_per_gpu_hour = 0.10\n')
        agent = w.agent()
        agent.tick(w.clock.now())
        for _ in range(36):  # three simulated hours, a reconcile every 5 minutes
            w.emu.advance(300)
            agent.reconcile(w.clock.now())
        summary = agent.fetch_earnings(w.clock.now())
        assert summary is not None
        rows = agent.store.earnings(day_of(w.clock.now()) - 7, day_of(w.clock.now()), DEMO_MACHINE_ID)
        assert rows, "Vast's per-day rows for this machine are stored"
        assert all(r.machine_id == DEMO_MACHINE_ID for r in rows)
        assert summary.offered_gpu_hours == pytest.approx(8 * 3.0, rel=0.01)  # plus the client's rate-limit waits
        assert 0.0 <= summary.rented_gpu_hours <= summary.offered_gpu_hours
        again = summarize(agent.store, DEMO_MACHINE_ID, day_of(w.clock.now()))
        assert again.total_usd == pytest.approx(summary.total_usd), "summaries come from the store alone"
        assert summary.default_job_gpu_hours > 0, "the default job ran on the GPUs no renter took"
        busy_h = summary.rented_gpu_hours + summary.default_job_gpu_hours
        assert busy_h == pytest.approx(summary.offered_gpu_hours, rel=0.01), "renters and the default job, apart"
        renters_usd = max(0.0, summary.gpu_usd - summary.default_job_usd)
        expected = renters_usd / summary.rented_gpu_hours if summary.rented_gpu_hours > 0 else None
        assert summary.realised_usd_per_gpu_hour == pytest.approx(expected)


def test_a_machine_whose_only_job_is_its_default_job_shows_zero_occupancy(tmp_path: Path) -> None:
    """No renter all day, the default job on all 8 GPUs: 0 % in earnings, status and the metrics, not 100 %."""
    with world(tmp_path) as w:
        with w.config_path.open("a") as config:
            config.write('\n[default_job]\nimage = "vastai/kvm:ubuntu_cli_22.04"\nprice_usd_per_gpu_hour = 0.10\n')
        w.emu.set_demand(0)
        agent = w.agent()
        agent.tick(w.clock.now())
        for _ in range(12):
            w.emu.advance(300)
            agent.tick(w.clock.now())
        assert agent.machine is not None
        assert agent.machine.gpu_occupancy == " ".join(["I"] * 8), "Vast shows the default job like a bid"
        summary = agent.fetch_earnings(w.clock.now())
        assert summary is not None
        assert summary.occupancy == 0.0
        assert summary.realised_usd_per_gpu_hour is None
        assert summary.default_job_share == pytest.approx(1.0)
        reader = StateReader(w.config().agent.state_dir)
        try:
            earnings = earnings_view(reader, DEMO_MACHINE_ID, day_of(w.clock.now()))
        finally:
            reader.close()
        assert earnings["occupancy_30d"] == 0.0
        assert earnings["default_job_share_30d"] == pytest.approx(1.0)
        metrics = Metrics(hostname="demo-h100-01")
        metrics.observe_machine(agent.machine, None)
        labels = {"machine_id": str(DEMO_MACHINE_ID)}
        assert metrics.registry.get_sample_value("hostagent_gpus_rented", labels) == 0
        assert metrics.registry.get_sample_value("hostagent_gpus_default_job", labels) == 8


def test_plan_prints_the_changes_and_their_reasons_and_sends_nothing(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        done = subprocess.run(
            [sys.executable, "-m", "hostagent", "--config", str(w.config_path), "plan"],
            env={**os.environ, "VAST_API_KEY": w.emu.api_key}, capture_output=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        out = done.stdout.decode()
        assert "list_machine(price_usd_per_gpu_hour=2.0" in out
        assert "[base] H100 SXM: $2.00" in out
        assert w.writes() == []
        assert not (tmp_path / "state" / "state.db").exists(), "plan creates no state"


def test_the_earnings_summary_line_is_logged_once_per_utc_day_however_often_earnings_are_fetched(
    tmp_path: Path,
) -> None:
    from structlog.testing import capture_logs

    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        with capture_logs() as events:
            for _ in range(8):  # two simulated days, a fetch every 6 hours
                agent.fetch_earnings(w.clock.now())
                w.emu.advance(6 * 3600)
        summaries = [e for e in events if e["event"] == "earnings_daily_summary"]
        assert w.clock.now().hour == 0, "the world starts at midnight, so eight 6-hour steps span two UTC days"
        assert len(summaries) == 2
        assert all("yesterday_usd" in e and "last_30d_usd" in e for e in summaries)
        assert sum(e["event"] == "earnings_fetched" for e in events) == 6
