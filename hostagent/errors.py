"""hostagent's one exception tree. Foreign errors (NVMLError, httpx, sqlite3) never leave their adapter.

    HostagentError
    ├── ConfigError                 bad config: every problem, each with file and dotted path (exit 78)
    ├── SecretError                 the API key file is unsafe or missing (exit 78); never holds the key
    ├── StateError                  the state store could not be written or read (the agent goes on)
    │   └── StateAccessError        this user may not write it (read-only file, directory or file system): exit 77
    ├── LockHeldError               another agent holds the state directory
    ├── HardwareError               the hardware layer could not start at all (not a per-GPU failure)
    └── VastError                   anything from Vast's API; `.endpoint` names the operation
        ├── VastRetryable           may succeed if tried again later
        │   ├── VastTransportError  connect failure / refused / DNS: the request never left
        │   ├── VastTimeout         connect or read timeout
        │   ├── VastRateLimited     429; `.retry_after_s` when Vast said so
        │   └── VastServerError     500, 502, 503, 504
        ├── VastWriteUncertain      a write's reply was lost: never retried blindly, reconcile instead
        └── VastPermanent           retrying cannot help
            ├── VastAuthError       401 / 403: stop API actions, keep telemetry
            ├── VastNotFound        404
            ├── VastClientError     other 4xx; carries Vast's `msg`
            │   └── VastMinBidTooHigh  422 "min_bid must be <= {max}"; `.max_usd_per_gpu_hour`, kept for later plans
            ├── VastFailure         HTTP 200 with `success: false`; carries Vast's `msg`
            ├── VastBadReply        non-JSON, HTML, truncated, or a missing / wrongly typed field (`.field`)
            │   └── VastWrongMachine  the reply is not the machine asked for: another id, or its identity changed
            ├── VastInsecureURL     the API URL would send the key in clear text (http:// off loopback): nothing sent
            └── VastBadRequest      a request refused before sending (a non-finite number): nothing left
"""

from __future__ import annotations


class HostagentError(Exception):
    """Base of every error hostagent raises on purpose."""


class ConfigError(HostagentError):
    """The config is invalid. `problems` lists each as 'file: dotted.path: what is wrong'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SecretError(HostagentError):
    """The API key could not be loaded safely. The message names the fix, never the key."""


class StateError(HostagentError):
    """A state store operation failed (disk full, corrupt file, locked)."""


class StateAccessError(StateError):
    """The state store cannot be written by this process: refused at start, since nothing could be stored."""


class LockHeldError(HostagentError):
    """Another hostagent already runs on this state directory. `pid` is the holder's, when known."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        self.pid = pid
        super().__init__(message)


class HardwareError(HostagentError):
    """The hardware backend could not be built (e.g. a fake file that does not parse)."""


class VastError(HostagentError):
    """Base of every error from the Vast API. Never carries the API key."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None) -> None:
        self.endpoint = endpoint
        self.status = status
        super().__init__(message)


class VastRetryable(VastError):
    """Trying again later may work."""


class VastTransportError(VastRetryable):
    """The connection failed before the request was sent (refused, DNS, reset on connect)."""


class VastTimeout(VastRetryable):
    """A connect or read timeout."""


class VastRateLimited(VastRetryable):
    """HTTP 429. `retry_after_s` is what Vast asked for (None when it did not say)."""

    def __init__(
        self, message: str, *, endpoint: str = "", status: int | None = 429, retry_after_s: float | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, endpoint=endpoint, status=status)


class VastServerError(VastRetryable):
    """HTTP 5xx."""


class VastWriteUncertain(VastError):
    """A write was sent but its reply was lost: it may or may not have taken effect."""


class VastPermanent(VastError):
    """Retrying the same request cannot help."""

    def __init__(
        self, message: str, *, endpoint: str = "", status: int | None = None, msg: str | None = None
    ) -> None:
        self.msg = msg  # Vast's own `msg`, when it sent one
        super().__init__(message, endpoint=endpoint, status=status)


class VastAuthError(VastPermanent):
    """401 or 403: the key is wrong, revoked, or lacks the scope."""


class VastNotFound(VastPermanent):
    """404."""


class VastClientError(VastPermanent):
    """Another 4xx."""


class VastMinBidTooHigh(VastClientError):
    """Vast refused the min bid as above its upper bound (422 "min_bid must be <= {max}"); `max_usd_per_gpu_hour`."""

    def __init__(self, message: str, *, max_usd_per_gpu_hour: float, endpoint: str = "", status: int | None = None,
                 msg: str | None = None) -> None:
        self.max_usd_per_gpu_hour = max_usd_per_gpu_hour
        super().__init__(message, endpoint=endpoint, status=status, msg=msg)


class VastFailure(VastPermanent):
    """HTTP 200 with `success: false`."""


class VastBadReply(VastPermanent):
    """The reply could not be used: not JSON, truncated, or a field missing or of the wrong type."""

    def __init__(
        self, message: str, *, endpoint: str = "", status: int | None = None, field: str | None = None
    ) -> None:
        self.field = field
        super().__init__(message, endpoint=endpoint, status=status)


class VastWrongMachine(VastBadReply):
    """A reply about another machine than the one asked for (`asked_id`): its id differs, or its hostname or
    GPUs differ from what hostagent recorded when it first found the machine. Nothing may be written on it."""

    def __init__(self, message: str, *, asked_id: int, endpoint: str = "") -> None:
        self.asked_id = asked_id
        super().__init__(message, endpoint=endpoint, field="id")


class VastInsecureURL(VastPermanent):
    """The API URL is not https:// (plain http:// is allowed to loopback only): refused before any connection."""


class VastBadRequest(VastPermanent):
    """A request hostagent refused to send: its body or query holds NaN or ±inf, which is not JSON.

    Raised before anything leaves, so Vast never sees a bare `NaN` (or a `null` it would read as "unset")."""
