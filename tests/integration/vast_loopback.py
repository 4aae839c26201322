"""A scripted HTTP server on 127.0.0.1 for the Vast client's tests: each request gets the next scripted
reply (or the default), and every request is recorded. It can also hang (never answer) or drop the
connection, which a well-behaved emulator route cannot express exactly; plus sockets that refuse or
never accept connections, for the connect-failure cases.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: object = None  # bytes/str sent as is; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "reply"  # "reply" | "hang" (never answer) | "drop" (close without a reply) | "short" (cut body)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def json_body(self) -> object:
        return json.loads(self.body) if self.body else None


class ScriptedServer:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(body={"success": True})
        self.script: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self._release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                owner.seen.append(Seen(self.command, parts.path, parts.query, dict(self.headers.items()), body))
                reply = owner.script.popleft() if owner.script else owner.default
                if reply.action == "hang":
                    owner._release.wait(10)
                    self.close_connection = True
                    return
                if reply.action == "drop":
                    self.close_connection = True
                    return
                payload = reply.payload()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2] if reply.action == "short" else payload)
                if reply.action == "short":
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815 - BaseHTTPRequestHandler's names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def then(self, *replies: Reply) -> ScriptedServer:
        self.script.extend(replies)
        return self


def refused_url() -> str:
    """A loopback port nobody listens on: connecting is refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class NeverAccepts:
    """A listening socket whose accept queue is full, so a new connect() hangs until its timeout."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self._fill: list[socket.socket] = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(self._sock.getsockname())
            self._fill.append(filler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        for filler in self._fill:
            filler.close()
        self._sock.close()
