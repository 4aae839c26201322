"""The agent writes only to the machine it asked for: a reply naming another machine, or a machine whose
hostname or GPUs changed since it was first found, sends no write and is journaled, alerted and shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_env import World, world

from hostagent.cli import main
from hostagent.core.actions import CleanupMachine, request_of
from hostagent.core.model import ActionKind
from hostagent.runtime.metrics import Metrics
from hostagent.testing.emulator import DEMO_MACHINE_ID, Fault
from hostagent.testing.emulator.state import Maintenance

OTHER_MACHINE_ID = 4243  # the account's RTX 4090 machine, listed at $0.38


def swap_reads_to_other_machine(w: World, path: str = f"/machines/{DEMO_MACHINE_ID}") -> None:
    w.emu.inject(Fault("swap_machine", method="GET", path_contains=path, machine_id=OTHER_MACHINE_ID, times=0))


def mismatches(w: World) -> list[str]:
    assert w.parts is not None
    return [f"{e.what} | {e.result}" for e in w.parts.store.journal_entries(kind="identity_mismatch")]


def status_text(w: World, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    main(["--config", str(w.config_path), "status"])
    return capsys.readouterr().out


def test_a_machine_read_answered_with_another_machines_row_sends_no_write_to_either_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Vast's row for 4243 in reply to GET /machines/4242: nothing is written, it is journaled, counted and shown."""
    with world(tmp_path) as w:
        parts = w.build()
        parts.metrics = Metrics(hostname="test-host")
        agent = parts.agent()
        assert agent.tick(w.clock.now()) is not None
        w.machine.listed = False  # 4242 now needs a write, and 4243's row would ask for others
        w.emu.clear_requests()
        swap_reads_to_other_machine(w)
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is None
        assert w.writes() == []
        assert w.emu.state.machines[OTHER_MACHINE_ID].listed_gpu_cost == 0.38
        (entry,) = mismatches(w)
        assert f"asked for machine {DEMO_MACHINE_ID}" in entry
        assert f"machine {OTHER_MACHINE_ID}" in entry
        doc = agent.store.load_status()[0]
        assert f"machine {OTHER_MACHINE_ID}" in doc["identity"]["mismatch"]
        assert doc["identity"]["recorded"]["hostname"] == "demo-h100-01"
        assert "MACHINE IDENTITY MISMATCH" in status_text(w, capsys).splitlines()[0]
        mismatch_counter = "hostagent_machine_identity_mismatches_total"
        assert parts.metrics.registry.get_sample_value(mismatch_counter) == 1
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is None
        assert w.writes() == []
        assert len(mismatches(w)) == 1, "the same mismatch is journaled once, not every reconcile"


def test_a_machine_whose_gpus_changed_since_it_was_first_read_gets_no_write(tmp_path: Path) -> None:
    """With machine.id configured the identity is recorded at the first read; a later change stops writes."""
    with world(tmp_path) as w:
        configured = w.config_path.read_text().replace("[machine]\n", f"[machine]\nid = {DEMO_MACHINE_ID}\n")
        w.config_path.write_text(configured)
        agent = w.agent()
        assert agent.tick(w.clock.now()) is not None
        recorded = agent.store.get("machine_identity")
        assert recorded == {"machine_id": DEMO_MACHINE_ID, "hostname": "demo-h100-01", "gpu_name": "H100 SXM",
                            "num_gpus": 8}
        w.machine.gpu_name = "RTX 4090"
        w.machine.listed = False
        w.emu.clear_requests()
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is None
        assert w.writes() == []
        (entry,) = mismatches(w)
        assert "gpu_name 'H100 SXM' -> 'RTX 4090'" in entry
        assert "forget-machine" in agent.store.load_status()[0]["identity"]["mismatch"]


def test_a_read_back_naming_another_machine_stops_the_writes_that_follow(tmp_path: Path) -> None:
    """The write already sent went to the right machine; the read-back's wrong row stops every later one."""
    with world(tmp_path) as w:
        agent = w.agent()
        swap_reads_to_other_machine(w)  # the hostname lookup reads /machines; only the read-back asks for 4242
        cleanup = CleanupMachine(DEMO_MACHINE_ID, "scheduled")
        assert agent.reconcile(w.clock.now(), extra=(cleanup,)) is not None
        assert w.writes() == ["PUT /api/v0/machines/create_asks/"], "cleanup is not sent after the mismatch"
        assert agent.outcome is not None
        assert "identity" in (agent.outcome.deferred or "")
        assert len(mismatches(w)) == 1
        assert agent.machine is not None
        assert agent.machine.id == DEMO_MACHINE_ID, "the wrong row is not taken as the machine's state"


def test_an_open_intent_is_not_resolved_from_another_machines_row(tmp_path: Path) -> None:
    """Resolving intents reads the machine too: a wrong row leaves the intent open and sends nothing."""
    with world(tmp_path) as w:
        agent = w.agent()
        plan = agent.preview(w.clock.now())
        (action,) = [a for a in plan.actions if a.kind is ActionKind.LIST]
        agent.store.begin_action(w.clock.now(), action.key(), action.kind.value, request_of(action))
        agent.store.put("machine_id", DEMO_MACHINE_ID)
        restarted = w.agent()
        swap_reads_to_other_machine(w)
        assert restarted.tick(w.clock.now()) is None
        assert w.writes() == []
        assert len(restarted.store.open_intents()) == 1
        assert len(mismatches(w)) == 1


def test_maintenance_windows_of_another_machine_are_refused(tmp_path: Path) -> None:
    """4243's windows in reply to show_maints for 4242 would make the agent cancel 4242's: nothing is sent."""
    with world(tmp_path) as w:
        agent = w.agent()
        assert agent.tick(w.clock.now()) is not None
        now_s = w.emu.now_s()
        w.emu.state.machines[OTHER_MACHINE_ID].maintenances.append(
            Maintenance(id=1, machine_id=OTHER_MACHINE_ID, start_time=now_s + 86400, duration_hours=2.0,
                        category="power", created_at=now_s))
        w.emu.clear_requests()
        swap_reads_to_other_machine(w, "/maintenances")
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is None
        assert w.writes() == []
        (entry,) = mismatches(w)
        assert f"machine {OTHER_MACHINE_ID}" in entry


def test_after_a_real_gpu_change_forget_machine_lets_the_agent_record_the_machine_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documented fix: stop the agent, `hostagent forget-machine`, start it; it writes again."""
    with world(tmp_path) as w:
        agent = w.agent()
        assert agent.tick(w.clock.now()) is not None
        w.machine.num_gpus = 4  # the owner really took four GPUs out
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is None
        assert main(["--config", str(w.config_path), "forget-machine", "--yes"]) == 1, "the agent still runs"
        assert "stop it first" in capsys.readouterr().err
        assert w.parts is not None
        w.parts.close()
        w.parts = None
        assert main(["--config", str(w.config_path), "forget-machine", "--yes"]) == 0
        restarted = w.agent()
        w.clock.advance(300)
        assert restarted.tick(w.clock.now()) is not None
        assert restarted.store.get("machine_identity") == {
            "machine_id": DEMO_MACHINE_ID, "hostname": "demo-h100-01", "gpu_name": "H100 SXM", "num_gpus": 4}
        assert restarted.store.load_status()[0]["identity"]["mismatch"] is None
        (forgotten,) = restarted.store.journal_entries(kind="operator")
        assert forgotten.what == "forget machine"


def test_plan_refuses_to_plan_from_another_machines_row_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hostagent plan` reads the machine too: it says why it cannot plan, exits 1 and journals nothing."""
    with world(tmp_path) as w:
        assert w.agent().tick(w.clock.now()) is not None
        monkeypatch.setenv("VAST_API_KEY", w.emu.api_key)
        swap_reads_to_other_machine(w)
        capsys.readouterr()
        assert main(["--config", str(w.config_path), "plan"]) == 1
        err = capsys.readouterr().err
        assert f"asked for machine {DEMO_MACHINE_ID}, Vast answered with machine {OTHER_MACHINE_ID}" in err
        assert mismatches(w) == []
