"""The Vast host API emulator: state + renter simulation + faults + rate limits behind a loopback server."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import structlog

from hostagent.clock import SystemClock
from hostagent.ports import Clock
from hostagent.testing.emulator import faults, routes, signals
from hostagent.testing.emulator.faults import Fault, FaultBook
from hostagent.testing.emulator.ratelimit import RateLimiter, too_frequent_body
from hostagent.testing.emulator.renters import RenterSimulation
from hostagent.testing.emulator.seed import DEMO_API_KEY, default_state
from hostagent.testing.emulator.server import EmulatorHTTPServer, RecordedRequest
from hostagent.testing.emulator.state import EmulatorState, Maintenance
from hostagent.testing.emulator.wire import ApiError, Reply, error_reply, json_reply, text_reply
from hostagent.testing.emulator.writes import Call

log = structlog.get_logger(__name__)


class Emulator:
    """A stateful Vast host API on 127.0.0.1. `with Emulator() as emu: VastClient(emu.url, emu.api_key)`.

    Time comes from `clock` (SystemClock by default; give a FakeClock to drive a simulated week).
    """

    def __init__(self, *, clock: Clock | None = None, seed: int = 0, port: int = 0, rate_limits: bool = True,
                 host: str = "127.0.0.1") -> None:
        self.clock: Clock = clock or SystemClock()
        self.api_key = DEMO_API_KEY
        self._host, self._port = host, port
        self._offset_s = 0.0  # how far advance() has moved a clock that cannot be moved itself
        self._lock = threading.RLock()
        start_s = self.now_s()
        self._state = default_state(start_s, seed)
        self._sim = RenterSimulation(self._state, seed=seed, start_s=start_s)
        self.limiter = RateLimiter(self.clock.monotonic, enabled=rate_limits)
        self._faults = FaultBook()
        self._requests: list[RecordedRequest] = []
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle -------------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve in a background thread; returns the base URL (`http://127.0.0.1:PORT`)."""
        if self._server is None:
            self._server = EmulatorHTTPServer((self._host, self._port), self._dispatch)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="vast-emulator", daemon=True
            )
            self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started; call start() first")
        return f"http://{self._host}:{self._server.server_address[1]}"

    # ---- time and state ---------------------------------------------------------------------------------
    def now_s(self) -> float:
        """The emulator's wall time, epoch seconds."""
        return self.clock.now().timestamp() + self._offset_s

    def now(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self._offset_s)

    @property
    def state(self) -> EmulatorState:
        """The account, simulated up to now. Read it (or change it, holding no request) in tests."""
        with self._lock:
            self._sim.run_until(self.now_s())
            return self._state

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` and run the renters: a FakeClock moves; other clocks get an offset."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            mover = getattr(self.clock, "advance", None)
            if callable(mover):
                mover(seconds)
            else:
                self._offset_s += seconds
            self._sim.run_until(self.now_s())

    def set_demand(self, factor: float) -> None:
        """Scale renter demand from now on: 0 = no new rentals (a quiet spell), 1 = normal, 4 = a rush."""
        if factor < 0:
            raise ValueError("demand is a factor >= 0")
        with self._lock:
            self._sim.run_until(self.now_s())  # the hours already passed keep the demand they had
            self._sim.demand = factor

    def schedule_vast_maintenance(self, machine_id: int, start_s: float, hours: float,
                                  category: str = "other") -> int:
        """A window Vast itself schedules on the machine (the host cannot cancel it); returns its id."""
        with self._lock:
            self._sim.run_until(self.now_s())
            machine = self._state.machines[machine_id]
            window = Maintenance(id=self._state.new_id(), machine_id=machine_id, start_time=start_s,
                                 duration_hours=hours, category=category, created_at=self.now_s(), by_vast=True)
            machine.maintenances.append(window)
            return window.id

    def add_report(self, machine_id: int, problem: str, message: str = "",
                   created_at: float | None = None) -> dict[str, object]:
        """A renter files a report against the machine (testing/emulator/signals.py), dated now unless
        `created_at` (epoch s) says when; returns it as Vast lists it."""
        with self._lock:
            self._sim.run_until(self.now_s())
            body: dict[str, object] = {"machine_id": machine_id, "problem": problem, "message": message}
            if created_at is not None:
                body["created_at"] = created_at
            return signals.add_report(self._state, body, self.now_s())

    def set_signals(self, machine_id: int, **changes: object) -> None:
        """Vast's own view of the machine: verification, offline (bool), error_description, reliability2."""
        with self._lock:
            self._sim.run_until(self.now_s())
            signals.set_signals(self._state, {"machine_id": machine_id, **changes}, self.now_s())

    def set_rate_limits(self, enabled: bool) -> None:
        self.limiter.enabled = enabled
        self.limiter.reset()

    # ---- faults and the record --------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request so far, oldest first (the `/_emulator/` control routes are not recorded)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- serving ----------------------------------------------------------------------------------------
    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        raw_query = dict(parse_qsl(parts.query, keep_blank_values=True))
        json_body = _loads(body)
        if routes.normalise(parts.path) in _SIGNAL_ROUTES and method == "POST":
            return self._control_signal(routes.normalise(parts.path), json_body)
        if routes.normalise(parts.path).startswith("/_emulator/"):
            return self._control(method, routes.normalise(parts.path), json_body)
        record = RecordedRequest(method=method, path=parts.path, query=raw_query, headers=headers,
                                 json_body=json_body, at_s=self.clock.monotonic(), raw_body=body)
        with self._lock:
            self._requests.append(record)
        fault = self._faults.take(method, parts.path)
        reply: Reply | None = None
        if fault is not None:
            log.info("emulator_fault", kind=fault.kind, method=method, path=parts.path)
            if fault.kind == "delay":
                time.sleep(fault.delay_s)  # real time: the client's read timeout is real
            reply = faults.before(fault)
        if reply is None:
            path, query = (parts.path, raw_query) if fault is None or fault.kind != "swap_machine" else (
                faults.swapped(fault, parts.path, raw_query))
            reply = self._answer(method, path, query, headers, json_body)
            if fault is not None:
                reply = faults.after(fault, reply)
        record.status = reply.status
        record.answered_at_s = self.clock.monotonic()
        return reply

    def _answer(self, method: str, path: str, raw_query: dict[str, str], headers: dict[str, str],
                json_body: object) -> Reply:
        try:
            found = routes.find(method, routes.normalise(path))
            if found is None:
                return error_reply(404, "not_found", f"no endpoint {method} {path}")
            route, groups = found
            key = _api_key(headers, raw_query)
            if route.auth and key not in self._state.account.api_keys:
                return error_reply(401, "auth_error", "Invalid user key")
            threshold = self.limiter.check(route.name, key or "anonymous") if route.auth else None
            if threshold is not None:
                return text_reply(too_frequent_body(threshold), 429)
            with self._lock:
                now_s = self.now_s()
                self._sim.run_until(now_s)
                call = Call(method, path, {k: _loads(v.encode(), v) for k, v in raw_query.items()},
                            json_body, key or "", now_s)
                result = route.handler(self._state, call, groups)
        except ApiError as err:
            return error_reply(err.status, err.error, err.msg)
        return result if isinstance(result, Reply) else json_reply(result)

    def _control(self, method: str, path: str, body: object) -> Reply:
        """`/_emulator/fault` (POST adds, DELETE clears), `/_emulator/requests`, `/_emulator/advance`, and Vast's
        own signals about a machine: `/_emulator/report`, `/_emulator/signals`, `/_emulator/maintenance`."""
        try:
            if path == "/_emulator/fault" and method == "POST" and isinstance(body, dict):
                self.inject(Fault.from_json(body))
                return json_reply({"success": True})
            if path == "/_emulator/fault" and method == "DELETE":
                self.clear_faults()
                return json_reply({"success": True})
            if path == "/_emulator/requests" and method == "GET":
                return json_reply([r.to_json() for r in self.requests])
            if path == "/_emulator/advance" and method == "POST" and isinstance(body, dict):
                return self._control_advance(body.get("seconds"))
        except (TypeError, ValueError) as err:
            return error_reply(400, "invalid_args", str(err))
        return error_reply(404, "not_found", f"no control route {method} {path}")

    def _control_signal(self, path: str, body: object) -> Reply:
        """Vast's own signals about a machine (hostagent.testing.emulator.signals says what each route takes)."""
        if not isinstance(body, dict):
            return error_reply(400, "invalid_args", "expected a JSON object")
        try:
            machine_id = int(str(body.get("machine_id")))
            if machine_id not in self._state.machines:
                return error_reply(404, "not_found", f"no machine {machine_id} in this account")
            if path == "/_emulator/report":
                at = body.get("created_at")
                report = self.add_report(machine_id, str(body.get("problem", "")), str(body.get("message", "")),
                                         None if at is None else signals.number(body, "created_at"))
                return json_reply({"success": True, "report": report})
            if path == "/_emulator/signals":
                self.set_signals(machine_id, **{k: v for k, v in body.items() if k != "machine_id"})
                return json_reply({"success": True})
            window_id = self.schedule_vast_maintenance(
                machine_id, signals.number(body, "start_time"), signals.number(body, "duration_hours"),
                str(body.get("category", "other")))
        except (TypeError, ValueError) as err:
            return error_reply(400, "invalid_args", str(err))
        return json_reply({"success": True, "id": window_id})

    def _control_advance(self, seconds: object) -> Reply:
        if not callable(getattr(self.clock, "advance", None)):
            return error_reply(409, "real_clock", "this emulator runs on the real clock; time cannot be advanced")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return error_reply(400, "invalid_args", "seconds must be a number >= 0")
        self.advance(float(seconds))
        return json_reply({"success": True, "now": self.now_s()})


_SIGNAL_ROUTES = ("/_emulator/report", "/_emulator/signals", "/_emulator/maintenance")


def _api_key(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """Bearer header first, else the legacy `?api_key=` query parameter."""
    for name, value in headers.items():
        if name.lower() == "authorization" and value.startswith("Bearer "):
            return value[len("Bearer "):].strip()
    return query.get("api_key")


def _loads(raw: bytes, fallback: object = None) -> object:
    """JSON when it parses, else `fallback` (e.g. `owner=me` stays the string "me")."""
    if not raw:
        return fallback
    try:
        return json.loads(raw)
    except ValueError:
        return fallback
