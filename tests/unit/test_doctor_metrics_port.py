"""doctor's metrics check fails on a port another process holds (`run` would exit 73), not on the agent's own."""

from __future__ import annotations

import socket
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from hostagent.commands.doctor_checks import FAIL, OK, check_metrics
from hostagent.config.load import load_config
from hostagent.runtime.metrics_server import serve


def _config_on(tmp_path: Path, address: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[metrics]\nenabled = true\naddress = "{address}"\n')
    return path


def test_a_port_held_by_another_process_fails_with_the_fix(tmp_path: Path) -> None:
    """A listening socket that is not hostagent's on metrics.address is a failure naming exit 73 and the fix."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        check = check_metrics(load_config(_config_on(tmp_path, address), environ={}))
    assert check.status == FAIL
    assert f"{address} cannot be bound" in check.detail
    assert "run` would exit 73" in check.detail
    assert "ss -ltnp" in (check.fix or "")


def test_a_port_held_by_the_running_agent_is_ok(tmp_path: Path) -> None:
    """The endpoint answering with hostagent's own series is the running agent: ok, and said so."""
    registry = CollectorRegistry()
    Gauge("hostagent_health_ok", "1 healthy, 0 not", registry=registry).set(1)
    with serve("127.0.0.1:0", registry) as server:
        address = f"127.0.0.1:{server.port}"
        check = check_metrics(load_config(_config_on(tmp_path, address), environ={}))
    assert check.status == OK
    assert check.detail == f"{address} (loopback only, served by the running agent)"


def test_a_free_port_is_ok(tmp_path: Path) -> None:
    """Nothing on the port: ok, loopback only."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    check = check_metrics(load_config(_config_on(tmp_path, address), environ={}))
    assert (check.status, check.detail) == (OK, f"{address} (loopback only)")
