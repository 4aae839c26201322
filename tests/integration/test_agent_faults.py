"""The agent survives Vast's failures: outages, lost replies, long 429s across a restart, a revoked key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent_env import world

from hostagent.core.actions import request_of
from hostagent.core.model import ActionKind
from hostagent.service.writes import send_write
from hostagent.testing.emulator import Fault


def test_an_api_outage_skips_the_reconcile_keeps_telemetry_and_recovers(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("status", method="GET", status=503, times=50))
        assert agent.tick(w.clock.now()) is None
        assert not w.machine.listed
        status = agent.store.load_status()[0]
        assert status["api"]["last_error"]["kind"] == "VastServerError"
        assert status["health"]["telemetry_at"] is not None
        w.emu.clear_faults()
        w.emu.inject(Fault("drop", method="GET", times=50))
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is None
        w.emu.clear_faults()
        w.clock.advance(300)
        assert agent.tick(w.clock.now()) is not None
        assert w.machine.listed


def test_a_lost_write_reply_is_resolved_from_vasts_state_at_the_next_tick(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("drop", method="PUT", path_contains="create_asks"))
        outcome = agent.tick(w.clock.now())
        assert outcome is not None
        assert outcome.failed
        assert len(agent.store.open_intents()) == 1, "a lost reply leaves its intent open"
        w.clock.advance(300)
        agent.tick(w.clock.now())
        assert agent.store.open_intents() == []
        assert w.machine.listed
        resolved = agent.store.journal_entries(kind="intent_resolved")
        assert len(resolved) == 1


def test_an_action_sent_just_before_a_crash_is_confirmed_after_restart_and_not_sent_again(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        plan = agent.preview(w.clock.now())
        (action,) = [a for a in plan.actions if a.kind is ActionKind.LIST]
        # The crash: intent written, the call made, the process killed before finish_action.
        agent.store.begin_action(w.clock.now(), action.key(), action.kind.value, request_of(action))
        send_write(agent.market, action)
        assert w.machine.listed
        lists_before = [r for r in w.emu.requests if "create_asks" in r.path]
        restarted = w.agent()
        restarted.tick(w.clock.now())
        assert restarted.store.open_intents() == []
        assert [r for r in w.emu.requests if "create_asks" in r.path] == lists_before, "no duplicate write"
        (resolved,) = restarted.store.journal_entries(kind="intent_resolved")
        assert resolved.ok
        assert "confirmed" in resolved.result


def test_an_action_begun_but_never_sent_is_replanned_after_restart(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        plan = agent.preview(w.clock.now())
        (action,) = [a for a in plan.actions if a.kind is ActionKind.LIST]
        agent.store.begin_action(w.clock.now(), action.key(), action.kind.value, request_of(action))
        restarted = w.agent()
        restarted.tick(w.clock.now())
        assert w.machine.listed
        assert len([r for r in w.emu.requests if "create_asks" in r.path]) == 1
        (resolved,) = restarted.store.journal_entries(kind="intent_resolved")
        assert not resolved.ok


def test_a_429_with_a_long_retry_after_defers_every_call_across_a_restart(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("status", method="GET", status=429, retry_after="3600"))
        assert agent.tick(w.clock.now()) is None
        seen = len(w.emu.requests)
        restarted = w.agent()
        w.clock.advance(600)
        assert restarted.tick(w.clock.now()) is None
        assert len(w.emu.requests) == seen, "no call before not_before, even after a restart"
        assert "deferred until" in restarted.store.load_status()[0]["api"]["blocked"]
        w.clock.advance(3600)
        assert restarted.tick(w.clock.now()) is not None
        assert w.machine.listed


def test_a_refused_key_stops_api_actions_but_telemetry_goes_on(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("status", method="GET", status=401, times=100))
        start = w.clock.now()
        assert agent.tick(start) is None
        seen = len(w.emu.requests)
        for _ in range(5):
            w.clock.advance(300)
            assert agent.tick(w.clock.now()) is None
        assert len(w.emu.requests) == seen, "no retry storm against a revoked key"
        assert len(agent.store.telemetry(start + timedelta(seconds=1), gpu_index=0)) == 5
        api = agent.store.load_status()[0]["api"]
        assert api["auth_ok"] is False
        assert "refused the API key" in api["blocked"]
