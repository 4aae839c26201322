"""How VastClient behaves when Vast (or the network) misbehaves, over a real loopback server.

Each test states: retried or not, how many attempts reached the server, how long the client waited
(the sleeps it asked of the fake clock; real waiting happens only for the timeout cases), which error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime

import pytest
from vast_loopback import NeverAccepts, Reply, ScriptedServer, refused_url

from hostagent.config.model import VastConfig
from hostagent.core.model import DesiredListing
from hostagent.errors import (
    VastAuthError,
    VastBadReply,
    VastClientError,
    VastFailure,
    VastInsecureURL,
    VastNotFound,
    VastRateLimited,
    VastServerError,
    VastTimeout,
    VastTransportError,
    VastWriteUncertain,
)
from hostagent.testing.clock import FakeClock
from hostagent.vast.client import VastClient

KEY = "faults-key-abcdef123456"
MACHINES_INTERVAL_S = 2.5 + 0.1  # GET /machines threshold (Vast's API reference) plus the client's margin
OK_MACHINES = {"machines": [{"id": 7, "hostname": "h", "gpu_name": "RTX 4090", "num_gpus": 4, "listed": False}]}
LISTING = DesiredListing(listed=True, price_usd_per_gpu_hour=0.5)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer(default=Reply(body=OK_MACHINES)).start()
    yield srv
    srv.stop()


def client_for(url: str, **cfg: float) -> tuple[VastClient, FakeClock]:
    clock = FakeClock()
    return VastClient(url, KEY, cfg=VastConfig(**cfg), clock=clock), clock  # type: ignore[arg-type]


def waited(clock: FakeClock, start: float = 1000.0) -> float:
    return clock.monotonic() - start


def test_429_without_retry_after_waits_at_least_the_endpoint_threshold_then_succeeds(server: ScriptedServer) -> None:
    server.then(Reply(429, "API requests too frequent: endpoint threshold=2.5", {"Content-Type": "text/plain"}),
                Reply(429, {"detail": "API requests too frequent endpoint threshold=2.5"}))
    client, clock = client_for(server.url)
    assert [m.id for m in client.show_machines()] == [7]
    assert len(server.seen) == 3
    assert 2 * MACHINES_INTERVAL_S <= waited(clock) <= 2 * (MACHINES_INTERVAL_S + 0.5)


@pytest.mark.parametrize(("header", "expected_wait_s"), [("7", 7.0), ("7.5", 7.5), ("garbage", None)])
def test_429_retry_after_in_seconds_is_honoured_and_garbage_ignored(
    server: ScriptedServer, header: str, expected_wait_s: float | None
) -> None:
    server.then(Reply(429, {"msg": "slow down"}, {"Retry-After": header}))
    client, clock = client_for(server.url)
    client.show_machines()
    assert len(server.seen) == 2
    if expected_wait_s is None:  # as if absent: the endpoint's own interval, plus jitter
        assert MACHINES_INTERVAL_S <= waited(clock) <= MACHINES_INTERVAL_S + 0.5
    else:
        assert waited(clock) == pytest.approx(expected_wait_s)


def test_429_retry_after_as_http_date_is_honoured(server: ScriptedServer) -> None:
    clock = FakeClock()
    when = format_datetime(clock.now() + timedelta(seconds=20), usegmt=True)
    server.then(Reply(429, {"msg": "slow down"}, {"Retry-After": when}))
    client = VastClient(server.url, KEY, clock=clock)
    client.show_machines()
    assert len(server.seen) == 2
    assert waited(clock) == pytest.approx(20.0)


def test_429_retry_after_beyond_the_cap_defers_at_once_and_later_calls_are_not_sent(server: ScriptedServer) -> None:
    server.then(Reply(429, {"msg": "come back in an hour"}, {"Retry-After": "3600"}))
    client, clock = client_for(server.url, retry_after_cap_s=60.0)
    with pytest.raises(VastRateLimited) as caught:
        client.show_machines()
    assert caught.value.retry_after_s == 3600.0
    assert (len(server.seen), waited(clock)) == (1, 0.0)
    clock.advance(60)
    with pytest.raises(VastRateLimited) as again:
        client.show_machines()
    assert again.value.retry_after_s == pytest.approx(3540.0)
    assert len(server.seen) == 1, "no request while Vast asked us to wait"


def test_429_attempts_stop_at_the_total_time_budget(server: ScriptedServer) -> None:
    server.default = Reply(429, {"msg": "slow"}, {"Retry-After": "50"})
    client, clock = client_for(server.url, max_retry_time_s=60.0, max_attempts=10)
    with pytest.raises(VastRateLimited):
        client.show_machines()
    assert (len(server.seen), waited(clock)) == (2, pytest.approx(50.0))


def test_daily_search_quota_is_not_retried_and_says_when_it_resets(server: ScriptedServer) -> None:
    clock = FakeClock()
    reset = int(clock.now().timestamp()) + 7200
    server.then(Reply(429, {"error": "search_quota_exceeded", "msg": "Daily search quota exceeded"},
                      {"X-RateLimit-Reset": str(reset)}))
    client = VastClient(server.url, KEY, clock=clock)
    with pytest.raises(VastRateLimited) as caught:
        client.search_offers({"verified": {"eq": True}})
    assert caught.value.retry_after_s == pytest.approx(7200.0)
    assert len(server.seen) == 1


def test_500_is_not_retried(server: ScriptedServer) -> None:
    server.then(Reply(500, "Internal Server Error", {"Content-Type": "text/html"}))
    client, clock = client_for(server.url)
    with pytest.raises(VastServerError) as caught:
        client.show_machines()
    assert (caught.value.status, len(server.seen), waited(clock)) == (500, 1, 0.0)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_unavailable_statuses_on_a_read_are_retried_up_to_max_attempts(
    server: ScriptedServer, status: int
) -> None:
    server.default = Reply(status, "<html>bad gateway</html>", {"Content-Type": "text/html"})
    client, clock = client_for(server.url, max_attempts=4)
    with pytest.raises(VastServerError) as caught:
        client.show_machines()
    assert caught.value.status == status
    assert "HTML" in str(caught.value)
    # backoff (0.25-2 s here) is below the endpoint's interval, so each retry waits the interval
    assert (len(server.seen), waited(clock)) == (4, pytest.approx(3 * MACHINES_INTERVAL_S))


def test_backoff_grows_exponentially_with_jitter_once_past_the_endpoint_interval(server: ScriptedServer) -> None:
    server.default = Reply(503, {"msg": "unavailable"})
    client, clock = client_for(server.url, max_attempts=6, max_retry_time_s=600.0)
    with pytest.raises(VastServerError):
        client.show_machines()
    # retries 1-3 wait the 2.6 s interval; retry 4 backs off 2-4 s, retry 5 4-8 s
    assert 3 * MACHINES_INTERVAL_S + 2 + 4 <= waited(clock) <= 3 * MACHINES_INTERVAL_S + 4 + 8
    assert len(server.seen) == 6


def test_503_on_a_write_is_retried_but_502_and_504_make_it_uncertain(server: ScriptedServer) -> None:
    server.then(Reply(503, {"msg": "busy"}))
    client, _ = client_for(server.url)
    assert client.list_machine(7, LISTING) == 0
    assert len(server.seen) == 2
    for status in (502, 504):
        server.seen.clear()
        server.then(Reply(status, "gateway"))
        with pytest.raises(VastWriteUncertain) as caught:
            client.set_min_bid(7, 0.3)
        assert (caught.value.status, len(server.seen)) == (status, 1)


def test_read_timeout_on_a_read_is_retried(server: ScriptedServer) -> None:
    server.then(Reply(action="hang"))
    client, clock = client_for(server.url, read_timeout_s=0.2)
    assert [m.id for m in client.show_machines()] == [7]
    assert len(server.seen) == 2
    assert waited(clock) == pytest.approx(MACHINES_INTERVAL_S)


def test_read_timeout_on_a_write_is_uncertain_and_never_retried(server: ScriptedServer) -> None:
    server.then(Reply(action="hang"))
    client, clock = client_for(server.url, read_timeout_s=0.2)
    with pytest.raises(VastWriteUncertain, match="read Vast's state"):
        client.schedule_maint(7, 1795888017.0, 2.0, "power")
    assert (len(server.seen), waited(clock)) == (1, 0.0)


def test_dropped_connection_retries_a_read_and_makes_a_write_uncertain(server: ScriptedServer) -> None:
    server.then(Reply(action="drop"))
    client, _ = client_for(server.url)
    client.show_machines()
    assert len(server.seen) == 2
    server.then(Reply(action="drop"))
    with pytest.raises(VastWriteUncertain):
        client.unlist_machine(7)
    assert len(server.seen) == 3


def test_a_body_cut_short_of_its_content_length_is_a_lost_reply(server: ScriptedServer) -> None:
    server.then(Reply(body=OK_MACHINES, action="short"))
    client, _ = client_for(server.url)
    assert [m.id for m in client.show_machines()] == [7]
    assert len(server.seen) == 2


def test_connect_timeout_is_retried_even_for_a_write_since_nothing_was_sent() -> None:
    listener = NeverAccepts()
    try:
        client, clock = client_for(listener.url, connect_timeout_s=0.1, max_attempts=2)
        with pytest.raises(VastTimeout, match="could not connect"):
            client.list_machine(7, LISTING)
        assert 0.25 <= waited(clock) <= 0.5  # one backoff; no endpoint spacing, Vast never saw a request
    finally:
        listener.close()


def test_connection_refused_is_retried_with_backoff_then_a_transport_error() -> None:
    client, clock = client_for(refused_url(), max_attempts=4)
    with pytest.raises(VastTransportError, match="could not connect"):
        client.show_machines()
    assert 0.25 + 0.5 + 1.0 <= waited(clock) <= 0.5 + 1.0 + 2.0


@pytest.mark.parametrize(
    ("body", "what"),
    [(b'{"machines": [', "not JSON or truncated"), (b"<html><body>Cloudflare</body></html>", "HTML"),
     (b"", "empty reply"), (b'{"machines": NaN}', "not JSON")],
)
def test_malformed_html_truncated_or_empty_bodies_are_bad_replies_not_retried(
    server: ScriptedServer, body: bytes, what: str
) -> None:
    server.then(Reply(body=body))
    client, clock = client_for(server.url)
    with pytest.raises(VastBadReply, match=what):
        client.show_machines()
    assert (len(server.seen), waited(clock)) == (1, 0.0)


def test_a_wrongly_typed_field_is_a_bad_reply_naming_the_field(server: ScriptedServer) -> None:
    machine = dict(OK_MACHINES["machines"][0], num_gpus="x")  # type: ignore[arg-type]
    server.then(Reply(body={"machines": [machine]}))
    client, clock = client_for(server.url)
    with pytest.raises(VastBadReply) as caught:
        client.show_machines()
    assert (len(server.seen), waited(clock)) == (1, 0.0), "not retried: the same reply would come back"
    assert caught.value.field == "machines[0].num_gpus"
    assert 'machines[0].num_gpus: expected int, got "x"' in str(caught.value)


def test_success_false_is_a_failure_carrying_vasts_msg(server: ScriptedServer) -> None:
    server.then(Reply(body={"success": False, "msg": "only the owner can create bids"}))
    client, clock = client_for(server.url)
    with pytest.raises(VastFailure) as caught:
        client.set_defjob(7, image="img", args=None, price_usd_per_gpu_hour=0.1, upload_usd_per_gb=0.0,
                          download_usd_per_gb=0.0)
    assert caught.value.msg == "only the owner can create bids"
    assert (caught.value.status, len(server.seen), waited(clock)) == (200, 1, 0.0)


@pytest.mark.parametrize(
    ("status", "body", "error", "msg"),
    [
        (401, {"success": False, "error": "auth_error", "msg": "Invalid user key"}, VastAuthError, "Invalid user key"),
        (403, {"msg": "Only the owner can create ask contracts for a machine."}, VastAuthError,
         "Only the owner can create ask contracts for a machine."),
        (404, {"message": "No such machine id"}, VastNotFound, "No such machine id"),
        (422, {"detail": "min_bid must be greater than 0."}, VastClientError, "min_bid must be greater than 0."),
    ],
)
def test_4xx_is_a_permanent_typed_error_with_vasts_message_and_no_retry(
    server: ScriptedServer, status: int, body: object, error: type[VastClientError], msg: str
) -> None:
    server.then(Reply(status, body))
    client, clock = client_for(server.url)
    with pytest.raises(error) as caught:
        client.set_min_bid(7, 0.3)
    assert (caught.value.status, caught.value.msg, len(server.seen), waited(clock)) == (status, msg, 1, 0.0)


def test_calls_to_one_endpoint_are_spaced_by_its_threshold_and_others_are_not(server: ScriptedServer) -> None:
    client, clock = client_for(server.url)
    client.show_machines()
    assert waited(clock) == 0.0
    client.show_machines()
    assert waited(clock) == pytest.approx(MACHINES_INTERVAL_S)
    server.default = Reply(body={"success": True})
    client.set_min_bid(7, 0.3)  # another endpoint: no wait
    assert waited(clock) == pytest.approx(MACHINES_INTERVAL_S)


CANARY = "CANARY-b7f3e9d1c5a2-never-print-me"


def _scenarios(server: ScriptedServer, clock: FakeClock) -> list[tuple[str, list[Reply], object]]:
    """(name, replies, call) for every fault above, plus a Vast that echoes the key back."""
    client = VastClient(server.url, CANARY, cfg=VastConfig(read_timeout_s=0.2), clock=clock)
    echoed = dict(OK_MACHINES["machines"][0], num_gpus=CANARY)  # type: ignore[arg-type]
    return [
        ("429", [Reply(429, {"msg": "slow"}), Reply(429, "x", {"Retry-After": "9999"})], client.show_machines),
        ("500", [Reply(500, "Internal Server Error")], client.show_machines),
        ("502-write", [Reply(502, "bad gateway")], lambda: client.set_min_bid(7, 0.3)),
        ("503", [Reply(503, {"msg": "x"})] * 4, lambda: client.show_machine(7)),
        ("504", [Reply(504, {"msg": "x"})] * 4, lambda: client.show_maints([7])),
        ("hang-read", [Reply(action="hang")] * 4, lambda: client.machine_reports(7)),
        ("hang-write", [Reply(action="hang")], lambda: client.list_machine(7, LISTING)),
        ("drop-write", [Reply(action="drop")], lambda: client.unlist_machine(7)),
        ("malformed", [Reply(body=b"{oops")], client.show_user),
        ("wrong-types", [Reply(body={"machines": [echoed]})], client.show_machines),
        ("success-false", [Reply(body={"success": False, "msg": f"bad key {CANARY}"})], lambda: client.cancel_maint(7)),
        ("401", [Reply(401, {"msg": f"Invalid user key {CANARY}"})], lambda: client.remove_defjob(7)),
        ("400-text", [Reply(400, f"api_key={CANARY} rejected", {"Content-Type": "text/plain"})],
         lambda: client.cleanup_machine(7)),
    ]  # fmt: skip


def test_the_api_key_appears_in_no_log_error_or_repr_through_every_fault(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import traceback

    from structlog.testing import capture_logs

    clock = FakeClock()
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at INFO/DEBUG: they must not see the key either
    with capture_logs() as events:
        scenarios = _scenarios(server, clock)
        for name, replies, call in scenarios:
            server.script.clear()
            server.then(*replies)
            try:
                call()  # type: ignore[operator]
            except Exception as exc:  # noqa: BLE001 - every error is inspected, whatever its type
                texts += [name, str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        for refused in (VastClient(refused_url(), CANARY, cfg=VastConfig(max_attempts=2), clock=clock),):
            with pytest.raises(VastTransportError) as caught:
                refused.show_machines()
            texts += [repr(refused), "".join(traceback.format_exception(caught.value))]
        listener = NeverAccepts()
        try:
            silent = VastClient(listener.url, CANARY, cfg=VastConfig(connect_timeout_s=0.1, max_attempts=2),
                                clock=clock)
            with pytest.raises(VastTimeout) as timed_out:
                silent.set_min_bid(7, 0.3)
            texts += [repr(silent), "".join(traceback.format_exception(timed_out.value))]
        finally:
            listener.close()
    texts += [repr(event) for event in events] + [r.getMessage() for r in caplog.records]
    texts += [repr(VastClient(server.url, CANARY))]
    assert len(events) >= 5, "the retries were logged"
    assert any("HTTP Request" in r.getMessage() for r in caplog.records), "httpx logged its requests"
    assert [t for t in texts if CANARY in t] == []
    assert all(s.headers.get("Authorization") == f"Bearer {CANARY}" for s in server.seen)
    assert all(CANARY not in s.raw_query for s in server.seen)


def test_a_url_with_an_unsupported_scheme_is_refused_at_construction_and_is_not_a_write_uncertainty() -> None:
    """ftp:// is not https://: the client refuses it before any request, with a permanent error."""
    with pytest.raises(VastInsecureURL, match="is not https://"):
        client_for("ftp://127.0.0.1:9")
