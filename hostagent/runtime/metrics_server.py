"""The HTTP endpoint that serves a registry in Prometheus text format, and a handle to stop it.

This is `prometheus_client.start_http_server` (its WSGI app and threaded server) with two changes:
the serving thread polls for shutdown every 0.05 s instead of 0.5 s, so `stop()` returns at once
(the agent's SIGTERM path and every test pay it), and requests are not logged (a scrape every
15 s would flood the journal). `MetricsServer` holds the server and thread; port 0 picks a port.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from types import TracebackType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

POLL_INTERVAL_S = 0.05
STOP_JOIN_S = 5.0


def parse_address(address: str) -> tuple[str, int]:
    """"host:port" or "[v6 host]:port" -> (host, port). Raises ValueError naming what is wrong."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"metrics address {address!r}: expected host:port, e.g. 127.0.0.1:9473")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"metrics address {address!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


class MetricsServer:
    """A running metrics endpoint. `stop()` closes the socket and joins the thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_JOIN_S)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(address: str, registry: CollectorRegistry) -> MetricsServer:
    """Serve `registry` on `address` ("127.0.0.1:9473"; port 0 picks a free one).

    Raises ValueError when the address does not parse and OSError when it cannot be bound
    (in use, not a local address): the caller decides whether the agent runs on without metrics.
    """
    host, port = parse_address(address)
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]  # IPv4 or IPv6, by the host
    server_class = type("MetricsHTTPServer", (ThreadingWSGIServer,), {"address_family": family})
    server: WSGIServer = make_server(host, port, make_wsgi_app(registry), server_class, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S}, name="metrics-http", daemon=True
    )
    thread.start()
    return MetricsServer(server, thread)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Drop access logs."""


def bind_error(address: str) -> OSError | None:
    """The error `serve(address)` would meet binding now (a taken port, an address not this host's), or None.

    Binds with SO_REUSEADDR as the server does, so a port left in TIME_WAIT does not read as taken.
    """
    host, port = parse_address(address)
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def serves_hostagent(address: str, timeout_s: float = 2.0) -> bool:
    """True when `address` answers /metrics with hostagent's own series (the running agent holds the port)."""
    host, port = parse_address(address)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            page: bytes = reply.read(1 << 20)
    except (OSError, ValueError):  # refused, timed out, not HTTP: not ours
        return False
    return b"hostagent_" in page
