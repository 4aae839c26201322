"""The official vastai 1.9.1 CLI and hostagent's VastClient, run against the same emulator for the same
operations, send the same requests: method, path, query (values included) and JSON body (bytes included).

The CLI is the installed `vastai` package's own entry point, `vastai.cli.main.main()`, run once per
command in a child forked after the package was imported: the same code as the `vastai` script, without
paying its ~0.6 s import fifteen times. Run this file as a script for the side-by-side table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hostagent.core.model import DesiredListing
from hostagent.testing.clock import FakeClock
from hostagent.testing.emulator import DEMO_MACHINE_ID, Emulator, RecordedRequest
from hostagent.vast.client import VastClient, peer_query

M = DEMO_MACHINE_ID
VASTAI = Path(sys.executable).parent / "vastai"
SDATE = 1798675200  # 2026-12-31 00:00 UTC
UTC = timezone.utc


@dataclass(frozen=True)
class Op:
    name: str
    argv: tuple[str, ...]  # after `vastai`
    ours: Callable[[VastClient], object]


OPS = (
    Op("show user", ("show", "user", "--raw"), lambda c: c.show_user()),
    Op("show machines", ("show", "machines", "--raw"), lambda c: c.show_machines()),
    Op("show machine", ("show", "machine", str(M), "--raw"), lambda c: c.show_machine(M)),
    Op("list machine", ("list", "machine", str(M), "-g", "2.1", "-e", str(SDATE)),
       lambda c: c.list_machine(M, DesiredListing(listed=True, price_usd_per_gpu_hour=2.1, end_date=float(SDATE)))),
    Op("unlist machine", ("unlist", "machine", str(M)), lambda c: c.unlist_machine(M)),
    Op("set min-bid", ("set", "min-bid", str(M), "--price", "1.5"), lambda c: c.set_min_bid(M, 1.5)),
    Op("schedule maint", ("schedule", "maint", str(M), "--sdate", str(SDATE), "--duration", "2",
                          "--maintenance_category", "power"), lambda c: c.schedule_maint(M, SDATE, 2, "power")),
    Op("show maints", ("show", "maints", "--ids", str(M), "--raw"), lambda c: c.show_maints([M])),
    Op("cancel maint", ("cancel", "maint", str(M)), lambda c: c.cancel_maint(M)),
    Op("set defjob", ("set", "defjob", str(M), "--price_gpu", "0.1", "--price_inetu", "0.01", "--price_inetd", "0.01",
                      "--image", "vastai/test:latest", "--args", "python", "-c", "print(1)"),
       lambda c: c.set_defjob(M, image="vastai/test:latest", args=["python", "-c", "print(1)"],
                              price_usd_per_gpu_hour=0.1, upload_usd_per_gb=0.01, download_usd_per_gb=0.01)),
    Op("remove defjob", ("remove", "defjob", str(M)), lambda c: c.remove_defjob(M)),
    Op("cleanup machine", ("cleanup", "machine", str(M)), lambda c: c.cleanup_machine(M)),
    Op("show earnings", ("show", "earnings", "-s", "2026-01-01", "-e", "2026-01-31", "-m", str(M), "--raw"),
       lambda c: c.show_earnings(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC), M)),
    Op("search offers", ("search", "offers", f"gpu_name=H100_SXM num_gpus=8 machine_id!={M}", "-o", "dph+",
                         "--limit", "50", "--raw"), lambda c: c.search_offers(peer_query("H100 SXM", 8, 50, M))),
    Op("reports", ("reports", str(M)), lambda c: c.machine_reports(M)),
)  # fmt: skip
# The listing hostagent sends by default: a rolling duration instead of an end date, and no volume offer.
HORIZON_OPS = (
    Op("list machine, duration and no volume", ("list", "machine", str(M), "-g", "2.1", "-l", "30 days", "-v", "0"),
       lambda c: c.list_machine(M, DesiredListing(listed=True, price_usd_per_gpu_hour=2.1, duration_days=30,
                                                  volume_size_gb=0))),
    Op("list machine, volume offer", ("list", "machine", str(M), "-g", "2.1", "-e", str(SDATE), "-v", "500", "-z",
                                      "0.12"),
       lambda c: c.list_machine(M, DesiredListing(listed=True, price_usd_per_gpu_hour=2.1, end_date=float(SDATE),
                                                  volume_size_gb=500, volume_usd_per_gb_month=0.12))),
)  # fmt: skip


# Imports the CLI once, then forks one child per command; each child is `vastai ARGV` with `y` on stdin.
DRIVER = """
import io, json, os, sys
from vastai.cli.main import main
children = []
for argv in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        sys.argv = ["vastai", *argv]
        sys.stdin = io.StringIO("y\\n")
        try:
            code = main()
        except SystemExit as done:
            code = done.code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""


def _cli_env(emu: Emulator, home: Path) -> dict[str, str]:
    (home / "config" / "vastai").mkdir(parents=True)
    (home / "config" / "vastai" / "vast_role").write_text("host")  # skips the role-detection request
    return dict(os.environ, VAST_URL=emu.url, VAST_API_KEY=emu.api_key, XDG_CONFIG_HOME=str(home / "config"),
                XDG_CACHE_HOME=str(home / "cache"), CI="1", TZ="UTC")  # fmt: skip


def _api_requests(emu: Emulator) -> list[RecordedRequest]:
    return [r for r in emu.requests if "gpu_names" not in r.path]


def run_both(tmp_path: Path, ops: tuple[Op, ...] = OPS) -> list[tuple[Op, RecordedRequest, RecordedRequest]]:
    """(op, the CLI's request, ours) for every op (one per route); the CLI runs first, all at once."""
    with Emulator(rate_limits=False) as emu:
        done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([op.argv for op in ops])],
                              env=_cli_env(emu, tmp_path), capture_output=True, text=True, timeout=120, check=True)
        assert "Failed with error" not in done.stdout + done.stderr, done.stderr
        theirs = _api_requests(emu)
        emu.clear_requests()
        with VastClient(emu.url, emu.api_key, clock=FakeClock()) as client:
            for op in ops:
                op.ours(client)
        ours = _api_requests(emu)
    assert len(ours) == len(ops), "one request per operation"
    by_route = {(r.method, r.path): r for r in theirs}
    assert len(theirs) == len(ops), "the CLI sent one request per operation"
    if len(by_route) < len(ops):  # the same route twice: the CLI's children race, so match by body instead
        by_body = {r.raw_body: r for r in theirs}  # no twin body: paired with the CLI's request in the same place
        return [(op, by_body.get(mine.raw_body, theirs[i]), mine) for i, (op, mine) in enumerate(zip(ops, ours,
                                                                                                    strict=True))]
    return [(op, by_route[(mine.method, mine.path)], mine) for op, mine in zip(ops, ours, strict=True)]


@pytest.mark.skipif(not VASTAI.exists(), reason="the official vastai CLI is a test dependency; not installed here")
def test_the_official_cli_and_our_client_send_the_same_requests(tmp_path: Path) -> None:
    for op, theirs, ours in run_both(tmp_path):
        assert (ours.method, ours.path, ours.query) == (theirs.method, theirs.path, theirs.query), op.name
        assert ours.raw_body == theirs.raw_body, op.name
        assert ours.headers.get("Authorization") == theirs.headers.get("Authorization"), op.name


@pytest.mark.skipif(not VASTAI.exists(), reason="the official vastai CLI is a test dependency; not installed here")
def test_the_cli_and_our_client_send_the_same_duration_and_volume_listing(tmp_path: Path) -> None:
    """`-l "30 days" -v 0` and `-v 500 -z 0.12`: our duration_days / volume fields, byte for byte."""
    for op, theirs, ours in run_both(tmp_path, HORIZON_OPS):
        assert ours.raw_body == theirs.raw_body, op.name


def render_table(tmp_path: Path) -> str:
    def cell(r: RecordedRequest) -> str:
        query = "&".join(f"{k}={v}" for k, v in r.query.items())
        body = f" `{r.raw_body.decode()}`" if r.raw_body else ""
        return f"`{r.method} {r.path}{'?' + query if query else ''}`{body}"

    rows = ["| vastai command | official CLI sends | hostagent sends | same |", "|---|---|---|---|"]
    for op, theirs, ours in run_both(tmp_path):
        same = (ours.method, ours.path, ours.query, ours.raw_body) == (
            theirs.method, theirs.path, theirs.query, theirs.raw_body)
        rows.append(f"| `vastai {' '.join(op.argv)}` | {cell(theirs)} | {cell(ours)} | {'yes' if same else 'NO'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(render_table(Path(tmp)))
