"""The loopback HTTP server: stdlib ThreadingHTTPServer, HTTP/1.1 with keep-alive, no redirects ever."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog

from hostagent.testing.emulator.wire import Reply

log = structlog.get_logger(__name__)


@dataclass
class RecordedRequest:
    """One request as it arrived. `headers` and `query` may hold the API key, so they stay out of repr."""

    method: str
    path: str  # as sent, without the query string
    query: dict[str, str] = field(repr=False)  # raw decoded strings (last value wins)
    headers: dict[str, str] = field(repr=False)
    json_body: object | None
    at_s: float  # the emulator clock's monotonic time
    raw_body: bytes = field(default=b"", repr=False)
    status: int | None = None  # filled in once answered (0: connection dropped)
    # When Vast acted on it (after a `delay` fault, long after `at_s`, maybe after the client gave up).
    answered_at_s: float | None = None

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "path": self.path, "query": self.query, "headers": self.headers,
                "json_body": self.json_body, "at_s": self.at_s, "status": self.status}


Dispatch = Callable[[str, str, dict[str, str], bytes], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms per reply
    server: EmulatorHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = dict(self.headers.items())
        reply = self.server.dispatch(self.command, self.path, headers, body)
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: the stdlib would print the request line, query string (and so `?api_key=`) included."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            self.close_connection = True  # the client gave up (e.g. its read timeout during a delay fault)


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        super().__init__(address, _Handler)
