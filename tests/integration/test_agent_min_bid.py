"""The min bid against the Vast emulator: Vast's cap is learned from its 422 and respected, never hit in a loop."""

from __future__ import annotations

from pathlib import Path

from agent_env import world

from hostagent.core.model import ActionKind
from hostagent.service.history import HISTORY_KEY, history_from_json


def test_vasts_min_bid_cap_is_remembered_and_the_next_plan_clamps_below_it_instead_of_failing_again(
    tmp_path: Path,
) -> None:
    """Fixed min bid $0.50, Vast allows $0.40: one refused write, then listed at $0.40 with the reason, for good."""
    with world(tmp_path) as w:
        w.emu.state.account.max_min_bid_usd_per_gpu_hour = 0.40
        agent = w.agent()
        for _ in range(5):
            agent.tick(w.clock.now())
            w.clock.advance(300)
        assert w.machine.listed
        assert w.machine.min_bid_price == 0.40
        lists = agent.store.journal_entries(kind=ActionKind.LIST.value)
        assert [e.ok for e in lists] == [False, True]
        assert "min_bid must be <= 0.4" in lists[0].result
        assert "min_bid.vast_cap: $0.50 lowered to $0.40" in lists[1].why
        stored = agent.store.get(HISTORY_KEY)
        assert isinstance(stored, dict)
        assert history_from_json(stored).vast_min_bid_max_usd_per_gpu_hour == 0.40


def test_the_remembered_cap_survives_a_restart_so_the_refused_min_bid_is_never_sent_again(tmp_path: Path) -> None:
    """The cap lives in the state store: a new agent on the same state directory asks for $0.40 at once."""
    with world(tmp_path) as w:
        w.emu.state.account.max_min_bid_usd_per_gpu_hour = 0.40
        w.agent().tick(w.clock.now())
        assert not w.machine.listed  # the one refused write
        w.clock.advance(300)
        agent = w.agent()  # a fresh process: memory from the state store only
        agent.tick(w.clock.now())
        assert w.machine.listed
        assert w.machine.min_bid_price == 0.40
        refused = [e for e in agent.store.journal_entries(kind=ActionKind.LIST.value) if not e.ok]
        assert len(refused) == 1


def test_a_min_bid_under_vasts_cap_is_published_as_configured_not_lifted_to_the_on_demand_floor(
    tmp_path: Path,
) -> None:
    """agent_env's fixed $0.50 min bid stays $0.50 although the H100's on-demand floor is $1.00."""
    with world(tmp_path) as w:
        w.agent().tick(w.clock.now())
        assert w.machine.listed_gpu_cost == 2.00
        assert w.machine.min_bid_price == 0.50


def set_bid(config_path: Path, old: str, new: str) -> None:
    """Edit agent_env's fixed min bid in the config file."""
    config_path.write_text(config_path.read_text().replace(f"usd_per_gpu_hour = {old}", f"usd_per_gpu_hour = {new}"))


def test_a_refused_set_min_bid_alone_is_learned_the_same_way(tmp_path: Path) -> None:
    """Listed at a $0.30 bid, the config asks $0.50 (cap $0.40): one refused set_min_bid, then $0.40."""
    with world(tmp_path) as w:
        w.emu.state.account.max_min_bid_usd_per_gpu_hour = 0.40
        set_bid(w.config_path, "0.50", "0.30")
        agent = w.agent()
        agent.tick(w.clock.now())
        assert w.machine.min_bid_price == 0.30
        set_bid(w.config_path, "0.30", "0.50")
        agent.set_config(w.config())
        for _ in range(4):
            w.clock.advance(300)
            agent.tick(w.clock.now())
        assert w.machine.min_bid_price == 0.40
        bids = agent.store.journal_entries(kind=ActionKind.SET_MIN_BID.value)
        assert [e.ok for e in bids] == [False, True]
        assert "min_bid must be <= 0.4" in bids[0].result
