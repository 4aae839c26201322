"""The realised $/GPU-hour divides only the income the rented hours can explain."""

from __future__ import annotations

from pathlib import Path

from hostagent.core.model import EarningsDay
from hostagent.service.earnings import summarize
from hostagent.store import StateStore

MACHINE_ID, TODAY = 4242, 20_500


def _store(tmp_path: Path, *, history_days: int, rented_gpu_s_today: float, gpu_usd_today: float) -> StateStore:
    """Vast's income for `history_days` days before today (before the agent ran), and today's, watched."""
    store = StateStore.open(tmp_path / "state")
    days = [EarningsDay(TODAY - n, 50.0, 0.0, 0.0, 0.0, 0.0, MACHINE_ID) for n in range(1, history_days + 1)]
    store.upsert_earnings([*days, EarningsDay(TODAY, gpu_usd_today, 0.0, 0.0, 0.0, 0.0, MACHINE_ID)])
    store.put(f"occupancy:{TODAY}:{MACHINE_ID}", {"rented_gpu_s": rented_gpu_s_today, "offered_gpu_s": 8 * 3600.0,
                                                  "default_job_gpu_s": 0.0, "default_job_usd": 0.0})
    return store


def test_days_before_the_agent_watched_do_not_inflate_the_realised_price(tmp_path: Path) -> None:
    """$1,450 of history over 29 days the agent never saw, $6 today over 3 rented GPU-hours: $2/GPU-h, not $485."""
    with _store(tmp_path, history_days=29, rented_gpu_s_today=3 * 3600.0, gpu_usd_today=6.0) as store:
        summary = summarize(store, MACHINE_ID, TODAY)
    assert summary.gpu_usd == 1456.0  # the income itself is all shown
    assert summary.realised_usd_per_gpu_hour == 2.0


def test_seconds_of_rentals_give_no_realised_price_at_all(tmp_path: Path) -> None:
    """30 rented GPU-seconds since the agent started: no price (once $13.8M/GPU-h in the demo's log), not noise."""
    with _store(tmp_path, history_days=0, rented_gpu_s_today=30.0, gpu_usd_today=115.0) as store:
        summary = summarize(store, MACHINE_ID, TODAY)
    assert summary.realised_usd_per_gpu_hour is None
