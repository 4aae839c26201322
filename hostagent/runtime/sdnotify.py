"""systemd's notify protocol (sd_notify(3)) in the standard library.

One datagram of `KEY=VALUE` lines to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a leading `@`
names an abstract socket). Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every
call is a no-op that returns False. A failed send is logged once as `sd_notify_failed` (then at
debug level) and reported through the return value; it never raises, because a lost watchdog
ping must not take the agent down (systemd's watchdog is the judge of that).

Call order the agent follows: `ready()` once config, key, state and signal handlers are in place;
`watchdog()` from the main loop each time it makes progress, at least every half of
`watchdog_interval_s()`; `status(text)` whenever something a person would want to see changes;
`reloading()` on SIGHUP, then `ready()` when the new config is in use; `stopping()` on SIGTERM.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)

# A full notify socket blocks the sender; a ping that cannot leave within this is dropped.
SEND_TIMEOUT_S = 1.0


def watchdog_interval_s(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """The watchdog timeout systemd set for this process (WatchdogSec=), or None when there is none.

    None too when `WATCHDOG_PID` names another process (the variable leaked to a child) or the
    value does not parse. Ping at least every half of it.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    watchdog_pid = environ.get("WATCHDOG_PID")
    if watchdog_pid is not None and watchdog_pid != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000


class Notifier:
    """Sends notify messages to one socket address; no-op when `address` is None."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._failure_logged = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send `fields` (each `KEY=VALUE`) as one datagram. True when it was sent."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if not target.startswith(("/", "\0")):
                raise OSError(f"unsupported NOTIFY_SOCKET address {self.address!r}")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT_S)
                sock.sendto("\n".join(fields).encode(), target)
        except OSError as exc:
            level = log.debug if self._failure_logged else log.warning
            level("sd_notify_failed", socket=self.address, message=fields[0], error=str(exc))
            self._failure_logged = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        extra = () if status is None else (_status_field(status),)
        return self.notify("READY=1", *extra)

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(_status_field(text))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        # systemd 253+ matches RELOADING=1 with MONOTONIC_USEC to the reload job; older ones ignore it.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def _status_field(text: str) -> str:
    # The protocol is line-based: a newline in the text would start a bogus field.
    return "STATUS=" + " ".join(text.split("\n"))
