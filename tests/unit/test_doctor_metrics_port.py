"""doctor's metrics check fails on a port another process holds (`run` would exit 73), not on the agent's own."""

from __future__ import annotations

import http.server
import socket
import threading
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
    """Another web service (not hostagent's series) on metrics.address is a failure naming exit 73 and the fix."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtherService) as other:
        thread = threading.Thread(target=other.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        address = f"127.0.0.1:{other.server_address[1]}"
        try:
            check = check_metrics(load_config(_config_on(tmp_path, address), environ={}))
        finally:
            other.shutdown()
            thread.join()
    assert check.status == FAIL
    assert f"{address} cannot be bound" in check.detail
    assert "run` would exit 73" in check.detail
    assert "ss -ltnp" in (check.fix or "")


class _OtherService(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"some other service\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


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
