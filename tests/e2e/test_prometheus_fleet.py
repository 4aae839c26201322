"""A real Prometheus (Debian's `prometheus`) on loopback scrapes two real `hostagent run` processes against the
Vast emulator, loads the shipped alert rules, and fires the health alerts for the agent whose GPU is lost only.

The shipped rules wait minutes (`for: 2m`) before firing; the test's copy waits 0 s, and Prometheus scrapes and
evaluates every second. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "config" / "prometheus" / "hostagent-rules.yml"
PROMETHEUS = shutil.which("prometheus")
REQUIRED = os.environ.get("HOSTAGENT_REQUIRE_PROMTOOL") == "1"  # .ci/run installs the package and sets this
WAIT_S = 30.0
HEALTH_ALERTS = {"HostagentGpuLost", "HostagentUnlistedByHealth"}
# Alerts that would page someone about a healthy host: none may fire for it.
HOST_ALERTS = HEALTH_ALERTS | {
    "HostagentDown", "HostagentTelemetryStale", "HostagentReconcileStale", "HostagentUnhealthyButListed",
    "HostagentGpuMissing", "HostagentGpuHot",
}

CONFIG = """
[vast]
api_url = "{url}"
max_attempts = 2
max_retry_time_s = 5.0

[machine]
hostname = "{hostname}"

[hardware]
backend = "fake"
fake_file = "fake-gpus.toml"

[agent]
mode = "enforce"
state_dir = "state"
tick_s = 1.0
reconcile_s = 2.0

[pricing.models]
"H100 SXM" = 2.00

[pricing.guard.models."H100 SXM"]
floor_usd_per_gpu_hour = 1.00
ceiling_usd_per_gpu_hour = 4.00

[health]
expected_gpu_count = 8

[metrics]
enabled = true
address = "127.0.0.1:{port}"
"""

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: hostagent
    static_configs:
      - targets: [{targets}]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose output goes to `log`, stopped with SIGTERM (then killed) when the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(what: str, check: Callable[[], bool], deadline: float, log: Path) -> None:
    """Poll `check` until it holds; past `deadline`, fail with the end of `log`."""
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} never happened; {log.name}:\n{log.read_text()[-3000:]}")


def agent_home(root: Path, emu: Emulator, hostname: str, port: int, *, lost_gpu: int | None) -> Path:
    """A config and fake GPU file for one agent; `lost_gpu` makes that GPU report NVML's GPU_IS_LOST."""
    root.mkdir()
    gpus = (REPO / "config" / "fake-gpus.toml").read_text()
    if lost_gpu is not None:
        block = f'[[gpu]]\nindex = {lost_gpu}\n'
        assert block in gpus
        gpus = gpus.replace(block, block + 'health = "lost"\n')
    (root / "fake-gpus.toml").write_text(gpus)
    config = root / "config.toml"
    config.write_text(CONFIG.format(url=emu.url, hostname=hostname, port=port))
    return config


def test_a_real_prometheus_fires_the_health_alerts_for_the_faulty_agent_only(tmp_path: Path) -> None:
    """Two agents, one with a lost GPU: GpuLost and UnlistedByHealth fire for its instance, nothing for the other."""
    if PROMETHEUS is None:
        if REQUIRED:
            pytest.fail("prometheus missing but HOSTAGENT_REQUIRE_PROMTOOL=1 (install Debian's prometheus)")
        pytest.skip("prometheus missing (Debian package 'prometheus'; .ci/run installs it)")
    healthy_port, faulty_port, prometheus_port = free_port(), free_port(), free_port()
    healthy, faulty = f"127.0.0.1:{healthy_port}", f"127.0.0.1:{faulty_port}"
    with Emulator(rate_limits=False) as emu, ExitStack() as stack:
        demo = emu.state.machines[DEMO_MACHINE_ID]
        sibling = replace(demo, id=DEMO_MACHINE_ID + 100, hostname="demo-h100-02", expired=[])
        emu.state.machines[sibling.id] = sibling
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env["VAST_API_KEY"] = emu.api_key
        agents: list[tuple[str, Path]] = []
        for name, hostname, port, lost in (("healthy", "demo-h100-01", healthy_port, None),
                                           ("faulty", "demo-h100-02", faulty_port, 3)):
            config = agent_home(tmp_path / name, emu, hostname, port, lost_gpu=lost)
            log = tmp_path / f"{name}.log"
            cmd = [sys.executable, "-m", "hostagent", "--config", str(config), "run"]
            stack.enter_context(running(cmd, log, env))
            agents.append((f"http://127.0.0.1:{port}/metrics", log))
        deadline = time.monotonic() + WAIT_S
        for url, log in agents:  # scraped from their first reconcile on: no alert for an agent still starting
            wait_for("a reconcile", lambda url=url: reconciled(url), deadline, log)

        # The shipped rules, with every `for:` waiting 0 s instead of minutes.
        (tmp_path / "rules.yml").write_text(re.sub(r"(?m)^(\s+for:) \S+$", r"\1 0s", RULES.read_text()))
        (tmp_path / "prometheus.yml").write_text(PROMETHEUS_CONFIG.format(targets=f'"{healthy}", "{faulty}"'))
        prometheus_log = tmp_path / "prometheus.log"
        stack.enter_context(running([
            PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ], prometheus_log))
        alerts_url = f"http://127.0.0.1:{prometheus_port}/api/v1/alerts"

        alerts: list[dict[str, dict[str, str]]] = []

        def health_alerts_fired() -> bool:
            try:
                reply = httpx.get(alerts_url, timeout=2)
            except httpx.TransportError:
                return False  # not listening yet
            if reply.status_code != 200:
                return False  # 503 while it starts up
            alerts[:] = [a for a in reply.json()["data"]["alerts"] if a["state"] == "firing"]
            return names(alerts, faulty) >= HEALTH_ALERTS

        wait_for("the health alerts", health_alerts_fired, time.monotonic() + WAIT_S, prometheus_log)

    assert not names(alerts, healthy) & HOST_ALERTS, alerts
    (lost,) = [a for a in alerts if a["labels"]["alertname"] == "HostagentGpuLost"]
    assert lost["labels"]["gpu"] == "3"
    assert lost["labels"]["state"] == "lost"
    assert lost["labels"]["Hostname"]  # dcgm-exporter's host label, beside Prometheus' instance
    assert faulty in lost["annotations"]["description"]
    assert "Fix:" in lost["annotations"]["description"]


def reconciled(metrics_url: str) -> bool:
    """The agent serves its metrics page, and its health verdict and first reconcile are on it."""
    try:
        page = httpx.get(metrics_url, timeout=2).text
    except httpx.TransportError:
        return False
    return "\nhostagent_last_reconcile_timestamp_seconds " in page and "\nhostagent_health_ok " in page


def names(alerts: list[dict[str, dict[str, str]]], instance: str) -> set[str]:
    return {a["labels"]["alertname"] for a in alerts if a["labels"].get("instance") == instance}
