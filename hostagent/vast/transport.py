"""HTTP to Vast: one request with retries, backoff and per-endpoint spacing. The ONE place httpx errors
are translated into `hostagent.errors` (nothing from httpx leaves this module).

Retry policy (see docs/vast-client.md):
- retried: 429, 502, 503, 504; connect errors and connect timeouts (the request never left); for a READ
  also a read timeout or a dropped connection. Jittered exponential backoff, Retry-After honoured up to
  `retry_after_cap_s` (beyond it: `VastRateLimited` at once, so the agent defers), bounded by
  `max_attempts` (total) and `max_retry_time_s`.
- not retried: 500 (as the official CLI: a server bug does not heal in a second; the next tick asks
  again), other 5xx, 4xx, bad bodies.
- a WRITE whose reply was lost (read timeout, connection dropped after sending, or a 502/504 gateway
  answer, which means the origin may have acted) raises `VastWriteUncertain` and is never retried: the
  agent reads Vast's state and reconciles.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
import structlog

from hostagent import __version__
from hostagent.config.model import VastConfig
from hostagent.errors import (
    VastAuthError,
    VastBadReply,
    VastBadRequest,
    VastClientError,
    VastError,
    VastNotFound,
    VastRateLimited,
    VastServerError,
    VastTimeout,
    VastTransportError,
    VastWriteUncertain,
)
from hostagent.ports import CallLedger, Clock
from hostagent.vast.query import encode_query, non_finite_path
from hostagent.vast.tls import refuse_clear_text, verified_tls_context

log = structlog.get_logger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
SPACING_MARGIN_S = 0.1  # on top of Vast's threshold: our clock and Vast's never agree to the millisecond
_MSG_CHARS = 200
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_GATEWAY_LOST = frozenset({502, 504})  # the proxy lost the origin's answer: a write may have happened


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Vast operation: its name (used in errors), method, path template and rate threshold (Vast's docs)."""

    name: str
    method: str
    path: str  # with `{id}` where the machine id goes, exact slash form as the CLI sends it
    min_interval_s: float
    write: bool

    def rate_key(self) -> str:
        return f"{self.method} {self.path}"


class _Failed(Exception):
    """One attempt failed; `retry` says whether another attempt may help, `delay_s` overrides backoff."""

    def __init__(self, error: VastError, *, retry: bool, delay_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry = retry
        self.delay_s = delay_s


class Transport:
    """Sends requests for `VastClient`; single caller at a time (the agent loop), spacing table locked."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        cfg: VastConfig,
        clock: Clock,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        refuse_clear_text(self._base, self.scrub)
        self._cfg = cfg
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._last_sent: dict[str, float] = {}  # rate key -> monotonic time the last attempt ended
        self._not_before: dict[str, float] = {}  # rate key -> monotonic time Vast asked us to wait until
        self._shared: set[str] = set()  # rate keys whose last call was another process's (from the ledger)
        self.ledger: CallLedger | None = None  # shares per-endpoint spacing with other processes on the key
        timeout = httpx.Timeout(
            connect=cfg.connect_timeout_s, read=cfg.read_timeout_s, write=cfg.read_timeout_s, pool=cfg.connect_timeout_s
        )
        self.tls_context = verified_tls_context() if transport is None else None  # a test's transport needs none
        self._http = httpx.Client(
            timeout=timeout, follow_redirects=False, transport=transport, verify=self.tls_context or True
        )

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def request(
        self, ep: Endpoint, path: str, *, query: Mapping[str, object] | None = None, body: object | None = None
    ) -> object:
        """Send until success or a final failure; returns the reply's decoded JSON. Raises VastError only."""
        for where, value in (("query", query), ("body", body)):
            bad = non_finite_path(value)  # json.dumps would write a bare NaN (not JSON): refuse before sending
            if bad is not None:
                raise VastBadRequest(f"{ep.name}: {where} field {bad}: not finite, not sent", endpoint=ep.name)
        url = self._base + path + (f"?{encode_query(query)}" if query else "")
        content = None if body is None else json.dumps(body, allow_nan=False).encode()  # allow_nan: a second lock
        started = self._clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self._wait_turn(ep)
            try:
                return self._attempt(ep, url, content)
            except _Failed as failed:
                delay_s = failed.delay_s if failed.delay_s is not None else self._backoff_s(attempt)
                elapsed_s = self._clock.monotonic() - started
                if (
                    not failed.retry
                    or attempt >= self._cfg.max_attempts
                    or elapsed_s + delay_s > self._cfg.max_retry_time_s
                ):
                    raise failed.error from failed.__cause__
                log.warning(
                    "vast_retry", endpoint=ep.name, attempt=attempt, delay_s=round(delay_s, 3), error=str(failed.error)
                )
                self._clock.sleep(delay_s)

    def _backoff_s(self, attempt: int) -> float:
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))  # "equal jitter": never 0, never in lockstep

    def _wait_turn(self, ep: Endpoint) -> None:
        """Sleep until the endpoint's minimum interval since the last request has passed (or Vast's wait)."""
        key = ep.rate_key()
        if self.ledger is not None:
            self._adopt(self.ledger.others())
        now = self._clock.monotonic()
        with self._lock:
            not_before = self._not_before.get(key, 0.0)
            last = self._last_sent.get(key)
            shared = key in self._shared
        ready_at = max(not_before, now if last is None else last + ep.min_interval_s + SPACING_MARGIN_S)
        wait_s = ready_at - now
        if not_before - now > self._cfg.retry_after_cap_s:
            raise VastRateLimited(
                f"{ep.name}: deferred: Vast asked to wait until later", endpoint=ep.name, retry_after_s=wait_s
            )
        if wait_s > 0:
            log.debug("vast_rate_wait", endpoint=ep.name, wait_s=round(wait_s, 3))
            if shared and self.ledger is not None:
                self.ledger.waiting(ep.name, wait_s)
            self._clock.sleep(wait_s)

    def _adopt(self, calls: Mapping[str, float]) -> None:
        """Another process's call counts as ours for spacing: Vast limits the key, not the process."""
        now_mono, now_wall = self._clock.monotonic(), self._clock.now().timestamp()
        with self._lock:
            for key, at_epoch_s in calls.items():
                # a time ahead of our clock counts as just now: the wait stays bounded by the interval
                at_mono = now_mono - max(0.0, now_wall - at_epoch_s)
                if at_mono > self._last_sent.get(key, float("-inf")):
                    self._last_sent[key] = at_mono
                    self._shared.add(key)

    def _mark(self, ep: Endpoint) -> None:
        key = ep.rate_key()
        with self._lock:
            self._last_sent[key] = self._clock.monotonic()
            self._shared.discard(key)
        if self.ledger is not None:
            self.ledger.record(key, self._clock.now().timestamp())

    def _attempt(self, ep: Endpoint, url: str, content: bytes | None) -> object:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "*/*", "User-Agent": f"hostagent/{__version__}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(ep.method, url, content=content, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            # built wrong here (bad api_url scheme or URL): nothing was sent, and trying again cannot help
            raise _Failed(VastTransportError(self._what(ep, "bad request URL", exc), endpoint=ep.name),
                          retry=False) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            kind = VastTimeout if isinstance(exc, httpx.TimeoutException) else VastTransportError
            raise _Failed(kind(self._what(ep, "could not connect", exc), endpoint=ep.name), retry=True) from exc
        except httpx.TransportError as exc:
            self._mark(ep)
            raise self._lost(ep, exc) from exc
        except httpx.HTTPError as exc:  # e.g. DecodingError: a body we cannot even decompress
            self._mark(ep)
            raise _Failed(VastBadReply(self._what(ep, "unreadable reply", exc), endpoint=ep.name), retry=False) from exc
        self._mark(ep)
        return self._judge(ep, response)

    def _what(self, ep: Endpoint, what: str, exc: Exception) -> str:
        detail = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        return self.scrub(f"{ep.name}: {what} ({detail})")

    def _lost(self, ep: Endpoint, exc: httpx.TransportError) -> _Failed:
        """The request (or part of it) left but no usable reply came back."""
        if ep.write:
            msg = self._what(ep, "reply lost after the write was sent; read Vast's state before retrying", exc)
            return _Failed(VastWriteUncertain(msg, endpoint=ep.name), retry=False)
        kind = VastTimeout if isinstance(exc, httpx.TimeoutException) else VastTransportError
        return _Failed(kind(self._what(ep, "reply lost", exc), endpoint=ep.name), retry=True)

    def _judge(self, ep: Endpoint, response: httpx.Response) -> object:
        status = response.status_code
        if 200 <= status < 300:
            return self._decode(ep, response)
        msg = self._vast_msg(response)
        text = self.scrub(f"{ep.name}: HTTP {status}: {msg}")
        if status == 429:
            raise self._rate_limited(ep, response, text)
        if status in _GATEWAY_LOST and ep.write:
            raise _Failed(VastWriteUncertain(text + " (the write may have happened)", endpoint=ep.name, status=status),
                          retry=False)
        if status >= 500:
            raise _Failed(VastServerError(text, endpoint=ep.name, status=status), retry=status in _RETRY_STATUSES)
        cls: type[VastAuthError | VastNotFound | VastClientError | VastBadReply]
        if status in (401, 403):
            cls = VastAuthError
        elif status == 404:
            cls = VastNotFound
        elif 400 <= status < 500:
            cls = VastClientError
        else:  # 1xx/3xx: we never follow redirects (a redirected POST turns into a GET)
            raise _Failed(VastBadReply(text, endpoint=ep.name, status=status), retry=False)
        raise _Failed(cls(text, endpoint=ep.name, status=status, msg=self.scrub(msg)), retry=False)

    def _rate_limited(self, ep: Endpoint, response: httpx.Response, text: str) -> _Failed:
        retry_after_s = self._retry_after_s(response)
        quota = _json_or_none(response)
        if isinstance(quota, dict) and quota.get("error") == "search_quota_exceeded":
            # a daily quota: retrying cannot help before X-RateLimit-Reset (the CLI never retries it either)
            reset_s = _float_or_none(response.headers.get("X-RateLimit-Reset"))
            wait_s = None if reset_s is None else max(0.0, reset_s - self._clock.now().timestamp())
            error = VastRateLimited(text, endpoint=ep.name, retry_after_s=wait_s)
            return _Failed(error, retry=False)
        error = VastRateLimited(text, endpoint=ep.name, retry_after_s=retry_after_s)
        if retry_after_s is not None and retry_after_s > self._cfg.retry_after_cap_s:
            with self._lock:
                self._not_before[ep.rate_key()] = self._clock.monotonic() + retry_after_s
            return _Failed(error, retry=False)
        # Vast rarely sends Retry-After; its limit is a minimum interval, so never come back sooner than that
        return _Failed(error, retry=True, delay_s=retry_after_s if retry_after_s is not None else self._min_wait(ep))

    def _min_wait(self, ep: Endpoint) -> float:
        return ep.min_interval_s + SPACING_MARGIN_S + self._rng.uniform(0, BACKOFF_BASE_S)

    def _retry_after_s(self, response: httpx.Response) -> float | None:
        """Retry-After as seconds (float) or an HTTP-date; garbage and negative values count as absent."""
        raw = response.headers.get("Retry-After")
        if raw is None:
            return None
        seconds = _float_or_none(raw)
        if seconds is None:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                return None
            seconds = max(0.0, when.timestamp() - self._clock.now().timestamp())
        return seconds if seconds >= 0 else None

    def _vast_msg(self, response: httpx.Response) -> str:
        """Vast's own words: `msg`, `message`, `detail` or `error` of a JSON body, else a hint of the text."""
        data = _json_or_none(response)
        if isinstance(data, dict):
            for key in ("msg", "message", "detail", "error"):
                value = data.get(key)
                if isinstance(value, str) and value:
                    return value[:_MSG_CHARS]
        text = response.text.strip()
        if text.startswith("<") or "html" in response.headers.get("Content-Type", ""):
            return "(an HTML page)"
        return text[:_MSG_CHARS] or "(no message)"

    def _decode(self, ep: Endpoint, response: httpx.Response) -> object:
        body = response.content
        try:
            return json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            pass
        if not body.strip():
            what = "empty reply"
        elif body.lstrip().startswith(b"<") or "html" in response.headers.get("Content-Type", ""):
            what = "an HTML page instead of JSON"
        else:
            what = f"not JSON or truncated ({len(body)} bytes)"
        error = VastBadReply(f"{ep.name}: HTTP {response.status_code}: {what}", endpoint=ep.name,
                             status=response.status_code)
        raise _Failed(error, retry=False)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_or_none(response: httpx.Response) -> object:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return None


def _float_or_none(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None

