"""hostagent's VastClient sends what the official vastai 1.9.1 CLI sends, operation by operation.

The CLI's requests were recorded on the wire against a loopback capture server and are kept in
tests/fixtures/vast-cli-captures/ (the key redacted as `<key>`); each test replays the captured
reply from a real loopback server to our client, called with the same arguments as the CLI's argv, and
compares method, path, query keys and JSON body keys with their value types (and the values, where the
inputs are the same). Run this file as a script to print the side-by-side table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from vast_loopback import Reply, ScriptedServer  # tests/integration is on sys.path (pytest rootdir-less dir)

from hostagent.core.model import DesiredListing
from hostagent.testing.clock import FakeClock
from hostagent.vast.client import VastClient

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vast-cli-captures"
KEY = "conformance-key-0123456789"
UTC = timezone.utc


def _machine_listing() -> DesiredListing:
    return DesiredListing(listed=True, price_usd_per_gpu_hour=0.40, end_date=1798675200.0)


@dataclass(frozen=True)
class Case:
    capture: str  # file in tests/fixtures/vast-cli-captures/
    operation: str  # our method, as shown in the table
    call: Callable[[VastClient], object]
    same_values: bool = True  # our inputs equal the CLI's argv, so the body must be equal too
    expect: object = None  # what our method returns from the captured reply (None: not checked)


CASES = (
    Case("show-user.json", "show_user()", lambda c: c.show_user().id, expect=424242),
    Case("show-machines.json", "show_machines()", lambda c: [m.id for m in c.show_machines()], expect=[12345, 12346]),
    Case("show-machine.json", "show_machine(12345)", lambda c: c.show_machine(12345).hostname, expect="rig-01"),
    Case("list-machine-raw.json", "list_machine(12345, price 0.40, end_date)",
         lambda c: c.list_machine(12345, _machine_listing()), expect=0),
    Case("list-machine-defaults.json", "list_machine(12345, nothing set)",
         lambda c: c.list_machine(12345, DesiredListing(listed=True)), expect=0),
    Case("list-machine.json", "list_machine(12345, every DesiredListing field)",
         lambda c: c.list_machine(12345, DesiredListing(
             listed=True, price_usd_per_gpu_hour=0.4, storage_usd_per_gb_month=0.15, upload_usd_per_gb=0.005,
             download_usd_per_gb=0.005, min_bid_usd_per_gpu_hour=0.25, min_chunk=2, end_date=1798675200.0,
             credit_discount_max=0.4, volume_size_gb=500, volume_usd_per_gb_month=0.12)), expect=0),
    Case("list-machine-duration.json", "list_machine(12345, price 0.5, duration 90 days)",
         lambda c: c.list_machine(12345, DesiredListing(listed=True, price_usd_per_gpu_hour=0.5, duration_days=90)),
         same_values=False, expect=0),  # the CLI passed "3 months" through; hostagent always says "N days"
    Case("list-machine-horizon.json", "list_machine(4242, price 2.1, duration 30 days, volume 0)",
         lambda c: c.list_machine(4242, DesiredListing(
             listed=True, price_usd_per_gpu_hour=2.1, duration_days=30, volume_size_gb=0)), expect=0),
    Case("unlist-machine.json", "unlist_machine(12345)", lambda c: c.unlist_machine(12345)),
    Case("set-min-bid.json", "set_min_bid(12345, 0.25)", lambda c: c.set_min_bid(12345, 0.25)),
    Case("schedule-maint.json", "schedule_maint(12345, 1795888017, 0.5, 'power')",
         lambda c: c.schedule_maint(12345, 1795888017, 0.5, "power")),
    Case("cancel-maint.json", "cancel_maint(12345)", lambda c: c.cancel_maint(12345)),
    Case("show-maints.json", "show_maints([12345, 12346])",
         lambda c: [w.id for w in c.show_maints([12345, 12346])], expect=[42]),
    Case("set-defjob.json", "set_defjob(12345, ...)", lambda c: c.set_defjob(
        12345, image="vastai/test:latest", args=["python", "-c", "print(1)"],
        price_usd_per_gpu_hour=0.1, upload_usd_per_gb=0.01, download_usd_per_gb=0.01)),
    Case("remove-defjob.json", "remove_defjob(12345)", lambda c: c.remove_defjob(12345)),
    Case("cleanup-machine.json", "cleanup_machine(12345)", lambda c: c.cleanup_machine(12345), expect=3),
    Case("cleanup-machine-nothing.json", "cleanup_machine(12345), nothing to do",
         lambda c: c.cleanup_machine(12345), expect=0),
    Case("show-earnings-range.json", "show_earnings(2026-01-01, 2026-01-31, 12345)",
         lambda c: c.show_earnings(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC), 12345).eday,
         expect=20782),
    Case("show-earnings.json", "show_earnings(now - 1 day, now - 1 day)",
         lambda c: c.show_earnings(datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)).sday,
         same_values=False, expect=20782),
    Case("search-offers-default.json", "search_offers(<the CLI's default query>)",
         lambda c: [o.id for o in c.search_offers(_captured_body("search-offers-default.json"))], expect=[7770001]),
    Case("search-offers-operators.json", "search_offers(<the CLI's operator query>)",
         lambda c: len(c.search_offers(_captured_body("search-offers-operators.json"))), expect=1),
    Case("gpu-metrics-current.json", "gpu_metrics_current(verified='yes', num_gpus='8')",
         lambda c: [r.gpu_name for r in c.gpu_metrics_current(verified="yes", num_gpus="8").rows],
         expect=["A100 SXM4", "H100 SXM", "RTX 4090"]),
    Case("gpu-metrics-history.json", "gpu_metrics_history('H100 SXM', verified='yes', num_gpus='8', a day hourly)",
         lambda c: len(c.gpu_metrics_history("H100 SXM", verified="yes", num_gpus="8", start_epoch_s=1795780800,
                                             end_epoch_s=1795867200, step_s=3600).points("H100 SXM")), expect=25),
    Case("gpu-metrics-needs-machine.json", "gpu_metrics_current(), an account without machines",
         lambda c: c.gpu_metrics_current().needs_machine, expect=True),
    Case("reports.json", "machine_reports(12345)", lambda c: [r.problem for r in c.machine_reports(12345)],
         expect=["Machine Performance Is Less Than Expected"]),
)  # fmt: skip


def _capture(name: str) -> dict[str, object]:
    data = json.loads((CAPTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def _captured_request(name: str) -> dict[str, object]:
    requests = _capture(name)["requests"]
    assert isinstance(requests, list)
    request = requests[-1]
    assert isinstance(request, dict)
    return request


def _captured_body(name: str) -> dict[str, object]:
    raw = _captured_request(name)["raw_body"]
    assert isinstance(raw, str)
    body = json.loads(raw)  # the CLI's own key order
    assert isinstance(body, dict)
    return body


def json_type(value: object) -> object:
    """The JSON type shape of a value: 'int', 'float', 'str', 'bool', 'null', or a list/dict of shapes."""
    if isinstance(value, dict):
        return {k: json_type(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_type(v) for v in value]
    return {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}[type(value)]


def query_types(raw_query: str) -> dict[str, object]:
    """Query values decoded as JSON where they parse (as Vast and the CLI treat them), else strings."""
    out: dict[str, object] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        try:
            out[key] = json_type(json.loads(value))
        except ValueError:
            out[key] = "str"
    return out


@dataclass(frozen=True)
class Wire:
    method: str
    path: str
    raw_query: str
    body: object
    raw_body: str | None  # the bytes on the wire

    def shape(self) -> tuple[str, str, dict[str, object], object]:
        return self.method, self.path, query_types(self.raw_query), json_type(self.body)


def run_case(case: Case) -> tuple[Wire, Wire, object]:
    """(the CLI's request, ours, what our method returned) for one case."""
    captured = _captured_request(case.capture)
    reply = Reply(status=int(str(captured["response_status"])), body=captured["response_body"])
    server = ScriptedServer(default=reply).start()
    try:
        with VastClient(server.url, KEY, clock=FakeClock()) as client:
            result = case.call(client)
    finally:
        server.stop()
    assert len(server.seen) == 1, "one operation, one request"
    seen = server.seen[0]
    assert seen.headers.get("Authorization") == f"Bearer {KEY}"
    assert KEY not in seen.raw_query, "the key travels only in the Authorization header"
    raw_body = captured["raw_body"]
    their_body = json.loads(raw_body) if isinstance(raw_body, str) else None  # the CLI's key order
    theirs = Wire(str(captured["method"]), str(captured["path"]), str(captured["raw_query"]), their_body, raw_body)
    ours = Wire(seen.method, seen.path, seen.raw_query, seen.json_body(), seen.body.decode() if seen.body else None)
    return theirs, ours, result


@pytest.mark.parametrize("case", CASES, ids=[c.capture.removesuffix(".json") for c in CASES])
def test_client_sends_what_the_official_cli_sends(case: Case) -> None:
    theirs, ours, result = run_case(case)
    assert ours.shape() == theirs.shape()
    if case.same_values:
        assert ours.raw_query == theirs.raw_query
        assert ours.raw_body == theirs.raw_body, "byte for byte, key order and separators included"
    if case.expect is not None:
        assert result == case.expect


def test_every_replayed_capture_is_a_fixture_in_the_repository_and_every_fixture_is_replayed() -> None:
    """The captures live in tests/fixtures, one file per case: nothing is read from beside the clone."""
    assert sorted(p.name for p in CAPTURES.glob("*.json")) == sorted(c.capture for c in CASES)


def _cell(wire: Wire) -> str:
    query = f"?{wire.raw_query}" if wire.raw_query else ""
    body = "" if wire.body is None else f" {json.dumps(wire.body)}"
    return f"`{wire.method} {wire.path}{query}`{body}"


def render_table() -> str:
    """The markdown side-by-side table for docs/vast-client.md."""
    lines = ["| operation (capture) | official CLI sends | hostagent sends | same shape |", "|---|---|---|---|"]
    for case in CASES:
        theirs, ours, _ = run_case(case)
        same = "yes" if ours.shape() == theirs.shape() else "NO"
        lines.append(f"| {case.operation} (`{case.capture}`) | {_cell(theirs)} | {_cell(ours)} | {same} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
