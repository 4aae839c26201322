"""Faults on demand: what a flaky Vast, a proxy in front of it, or a broken network would answer.

A fault matches requests by method and by a substring of the path; it fires `times` times (`times <= 0`:
until `clear_faults()`), oldest fault first, then is gone.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields

from hostagent.testing.emulator.wire import JSON, Reply, json_reply, status_error, text_reply

KINDS = ("status", "delay", "malformed", "html", "truncated", "drop", "wrong_types", "success_false", "swap_machine")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour. See docs/emulator.md (Faults and control routes) for what each kind answers."""

    kind: str
    method: str | None = None
    path_contains: str | None = None
    times: int = 1
    status: int = 503
    retry_after: str | None = None
    delay_s: float = 0.0
    body: str | None = None
    machine_id: int | None = None  # swap_machine: the machine whose data answers instead

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.kind == "swap_machine" and self.machine_id is None:
            raise ValueError("a swap_machine fault needs machine_id: the machine whose data answers instead")

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Fault:
        """Build from the control route's JSON (same field names). Raises ValueError on bad fields."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**data)  # type: ignore[arg-type]
        for name, kinds in (("times", (int,)), ("status", (int,)), ("delay_s", (int, float))):
            value = getattr(fault, name)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{name} must be a number")
        other = fault.machine_id
        if other is not None and (isinstance(other, bool) or not isinstance(other, int)):
            raise ValueError("machine_id must be an integer")
        return fault

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass
class _Pending:
    fault: Fault
    remaining: int  # <= 0 at the start: fires until cleared


class FaultBook:
    """The pending faults, thread-safe."""

    def __init__(self) -> None:
        self._faults: list[_Pending] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(_Pending(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counting it as fired once."""
        with self._lock:
            for entry in self._faults:
                if entry.fault.matches(method, path):
                    if entry.remaining > 0:
                        entry.remaining -= 1
                        if entry.remaining == 0:
                            self._faults.remove(entry)
                    return entry.fault
        return None


def before(fault: Fault) -> Reply | None:
    """The reply a fault gives instead of the normal one; None when the normal reply goes out (maybe altered)."""
    if fault.kind == "status":
        reply = text_reply(fault.body, fault.status, _content_type(fault.body)) if fault.body else status_error(
            fault.status
        )
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = fault.retry_after
        return reply
    if fault.kind == "malformed":
        return text_reply(fault.body or '{"machines": [{"id": 4242,, "listed": tru', 200, JSON)
    if fault.kind == "html":
        page = fault.body or "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
        return text_reply(page, fault.status if fault.status else 200, "text/html")
    if fault.kind == "drop":
        return Reply(status=0, body=b"", drop=True)
    if fault.kind == "success_false":
        return json_reply({"success": False, "msg": fault.body or "emulated failure"})
    return None


def swapped(fault: Fault, path: str, query: dict[str, str]) -> tuple[str, dict[str, str]]:
    """`swap_machine`: the request as if it named `fault.machine_id` (in the path and in `machine_ids`), so the
    normal handler answers with that machine's row or windows while the caller asked for its own."""
    other = str(fault.machine_id)
    path = re.sub(r"/machines/\d+", f"/machines/{other}", path)
    if "machine_ids" in query:
        query = {**query, "machine_ids": f"[{other}]"}
    return path, query


def after(fault: Fault, reply: Reply) -> Reply:
    """Alter a normal reply (`truncated`, `wrong_types`); other kinds leave it alone."""
    if fault.kind == "truncated":
        # a whole but short body (Content-Length matches): the JSON itself is cut mid-way
        return Reply(status=reply.status, body=reply.body[: max(1, len(reply.body) // 2)], headers=reply.headers)
    if fault.kind == "wrong_types" and reply.payload is not None:
        return json_reply(_break_types(reply.payload), reply.status)
    return reply


def _break_types(value: object) -> object:
    """Numbers and booleans become strings, strings become numbers: every typed field is now wrong."""
    if isinstance(value, dict):
        return {k: _break_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_break_types(v) for v in value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return len(value)
    return value


def _content_type(body: str) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/plain"
    return JSON
