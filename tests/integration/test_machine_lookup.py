"""Without `[machine] id`, the agent finds its machine among the account's by hostname, or says why it cannot."""

from __future__ import annotations

from pathlib import Path

from agent_env import world

from hostagent.testing.emulator import DEMO_MACHINE_ID


def test_the_machine_is_found_by_hostname_and_remembered(tmp_path: Path) -> None:
    with world(tmp_path, mode="observe") as w:
        agent = w.agent()
        assert agent.reconcile(w.clock.now()) is not None
        assert agent.machine_id == DEMO_MACHINE_ID
        assert agent.problem is None


def test_no_machine_with_this_hostname_is_a_clear_problem_and_no_write(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.config_path.write_text(w.config_path.read_text().replace('"demo-h100-01"', '"elsewhere-07"'))
        agent = w.agent()
        assert agent.reconcile(w.clock.now()) is None
        assert agent.problem == (
            "cannot read Vast: no machine with hostname 'elsewhere-07' on this Vast account; set machine.id"
        )
        assert agent.machine_id is None
        assert w.writes() == []


def test_several_machines_with_this_hostname_are_named_and_none_is_guessed(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.emu.state.machines[4244].hostname = "demo-h100-01"
        agent = w.agent()
        assert agent.reconcile(w.clock.now()) is None
        assert agent.problem == (
            "cannot read Vast: 2 machines with hostname 'demo-h100-01' on this Vast account (4242, 4244); "
            "set machine.id to this one"
        )
        assert agent.machine_id is None
        assert w.writes() == []
        assert not w.machine.listed
