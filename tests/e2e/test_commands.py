"""status, earnings and journal against a state store written by the real agent (and by StateStore directly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from commands_env import REPO, Env, agent_world, write_world

from hostagent.cli import main
from hostagent.config.load import load_config
from hostagent.core.model import EarningsDay, History
from hostagent.runtime.lock import StateLock
from hostagent.service import status_doc
from hostagent.service.earnings import summarize
from hostagent.service.status_types import StatusDoc
from hostagent.store import StateStore

DAY_S = 86400
STATUS_SCHEMA = json.loads(resources.files("hostagent").joinpath("data/status.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with agent_world(tmp_path_factory.mktemp("agent")) as world:
        yield world


def nothing_known_doc(config: Path, now: datetime) -> StatusDoc:
    """The document the agent saves before it has read Vast or the GPUs."""
    return status_doc.build(
        now=now, config=load_config(config, environ={}), snapshot=None, machine=None, plan=None, health_ok=None,
        health_reasons=(), windows=(), history=History(), outcome=None, problem=None,
        api={"blocked": None, "auth_ok": True, "not_before": None, "last_error": None, "last_ok_at": None},
    )


def run_cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_shows_every_section_from_a_real_agent_run(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, env.config_path, "status")
    assert code == 0
    assert "machine 4242 demo-h100-01 · 8× H100 SXM · enforce mode" in out
    assert "agent     NOT RUNNING · last tick" in out
    assert "listing   LISTED at $2.00/GPU/h" in out
    assert "publish $2.00 (set by base)" in out  # the rule that set the price
    assert "base: H100 SXM: $2.00 (pricing.models)" in out
    assert "health    ok · 8/8 GPUs ok · fake backend" in out
    assert out.count("NVIDIA") == 0
    assert out.count(" ok       ") == 8
    assert "disk      /var/lib/docker" in out
    assert "headroom" in out
    assert "maint     next: 'weekly reboot'" in out
    assert "earnings  today $" in out
    assert any(ch in out for ch in "▂▃▄▅▆▇█")
    assert "list_machine: list_machine machine 4242" in out


def test_status_json_follows_schema_1(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, env.config_path, "status", "--json")
    assert code == 0
    view = json.loads(out)
    jsonschema.validate(view, STATUS_SCHEMA)
    assert view["schema"] == 1
    assert set(view) == {
        "schema", "generated_at", "state_dir", "daemon", "tick_at", "tick_age_s", "stale", "agent",
        "next_maintenance", "operator_maintenance", "earnings", "recent_actions",
    }
    assert view["daemon"] == {"running": False, "pid": None}
    assert 0 <= view["tick_age_s"] < 3600
    assert view["stale"] is False
    assert view["agent"]["schema"] == 1
    assert view["agent"]["listing"]["listed"] is True
    assert view["agent"]["listing"]["rule"] == "base"
    assert len(view["agent"]["health"]["gpus"]) == 8
    assert view["next_maintenance"]["name"] == "weekly reboot"
    assert view["operator_maintenance"] == {"windows": [], "cancel": None}
    earnings = view["earnings"]
    assert len(earnings["days"]) == 30
    assert earnings["last_30d_usd"] > 0
    assert earnings["last_7d_usd"] == pytest.approx(sum(d["usd"] for d in earnings["days"][-7:]), abs=0.02)
    assert 0 < earnings["occupancy_30d"] <= 1
    assert len(view["recent_actions"]) == 5
    assert {"at", "kind", "what", "ok"} <= set(view["recent_actions"][0])


def test_status_imports_neither_httpx_nor_nvml_nor_structlog(env: Env) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hostagent", "--config", str(env.config_path), "status"],
        capture_output=True, text=True, timeout=30, check=False, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "hostagent.commands.status_view" in imported
    assert {m.split(".")[0] for m in imported} & {"httpx", "httpcore", "pynvml", "structlog", "rich"} == set()


def test_status_names_the_running_daemon_by_the_lock_holders_pid(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    with StateLock(env.state_dir):
        code, out, _ = run_cli(capsys, env.config_path, "status", "--json")
    assert code == 0
    assert json.loads(out)["daemon"] == {"running": True, "pid": os.getpid()}


def test_status_before_any_tick_says_so_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_world(tmp_path, "http://127.0.0.1:9", "k")
    code, out, err = run_cli(capsys, config, "status")
    assert code == 1
    assert out == ""
    assert "no state yet" in err
    assert "hostagent run --once" in err
    assert not (tmp_path / "state").exists()  # read-only: nothing created


def test_status_with_an_invalid_config_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[agent]\nmode = 'sometimes'\n")
    code, _, err = run_cli(capsys, config, "status")
    assert code == 78
    assert "agent.mode" in err


@pytest.fixture
def store_world(tmp_path: Path) -> tuple[Path, int]:
    """A store written through StateStore's API: three days of earnings and occupancy, journal entries."""
    config = write_world(tmp_path, "http://127.0.0.1:9", "k")
    today = int(datetime.now(timezone.utc).timestamp() // DAY_S)
    with StateStore.open(tmp_path / "state") as store:
        store.put("machine_id", 4242)
        store.upsert_earnings([
            EarningsDay(today - 2, 40.0, 1.0, 0.5, 0.5, 0.0, 4242),
            EarningsDay(today - 1, 80.0, 1.0, 0.0, 0.0, 0.0, 4242),
            EarningsDay(today, 20.0, 0.0, 0.0, 0.0, 0.0, 4242),
        ])
        for day, rented_h in ((today - 2, 20.0), (today - 1, 40.0), (today, 10.0)):
            store.put(f"occupancy:{day}:4242", {"rented_gpu_s": rented_h * 3600, "offered_gpu_s": 8 * 24 * 3600})
        now = datetime.now(timezone.utc)
        store.journal(now - timedelta(hours=5), "decision", "list at 2.0", "base")
        store.journal(now - timedelta(hours=3), "list_machine", "list_machine machine 4242", "base", result="listed")
        store.journal(now - timedelta(hours=1), "set_min_bid", "set_min_bid 1.0", "floor", result="HTTP 500", ok=False)
        store.journal(now - timedelta(minutes=5), "decision", "list at 2.0", "base")
        store.save_status(nothing_known_doc(config, now), now)
    return config, today


def test_earnings_by_day_with_totals_occupancy_and_realised_rate(
    store_world: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _today = store_world
    code, out, _ = run_cli(capsys, config, "earnings", "--days", "3", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [d["total_usd"] for d in doc["days"]] == [42.0, 81.0, 20.0]
    totals = doc["totals"]
    assert totals["total_usd"] == 143.0
    assert totals["gpu_usd"] == 140.0
    assert totals["rented_gpu_hours"] == 70.0
    assert totals["offered_gpu_hours"] == 3 * 8 * 24
    assert totals["realised_usd_per_gpu_hour"] == 2.0  # 140 $ over 70 rented GPU-hours
    assert totals["occupancy"] == round(70 / 576, 4)
    assert doc["days"][1]["realised_usd_per_gpu_hour"] == 2.0
    code, text, _ = run_cli(capsys, config, "earnings", "--days", "3")
    assert code == 0
    assert "total" in text
    assert "143.00" in text
    assert "12.2 %" in text


def test_status_earnings_agree_with_the_earnings_module(
    store_world: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    config, today = store_world
    with StateStore.open(config.parent / "state", readonly=True) as store:
        summary = summarize(store, 4242, today, days=30)
    code, out, _ = run_cli(capsys, config, "status", "--json")
    assert code == 0
    jsonschema.validate(json.loads(out), STATUS_SCHEMA)
    earnings = json.loads(out)["earnings"]
    assert earnings["today_usd"] == pytest.approx(summary.today_usd)
    assert earnings["last_7d_usd"] == pytest.approx(summary.last_7d_usd)
    assert earnings["last_30d_usd"] == pytest.approx(summary.last_30d_usd)
    assert earnings["occupancy_30d"] == pytest.approx(summary.occupancy, abs=1e-4)
    assert earnings["realised_usd_per_gpu_hour_30d"] == pytest.approx(summary.realised_usd_per_gpu_hour, abs=1e-4)


def test_journal_filters_by_kind_time_and_count(
    store_world: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = store_world
    code, out, _ = run_cli(capsys, config, "journal", "--json")
    assert code == 0
    assert [e["kind"] for e in json.loads(out)] == ["decision", "list_machine", "set_min_bid", "decision"]
    _, out, _ = run_cli(capsys, config, "journal", "--kind", "decision", "--json")
    assert [e["what"] for e in json.loads(out)] == ["list at 2.0", "list at 2.0"]
    _, out, _ = run_cli(capsys, config, "journal", "--since", "2h", "--json")
    assert [e["kind"] for e in json.loads(out)] == ["set_min_bid", "decision"]
    _, out, _ = run_cli(capsys, config, "journal", "--limit", "1", "--json")
    assert len(json.loads(out)) == 1
    since = (datetime.now(timezone.utc) - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%S")
    _, out, _ = run_cli(capsys, config, "journal", "--since", since)
    assert out.count("Z ok  ") == 2
    assert "FAIL set_min_bid: set_min_bid 1.0" in out
    assert "result: HTTP 500" in out
    code, _, err = run_cli(capsys, config, "journal", "--since", "yesterday")
    assert code == 2
    assert "2h" in err
