"""Vast's per-endpoint rate limits (Vast's API reference) as minimum intervals, per endpoint and per caller identity.

A request that comes sooner than the endpoint's threshold after the caller's last *accepted* request there
gets 429 with Vast's plain-text body. Rejected requests do not restart the interval, so a client that waits
the threshold after a 429 gets through. Measured on the injected clock's monotonic time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# route name -> minimum seconds between accepted calls (documented `x-rateLimit` thresholds)
THRESHOLDS_S: dict[str, float] = {
    "show_machines": 2.5,
    "show_machine": 1.1,
    "show_maints": 2.0,
    "reports": 1.2,
    "earnings": 2.0,
    "create_asks": 5.0,
    "minbid": 1.5,
    "dnotify": 2.5,
    "cancel_maint": 2.5,
    "cleanup": 8.0,
    "create_bids": 2.8,
    "unlist": 1.8,
    "remove_defjob": 1.2,
    "gpu_metrics_current": 0.2,  # 5 requests/s
    "gpu_metrics_history": 0.2,
    "bundles": 2.0,  # documented as "low_volume_burst", threshold 2: modelled as a plain minimum interval
}


class RateLimiter:
    def __init__(self, monotonic: Callable[[], float], *, enabled: bool = True) -> None:
        self._monotonic = monotonic
        self.enabled = enabled
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, route: str, identity: str) -> float | None:
        """None when the call may go ahead (and is counted); else the endpoint's threshold in seconds."""
        threshold = THRESHOLDS_S.get(route)
        if not self.enabled or threshold is None:
            return None
        now = self._monotonic()
        with self._lock:
            last = self._last.get((route, identity))
            if last is not None and now - last < threshold:
                return threshold
            self._last[(route, identity)] = now
        return None

    def reset(self) -> None:
        with self._lock:
            self._last.clear()


def too_frequent_body(threshold_s: float) -> str:
    return f"API requests too frequent endpoint threshold={threshold_s}"
