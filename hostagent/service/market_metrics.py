"""The market refresh when `[pricing.market] source = "metrics"`: Vast's market metrics for our GPU model.

Two reads per refresh (Vast allows 5 a second): the current metrics of our model in our GPU-count bucket
(for `usage`), and the last `max_age_s` of its price history at Vast's own 5-minute grain (for what renters
paid). Filters as Vast spells them: verified "yes" when `verified_only`, the count bucket 1/2/4/8 or "other".
"""

from __future__ import annotations

from datetime import datetime

import structlog

from hostagent.config.model import MarketConfig
from hostagent.core.model import MachineState, MarketSample
from hostagent.ports import Marketplace
from hostagent.service.apigate import ApiGate

log = structlog.get_logger(__name__)

VAST_METRICS_STEP_S = 300  # Vast recomputes the metrics every 5 minutes: a finer step adds no points


def count_bucket(num_gpus: int) -> str:
    return str(num_gpus) if num_gpus in (1, 2, 4, 8) else "other"


def fetch_metrics_sample(
    market: Marketplace, gate: ApiGate, machine: MachineState, cfg: MarketConfig, now: datetime
) -> MarketSample:
    """Raises what the gate and the client raise (ApiDeferred, VastError): the caller keeps its last sample."""
    verified = "yes" if cfg.verified_only else "all"
    bucket = count_bucket(machine.num_gpus)
    current = gate.call("gpu_metrics_current", now,
                        lambda: market.gpu_metrics_current(verified=verified, num_gpus=bucket))
    end_s = int(now.timestamp())
    history = gate.call("gpu_metrics_history", now, lambda: market.gpu_metrics_history(
        machine.gpu_name, verified=verified, num_gpus=bucket, start_epoch_s=end_s - int(cfg.max_age_s),
        end_epoch_s=end_s, step_s=VAST_METRICS_STEP_S))
    row = next((r for r in current.rows if r.gpu_name == machine.gpu_name), None)
    points = history.points(machine.gpu_name)
    if current.needs_machine or history.needs_machine:
        log.warning("market_metrics_unavailable", why="Vast serves market metrics only to accounts with machines")
    log.info("market_metrics_refreshed", gpu_name=machine.gpu_name, bucket=bucket, row=row is not None,
             points=len(points), rows_dropped=current.dropped, points_dropped=history.dropped)
    return MarketSample((), now, metrics=row, history=points)
