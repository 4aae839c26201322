"""Logging for hostagent: structlog for our events, the stdlib's records (httpx, ...) through the same chain.

JSON lines when stderr is not a terminal (journald keeps one event per line), readable lines on a
terminal. Every record, ours or a library's, passes `mask_secrets` AFTER its exception has been
formatted, so a traceback is masked like any other string; the rendered line is then scrubbed once
more for registered literals, which also covers anything a renderer adds by itself.

What is masked (replaced by `***`):
- the value of any key whose name looks secret (api_key, x-api-key, authorization, token, password,
  secret, credential, cookie, ...; case-insensitive, in nested dicts and lists too);
- every literal registered with `add_secret()` (the client registers the API key once it loaded it),
  anywhere in any string;
- `Bearer <token>` / `Basic <token>`, `Authorization: <value>` and `api_key=<value>` patterns in any string.

`redact(value)` applies the same rules to any JSON-like value; the state store uses it so the key
never reaches the journal or the state file either.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"
# A literal shorter than this would mask ordinary words; a real key is far longer.
MIN_SECRET_LEN = 6

_SECRET_NAME = re.compile(
    r"(apikey|accesskey|privatekey|secretkey|signingkey|authorization|^auth$|token|password|passwd|"
    r"passphrase|secret|credential|cookie|sessionid)"
)
_PATTERNS = (
    # The header with its scheme first, so "Authorization: Bearer x" becomes "Authorization: ***".
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?!\*\*\*)(?:(?:bearer|basic|token)\s+)?[^'\"\s,;}]+"),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{4,}"), r"\1\2" + MASK),
    (
        re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|token|password|secret)['\"]?\s*[=:]\s*['\"]?)"
                   r"(?!\*\*\*)[^&'\"\s,;}]+"),
        r"\1" + MASK,
    ),
)



class _Registry:
    """The registered literals; replaced whole under a lock so readers never need one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


_registry = _Registry()
_HANDLER_NAME = "hostagent"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def add_secret(value: str) -> None:
    """Register a literal (the API key) to be masked in every log line and state record from now on."""
    if len(value) < MIN_SECRET_LEN:
        return
    with _registry.lock:
        if value not in _registry.secrets:
            _registry.secrets = tuple(sorted((*_registry.secrets, value), key=len, reverse=True))


def clear_secrets() -> None:
    """Forget every registered literal (tests use it to start clean)."""
    with _registry.lock:
        _registry.secrets = ()


def is_secret_name(name: object) -> bool:
    """True for a key whose value must never be shown (`api_key`, `Authorization`, `X-Api-Key`, ...)."""
    if not isinstance(name, str):
        return False
    return _SECRET_NAME.search(re.sub(r"[^a-z0-9]", "", name.lower())) is not None


def mask_text(text: str) -> str:
    """`text` with registered literals and Bearer/Authorization/api_key=... patterns replaced by `***`."""
    for secret in _registry.secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: object) -> Any:
    """A copy of a JSON-like value with secret-named keys and secret strings masked.

    Dicts and lists are walked; strings are masked; other scalars are returned as they are; any
    other object is returned as it is unless its `str()` holds a registered literal, in which case
    the masked string replaces it.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_name(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if _registry.secrets:
        text = str(value)
        masked = mask_text(text)
        if masked != text:
            return masked
    return value


def mask_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `redact` every value. Place it after format_exc_info / dict_tracebacks."""
    return {k: (MASK if is_secret_name(k) else redact(v)) for k, v in event_dict.items()}


def _scrub_rendered(_logger: WrappedLogger, _method: str, rendered: Any) -> Any:
    """Last step after the renderer: the rendered line itself is masked once more."""
    return mask_text(rendered) if isinstance(rendered, str) else rendered


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(
    *,
    level: str = "info",
    json: bool | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Set up structlog and the stdlib root logger to write masked lines to `stream` (stderr).

    `json=None` chooses JSON lines when the stream is not a TTY. Calling it again replaces the
    previous set-up (the handler it installed is removed). httpx and httpcore log at WARNING:
    at INFO httpx logs every URL.
    """
    for secret in secrets:
        add_secret(secret)
    out = stream if stream is not None else sys.stderr
    if json is None:
        json = not _isatty(out)
    numeric_level = _LEVELS.get(level.lower())
    if numeric_level is None:
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(_LEVELS)}")

    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=30)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_secrets,  # after the traceback became a string, so it is masked too
            renderer,
            _scrub_rendered,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, numeric_level))

    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # Not cached: tests use structlog.testing.capture_logs, which cannot see cached loggers.
        cache_logger_on_first_use=False,
    )


def install_excepthook() -> None:
    """Send uncaught exceptions (main thread and threads) through the masked log instead of raw stderr."""
    log = structlog.get_logger("hostagent.crash")

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.critical("unhandled_exception", exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            log.critical(
                "unhandled_thread_exception",
                thread=args.thread.name if args.thread else None,
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )

    sys.excepthook = hook
    threading.excepthook = thread_hook


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or a stream without a file behind it
        return False

