"""`hostagent earnings [--days N] [--json]`: earnings by UTC day with totals, occupancy and realised $/GPU-hour.

From the state store only (the agent fetches Vast's earnings every `earnings.every_h`); the sums and
ratios are `hostagent.service.earnings.summarize`'s. Occupancy = rented / offered GPU-hours the agent watched;
realised $/GPU-hour = GPU income / rented GPU-hours. Exit codes: 0 shown; 1 no state yet, no machine
known yet, or the store cannot be read; 78 invalid config.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, config_or_report, require_state_access

if TYPE_CHECKING:
    from hostagent.service.earnings import EarningsStore, EarningsSummary

DAY_S = 86400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=14, metavar="N", help="the last N days, today included (14)")
    parser.add_argument("--json", action="store_true", help="a JSON object: days and totals (schema 1)")


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, tz=timezone.utc).date().isoformat()


def _row(s: EarningsSummary) -> dict[str, object]:
    occupancy, realised = s.occupancy, s.realised_usd_per_gpu_hour
    return {
        "gpu_usd": round(s.gpu_usd, 4), "storage_usd": round(s.storage_usd, 4),
        "bandwidth_usd": round(s.upload_usd + s.download_usd, 4), "sla_usd": round(s.sla_usd, 4),
        "total_usd": round(s.total_usd, 4),
        "rented_gpu_hours": round(s.rented_gpu_hours, 3), "offered_gpu_hours": round(s.offered_gpu_hours, 3),
        "occupancy": None if occupancy is None else round(occupancy, 4),  # renters only, not the default job
        "default_job_gpu_hours": round(s.default_job_gpu_hours, 3),
        "default_job_share": None if s.default_job_share is None else round(s.default_job_share, 4),
        "realised_usd_per_gpu_hour": None if realised is None else round(realised, 4),
    }


def report(store: EarningsStore, machine_id: int, today: int, days: int) -> dict[str, Any]:
    """The `earnings --json` document (schema 1)."""
    from hostagent.service.earnings import summarize  # noqa: PLC0415

    rows = []
    for day in range(today - days + 1, today + 1):
        rows.append({"day": day, "date": _date(day), **_row(summarize(store, machine_id, day, days=1))})
    total = summarize(store, machine_id, today, days=days)
    return {
        "schema": 1, "machine_id": machine_id, "first_date": _date(today - days + 1), "last_date": _date(today),
        "days": rows, "totals": _row(total),
    }


def _pct(value: object) -> str:
    return f"{value * 100:5.1f} %" if isinstance(value, float) else "    n/a"


def _rate(value: object) -> str:
    return f"${value:6.2f}" if isinstance(value, float) else "    n/a"


def render(doc: dict[str, Any]) -> str:
    head = (f"{'date':<10}  {'GPU':>9}  {'storage':>8}  {'bandwidth':>9}  {'total':>9}  {'occupancy':>9}  "
            f"{'def. job':>9}  {'$/GPU-h':>7}")
    lines = [f"machine {doc['machine_id']}, {doc['first_date']} to {doc['last_date']} (UTC days)", head]
    rows = [*doc["days"], {"date": "total", **doc["totals"]}]
    for i, r in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("-" * len(head))
        lines.append(
            f"{r['date']:<10}  {r['gpu_usd']:>9.2f}  {r['storage_usd']:>8.2f}  {r['bandwidth_usd']:>9.2f}  "
            f"{r['total_usd']:>9.2f}  {_pct(r['occupancy']):>9}  {_pct(r['default_job_share']):>9}  "
            f"{_rate(r['realised_usd_per_gpu_hour']):>7}"
        )
    lines.append("occupancy and $/GPU-h count renters only; 'def. job' is the host's own default job")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415

    config = config_or_report(args.config, "earnings")
    if config is None:
        return EXIT_CONFIG
    state_dir = config.agent.state_dir
    require_state_access(state_dir)  # another user on the service's 0700 directory: exit 77
    if not (state_dir / "state.db").exists():
        print(f"hostagent earnings: no state yet in {state_dir} (the agent has not run)", file=sys.stderr)
        return EXIT_FAILURE
    today = int(bootstrap.wall_clock().now().timestamp() // DAY_S)
    try:
        with bootstrap.open_store(state_dir, read_only=True) as store:
            stored = store.get("machine_id")  # hostagent.service.agent.MACHINE_ID_KEY
            machine_id = config.machine.id if config.machine.id is not None else stored
            if not isinstance(machine_id, int):
                print("hostagent earnings: the agent has not found its machine on Vast yet", file=sys.stderr)
                return EXIT_FAILURE
            saved = store.load_status()
            if saved is not None:  # a tick ahead of this clock (the demo's simulated days) dates "today"
                today = max(today, int(saved[1].timestamp() // DAY_S))
            doc = report(store, machine_id, today, max(args.days, 1))
    except StateError as exc:
        print(f"hostagent earnings: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(doc, indent=2) if args.json else render(doc))
    return EXIT_OK
