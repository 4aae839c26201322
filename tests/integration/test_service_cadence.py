"""Cadences that survive restarts and reloads: cleanup, earnings and the one-step-per-cycle price rule."""

from __future__ import annotations

from pathlib import Path

from agent_env import World, world

from hostagent.runtime.service import Service

RUN_EVERY_S = 72 * 60.0  # 20 runs over a day


def _count(w: World, path_part: str) -> int:
    return len([r for r in w.emu.requests if path_part in r.path])


def test_twenty_run_once_processes_over_a_day_send_cleanup_once_and_no_other_write(tmp_path: Path) -> None:
    """Each run --once is a new process: cleanup (every 24 h) goes once, earnings (every 6 h) four times."""
    with world(tmp_path) as w:
        w.service().run_once()
        first_writes = len(w.writes())
        for _ in range(19):
            w.clock.advance(RUN_EVERY_S)
            assert w.service().run_once() == 0
        assert _count(w, "/cleanup") == 1
        assert _count(w, "machine-earnings") == 4
        assert w.writes()[first_writes:] == [], "a steady state sends no write across restarts"


def test_a_sighup_reload_runs_neither_cleanup_nor_earnings_again(tmp_path: Path) -> None:
    """The reload rebuilds the schedule; the slow jobs go on from their last run."""
    with world(tmp_path) as w:
        service = Service(w.build().agent(), w.clock, reload=w.config, simulated_time=True)
        service.run(max_cycles=3)
        assert (_count(w, "/cleanup"), _count(w, "machine-earnings")) == (1, 1)
        service.reload_requested = True
        service.run(max_cycles=3)
        assert (_count(w, "/cleanup"), _count(w, "machine-earnings")) == (1, 1)


def test_two_reconciles_right_after_a_reload_move_the_price_one_step(tmp_path: Path) -> None:
    """max_change_pct 15: from $2.00 toward $3.00 is $2.30, and a reload 10 s later takes no second step."""
    with world(tmp_path) as w:
        service = Service(w.build().agent(), w.clock, reload=w.config, simulated_time=True)
        service.run_once()
        assert w.machine.listed_gpu_cost == 2.0
        w.clock.advance(600)
        w.config_path.write_text(w.config_path.read_text().replace('"H100 SXM" = 2.00', '"H100 SXM" = 3.00'))
        service.reload()
        service.telemetry()
        service.reconcile()
        assert w.machine.listed_gpu_cost == 2.3
        w.clock.advance(10)
        service.reload()
        service.telemetry()
        service.reconcile()
        assert w.machine.listed_gpu_cost == 2.3, "no second step within one reconcile_s"
        w.clock.advance(300)
        restarted = w.service()  # a restart one cycle later: the next step is allowed
        restarted.telemetry()
        restarted.reconcile()
        assert w.machine.listed_gpu_cost == 2.645
