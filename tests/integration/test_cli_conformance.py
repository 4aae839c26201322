"""The official `vastai` CLI (1.9.1, from PyPI) accepts the emulator as Vast, and each host command has the
effect on the emulator's state that it has on Vast's. One CLI run per command (each costs ~0.6 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.testing.emulator import DEMO_ACCOUNT_ID, DEMO_MACHINE_ID, Emulator
from hostagent.vast.client import VastClient


def _cli_path() -> str | None:
    beside = Path(sys.executable).parent / "vastai"
    return str(beside) if beside.exists() else shutil.which("vastai")


VASTAI = _cli_path()
pytestmark = pytest.mark.skipif(VASTAI is None, reason="the official vastai CLI (a test dependency) is not installed")


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """One emulator on the real clock for the whole module; rate limits off, as CLI runs come 0.6 s apart."""
    with Emulator(seed=2, rate_limits=False) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def cli_env(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("vastai-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAST", "XDG_"))}
    env.update({
        "VAST_URL": emu.url, "VAST_API_KEY": emu.api_key, "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
        "CI": "1", "VASTAI_NO_UPDATE_CHECK": "1", "TZ": "UTC", "NO_COLOR": "1",
    })
    return env


def vastai(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert VASTAI is not None
    done = subprocess.run([VASTAI, *args], input="y\n", capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Failed with error" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_show_user_reads_the_account_and_never_prints_the_key(emu: Emulator, cli_env: dict[str, str]) -> None:
    user = json.loads(vastai(cli_env, "show", "user", "--raw").stdout)
    assert user["id"] == DEMO_ACCOUNT_ID
    assert "api_key" not in user


def test_show_machines_lists_the_default_account(cli_env: dict[str, str]) -> None:
    machines = json.loads(vastai(cli_env, "show", "machines", "--raw").stdout)["machines"]
    assert [(m["id"], m["hostname"], m["num_gpus"]) for m in machines] == [
        (DEMO_MACHINE_ID, "demo-h100-01", 8), (4243, "demo-4090-01", 4), (4244, "demo-a100-01", 8)
    ]


def test_show_machine_prints_the_one_machine_as_a_table(cli_env: dict[str, str]) -> None:
    table = vastai(cli_env, "show", "machine", str(DEMO_MACHINE_ID)).stdout
    assert "demo-h100-01" in table
    assert "H100_SXM" in table


def test_list_machine_sets_every_listing_field(emu: Emulator, cli_env: dict[str, str]) -> None:
    end_day = (datetime.now(timezone.utc) + timedelta(days=40)).date()
    out = vastai(cli_env, "list", "machine", str(DEMO_MACHINE_ID), "-g", "1.9", "-s", "0.12", "-u", "0.01",
                 "-d", "0.02", "-b", "1.2", "-m", "2", "-e", end_day.strftime("%m/%d/%Y"), "-r", "0.3").stdout
    assert f"offers created/updated for machine {DEMO_MACHINE_ID}" in out
    machine = emu.state.machines[DEMO_MACHINE_ID]
    assert machine.listed is True
    assert (machine.listed_gpu_cost, machine.listed_storage_cost) == (1.9, 0.12)
    assert (machine.listed_inet_up_cost, machine.listed_inet_down_cost) == (0.01, 0.02)
    assert (machine.min_bid_price, machine.listed_min_gpu_count, machine.credit_discount_max) == (1.2, 2, 0.3)
    midnight = datetime(end_day.year, end_day.month, end_day.day, tzinfo=timezone.utc)
    assert machine.end_date == midnight.timestamp()


def test_set_min_bid_changes_the_min_bid(emu: Emulator, cli_env: dict[str, str]) -> None:
    out = vastai(cli_env, "set", "min-bid", str(DEMO_MACHINE_ID), "--price", "1.3").stdout
    assert "Per gpu min bid price changed" in out
    assert emu.state.machines[DEMO_MACHINE_ID].min_bid_price == 1.3


def test_schedule_show_and_cancel_a_maintenance_window(emu: Emulator, cli_env: dict[str, str]) -> None:
    start = float(int(time.time()) + 2 * 86400)
    out = vastai(cli_env, "schedule", "maint", str(DEMO_MACHINE_ID), "--sdate", str(start), "--duration", "2.5",
                 "--maintenance_category", "power").stdout
    assert "Maintenance window scheduled" in out
    windows = [w for w in emu.state.machines[DEMO_MACHINE_ID].maintenances if w.active(emu.now_s())]
    assert [(w.start_time, w.duration_hours, w.category) for w in windows] == [(start, 2.0, "power")], "rounded down"

    shown = json.loads(vastai(cli_env, "show", "maints", "--ids", f"{DEMO_MACHINE_ID},4243", "--raw").stdout)
    assert [(w["machine_id"], w["start_time"], w["end_time"]) for w in shown] == [
        (DEMO_MACHINE_ID, start, start + 7200.0)
    ]

    assert "success" in vastai(cli_env, "cancel", "maint", str(DEMO_MACHINE_ID)).stdout
    assert not [w for w in emu.state.machines[DEMO_MACHINE_ID].maintenances if w.active(emu.now_s())]


def test_set_and_remove_the_default_job(emu: Emulator, cli_env: dict[str, str]) -> None:
    vastai(cli_env, "set", "defjob", str(DEMO_MACHINE_ID), "--price_gpu", "0.3", "--price_inetu", "0.01",
           "--price_inetd", "0.01", "--image", "vastai/test:latest", "--args", "python", "-c", "print(1)")
    machine = emu.state.machines[DEMO_MACHINE_ID]
    assert (machine.bid_gpu_cost, machine.bid_image, machine.bid_image_args) == (
        0.3, "vastai/test:latest", ["python", "-c", "print(1)"]
    )
    assert "removed" in vastai(cli_env, "remove", "defjob", str(DEMO_MACHINE_ID)).stdout
    assert (machine.bid_gpu_cost, machine.bid_image) == (None, None)


def test_cleanup_machine_deletes_the_expired_contracts(emu: Emulator, cli_env: dict[str, str]) -> None:
    expired = len(emu.state.machines[DEMO_MACHINE_ID].expired)
    assert expired >= 2
    result = json.loads(vastai(cli_env, "cleanup", "machine", str(DEMO_MACHINE_ID)).stdout)
    assert result["num_deleted"] == expired
    assert emu.state.machines[DEMO_MACHINE_ID].expired == []


def test_show_earnings_returns_the_machines_days(cli_env: dict[str, str]) -> None:
    first = (datetime.now(timezone.utc) - timedelta(days=10)).date().isoformat()
    last = datetime.now(timezone.utc).date().isoformat()
    report = json.loads(vastai(cli_env, "show", "earnings", "-s", first, "-e", last, "-m", "4243", "--raw").stdout)
    assert [m["machine_id"] for m in report["per_machine"]] == [4243]
    assert len(report["per_day"]) >= 10
    assert report["summary"]["total_gpu"] > 0


def test_search_offers_filters_and_orders_the_market(cli_env: dict[str, str]) -> None:
    offers = json.loads(vastai(cli_env, "search", "offers", "gpu_name=H100_SXM", "num_gpus=8", "-o", "dph+",
                               "--limit", "5", "--raw").stdout)
    assert len(offers) == 5
    assert {(o["gpu_name"], o["num_gpus"], o["verified"]) for o in offers} == {("H100 SXM", 8, True)}
    assert [o["dph_total"] for o in offers] == sorted(o["dph_total"] for o in offers)


def test_unlist_machine_ends_the_offer_but_not_the_running_contract(emu: Emulator, cli_env: dict[str, str]) -> None:
    rented = emu.state.machines[4243].running(emu.now_s())
    assert rented
    assert "machine delisted" in vastai(cli_env, "unlist", "machine", "4243").stdout
    machine = emu.state.machines[4243]
    assert machine.listed is False
    assert machine.running(emu.now_s()) == rented


def test_metrics_gpu_shows_the_market_our_client_reads(cli_env: dict[str, str], emu: Emulator) -> None:
    """`vastai metrics gpu` accepts the emulator's current metrics, and they are the rows our client parses."""
    shown = json.loads(vastai(cli_env, "metrics", "gpu", "--verified", "true", "--num-gpus", "8", "--raw").stdout)
    with VastClient(emu.url, emu.api_key) as client:
        ours = client.gpu_metrics_current(verified="yes", num_gpus="8")
    assert [(g["gpu_name"], g["total"], g["usage"], g["price_median"]) for g in shown["gpus"]] == [
        (r.gpu_name, r.total, r.usage_pct, r.price_median) for r in ours.rows
    ]
    assert "H100 SXM" in {g["gpu_name"] for g in shown["gpus"]}


def test_metrics_gpu_trends_shows_the_price_history_our_client_reads(cli_env: dict[str, str], emu: Emulator) -> None:
    """`vastai metrics gpu-trends` accepts the emulator's history: one row per point, the same rented medians."""
    end_s = int(time.time()) // 3600 * 3600
    shown = json.loads(vastai(cli_env, "metrics", "gpu-trends", "H100_SXM", "--start", str(end_s - 6 * 3600),
                              "--end", str(end_s), "--step", "3600", "--raw").stdout)
    with VastClient(emu.url, emu.api_key) as client:
        ours = client.gpu_metrics_history("H100 SXM", start_epoch_s=end_s - 6 * 3600, end_epoch_s=end_s, step_s=3600)
    rows = shown["H100 SXM"]["rows"]
    assert [(r["timestamp"], r["rented_median"]) for r in rows] == [
        (p.at_epoch_s, p.rented_median) for p in ours.points("H100 SXM")
    ]
    assert len(rows) == 7
