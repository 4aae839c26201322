"""Vast's JSON -> typed values: unknown fields ignored, bad or missing fields named by path."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from hostagent.core.model import MachineState
from hostagent.errors import VastBadReply
from hostagent.vast import parse
from hostagent.vast.parse import Fields
from hostagent.vast.query import encode_query, epoch_day, peer_query

MACHINE = {"id": 4242, "hostname": "demo-h100-01", "gpu_name": "H100 SXM", "num_gpus": 8, "listed": False}


def machine_with(**changes: object) -> dict[str, object]:
    return {**MACHINE, **changes}


def test_a_machine_keeps_known_fields_and_ignores_unknown_ones() -> None:
    m = parse.machine(Fields(machine_with(reliability2=0.99, timeout=0.0, bid_image_args=["-c", "x"], novel=1), "",
                             "show_machines"))
    assert (m.id, m.num_gpus, m.reliability, m.timeout_s, m.bid_image_args) == (4242, 8, 0.99, 0.0, ("-c", "x"))
    assert m.listed_gpu_cost is None
    assert m.current_rentals_running == 0


@pytest.mark.parametrize(
    ("changes", "field", "what"),
    [
        ({"num_gpus": "x"}, "m.num_gpus", 'expected int, got "x"'),
        ({"num_gpus": True}, "m.num_gpus", "expected int, got true"),
        ({"num_gpus": 2.5}, "m.num_gpus", "expected int, got 2.5"),
        ({"id": 10**30}, "m.id", "int out of range"),
        ({"listed": "yes"}, "m.listed", 'expected bool, got "yes"'),
        ({"hostname": None}, "m.hostname", "missing"),
        ({"listed_gpu_cost": "0.4"}, "m.listed_gpu_cost", 'expected number, got "0.4"'),
        ({"listed_gpu_cost": 10**400}, "m.listed_gpu_cost", "number out of range"),
        ({"bid_image_args": ["a", 3]}, "m.bid_image_args[1]", "expected string, got 3"),
        ({"listed_gpu_cost": -0.49}, "m.listed_gpu_cost", "price outside 0..1000 USD, got -0.49"),
        ({"listed_gpu_cost": 1e6}, "m.listed_gpu_cost", "price outside 0..1000 USD, got 1000000.0"),
        ({"min_bid_price": -1}, "m.min_bid_price", "price outside 0..1000 USD, got -1"),
        ({"bid_gpu_cost": 5000.0}, "m.bid_gpu_cost", "price outside 0..1000 USD, got 5000.0"),
        ({"listed_storage_cost": -0.1}, "m.listed_storage_cost", "price outside 0..1000 USD, got -0.1"),
        ({"listed_inet_up_cost": 1e300}, "m.listed_inet_up_cost", "price outside 0..1000 USD, got 1e+300"),
        ({"listed_inet_down_cost": -2}, "m.listed_inet_down_cost", "price outside 0..1000 USD, got -2"),
        ({"num_gpus": 0}, "m.num_gpus", "GPU count outside 1..1024, got 0"),
        ({"client_end_date": 1e300}, "m.client_end_date", "time outside 0..32503680000 epoch s, got 1e+300"),
        ({"end_date": -5.0}, "m.end_date", "time outside 0..32503680000 epoch s, got -5.0"),
    ],
)
def test_a_wrong_or_missing_field_is_a_bad_reply_naming_it(changes: dict[str, object], field: str, what: str) -> None:
    with pytest.raises(VastBadReply) as caught:
        parse.machine(Fields(machine_with(**changes), "m", "show_machines"))
    assert caught.value.field == field
    assert f"{field}: {what}" in str(caught.value)


def test_an_integral_float_is_accepted_as_an_int() -> None:
    assert parse.machine(Fields(machine_with(num_gpus=8.0), "", "x")).num_gpus == 8


def test_a_maintenance_window_and_its_end() -> None:
    w = parse.maintenance(Fields({"id": 42, "machine_id": 1, "start_time": 100.0, "duration_hours": 2,
                                  "maintenance_category": None, "cancelled_at": None}, "[0]", "show_maints"))
    assert (w.category, w.end_time) == ("", 100.0 + 7200.0)


@pytest.mark.parametrize(("changes", "what"), [({"start_time": 1e20}, "m.start_time: time outside"),
                                                ({"duration_hours": -2}, "m.duration_hours: duration outside")])
def test_a_maintenance_window_with_an_absurd_time_is_a_bad_reply(changes: dict[str, object], what: str) -> None:
    window = {"id": 42, "machine_id": 1, "start_time": 100.0, "duration_hours": 2, **changes}
    with pytest.raises(VastBadReply, match=what):
        parse.maintenance(Fields(window, "m", "show_maints"))


def test_earnings_rows_by_day_and_by_machine() -> None:
    reply = {"sday": 20782, "eday": 20783.0, "per_day": [{"day": 20782, "gpu_earn": 12.34, "sto_earn": 0.5}],
             "per_machine": [{"machine_id": 4242, "gpu_earn": 1.0, "sla_earn": None}]}
    report = parse.earnings(Fields(reply, "", "show_earnings"), None)
    assert (report.sday, report.eday) == (20782, 20783)
    assert report.per_day[0].total_usd == pytest.approx(12.84)
    assert (report.per_machine[0].machine_id, report.per_machine[0].day) == (4242, 20783)


def test_an_offer_falls_back_to_verification_and_reliability2() -> None:
    o = parse.offer(Fields({"id": 1, "machine_id": 2, "gpu_name": "H100 SXM", "num_gpus": 8, "dph_total": 16.0,
                            "verification": "verified", "reliability2": 0.97}, "offers[0]", "search_offers"))
    assert (o.verified, o.reliability, o.price_usd_per_gpu_hour) == (True, 0.97, 2.0)


def test_offers_with_impossible_prices_are_counted_where_they_enter_and_kept_for_the_search_limit() -> None:
    """An absurd peer price is the core's to drop (and journal), not a reason to lose the whole search."""
    rows = [{"id": i, "machine_id": i, "gpu_name": "H100 SXM", "num_gpus": 8, "dph_total": dph}
            for i, dph in enumerate([16.0, -8.0, 0.0, 1e12, 17.6])]
    with capture_logs() as logs:
        offers = parse.offers(Fields({"offers": rows}, "", "search_offers"))
    assert [o.dph_total for o in offers] == [16.0, -8.0, 0.0, 1e12, 17.6]
    (event,) = [e for e in logs if e["event"] == "vast_offers_impossible_prices"]
    assert (event["count"], event["offers"]) == (3, 5)


def test_the_user_never_keeps_the_api_key_vast_sends_back() -> None:
    u = parse.user(Fields({"id": 1, "api_key": "SERVER-SIDE-KEY", "balance": 4.5}, "", "show_user"))
    assert "SERVER-SIDE-KEY" not in repr(u)
    assert u.balance_usd == 4.5


def test_a_report_time_may_be_epoch_or_iso() -> None:
    iso = parse.report(Fields({"problem": "p", "message": "m", "created_at": "2026-01-01T00:00:00Z"}, "", "r"))
    assert iso.created_at == datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    with pytest.raises(VastBadReply, match="created_at"):
        parse.report(Fields({"problem": "p", "created_at": "yesterday"}, "", "r"))


def test_a_bare_array_is_required_where_vast_sends_one() -> None:
    with pytest.raises(VastBadReply, match="expected array"):
        parse.items({"machines": []}, "", "show_machine")


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_any_json_gives_a_machine_or_a_bad_reply_nothing_else(value: object) -> None:
    for candidate in (value, {**MACHINE, "num_gpus": value}, {**MACHINE, "listed_gpu_cost": value}):
        result: object
        try:
            result = parse.machine(Fields(candidate, "", "x"))
        except VastBadReply as exc:
            result = exc
        assert isinstance(result, (MachineState, VastBadReply))


def test_query_values_are_encoded_as_the_cli_does() -> None:
    assert encode_query({"owner": "me", "machine_ids": [1, 2], "machid": None, "sday": 20454.0}) == (
        "owner=me&machine_ids=%5B1%2C+2%5D&machid=null&sday=20454.0"
    )


def test_earnings_days_are_utc_whatever_the_local_zone() -> None:
    assert epoch_day(datetime(2026, 1, 1, tzinfo=timezone.utc)) == 20454.0
    assert epoch_day(datetime(2026, 1, 1)) == 20454.0  # noqa: DTZ001 - naive on purpose: read as UTC


def test_the_peer_query_uses_wire_operators_and_string_numbers() -> None:
    q = peer_query("H100 SXM", 8, 50, 4242)
    assert q["num_gpus"] == {"eq": "8"}
    assert q["machine_id"] == {"neq": "4242"}
    assert q["gpu_name"] == {"eq": "H100 SXM"}
    assert (q["limit"], q["type"], q["order"]) == (50, "on-demand", [["dph_total", "asc"]])
    ops = {op for v in q.values() if isinstance(v, dict) for op in v}
    assert ops <= {"eq", "neq", "gt", "gte", "lt", "lte", "in", "notin"}
    assert "machine_id" not in peer_query("H100 SXM", 8, 50, None)
    json.dumps(q)


def test_the_peer_query_asks_for_verified_peers_only_when_the_config_says_so() -> None:
    assert peer_query("H100 SXM", 8, 50, 4242)["verified"] == {"eq": True}
    assert "verified" not in peer_query("H100 SXM", 8, 50, 4242, verified_only=False)


def test_an_offer_reads_its_gpu_price_from_dph_base_and_its_owner_from_host_id() -> None:
    """dph_total = GPU + storage + SLA fee; dph_base is the GPU part, compared per GPU with the host's own price."""
    o = parse.offer(Fields({"id": 1, "machine_id": 2, "gpu_name": "H100 SXM", "num_gpus": 8, "dph_total": 16.9,
                            "dph_base": 16.0, "host_id": 777, "verified": True}, "offers[0]", "search_offers"))
    assert (o.price_usd_per_gpu_hour, o.host_id, o.priced_from_total) == (2.0, 777, False)


def test_the_peer_query_leaves_out_the_owners_other_machines_as_the_cli_writes_host_id_neq() -> None:
    """`vastai search offers 'host_id!=424242'` sends {"host_id": {"neq": "424242"}}."""
    assert peer_query("H100 SXM", 8, 50, 4242, exclude_host_id=424242)["host_id"] == {"neq": "424242"}
    assert "host_id" not in peer_query("H100 SXM", 8, 50, 4242)
