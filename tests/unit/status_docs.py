"""Status documents for the rendering and schema tests: the one the agent writes when nothing is known yet,
and the `status` view around a document."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from hostagent.commands.status_view import StatusView
from hostagent.config.model import AgentConfig, Config
from hostagent.core.model import History
from hostagent.service import status_doc
from hostagent.service.status_types import StatusDoc

TICK_AT = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def blank_doc(mode: Literal["observe", "enforce"] = "enforce") -> StatusDoc:
    """What the agent saves before it has read anything: every key present, every value not known."""
    return status_doc.build(
        now=TICK_AT, config=Config(agent=AgentConfig(mode=mode)), snapshot=None, machine=None, plan=None,
        health_ok=None, health_reasons=(), windows=(), history=History(), outcome=None, problem=None,
        api={"blocked": None, "auth_ok": True, "not_before": None, "last_error": None, "last_ok_at": None},
    )


def a_view(doc: StatusDoc, **fields: Any) -> StatusView:
    """The `status` view of `doc`, fresh and with the daemon stopped unless `fields` say otherwise."""
    view: StatusView = {
        "schema": 1, "generated_at": "2026-11-26T10:00:05+00:00", "state_dir": "/var/lib/hostagent",
        "daemon": {"running": False, "pid": None}, "tick_at": TICK_AT.isoformat(), "tick_age_s": 5.0,
        "stale": False, "agent": doc, "next_maintenance": None, "recent_actions": [],
        "operator_maintenance": {"windows": [], "cancel": None},
        "earnings": {"machine_id": None, "today_usd": 0.0, "last_7d_usd": 0.0, "last_30d_usd": 0.0,
                     "occupancy_30d": None, "default_job_share_30d": None, "realised_usd_per_gpu_hour_30d": None,
                     "days": []},
    }
    view.update(fields)  # type: ignore[typeddict-item]
    return view
