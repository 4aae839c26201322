"""Suite-wide isolation: a test that configures logging (as the CLI commands do) must not change
what later tests see. Each test gets back the logging set-up it started with.

Hypothesis: one profile for every property test, with no example database, and its other files (a
cache of the code's constants) in a temporary directory removed at exit: no run writes a `.hypothesis/`
directory into the checkout. Example counts are set per test; the whole-plan property
test (tests/unit/test_plan_properties.py) reads HOSTAGENT_HYPOTHESIS_EXAMPLES for a longer, slow run.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

_HYPOTHESIS_HOME = Path(tempfile.mkdtemp(prefix="hostagent-hypothesis-"))
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
settings.register_profile("hostagent", database=None)
settings.load_profile("hostagent")

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
