"""config/prometheus: the alert rules read only metrics hostagent exports, say whose host and what to do, and
pass `promtool check rules` and their own `promtool test rules` unit tests (hostagent-rules.test.yml)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql import promql_metric_names

from hostagent.config.model import HealthConfig
from hostagent.runtime.metrics import METRIC_NAMES

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "config" / "prometheus"
RULES = PROMETHEUS_DIR / "hostagent-rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "hostagent-rules.test.yml"
EXAMPLE_CONFIG = PROMETHEUS_DIR / "prometheus.example.yml"
DASHBOARD = PROMETHEUS_DIR.parent / "grafana-dashboard.json"
# Agreed for issue 9 and exported by the parts that read Vast's signals, hold/pause and notify.
AGREED_NAMES = frozenset({
    "hostagent_machine_vast_offline", "hostagent_machine_verified", "hostagent_machine_vast_error",
    "hostagent_machine_reports", "hostagent_owner_hold", "hostagent_paused", "hostagent_notifications_total",
})
PROMETHEUS_OWN = frozenset({"up"})  # written by Prometheus itself for every scrape target
PROMTOOL = shutil.which("promtool")
# CI (.ci/run) installs promtool (Debian's `prometheus`) and sets this: there a missing promtool fails.
REQUIRED = os.environ.get("HOSTAGENT_REQUIRE_PROMTOOL") == "1"
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not REQUIRED, reason="promtool missing (Debian package 'prometheus'; .ci/run installs it)"
)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "promtool missing but HOSTAGENT_REQUIRE_PROMTOOL=1 (install Debian's prometheus)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def test_every_alert_reads_only_metrics_hostagent_exports_or_the_agreed_ones() -> None:
    """A typo in a metric name makes an alert that can never fire: each name must exist."""
    known = METRIC_NAMES | AGREED_NAMES | PROMETHEUS_OWN
    for rule in alert_rules():
        names = promql_metric_names(rule["expr"])
        assert names, f"{rule['alert']} reads no metric"
        assert names <= known, f"{rule['alert']} reads {sorted(names - known)}, which nothing exports"


def test_the_alerts_cover_every_signal_of_the_issue() -> None:
    """Down, stale, unhealthy, GPU lost/hot, API errors, Vast's signals, earnings, the owner's hold and pause."""
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= {
        "HostagentDown", "HostagentTelemetryStale", "HostagentReconcileStale", "HostagentUnlistedByHealth",
        "HostagentGpuLost", "HostagentGpuHot", "HostagentApiErrors", "HostagentRenterReport",
        "HostagentVastOffline", "HostagentVerificationLost", "HostagentEarningsZero", "HostagentHeldLong",
        "HostagentPausedLong",
    }


def test_every_alert_names_its_host_and_the_fix_and_has_a_severity() -> None:
    """The page at 3 a.m. says which host and what to do; Alertmanager routes on severity."""
    for rule in alert_rules():
        name, annotations = rule["alert"], rule["annotations"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert set(annotations) == {"summary", "description"}, name
        for text in annotations.values():
            assert re.search(r"\$labels\.(instance|Hostname)", text), f"{name}: {text!r} names no host"
        assert "Fix:" in annotations["description"], f"{name} says no fix"


def test_the_hot_gpu_alert_uses_the_agents_default_temperature_limit() -> None:
    """The alert and the agent's health check call the same GPU hot (health.max_temperature_c)."""
    (hot,) = [rule for rule in alert_rules() if rule["alert"] == "HostagentGpuHot"]
    assert hot["expr"] == f"DCGM_FI_DEV_GPU_TEMP > {HealthConfig().max_temperature_c:g}"


def test_every_alert_has_a_promtool_unit_test() -> None:
    """hostagent-rules.test.yml makes each alert fire for a faulty host, beside a healthy peer."""
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]
    tested = {case["alertname"] for case in cases if case.get("exp_alerts")}
    assert {rule["alert"] for rule in alert_rules()} == tested


@needs_promtool
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    """`promtool check rules` then `promtool test rules`, as an operator would run them."""
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_example_prometheus_config_scrapes_the_job_the_rules_expect() -> None:
    """HostagentDown reads up{job="hostagent"}: the shipped scrape config names that job and loads the rules."""
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert example["rule_files"] == [RULES.name]
    assert [job["job_name"] for job in example["scrape_configs"]] == ["hostagent"]
    (down,) = [rule for rule in alert_rules() if rule["alert"] == "HostagentDown"]
    assert 'job="hostagent"' in down["expr"]


@needs_promtool
def test_promtool_accepts_the_example_prometheus_config() -> None:
    """`promtool check config` on the example, which also checks the rule file it loads."""
    checked = promtool("check", "config", str(EXAMPLE_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_promtool_parses_every_grafana_panel_query(tmp_path: Path) -> None:
    """Each dashboard query, its variables filled in, is valid PromQL (checked as a recording rule)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    rules = [{"record": f"dashboard:query{i}", "expr": e.replace("$host", ".*").replace("$machine_id", ".*")}
             for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
