"""Logs: JSON lines off a terminal, readable lines on one, and the API key never in any of them."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog
from structlog.processors import format_exc_info
from structlog.testing import capture_logs

from hostagent.masking import MASK, add_secret, clear_secrets, is_secret_name, mask_secrets, mask_text, redact
from hostagent.runtime.logs import configure_logging, install_excepthook

CANARY = "c4n4ry-0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    hooks = (sys.excepthook, threading.excepthook)
    yield
    structlog.reset_defaults()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    sys.excepthook, threading.excepthook = hooks
    clear_secrets()


def _fail_with_the_key(api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    raise ConnectionError(f"request to https://console.vast.ai/api/v0/machines?api_key={api_key} failed: {headers}")


@pytest.mark.parametrize(
    "name", ["api_key", "API_KEY", "apiKey", "x-api-key", "Authorization", "access_token", "token", "password",
             "client_secret", "credentials", "Cookie"],
)
def test_secret_looking_key_names_are_masked(name: str) -> None:
    assert is_secret_name(name)
    assert redact({name: "v", "machine_id": 4242}) == {name: MASK, "machine_id": 4242}


@pytest.mark.parametrize("name", ["action_key", "key", "machine_id", "price_usd_per_gpu_hour", "event"])
def test_ordinary_key_names_are_kept(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_walks_nested_dicts_and_lists_and_masks_registered_literals() -> None:
    add_secret(CANARY)
    value = {"request": {"headers": [{"Authorization": "Basic Zm9v"}], "body": [f"x{CANARY}y", 1, None, 2.5]}}
    assert redact(value) == {"request": {"headers": [{"Authorization": MASK}], "body": [f"x{MASK}y", 1, None, 2.5]}}
    assert redact(ValueError(f"boom {CANARY}")) == f"boom {MASK}"


def test_bearer_authorization_and_query_string_patterns_are_masked_without_registration() -> None:
    text = "Authorization: Bearer abcdef123456 then GET /x?api_key=s3cr3tv4lue&limit=5 token=tok-99"
    assert mask_text(text) == f"Authorization: {MASK} then GET /x?api_key={MASK}&limit=5 token={MASK}"
    assert mask_text("headers={'authorization': 'Bearer zzzzzz'}") == f"headers={{'authorization': '{MASK}'}}"


def test_a_too_short_literal_is_not_registered_so_words_survive() -> None:
    add_secret("ab")
    assert mask_text("ab cab") == "ab cab"


def test_capture_logs_sees_the_canary_masked_in_fields_headers_and_the_formatted_traceback() -> None:
    add_secret(CANARY)
    log = structlog.get_logger("test")
    with capture_logs(processors=[format_exc_info, mask_secrets]) as logs:
        log.info("vast_call", headers={"Authorization": f"Bearer {CANARY}"}, api_key=CANARY, note=f"k={CANARY}")
        try:
            _fail_with_the_key(CANARY)
        except ConnectionError:
            log.exception("vast_call_failed")
    assert CANARY not in repr(logs)
    assert logs[0]["headers"] == {"Authorization": MASK}
    assert logs[0]["api_key"] == MASK
    assert "ConnectionError" in logs[1]["exception"]
    assert "Traceback" in logs[1]["exception"]


def test_rendered_json_lines_never_hold_the_key_from_structlog_stdlib_or_tracebacks() -> None:
    out = io.StringIO()
    configure_logging(level="info", json=True, stream=out)
    add_secret(CANARY)  # registered after configuration, as the client does once the key is loaded
    log = structlog.get_logger("hostagent.test")
    log.info("vast_request", headers={"Authorization": f"Bearer {CANARY}", "Accept": "*/*"}, machine_id=4242)
    try:
        _fail_with_the_key(CANARY)
    except ConnectionError:
        log.exception("vast_request_failed", url=f"https://h/?api_key={CANARY}")
        logging.getLogger("some.library").error("library saw %s", CANARY, exc_info=True)
    logging.getLogger("httpx").warning("HTTP Request: GET https://h/machines?api_key=%s", CANARY)
    logging.getLogger("httpx").info("HTTP Request: GET https://h/machines (info is muted)")
    text = out.getvalue()
    assert text.count(CANARY) == 0
    lines = [json.loads(line) for line in text.splitlines()]
    assert [entry["event"] for entry in lines[:2]] == ["vast_request", "vast_request_failed"]
    assert lines[0]["headers"] == {"Authorization": MASK, "Accept": "*/*"}
    assert lines[0]["machine_id"] == 4242
    assert "Traceback" in lines[1]["exception"]
    assert "ConnectionError" in lines[1]["exception"]
    assert lines[2]["logger"] == "some.library"
    assert "Traceback" in lines[2]["exception"]
    assert lines[3]["logger"] == "httpx"
    assert lines[3]["level"] == "warning"
    assert len(lines) == 4
    stamp = datetime.fromisoformat(lines[0]["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)


def test_readable_console_lines_are_masked_too_traceback_included() -> None:
    out = io.StringIO()
    configure_logging(level="debug", json=False, secrets=[CANARY], stream=out)
    log = structlog.get_logger("hostagent.test")
    log.debug("tick_done", gpus=8)
    try:
        _fail_with_the_key(CANARY)
    except ConnectionError:
        log.error("vast_request_failed", exc_info=True, authorization=f"Bearer {CANARY}")
    text = out.getvalue()
    assert CANARY not in text
    assert "tick_done" in text
    assert "gpus=8" in text
    assert "Traceback" in text
    assert f"api_key={MASK}" in text
    assert not text.lstrip().startswith("{")


def test_auto_format_is_json_off_a_terminal_and_readable_on_one() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    structlog.get_logger().info("started")
    assert json.loads(out.getvalue())["event"] == "started"
    primary, secondary = os.openpty()
    try:
        with open(primary, "w", closefd=False) as tty:
            configure_logging(stream=tty)
            structlog.get_logger().info("on_a_terminal", n=1)
            tty.flush()
        line = os.read(secondary, 4096).decode()
    finally:
        os.close(primary)
        os.close(secondary)
    assert "on_a_terminal" in line
    assert "n=1" in line
    assert not line.startswith("{")


def test_the_level_filters_our_events_and_an_unknown_level_is_refused() -> None:
    out = io.StringIO()
    configure_logging(level="warning", json=True, stream=out)
    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown")
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["shown"]
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="loud")


def test_an_uncaught_exception_goes_through_the_masked_log() -> None:
    out = io.StringIO()
    configure_logging(json=True, secrets=[CANARY], stream=out)
    install_excepthook()
    try:
        _fail_with_the_key(CANARY)
    except ConnectionError:
        sys.excepthook(*sys.exc_info())
    [line] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert line["event"] == "unhandled_exception"
    assert line["level"] == "critical"
    assert CANARY not in out.getvalue()
    assert "ConnectionError" in line["exception"]
