"""The one keyless request to Vast: its HTTP `Date` header, for `hostagent doctor`'s clock check."""

from __future__ import annotations

import time
from typing import TypeAlias

import httpx

from hostagent.errors import VastError

# The transport a test points at a loopback server; named here so no module outside `hostagent.vast` imports httpx.
Transport: TypeAlias = httpx.BaseTransport


def date_header(
    api_url: str, transport: Transport | None = None, *, timeout_s: float = 10.0
) -> tuple[float, float, str]:
    """GET `{api_url}/api/v0/` without the key: (local epoch s just before, just after, the reply's `Date`, or "").

    Raises VastError naming the kind of failure (connection refused, timeout...)."""
    try:
        with httpx.Client(transport=transport, timeout=timeout_s) as client:
            before = time.time()
            reply = client.get(api_url.rstrip("/") + "/api/v0/")
            after = time.time()
    except httpx.HTTPError as exc:
        raise VastError(type(exc).__name__) from None
    return before, after, reply.headers.get("date", "")
