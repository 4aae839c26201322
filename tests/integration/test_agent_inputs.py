"""The running agent against hostile numbers: one bogus power sample moves neither the price nor the min bid."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from agent_env import world

from hostagent.service.history import HISTORY_KEY

FIXED = 'mode = "fixed"\nusd_per_gpu_hour = 0.50'
POWER = 'mode = "power"\ntariff_usd_per_kwh = 2.0\nmargin = 1.0\nfallback_power_w = 700.0'


def test_one_infinite_power_sample_moves_neither_the_price_past_max_change_nor_the_min_bid(tmp_path: Path) -> None:
    """power_w = inf once pinned the min bid at the ceiling and pulled the price there in one reconcile."""
    with world(tmp_path) as w:
        w.config_path.write_text(w.config_path.read_text().replace(FIXED, POWER))
        agent = w.agent()
        agent.tick(w.clock.now())
        assert (w.machine.listed_gpu_cost, w.machine.min_bid_price) == (2.00, 1.40)  # 700 W fallback x $2/kWh
        w.set_gpu(0, utilization_pct=90, power_w="inf")
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert w.machine.listed_gpu_cost <= 2.00 * 1.15 + 1e-9  # max_change_pct 15 (the default)
        assert w.machine.min_bid_price == 1.40
        saved = agent.store.get(HISTORY_KEY)
        assert isinstance(saved, dict)
        power = saved.get("median_power_under_load_w")
        assert power is None or math.isfinite(power)
        assert {row.power_w for row in agent.store.telemetry(w.clock.now()) if row.gpu_index == 0} <= {None}


def test_a_restart_without_memory_relists_an_unlisted_machine_within_max_change_of_the_price_vast_shows(
    tmp_path: Path,
) -> None:
    """The first listing after a restart is a price change like any other: 15 % from the last price Vast showed."""
    with world(tmp_path) as w:
        w.agent().tick(w.clock.now())
        assert (w.machine.listed, w.machine.listed_gpu_cost) == (True, 2.00)
        w.machine.listed = False  # unlisted by hand on Vast's site; Vast still shows the old price
        assert w.parts is not None
        w.parts.close()
        w.parts = None
        shutil.rmtree(tmp_path / "state")  # the state store is lost: no memory of what was published
        w.config_path.write_text(w.config_path.read_text().replace('"H100 SXM" = 2.00', '"H100 SXM" = 3.00'))
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert w.machine.listed_gpu_cost == 2.30
        assert agent.plan is not None
        assert any("at most 15% from $2.00" in r.text for r in agent.plan.reasons)
