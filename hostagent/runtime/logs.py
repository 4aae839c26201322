"""Logging for hostagent: structlog for our events, the stdlib's records (httpx, ...) through the same chain.

JSON lines when stderr is not a terminal (journald keeps one event per line), readable lines on a
terminal. Every record, ours or a library's, passes `mask_secrets` AFTER its exception has been
formatted, so a traceback is masked like any other string; the rendered line is then scrubbed once
more for registered literals, which also covers anything a renderer adds by itself.

What is masked, and how: `hostagent.masking`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import TextIO

import structlog
from structlog.typing import Processor

from hostagent.masking import add_secret, mask_secrets, scrub_rendered

_HANDLER_NAME = "hostagent"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# `hostagent --log-level LEVEL`: the operator's choice, which every later configure_logging() call keeps
# (each command otherwise picks its own default: info for `run`, warning or error for the others).
_level_override: str | None = None


def override_level(level: str) -> None:
    """Make `level` the level of every configure_logging() call from now on, and apply it at once."""
    global _level_override  # noqa: PLW0603 -- one process-wide choice, made once by the CLI
    _level_override = None
    configure_logging(level=level)
    _level_override = level


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
    level = _level_override or level
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
            scrub_rendered,
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

