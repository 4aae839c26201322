"""Suite-wide isolation: a test that configures logging (as the CLI commands do) must not change
what later tests see. Each test gets back the logging set-up it started with."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog

_QUIET_LOGGERS = ("httpx", "httpcore")


@dataclass(frozen=True)
class _LoggingState:
    structlog_config: dict[str, Any]
    root_handlers: list[logging.Handler]
    root_level: int
    levels: dict[str, int]
    hooks: tuple[Any, Any]


@pytest.fixture(scope="session")
def _pristine_logging() -> _LoggingState:
    root = logging.getLogger()
    return _LoggingState(
        structlog.get_config(),
        root.handlers[:],
        root.level,
        {name: logging.getLogger(name).level for name in _QUIET_LOGGERS},
        (sys.excepthook, threading.excepthook),
    )


@pytest.fixture(autouse=True)
def _restore_logging(_pristine_logging: _LoggingState) -> Iterator[None]:
    """After each test (and so after any module fixture that set logging up), back to the start."""
    yield
    state = _pristine_logging
    structlog.configure(**state.structlog_config)
    root = logging.getLogger()
    root.handlers[:] = state.root_handlers
    root.setLevel(state.root_level)
    for name, level in state.levels.items():
        logging.getLogger(name).setLevel(level)
    sys.excepthook, threading.excepthook = state.hooks
