"""The emulator's HTTP surface: Vast's paths, shapes, auth, errors, rate limits, faults and the request record."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from hostagent.config import load_config
from hostagent.hardware import build_hardware
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_API_KEY, Emulator, Fault

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
PEER_MACHINE = 50_000  # the first peer offer's machine: exists, but belongs to another host


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    """Rate limits off: only the rate-limit test turns them on."""
    with Emulator(clock=clock, seed=3, rate_limits=False) as emulator:
        yield emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers=AUTH, follow_redirects=False, timeout=5) as client:
        yield client


def test_both_slash_forms_answer_without_redirects(http: httpx.Client) -> None:
    for path in ("/api/v0/machines", "/api/v0/machines/", "/api/v0/machines/4242", "/api/v0/machines/4242/"):
        assert http.get(path, params={"owner": "me"}).status_code == 200


def test_show_machines_is_wrapped_and_show_machine_is_a_bare_array(http: httpx.Client) -> None:
    machines = http.get("/api/v0/machines", params={"owner": "me"}).json()["machines"]
    assert {m["id"] for m in machines} == {4242, 4243, 4244}
    one = http.get("/api/v0/machines/4242").json()
    assert isinstance(one, list)
    assert one[0]["hostname"] == "demo-h100-01"
    assert one[0]["gpu_name"] == "H100 SXM"
    assert one[0]["num_gpus"] == 8
    assert one[0]["listed"] is False


def test_bearer_and_query_key_work_and_an_unknown_key_gets_vasts_401(emu: Emulator) -> None:
    assert httpx.get(f"{emu.url}/api/v0/users/current", headers=AUTH).json()["id"] == 424242
    assert httpx.get(f"{emu.url}/api/v0/users/current", params={"api_key": DEMO_API_KEY}).status_code == 200
    bad = httpx.get(f"{emu.url}/api/v0/machines", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json() == {"success": False, "error": "auth_error", "msg": "Invalid user key"}
    assert httpx.get(f"{emu.url}/api/v0/gpu_names/unique/").json()["gpu_names"] == ["A100 SXM4", "H100 SXM",
                                                                                     "RTX 4090"]


def test_unknown_machine_is_404_and_another_hosts_machine_is_403(http: httpx.Client) -> None:
    assert http.request("DELETE", "/api/v0/machines/99999/asks/", json={}).json()["msg"] == "No such machine id"
    assert http.get("/api/v0/machines/99999").status_code == 404
    denied = http.put("/api/v0/machines/create_asks/", json={"machine": PEER_MACHINE, "price_gpu": 1.0})
    assert denied.status_code == 403
    assert denied.json()["msg"] == "Only the owner can create ask contracts for a machine."
    not_owner = http.put("/api/v0/machines/create_bids/", json={"machine": PEER_MACHINE, "price_gpu": 0.1,
                                                                 "image": "x", "args": None})
    assert not_owner.status_code == 200
    assert not_owner.json()["success"] is False


def test_create_asks_nulls_keep_what_the_machine_has(emu: Emulator, http: httpx.Client) -> None:
    body = dict.fromkeys(("price_disk", "price_inetu", "price_inetd", "end_date", "credit_discount_max",
                          "duration", "vol_size", "vol_price"))
    first = http.put("/api/v0/machines/create_asks/",
                     json={**body, "machine": 4242, "price_gpu": 2.2, "price_min_bid": 1.4, "min_chunk": 2})
    assert first.json()["success"] is True
    again = http.put("/api/v0/machines/create_asks/",
                     json={**body, "machine": 4242, "price_gpu": None, "price_min_bid": None, "min_chunk": None})
    assert again.json()["extended"] == 0
    machine = emu.state.machines[4242]
    assert (machine.listed, machine.listed_gpu_cost, machine.min_bid_price) == (True, 2.2, 1.4)
    assert machine.listed_min_gpu_count == 2
    bad = http.put("/api/v0/machines/create_asks/", json={**body, "machine": 4242, "price_gpu": -1})
    assert bad.status_code == 400


def test_min_bid_must_be_positive(http: httpx.Client) -> None:
    rejected = http.put("/api/v0/machines/4242/minbid/", json={"client_id": "me", "price": 0})
    assert rejected.status_code == 422
    assert rejected.json()["msg"] == "min_bid must be greater than 0."
    assert http.put("/api/v0/machines/4242/minbid/", json={"client_id": "me", "price": 0.9}).status_code == 200


def test_maintenance_windows_are_validated_listed_and_cancelled(emu: Emulator, http: httpx.Client) -> None:
    now = emu.now_s()
    window = {"client_id": "me", "sdate": now + 86400.0, "duration": 2.5, "maintenance_category": "not provided"}
    assert http.put("/api/v0/machines/4242/dnotify/", json={**window, "sdate": now - 1}).status_code == 422
    assert http.put("/api/v0/machines/4242/dnotify/", json={**window, "duration": 0.5}).status_code == 422
    assert http.put("/api/v0/machines/4242/dnotify/", json={**window, "maintenance_category": "x"}).status_code == 400
    assert http.put("/api/v0/machines/4242/dnotify/", json=window).json()["success"] is True
    shown = http.get("/api/v0/machines/maintenances", params={"owner": "me", "machine_ids": "[4242, 4243]"}).json()
    assert [(w["machine_id"], w["duration_hours"], w["start_time"]) for w in shown] == [(4242, 2, now + 86400.0)]
    assert http.get("/api/v0/machines/maintenances", params={"machine_ids": "[]"}).status_code == 400
    assert http.get("/api/v0/machines/maintenances", params={"machine_ids": "[99999]"}).status_code == 404
    cancelled = http.put("/api/v0/machines/4242/cancel_maint/", json={"client_id": "me", "machine_id": 4242}).json()
    assert cancelled["msg"] == "deleted 1 scheduled maintenance window(s) on machine 4242"
    assert http.get("/api/v0/machines/maintenances", params={"machine_ids": "[4242]"}).json() == []


def test_a_window_vast_scheduled_survives_the_hosts_cancel(emu: Emulator, http: httpx.Client) -> None:
    """cancel_maint removes the host's windows only: one Vast scheduled stays."""
    now = emu.now_s()
    vast_id = emu.schedule_vast_maintenance(4242, now + 86400.0, 3)
    window = {"client_id": "me", "sdate": now + 2 * 86400.0, "duration": 1, "maintenance_category": "power"}
    assert http.put("/api/v0/machines/4242/dnotify/", json=window).json()["success"] is True
    http.put("/api/v0/machines/4242/cancel_maint/", json={"client_id": "me", "machine_id": 4242})
    shown = http.get("/api/v0/machines/maintenances", params={"machine_ids": "[4242]"}).json()
    assert [w["id"] for w in shown] == [vast_id]


def test_search_reads_numbers_as_strings_any_and_orders_with_exact_content_type(
    emu: Emulator, http: httpx.Client
) -> None:
    http.put("/api/v0/machines/create_asks/", json={"machine": 4242, "price_gpu": 1.5, "min_chunk": 1})
    query = {"gpu_name": {"eq": "H100 SXM"}, "num_gpus": {"gte": "8"}, "rented": {"eq": "any"},
             "geolocation": {"notin": ["XX"]}, "order": [["dph_total", "asc"]], "type": "on-demand", "limit": 5}
    reply = http.post("/api/v0/bundles/", json=query)
    assert reply.headers["Content-Type"] == "application/json"
    offers = reply.json()["offers"]
    assert len(offers) == 5
    assert all(o["gpu_name"] == "H100 SXM" and o["num_gpus"] >= 8 for o in offers)
    assert [o["dph_total"] for o in offers] == sorted(o["dph_total"] for o in offers)
    mine = http.post("/api/v0/bundles", json={"machine_id": {"eq": "4242"}}).json()["offers"]
    assert [o["host_id"] for o in mine] == [emu.state.account.id]
    assert http.post("/api/v0/bundles/", json={"num_gpus": {"like": "8"}}).status_code == 400


def test_earnings_come_per_day_and_per_machine_for_fractional_days(emu: Emulator, http: httpx.Client) -> None:
    today = emu.now_s() / 86400.0
    reply = http.get("/api/v0/users/me/machine-earnings",
                     params={"owner": "me", "sday": str(today - 7), "eday": str(today), "machid": "null"}).json()
    assert {m["machine_id"] for m in reply["per_machine"]} == {4243, 4244}
    assert len(reply["per_day"]) == 7
    assert reply["summary"]["total_gpu"] == pytest.approx(sum(d["gpu_earn"] for d in reply["per_day"]), abs=1e-3)
    one = http.get("/api/v0/users/me/machine-earnings",
                   params={"sday": str(today - 7), "eday": str(today), "machid": "4243"}).json()
    assert [m["machine_id"] for m in one["per_machine"]] == [4243]
    assert http.get("/api/v0/users/me/machine-earnings", params={"sday": "x", "eday": "1"}).status_code == 400


def test_a_second_call_inside_the_threshold_gets_vasts_plain_429(
    emu: Emulator, clock: FakeClock, http: httpx.Client
) -> None:
    emu.set_rate_limits(True)
    assert http.get("/api/v0/machines").status_code == 200
    too_soon = http.get("/api/v0/machines")
    assert too_soon.status_code == 429
    assert too_soon.text == "API requests too frequent endpoint threshold=2.5"
    assert http.get("/api/v0/machines/4242").status_code == 200  # limits are per endpoint
    clock.advance(2.5)
    assert http.get("/api/v0/machines").status_code == 200
    emu.set_rate_limits(False)
    assert http.get("/api/v0/machines").status_code == 200


def test_status_fault_fires_its_times_then_normal_answers_resume(emu: Emulator, http: httpx.Client) -> None:
    emu.inject(Fault("status", method="GET", path_contains="/machines", status=429, retry_after="3", times=2))
    first, second, third = (http.get("/api/v0/machines") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert (second.status_code, third.status_code) == (429, 200)
    emu.inject(Fault("status", status=503))
    assert http.get("/api/v0/users/current").json()["success"] is False


@pytest.mark.parametrize("kind", ["malformed", "truncated", "html"])
def test_body_faults_give_bodies_that_are_not_json(emu: Emulator, http: httpx.Client, kind: str) -> None:
    emu.inject(Fault(kind, status=200))
    reply = http.get("/api/v0/machines")
    assert reply.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


def test_wrong_types_and_success_false_faults(emu: Emulator, http: httpx.Client) -> None:
    emu.inject(Fault("wrong_types"))
    machine = http.get("/api/v0/machines").json()["machines"][0]
    assert (machine["id"], machine["num_gpus"], machine["hostname"]) == ("4242", "8", 12)
    emu.inject(Fault("success_false", body="try later"))
    assert http.put("/api/v0/machines/4242/cleanup/", json={}).json() == {"success": False, "msg": "try later"}


def test_swap_machine_answers_a_read_of_one_machine_with_another_machines_row_and_windows(
    emu: Emulator, http: httpx.Client
) -> None:
    """The adversarial reply of a machine read: the row (or the windows) of machine_id instead of the one asked."""
    emu.inject(Fault("swap_machine", method="GET", path_contains="/machines/4242", machine_id=4243))
    assert [m["id"] for m in http.get("/api/v0/machines/4242/").json()] == [4243]
    assert [m["id"] for m in http.get("/api/v0/machines/4242/").json()] == [4242], "fired once"
    http.put("/api/v0/machines/4243/dnotify/", json={"sdate": emu.now_s() + 86400, "duration": 2.0,
                                                     "maintenance_category": "power"})
    emu.inject(Fault("swap_machine", path_contains="/maintenances", machine_id=4243))
    windows = http.get("/api/v0/machines/maintenances", params={"machine_ids": "[4242]"}).json()
    assert [w["machine_id"] for w in windows] == [4243]
    assert http.post("/_emulator/fault", json={"kind": "swap_machine"}).status_code == 400, "needs machine_id"


def test_drop_closes_the_connection_without_a_reply(emu: Emulator) -> None:
    emu.inject(Fault("drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{emu.url}/api/v0/machines", headers=AUTH)


def test_delay_fault_outlasts_a_short_read_timeout(emu: Emulator) -> None:
    emu.inject(Fault("delay", delay_s=0.3))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{emu.url}/api/v0/machines", headers=AUTH, timeout=0.05)


def test_control_routes_inject_faults_list_requests_and_advance_a_fake_clock(
    emu: Emulator, clock: FakeClock, http: httpx.Client
) -> None:
    fault = {"kind": "status", "status": 502, "path_contains": "/users/current"}
    assert http.post("/_emulator/fault", json=fault).json() == {"success": True}
    assert http.post("/_emulator/fault", json={"kind": "nope"}).status_code == 400
    assert http.get("/api/v0/users/current").status_code == 502
    recorded = http.get("/_emulator/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in recorded] == [("GET", "/api/v0/users/current", 502)]
    before = clock.now()
    assert http.post("/_emulator/advance", json={"seconds": 3600}).json()["success"] is True
    assert (clock.now() - before).total_seconds() == 3600


def test_every_request_is_recorded_with_raw_query_and_json_body(emu: Emulator, http: httpx.Client) -> None:
    http.get("/api/v0/machines/maintenances", params={"owner": "me", "machine_ids": "[4242, 4243]"})
    http.request("GET", "/api/v0/machines/4243/reports/", content=b'{"machine_id": 4243}')
    maint, reports = emu.requests
    assert maint.query == {"owner": "me", "machine_ids": "[4242, 4243]"}
    assert reports.json_body == {"machine_id": 4243}
    assert reports.headers["Authorization"] == f"Bearer {DEMO_API_KEY}"
    assert DEMO_API_KEY not in repr(reports)


def test_requests_that_are_not_http_do_not_stop_the_server(emu: Emulator, http: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", int(emu.url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")
        raw.recv(1024)
    assert http.get("/api/v0/users/current").status_code == 200


def test_the_default_account_holds_the_demo_configs_machine_and_each_model_has_a_peer_market(
    emu: Emulator, http: httpx.Client
) -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "config" / "demo.toml", environ={})
    fake_gpus = build_hardware(config.hardware, FakeClock()).read(START).gpus
    machines = http.get("/api/v0/machines", params={"owner": "me"}).json()["machines"]
    demo = [m for m in machines if m["hostname"] == config.machine.hostname]
    assert [(m["id"], m["num_gpus"], m["gpu_name"], m["listed"]) for m in demo] == [(4242, len(fake_gpus), "H100 SXM",
                                                                                     False)]
    assert {g.name for g in fake_gpus} == {"NVIDIA H100 80GB HBM3"}  # what NVML calls Vast's "H100 SXM"
    assert len({m["gpu_name"] for m in machines}) == 3, "beside machines of other models"
    for model in sorted({m["gpu_name"] for m in machines}):
        offers = http.post("/api/v0/bundles/", json={"gpu_name": {"eq": model}, "limit": 100}).json()["offers"]
        peers = [o for o in offers if o["host_id"] != emu.state.account.id]
        assert len(peers) >= 15, model
