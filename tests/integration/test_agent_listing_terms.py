"""The running agent against the emulator: the rolling horizon, no volume offer, and a raise's lost extension."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent_env import World, world

from hostagent.core.actions import ListMachine
from hostagent.core.model import ActionKind
from hostagent.testing.emulator import DEMO_MACHINE_ID
from hostagent.testing.emulator.state import ON_DEMAND, Contract

DAY_S = 86400.0


def _set_price(w: World, price: str) -> None:
    w.config_path.write_text(w.config_path.read_text().replace('"H100 SXM" = 2.00', f'"H100 SXM" = {price}'))


def test_the_agent_lists_with_a_rolling_duration_and_no_volume_offer_and_leaves_vasts_daily_move_alone(
    tmp_path: Path,
) -> None:
    """Default [listing]: `duration` "30 days" and `vol_size` 0; Vast's daily move of the end date is no change."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        machine = w.machine
        assert (machine.listing_duration_s, machine.vol_size_gb) == (30 * DAY_S, 0)
        assert machine.end_date == w.clock.now().timestamp() + 30 * DAY_S
        for _ in range(2 * 24 * 12):  # two days of reconciles, over two UTC midnights
            w.clock.advance(300)
            outcome = agent.tick(w.clock.now())
            assert outcome is not None
            assert not [a for a in outcome.sent if isinstance(a, ListMachine)]


def test_a_window_inside_the_horizon_makes_the_offer_end_at_its_start(tmp_path: Path) -> None:
    """A one-off window 10 days ahead: `end_date` = its start is sent instead of the duration."""
    with world(tmp_path) as w:
        start = (w.clock.now() + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
        w.config_path.write_text(w.config_path.read_text() + (
            f'\n[[maintenance.windows]]\nname = "disk swap"\nduration_h = 2\ncategory = "disk"\n'
            f'start = {start.replace(tzinfo=None).isoformat()}\n'))
        w.agent().tick(w.clock.now())
        assert (w.machine.end_date, w.machine.listing_duration_s) == (start.timestamp(), None)


def test_a_price_raise_on_a_rented_machine_is_journaled_as_costing_the_contracts_their_extension(
    tmp_path: Path,
) -> None:
    """Vast extends running contracts only at the same or a lower price: the journal says the raise blocks it."""
    with world(tmp_path) as w:
        w.emu.set_demand(0.0)
        w.agent().tick(w.clock.now())
        now_s = w.clock.now().timestamp()
        cut_short = Contract(id=w.emu.state.new_id(), machine_id=DEMO_MACHINE_ID, kind=ON_DEMAND, gpus=1,
                             start_s=now_s, end_s=now_s + 3 * DAY_S, price_usd_per_gpu_hour=2.0,
                             wanted_end_s=now_s + 60 * DAY_S)
        w.machine.contracts.append(cut_short)
        w.clock.advance(6 * 3600)
        _set_price(w, "2.20")
        agent = w.agent()
        agent.tick(w.clock.now())
        listed = agent.store.journal_entries(kind=ActionKind.LIST.value)
        assert "price raised from $2.00 to $2.20: Vast will not extend the 1 running contract(s)" in listed[-1].why
        assert listed[-1].result == "listed; 0 running contracts extended"
        assert cut_short.end_s == now_s + 3 * DAY_S
