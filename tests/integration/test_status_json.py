"""`hostagent status --json` fits hostagent/data/status.schema.json in every state a real agent leaves behind,
and a document saved by an earlier version still shows."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from agent_env import World, world

from hostagent.cli import main
from hostagent.store import StateStore
from hostagent.testing.emulator import DEMO_MACHINE_ID, Fault

SCHEMA = json.loads(resources.files("hostagent").joinpath("data/status.schema.json").read_text(encoding="utf-8"))


def status_json(w: World, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`status --json`, checked against the schema; the text screen is rendered from the same state too."""
    capsys.readouterr()
    assert main(["--config", str(w.config_path), "status"]) == 0
    assert "listing   " in capsys.readouterr().out
    assert main(["--config", str(w.config_path), "status", "--json"]) == 0
    view: dict[str, Any] = json.loads(capsys.readouterr().out)
    jsonschema.validate(view, SCHEMA)
    return view


def test_after_the_first_tick_status_json_fits_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Listed, healthy, identity recorded: the common case."""
    with world(tmp_path) as w:
        w.agent().tick(w.clock.now())
        agent = status_json(w, capsys)["agent"]
    assert agent["listing"]["listed"] is True
    assert agent["identity"]["recorded"]["machine_id"] == DEMO_MACHINE_ID
    assert len(agent["health"]["gpus"]) == 8


def test_in_observe_mode_the_writes_it_would_send_fit_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Observe mode: nothing sent, `would_send` filled."""
    with world(tmp_path, mode="observe") as w:
        w.agent().tick(w.clock.now())
        agent = status_json(w, capsys)["agent"]
    assert agent["mode"] == "observe"
    assert agent["last_actions"]["would_send"]


def test_an_unhealthy_host_with_a_hot_gpu_fits_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A GPU hot for longer than hot_for_s: unhealthy, unlisted, `hot_since` set."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        w.set_gpu(3, temperature_c=92)
        for _ in range(11):  # 330 s > hot_for_s = 300 s
            w.clock.advance(30)
            agent.telemetry(w.clock.now())
        agent.reconcile(w.clock.now())
        doc = status_json(w, capsys)["agent"]
    assert doc["health"]["ok"] is False
    assert doc["health"]["gpus"][3]["hot_since"] is not None
    assert doc["listing"]["listed"] is False


def test_an_api_error_and_a_refused_key_fit_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Vast answering 503 (the last error, with its status) and then 401 (auth refused, calls blocked)."""
    with world(tmp_path) as w:
        agent = w.agent()
        w.emu.inject(Fault("status", method="GET", status=503, times=50))
        agent.tick(w.clock.now())
        api = status_json(w, capsys)["agent"]["api"]
        assert api["last_error"]["status"] == 503
        assert api["problem"] is not None
        w.emu.clear_faults()
        w.emu.inject(Fault("status", method="GET", status=401, times=100))
        w.clock.advance(300)
        agent.tick(w.clock.now())
        api = status_json(w, capsys)["agent"]["api"]
    assert api["auth_ok"] is False
    assert api["blocked"] is not None


def test_an_identity_mismatch_fits_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Vast answering about another machine: the mismatch is shown beside the identity recorded."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        w.emu.inject(Fault("swap_machine", method="GET", path_contains=f"/machines/{DEMO_MACHINE_ID}",
                           machine_id=4243, times=0))
        w.clock.advance(300)
        agent.tick(w.clock.now())
        identity = status_json(w, capsys)["agent"]["identity"]
    assert "4243" in identity["mismatch"]
    assert identity["recorded"]["hostname"] == "demo-h100-01"


def test_a_document_saved_before_identity_and_waiting_existed_still_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent's document with `identity` and `last_actions.waiting` taken out, as an earlier version saved it:
    `status` renders it and `status --json` fills them in as nothing recorded, nothing waiting."""
    with world(tmp_path) as w:
        agent = w.agent()
        agent.tick(w.clock.now())
        state_dir = w.config().agent.state_dir
        assert w.parts is not None
        w.parts.close()  # the agent lets go of the store, as a stopped daemon would
        w.parts = None
        with StateStore.open(state_dir) as store:
            saved = store.load_status()
            assert saved is not None
            old, at = saved
            del old["identity"]
            del old["last_actions"]["waiting"]
            store.save_status(old, at)
        view = status_json(w, capsys)
    assert view["agent"]["identity"] == {"recorded": None, "mismatch": None}
    assert view["agent"]["last_actions"]["waiting"] == []
    assert view["agent"]["listing"] == old["listing"]


def test_a_held_and_paused_agent_fits_the_schema_and_shows_both_on_the_screen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hostagent hold --until` and `pause`: `owner` filled at once (read from the store), HELD and PAUSED shown."""
    with world(tmp_path) as w:
        w.agent().tick(w.clock.now())
        assert main(["--config", str(w.config_path), "hold", "--reason", "disk swap", "--until", "2h"]) == 0
        assert main(["--config", str(w.config_path), "pause", "--reason", "by hand"]) == 0
        owner = status_json(w, capsys)["agent"]["owner"]
        assert main(["--config", str(w.config_path), "status"]) == 0
        screen = capsys.readouterr().out
    assert owner["hold"]["reason"] == "disk swap"
    assert owner["hold"]["until"] is not None
    assert owner["hold"]["source"] == "command"
    assert owner["pause"]["reason"] == "by hand"
    assert "HELD unlisted by" in screen
    assert "PAUSED (no writes) by" in screen
