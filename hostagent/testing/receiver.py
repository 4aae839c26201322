"""A notification receiver on loopback: the webhook end of apprise's `json://` scheme, for tests and the docs.

    with NotificationReceiver() as rx:
        url = rx.url("s3cr3t-token-0123456789")   # json://127.0.0.1:PORT/hook/s3cr3t-token-0123456789
        ...                                        # the agent sends; each message lands in rx.messages
        rx.set_mode("down")                        # 503 to every request; "hang": no reply until set back "up"

Only 127.0.0.1 is ever bound. `messages` holds what arrived (title, body, type, path); `attempts` counts every
request, delivered or not.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal

Mode = Literal["up", "down", "hang"]
HANG_LIMIT_S = 30.0  # a hanging request is released after this even if nobody sets the mode back


@dataclass(frozen=True)
class Received:
    title: str
    body: str
    type: str
    path: str


class NotificationReceiver:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.attempts = 0
        self._mode: Mode = "up"
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="notify-receiver",
                                        daemon=True)  # a short poll: stop() returns at once

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, token: str) -> str:
        """An apprise URL for this receiver whose path carries `token` (what a real service's URL carries)."""
        return f"json://127.0.0.1:{self.port}/hook/{token}"

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode
        if mode == "hang":
            self._released.clear()
        else:
            self._released.set()

    def start(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NotificationReceiver:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def titles(self) -> list[str]:
        with self._lock:
            return [m.title for m in self.messages]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    mode = receiver._mode
                if mode == "hang":
                    receiver._released.wait(HANG_LIMIT_S)
                    return  # the client timed out long ago: close without a reply
                if mode == "down":
                    self._reply(503)
                    return
                doc = json.loads(raw or b"{}")
                with receiver._lock:
                    receiver.messages.append(Received(
                        str(doc.get("title", "")), str(doc.get("message", "")), str(doc.get("type", "")), self.path,
                    ))
                self._reply(200)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # the stdlib's signature
                return  # quiet: tests read `messages`

        return Handler
