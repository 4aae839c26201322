"""Wire encodings the official CLI uses: query strings, earnings day numbers, the peer search query.

Kept apart from the transport so they can be checked against the captured CLI requests byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import quote_plus

SECONDS_PER_DAY = 86400.0


def encode_query(params: Mapping[str, object]) -> str:
    """`k=quote_plus(v)` for a str, else `quote_plus(json.dumps(v))`, in the given order (as vastai 1.9.1 writes them).

    So `owner=me`, `machid=null`, `machine_ids=%5B1%2C+2%5D`: exactly what vastai 1.9.1 writes.
    """
    parts = []
    for key, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"{quote_plus(key)}={quote_plus(text)}")
    return "&".join(parts)


def non_finite_path(value: object, path: str = "") -> str | None:
    """Where the first NaN or ±inf sits in a request body or query (`price_gpu`, `a[2].b`), else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path or '(top)'} = {value!r}"
    children: list[tuple[str, object]] = []
    if isinstance(value, Mapping):
        children = [(f"{path}.{key}" if path else str(key), inner) for key, inner in value.items()]
    elif isinstance(value, (list, tuple)):
        children = [(f"{path}[{index}]", inner) for index, inner in enumerate(value)]
    return next((found for child, inner in children if (found := non_finite_path(inner, child)) is not None), None)


def epoch_day(when: datetime) -> float:
    """Fractional days since the Unix epoch, in UTC (a naive datetime is taken as UTC, never local time).

    The CLI reads naive dates in the host's local zone; hostagent does not.
    """
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return aware.timestamp() / SECONDS_PER_DAY


def earnings_query(start: datetime, end: datetime, machine_id: int | None) -> dict[str, object]:
    """The `machine-earnings` query: `owner=me&sday=F&eday=F&machid=N|null`, in the CLI's key order."""
    return {"owner": "me", "sday": epoch_day(start), "eday": epoch_day(end), "machid": machine_id}


def peer_query(
    gpu_name: str, num_gpus: int, limit: int, exclude_machine_id: int | None, *, verified_only: bool = True,
    exclude_host_id: int | None = None,
) -> dict[str, object]:
    """A bundles query (Vast's offer search) for on-demand offers of the same GPU model and count, cheapest first.

    Keeps the CLI's default filters (verified, not external, rentable) and its value encoding: plain
    numbers travel as strings (`{"eq": "8"}`). Sorting by price means a truncated result (`limit`
    reached) still holds the cheapest competitors. `verified_only=False` drops the verified filter, as
    the CLI's `verified=any` does. `exclude_host_id` leaves out every offer of that account (the owner's other
    machines), as the CLI writes `host_id!=N`; the core drops them too, should Vast ignore the filter.
    """
    query: dict[str, object] = {"verified": {"eq": True}} if verified_only else {}
    query |= {
        "external": {"eq": False},
        "rentable": {"eq": True},
        "gpu_name": {"eq": gpu_name},
        "num_gpus": {"eq": str(num_gpus)},
    }
    if exclude_machine_id is not None:
        query["machine_id"] = {"neq": str(exclude_machine_id)}
    if exclude_host_id is not None:
        query["host_id"] = {"neq": str(exclude_host_id)}
    query["order"] = [["dph_total", "asc"]]
    query["type"] = "on-demand"
    query["limit"] = int(limit)
    query["allocated_storage"] = 5.0
    return query
