"""sd_notify against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hostagent.runtime.sdnotify import Notifier, watchdog_interval_s


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket, as systemd holds one, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, str(path)


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_each_message_arrives_as_one_datagram_of_key_value_lines(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, address = systemd_socket
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": address})

    assert notifier.ready(status="listed at $2.10/GPU/h")
    assert received(sock) == ["READY=1", "STATUS=listed at $2.10/GPU/h"]
    assert notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    assert notifier.status("unlisted: GPU 3 lost")
    assert received(sock) == ["STATUS=unlisted: GPU 3 lost"]
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1"]


def test_reloading_carries_the_monotonic_time_systemd_matches_it_by(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, address = systemd_socket
    before_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    assert Notifier(address).reloading()

    first, second = received(sock)
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before_usec <= int(value) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_a_newline_in_a_status_cannot_inject_a_field(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, address = systemd_socket

    Notifier(address).status("GPU hot\nREADY=1")

    assert received(sock) == ["STATUS=GPU hot READY=1"]


def test_a_leading_at_names_an_abstract_socket() -> None:
    name = f"hostagent-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)

        assert Notifier("@" + name).watchdog()
        assert received(sock) == ["WATCHDOG=1"]


def test_without_notify_socket_every_call_is_a_silent_no_op() -> None:
    notifier = Notifier.from_environ({})

    with capture_logs() as logs:
        assert not notifier.enabled
        assert not notifier.ready()
        assert not notifier.watchdog()
        assert not notifier.stopping()
    assert logs == []


def test_a_failed_send_is_reported_and_warned_about_once(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))

    with capture_logs() as logs:
        assert not notifier.watchdog()
        assert not notifier.watchdog()

    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("sd_notify_failed", "warning"),
        ("sd_notify_failed", "debug"),
    ]
    assert logs[0]["message"] == "WATCHDOG=1"


def test_an_address_that_is_neither_a_path_nor_abstract_is_an_error_not_a_crash() -> None:
    with capture_logs() as logs:
        assert not Notifier("vsock:2:1234").ready()
    assert logs[0]["event"] == "sd_notify_failed"
    assert "unsupported" in logs[0]["error"]


def test_the_watchdog_interval_comes_from_watchdog_usec() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "120000000"}) == 120.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}) == 120.0


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "soon"},
        {"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"},
    ],
    ids=["unset", "zero", "garbage", "meant-for-another-process"],
)
def test_no_watchdog_interval_when_none_is_meant_for_this_process(environ: dict[str, str]) -> None:
    assert watchdog_interval_s(environ) is None
