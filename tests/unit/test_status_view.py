"""The status screen's pieces: the sparkline, rendering of documents that know little, and the daemon probe."""

from __future__ import annotations

from pathlib import Path

from status_docs import a_view, blank_doc

from hostagent.commands.render import render_status, sparkline, usd
from hostagent.commands.status_view import daemon_state
from hostagent.runtime.lock import StateLock


def test_the_sparkline_scales_to_the_largest_day_and_draws_zero_as_the_lowest_block() -> None:
    assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([]) == ""


def test_negative_dollars_read_minus_dollar_and_unknown_reads_na() -> None:
    assert usd(-1.5) == "-$1.50"
    assert usd(None) == "n/a"
    assert usd(2.0, "/GPU/h") == "$2.00/GPU/h"


def test_a_document_from_before_vast_was_read_still_renders() -> None:
    """Nothing known yet (no machine, health not judged) and the key refused: every line still renders."""
    doc = blank_doc(mode="observe")
    doc["api"]["auth_ok"] = False
    view = a_view(doc, daemon={"running": True, "pid": 123}, tick_age_s=400.0, stale=True)
    text = render_status(view)
    assert "machine: not read yet · observe mode" in text
    assert "running (pid 123) · last tick 7 min ago" in text
    assert "STALE" in text
    assert "AUTH FAILED" in text
    assert "health    not judged yet · 0/0 GPUs ok" in text


def test_the_daemon_probe_sees_the_lock_holder_and_never_creates_the_lock_file(tmp_path: Path) -> None:
    assert daemon_state(tmp_path).running is False
    assert not (tmp_path / "agent.lock").exists()
    with StateLock(tmp_path):
        held = daemon_state(tmp_path)
    assert held.running is True
    assert held.pid is not None
    assert daemon_state(tmp_path).running is False


def test_a_tick_from_a_clock_ahead_of_ours_says_so_instead_of_a_negative_age() -> None:
    """A tick dated three days ahead (the demo's simulated clock) is named as ahead, not as a negative age."""
    view = a_view(blank_doc(), tick_at="2026-12-06T10:58:00+00:00", tick_age_s=-86400.0 * 3)
    assert "3.0 days AHEAD of this clock" in render_status(view)


def test_a_contract_running_into_the_next_window_shows_its_end_and_a_warning() -> None:
    warning = "a contract ends 2026-11-29 19:00 UTC, after window 'weekly reboot' starts 2026-11-29 02:00 UTC"
    doc = blank_doc()
    doc["machine"] = {"id": 4242, "hostname": "h", "gpu_name": "H100 SXM", "num_gpus": 8}
    doc["listing"].update(listed=True, why="listed", price_usd_per_gpu_hour=2.0, rule="market",
                          target_price_usd_per_gpu_hour=2.0, desired_price_usd_per_gpu_hour=2.0,
                          min_bid_usd_per_gpu_hour=1.0, warnings=[warning])
    doc["contracts"] = {"running": 2, "on_demand": 2, "latest_end": "2026-11-29T19:00:00+00:00",
                        "gpu_occupancy": "D D x x x x x x"}
    doc["maintenance"]["contract_runs_into_window"] = True
    doc["health"]["ok"] = True
    view = a_view(doc, next_maintenance={
        "name": "weekly reboot", "start": "2026-11-29T02:00:00+00:00", "end": "2026-11-29T04:00:00+00:00",
        "category": "software", "timezone": "UTC", "active": False,
    })
    text = render_status(view)
    assert "(set by market)" in text
    assert "latest ends 2026-11-29 19:00 UTC" in text
    assert f"WARNING: {warning}" in text
    assert "WARNING: a running contract ends after the next window starts" in text


def test_what_vast_says_about_the_machine_has_its_own_lines() -> None:
    """Offline per Vast, its error, the newest reports and Vast's own windows, each said in words."""
    doc = blank_doc()
    doc["vast_signals"] = {
        "verification": "deverified", "reliability": 0.9712, "offline": True, "timeout_s": 5400.0,
        "error_description": "GPU 3 not detected", "num_reports": 2,
        "reports": [{"problem": "Network Issue", "message": "slow pulls", "created_at": "2026-11-29T01:00:00+00:00"}],
        "reports_read_at": "2026-11-29T01:05:00+00:00",
        "scheduled_by_vast": [{"start": "2026-11-30T02:00:00+00:00", "end": "2026-11-30T04:00:00+00:00",
                               "category": "power"}],
    }
    text = render_status(a_view(doc)).splitlines()
    first = next(i for i, line in enumerate(text) if line.startswith("vast "))
    assert text[first:first + 6] == [
        "vast      deverified · reliability 97.12 % · OFFLINE per Vast · ERROR shown · 2 renter report(s)",
        "          Vast last heard from the machine 90 min ago",
        "          error on Vast: GPU 3 not detected",
        "          report 2026-11-29 01:00 UTC: Network Issue: slow pulls",
        "          Vast scheduled maintenance 2026-11-30 02:00 UTC → 2026-11-30 04:00 UTC (power), not hostagent",
        text[first + 5],
    ]
    assert text[first + 5].startswith("health ")


def test_the_last_api_error_reads_as_a_sentence_not_a_python_dict() -> None:
    """`last error 2026-11-26 09:58 UTC: show_machines: HTTP 503, <message>`, never `{'at': …}`."""
    doc = blank_doc()
    doc["api"]["last_error"] = {"at": "2026-11-26T09:58:00+00:00", "operation": "show_machines",
                                "kind": "VastServerError", "status": 503, "message": "Service Unavailable"}
    text = render_status(a_view(doc))
    assert "last error 2026-11-26 09:58 UTC: show_machines: HTTP 503, Service Unavailable" in text
    assert "{" not in text


def test_a_machine_not_listed_shows_no_price_on_offer() -> None:
    """NOT LISTED has no "at n/a": a machine that is not offered has no price to show."""
    doc = blank_doc()
    doc["listing"].update(listed=False, why="unhealthy", price_usd_per_gpu_hour=None)
    (line,) = [row for row in render_status(a_view(doc)).splitlines() if row.startswith("listing")]
    assert line.startswith("listing   NOT LISTED · target ")
    assert "n/a/GPU/h" not in line


def test_a_lost_gpus_row_keeps_every_column_where_the_other_rows_have_it() -> None:
    """The lost GPU's dashes sit in the columns of the readings above and below it; no row ends in spaces."""
    doc = blank_doc()
    ok = {"index": 0, "name": "H100", "health": "ok", "temperature_c": 33, "utilization_pct": 0, "power_w": 74.0,
          "memory_used_mib": 480, "memory_total_mib": 81559, "ecc_uncorrected_volatile": 0, "stale": False,
          "error": None, "hot_since": None}
    lost = {**ok, "index": 1, "health": "lost", "temperature_c": None, "utilization_pct": None, "power_w": None,
            "memory_used_mib": None, "memory_total_mib": None, "ecc_uncorrected_volatile": None,
            "error": "GPU is lost"}
    doc["health"]["gpus"] = [ok, lost]  # type: ignore[list-item]
    rows = [row for row in render_status(a_view(doc)).splitlines() if row.startswith(("            0",
                                                                                       "            1"))]
    good, bad = rows
    ends = [good.index(unit) + len(unit) - 1 for unit in ("°C", "%", " W")] + [len(good) - 1]  # right-aligned
    assert [bad[end] for end in ends] == ["–"] * 4, (good, bad)
    assert bad[good.index("480/")] == "–"  # the memory column starts where the others' does
    assert good == good.rstrip()
    assert "GPU is lost" in bad
