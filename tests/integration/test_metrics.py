"""The metrics endpoint, scraped over real loopback HTTP and read with prometheus-client's own parser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from promql import promql_metric_names

from hostagent.core.events import EventKind
from hostagent.core.model import DiskReading, GpuHealth, GpuReading, HostSnapshot, MachineState, XidEvent
from hostagent.runtime.metrics import METRIC_NAMES, Metrics
from hostagent.runtime.metrics_server import MetricsServer, parse_address

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana-dashboard.json"


def gpu(index: int, **changes: object) -> GpuReading:
    reading = GpuReading(
        index=index,
        uuid=f"GPU-0000000{index}-aaaa-bbbb-cccc-dddddddddddd",
        name="NVIDIA H100 80GB HBM3",
        health=GpuHealth.OK,
        temperature_c=40 + index,
        utilization_pct=90,
        memory_used_mib=1000,
        memory_total_mib=81559,
        power_w=350.5,
        power_limit_w=700.0,
        sm_clock_mhz=1980,
        ecc_uncorrected_volatile=0,
        ecc_corrected_volatile=3,
        remapped_rows_pending=False,
        remapped_rows_failure=False,
    )
    return replace(reading, **changes)  # type: ignore[arg-type]


def snapshot(at: datetime, *gpus: GpuReading, backend_ok: bool = True) -> HostSnapshot:
    disk = DiskReading("/var/lib/docker", "/var/lib/docker", total_bytes=2 * 10**12, free_bytes=15 * 10**11)
    return HostSnapshot(taken_at=at, gpus=gpus, disks=(disk,), backend="fake", backend_ok=backend_ok)


MACHINE = MachineState(
    id=4242,
    hostname="demo-h100-01",
    gpu_name="H100 SXM",
    num_gpus=8,
    listed=True,
    listed_gpu_cost=2.1,
    min_bid_price=1.2,
    current_rentals_running=3,
)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(hostname="demo-h100-01")


@pytest.fixture
def server(metrics: Metrics) -> Iterator[MetricsServer]:
    with metrics.serve("127.0.0.1:0") as running:
        yield running


def scrape(server: MetricsServer) -> list[Sample]:
    reply = httpx.get(server.url, timeout=5)
    reply.raise_for_status()
    text = reply.text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def values(samples: list[Sample], name: str, **labels: str) -> list[float]:
    return [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]


def test_gpu_readings_carry_dcgm_exporter_names_and_labels(metrics: Metrics, server: MetricsServer) -> None:
    metrics.observe_snapshot(snapshot(T0, gpu(0), gpu(1)))

    samples = scrape(server)

    [temp] = [s for s in samples if s.name == "DCGM_FI_DEV_GPU_TEMP" and s.labels["gpu"] == "1"]
    assert temp.value == 41
    assert temp.labels == {
        "gpu": "1",
        "UUID": "GPU-00000001-aaaa-bbbb-cccc-dddddddddddd",
        "device": "nvidia1",
        "modelName": "NVIDIA H100 80GB HBM3",
        "Hostname": "demo-h100-01",
    }
    assert values(samples, "DCGM_FI_DEV_POWER_USAGE", gpu="0") == [350.5]
    assert values(samples, "DCGM_FI_DEV_GPU_UTIL", gpu="0") == [90]
    assert values(samples, "DCGM_FI_DEV_FB_USED", gpu="0") == [1000]
    assert values(samples, "DCGM_FI_DEV_FB_FREE", gpu="0") == [80559]
    assert values(samples, "DCGM_FI_DEV_SM_CLOCK", gpu="0") == [1980]
    assert values(samples, "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", gpu="0") == [3]
    assert values(samples, "hostagent_gpu_health", gpu="0", state="ok") == [1]
    assert values(samples, "hostagent_gpu_last_read_timestamp_seconds", gpu="0") == [T0.timestamp()]
    assert values(samples, "hostagent_gpus") == [2]
    assert values(samples, "hostagent_disk_free_bytes", path="/var/lib/docker") == [1.5e12]


def test_a_lost_gpu_loses_its_readings_keeps_its_last_good_read_and_counts_an_error(
    metrics: Metrics, server: MetricsServer
) -> None:
    metrics.observe_snapshot(snapshot(T0, gpu(0), gpu(1)))
    lost = GpuReading(index=1, uuid=None, name=None, health=GpuHealth.LOST, error="GPU is lost")
    metrics.observe_snapshot(snapshot(T0 + timedelta(seconds=30), gpu(0), lost))

    samples = scrape(server)

    assert values(samples, "DCGM_FI_DEV_GPU_TEMP", gpu="1") == []
    assert values(samples, "DCGM_FI_DEV_GPU_TEMP", gpu="0") == [40]
    assert values(samples, "hostagent_gpu_health", gpu="1", state="lost") == [1]
    assert values(samples, "hostagent_gpu_health", gpu="1", state="ok") == [0]
    # The lost reading has no UUID; the series keeps the one the GPU had, so it stays one series.
    assert values(samples, "hostagent_gpu_last_read_timestamp_seconds", UUID=gpu(1).uuid or "") == [T0.timestamp()]
    assert values(samples, "hostagent_gpu_last_read_timestamp_seconds", gpu="0") == [T0.timestamp() + 30]
    assert values(samples, "hostagent_collector_errors_total", kind="gpu_lost") == [1]


def test_a_gpu_gone_from_the_snapshot_leaves_no_series_behind(metrics: Metrics, server: MetricsServer) -> None:
    metrics.observe_snapshot(snapshot(T0, gpu(0), gpu(1, xid_events=(XidEvent(1, 79, "xid"),))))
    metrics.observe_snapshot(snapshot(T0 + timedelta(seconds=30), gpu(0)))

    samples = scrape(server)

    assert [s for s in samples if s.labels.get("gpu") == "1"] == []
    assert values(samples, "hostagent_gpus") == [1]


def test_a_stale_read_shows_no_old_numbers_as_current(metrics: Metrics, server: MetricsServer) -> None:
    metrics.observe_snapshot(snapshot(T0, gpu(0)))
    metrics.observe_snapshot(snapshot(T0 + timedelta(seconds=30), gpu(0, stale=True)))

    samples = scrape(server)

    assert values(samples, "DCGM_FI_DEV_GPU_TEMP") == []
    assert values(samples, "hostagent_gpu_stale", gpu="0") == [1]
    assert values(samples, "hostagent_gpu_last_read_timestamp_seconds", gpu="0") == [T0.timestamp()]
    assert values(samples, "hostagent_collector_errors_total", kind="gpu_stale") == [1]


def test_every_xid_event_is_counted_even_when_the_code_repeats(metrics: Metrics, server: MetricsServer) -> None:
    metrics.observe_snapshot(snapshot(T0, gpu(0, xid_events=(XidEvent(0, 79, "xid"), XidEvent(0, 79, "xid")))))
    metrics.observe_snapshot(snapshot(T0, gpu(0, xid_events=(XidEvent(0, 79, "xid"), XidEvent(0, 48, "xid")))))
    metrics.observe_snapshot(snapshot(T0, gpu(0, xid_events=(XidEvent(0, 0, "ecc_double_bit"),))))

    samples = scrape(server)

    assert values(samples, "DCGM_FI_DEV_XID_ERRORS_total", gpu="0", xid="79") == [3]
    assert values(samples, "DCGM_FI_DEV_XID_ERRORS_total", gpu="0", xid="48") == [1]
    assert values(samples, "hostagent_gpu_events_total", gpu="0", type="ecc_double_bit") == [1]


def test_nvml_down_shows_as_backend_not_ok_and_unknown_health(metrics: Metrics, server: MetricsServer) -> None:
    unknown = GpuReading(index=0, uuid=None, name=None, health=GpuHealth.UNKNOWN)
    metrics.observe_snapshot(snapshot(T0, unknown, backend_ok=False))

    samples = scrape(server)

    assert values(samples, "hostagent_hardware_backend_ok", backend="fake") == [0]
    assert values(samples, "hostagent_gpu_health", gpu="0", state="unknown") == [1]
    assert values(samples, "hostagent_gpu_last_read_timestamp_seconds") == []
    assert values(samples, "hostagent_collector_errors_total", kind="backend") == [1]
    assert values(samples, "hostagent_collector_errors_total", kind="gpu_unknown") == [1]


def test_listing_prices_rentals_earnings_actions_and_api_errors(metrics: Metrics, server: MetricsServer) -> None:
    metrics.observe_machine(MACHINE, target_price=2.25)
    metrics.observe_earnings(today_usd=12.5, last_7d_usd=300.0, last_30d_usd=1200.0)
    metrics.observe_action("list_machine", "ok")
    metrics.observe_action("list_machine", "ok")
    metrics.observe_action("set_min_bid", "failed")
    metrics.observe_api_error("server_error", 503)
    metrics.observe_api_error("timeout", None)

    samples = scrape(server)

    assert values(samples, "hostagent_machine_listed", machine_id="4242") == [1]
    assert values(samples, "hostagent_price_usd_per_gpu_hour") == [2.1]
    assert values(samples, "hostagent_target_price_usd_per_gpu_hour") == [2.25]
    assert values(samples, "hostagent_min_bid_usd_per_gpu_hour") == [1.2]
    assert values(samples, "hostagent_rentals_running") == [3]
    assert values(samples, "hostagent_earnings_usd", window="7d") == [300.0]
    assert values(samples, "hostagent_actions_total", kind="list_machine", result="ok") == [2]
    assert values(samples, "hostagent_actions_total", kind="set_min_bid", result="failed") == [1]
    assert values(samples, "hostagent_api_errors_total", kind="server_error", status="503") == [1]
    assert values(samples, "hostagent_api_errors_total", kind="timeout", status="none") == [1]


def test_each_metrics_object_has_its_own_registry_and_leaves_the_global_one_alone() -> None:
    first, second = Metrics(hostname="a"), Metrics(hostname="b")
    first.observe_action("list_machine", "ok")

    assert first.registry.get_sample_value("hostagent_actions_total", {"kind": "list_machine", "result": "ok"}) == 1
    assert second.registry.get_sample_value("hostagent_actions_total", {"kind": "list_machine", "result": "ok"}) is None
    assert REGISTRY.get_sample_value("hostagent_actions_total", {"kind": "list_machine", "result": "ok"}) is None


def test_a_stopped_server_refuses_connections(metrics: Metrics) -> None:
    running = metrics.serve("127.0.0.1:0")
    running.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url, timeout=5)


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:9473", ("127.0.0.1", 9473)), ("[::1]:9473", ("::1", 9473)), ("localhost:0", ("localhost", 0))],
)
def test_addresses_parse_as_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["9473", ":9473", "localhost:http", "127.0.0.1:70000"])
def test_a_bad_address_is_refused_with_the_expected_form(address: str) -> None:
    with pytest.raises(ValueError, match="metrics address"):
        parse_address(address)


def test_metric_names_lists_exactly_what_a_fully_fed_endpoint_exports(metrics: Metrics, server: MetricsServer) -> None:
    full = gpu(0, pcie_link_gen=5, pcie_link_width=16, pcie_link_gen_max=5, pcie_link_width_max=16,
               clock_event_reasons=0, pstate=0, compute_processes=1, pcie_tx_kb_per_s=10, pcie_rx_kb_per_s=20,
               energy_mj=10**9, xid_events=(XidEvent(0, 79, "xid"), XidEvent(0, 0, "ecc_single_bit")))
    metrics.observe_snapshot(snapshot(T0, full, GpuReading(index=1, uuid=None, name=None, health=GpuHealth.LOST)))
    everything = replace(MACHINE, listed_storage_cost=0.1, end_date=1.8e9, client_end_date=1.79e9, reliability=0.99,
                         verification="verified", num_reports=0)
    metrics.observe_machine(everything, target_price=2.0)
    metrics.observe_vast_offline(MACHINE.id, offline=False)
    metrics.observe_earnings(1.0, 2.0, 3.0)
    metrics.observe_action("list_machine", "ok")
    metrics.observe_api_error("timeout", None)
    metrics.observe_event("unlisted")
    metrics.observe_health(ok=True)
    metrics.observe_reconcile(T0.timestamp(), 300.0)
    metrics.observe_notification("telegram", "sent")

    # process_* comes from prometheus-client's ProcessCollector, *_created from its counters.
    exported = {s.name for s in scrape(server) if not s.name.startswith("process_") and not s.name.endswith("_created")}

    assert exported == METRIC_NAMES


def test_a_refused_reply_about_another_machine_is_counted(metrics: Metrics, server: MetricsServer) -> None:
    """The alert's counter: each reply refused as not the machine asked for."""
    assert values(scrape(server), "hostagent_machine_identity_mismatches_total") == [0]
    metrics.observe_identity_mismatch()
    metrics.observe_identity_mismatch()
    assert values(scrape(server), "hostagent_machine_identity_mismatches_total") == [2]


def test_promql_metric_names_skips_functions_labels_and_ranges() -> None:
    expr = 'sum by (gpu) (rate(DCGM_FI_DEV_XID_ERRORS_total{Hostname=~"$host"}[5m])) > bool hostagent_gpus'
    assert promql_metric_names(expr) == {"DCGM_FI_DEV_XID_ERRORS_total", "hostagent_gpus"}


def test_the_grafana_dashboard_reads_only_metrics_hostagent_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]

    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= METRIC_NAMES, f"{expr!r} reads {sorted(names - METRIC_NAMES)}, which hostagent does not export"
        used |= names
    for needed in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED",
                   "hostagent_machine_listed", "hostagent_price_usd_per_gpu_hour",
                   "hostagent_target_price_usd_per_gpu_hour", "hostagent_min_bid_usd_per_gpu_hour",
                   "hostagent_rentals_running", "hostagent_earnings_usd", "hostagent_actions_total",
                   "hostagent_api_errors_total", "hostagent_health_ok", "hostagent_last_reconcile_timestamp_seconds"):
        assert needed in used, f"the dashboard shows no {needed}"


def test_vast_signals_are_gauges_per_machine_under_the_agreed_names(metrics: Metrics, server: MetricsServer) -> None:
    """offline per Vast, verified, an error shown and the report count, each labelled machine_id."""
    signals = replace(MACHINE, verification="deverified", error_description="GPU 3 lost", num_reports=4)
    metrics.observe_machine(signals, target_price=None)
    metrics.observe_vast_offline(MACHINE.id, offline=True)
    samples = scrape(server)
    got = {name: values(samples, name, machine_id=str(MACHINE.id)) for name in (
        "hostagent_machine_vast_offline", "hostagent_machine_verified", "hostagent_machine_vast_error",
        "hostagent_machine_reports")}
    assert got == {"hostagent_machine_vast_offline": [1.0], "hostagent_machine_verified": [0.0],
                   "hostagent_machine_vast_error": [1.0], "hostagent_machine_reports": [4.0]}
    metrics.observe_vast_offline(MACHINE.id, offline=None)  # not known: no series rather than a guess
    assert values(scrape(server), "hostagent_machine_vast_offline") == []


def test_every_grafana_panel_filters_by_the_fleet_variables_host_and_machine_id() -> None:
    """A fleet dashboard: each query reads only the hosts and machines picked in the two variables."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["host"]["query"]["query"] == "label_values(hostagent_build_info, instance)"
    assert '$host' in variables["machine_id"]["query"]["query"]  # machines of the hosts picked
    assert variables["host"]["multi"]
    assert variables["machine_id"]["multi"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for selector in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*\{[^}]*\}", expr):
                assert 'instance=~"$host"' in selector, f"{panel['title']}: {selector} ignores $host"
            assert 'machine_id=~"$machine_id"' in expr, f"{panel['title']}: {expr!r} ignores $machine_id"
            assert target["legendFormat"].startswith("{{instance}}"), f"{panel['title']}: whose series is whose?"


def test_health_and_the_last_reconcile_are_exported_once_known(metrics: Metrics, server: MetricsServer) -> None:
    """hostagent_health_ok is absent while unknown, then 1 or 0; the last reconcile carries its interval."""
    names = {s.name for s in scrape(server)}
    assert "hostagent_health_ok" not in names
    assert "hostagent_last_reconcile_timestamp_seconds" not in names
    metrics.observe_health(ok=False)
    metrics.observe_reconcile(T0.timestamp(), 300.0)
    samples = scrape(server)
    assert values(samples, "hostagent_health_ok") == [0]
    assert values(samples, "hostagent_last_reconcile_timestamp_seconds") == [T0.timestamp()]
    assert values(samples, "hostagent_reconcile_interval_seconds") == [300]
    metrics.observe_health(ok=True)
    assert values(scrape(server), "hostagent_health_ok") == [1]


def test_every_event_kind_is_counted_from_zero_so_the_first_event_shows_in_increase(
    metrics: Metrics, server: MetricsServer,
) -> None:
    """A counter series born at 1 hides its first event from increase(); each kind starts at 0 instead."""
    counted = {s.labels["kind"]: s.value for s in scrape(server) if s.name == "hostagent_events_total"}
    assert counted == {kind.value: 0 for kind in EventKind}
