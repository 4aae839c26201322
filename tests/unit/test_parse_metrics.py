"""Vast's market metrics replies -> typed values: every number checked where it enters, a bad row or point
dropped and counted, the frame's errors named; and the `[pricing.market]` keys that choose this source."""

from __future__ import annotations

import math

import pytest
from structlog.testing import capture_logs

from hostagent.config import parse_config
from hostagent.errors import ConfigError, VastBadReply
from hostagent.vast.parse import Fields
from hostagent.vast.parse_metrics import gpu_metrics_current, gpu_metrics_history

ROW = {"gpu_name": "H100 SXM", "total": 100, "available": 17, "unavailable": 0, "usage": 83.0, "rented_verified": 80,
       "avail_verified": 17, "rented_unverified": 3, "avail_unverified": 0, "dlperf": 1.0, "tflops": 2.0,
       "tflops_per_dollar": 3.0, "price_p10": 1.8, "price_median": 2.1, "price_p90": 2.6}


def current(*rows: object, **top: object) -> Fields:
    return Fields({"success": True, "gpus": list(rows), **top}, "", "gpu_metrics_current")


def test_a_current_row_keeps_counts_usage_and_prices() -> None:
    """The fields the market step reads come through typed; the rest are ignored."""
    result = gpu_metrics_current(current(ROW))
    (row,) = result.rows
    assert (row.gpu_name, row.total, row.available, row.usage_pct) == ("H100 SXM", 100, 17, 83.0)
    assert (row.price_p10, row.price_median, row.price_p90) == (1.8, 2.1, 2.6)
    assert result.dropped == 0


@pytest.mark.parametrize("bad", [
    {"price_median": 0}, {"price_median": -1.0}, {"price_median": 1e6}, {"price_median": math.inf},
    {"price_median": "2.1"}, {"usage": 120.0}, {"usage": math.nan}, {"total": -1}, {"total": 2.5},
    {"available": True}, {"gpu_name": ""}, {"gpu_name": None},
])  # fmt: skip
def test_a_row_with_an_impossible_number_is_dropped_and_counted_and_the_others_stay(bad: dict[str, object]) -> None:
    """One odd model must not cost the whole reply: it is dropped, counted and logged."""
    with capture_logs() as logs:
        result = gpu_metrics_current(current({**ROW, **bad}, {**ROW, "gpu_name": "RTX 4090"}))
    assert [r.gpu_name for r in result.rows] == ["RTX 4090"]
    assert result.dropped == 1
    assert [e["event"] for e in logs] == ["vast_metrics_row_dropped"]


def test_a_missing_price_is_none_not_a_dropped_row() -> None:
    """Vast sends null for a model without prices: the row stays, its price says unknown."""
    (row,) = gpu_metrics_current(current({**ROW, "price_p10": None})).rows
    assert row.price_p10 is None


def test_an_account_without_machines_gets_a_flagged_empty_result() -> None:
    """Vast answers `needs_machine: true` to an account without machines."""
    result = gpu_metrics_current(current(needs_machine=True))
    assert (result.rows, result.needs_machine) == ((), True)
    assert gpu_metrics_history(Fields({"success": True, "gpus": {}, "needs_machine": True}, "", "h")).needs_machine


def test_a_gpus_field_of_the_wrong_type_is_a_bad_reply() -> None:
    """The frame itself cannot be read: nothing is guessed."""
    with pytest.raises(VastBadReply, match="gpus"):
        gpu_metrics_current(Fields({"success": True, "gpus": {"x": 1}}, "", "gpu_metrics_current"))
    with pytest.raises(VastBadReply, match="gpus"):
        gpu_metrics_history(Fields({"success": True, "gpus": []}, "", "gpu_metrics_history"))


def history(pricing: dict[str, list[object]], timestamps: list[object]) -> Fields:
    data = {"supply_demand": {"timestamps": timestamps, "total": [1] * len(timestamps)}, "pricing": pricing,
            "stats": {}}
    return Fields({"success": True, "gpus": {"H100 SXM": data}}, "", "gpu_metrics_history")


def test_history_points_pair_each_timestamp_with_its_prices_oldest_first() -> None:
    """A shorter price array leaves the later points' price None, as the official CLI reads it."""
    result = gpu_metrics_history(history({"rented_median": [2.2, 2.0], "avail_median": [1.5, 1.6, 1.7]},
                                         [1795780800 + 600, 1795780800, 1795780800 + 300]))
    points = result.points("H100 SXM")
    assert [p.at_epoch_s for p in points] == [1795780800, 1795780800 + 300, 1795780800 + 600]
    assert [(p.rented_median, p.avail_median) for p in points] == [(2.0, 1.6), (None, 1.7), (2.2, 1.5)]
    assert result.points("RTX 4090") == ()


@pytest.mark.parametrize(("timestamps", "medians"), [
    ([1795780800, "x"], [2.0, 2.1]), ([1795780800, -5], [2.0, 2.1]), ([1795780800, 1e13], [2.0, 2.1]),
    ([1795780800, 1795780900], [2.0, 0.0]), ([1795780800, 1795780900], [2.0, 5000.0]),
])  # fmt: skip
def test_a_history_point_with_an_impossible_number_is_dropped_and_counted(timestamps: list[object],
                                                                          medians: list[object]) -> None:
    """A bad timestamp or price drops that point only."""
    result = gpu_metrics_history(history({"rented_median": medians}, timestamps))
    assert [p.rented_median for p in result.points("H100 SXM")] == [2.0]
    assert result.dropped == 1


def test_the_market_source_keys_are_read_and_checked() -> None:
    """source, metrics_percentile and the demand knobs come from `[pricing.market]`; bad values are named."""
    market = {"source": "metrics", "metrics_percentile": "p90", "demand_adjust_pct": 10, "demand_pivot_pct": 60}
    cfg = parse_config({"pricing": {"market": market}}, None, environ={}).pricing.market
    assert (cfg.source, cfg.metrics_percentile, cfg.demand_adjust_pct, cfg.demand_pivot_pct) == (
        "metrics", "p90", 10.0, 60.0)
    assert parse_config({}, None, environ={}).pricing.market.source == "offers"
    bad = {"source": "rumours", "metrics_percentile": "p50", "demand_adjust_pct": 80, "demand_pivot_pct": 100}
    with pytest.raises(ConfigError) as caught:
        parse_config({"pricing": {"market": bad}}, None, environ={})
    problems = "\n".join(caught.value.problems)
    for key in ("source", "metrics_percentile", "demand_adjust_pct", "demand_pivot_pct"):
        assert f"pricing.market.{key}" in problems
