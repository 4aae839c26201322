"""`hostagent status --check`: one line and an exit code for a monitoring script, from the `status` view alone.

Healthy means: the agent ticked recently, its health checks pass, Vast accepted the key and the last reconcile
ran, the machine is the one recorded, and the last reconcile left nothing pending (Vast's listing is as planned).
Like `status`, it reads only the state store: imports nothing heavy (no httpx, NVML, structlog).
"""

from __future__ import annotations

from hostagent.commands.status_view import StatusView


def fresh_for_s(tick_s: float, reconcile_s: float) -> float:
    """How old the last tick may be: three reconciles (a cron `run --once` ticks only that often), at least
    the three ticks after which `status` says STALE."""
    return max(3 * reconcile_s, 3 * tick_s, 90.0)


def problems(view: StatusView, fresh_s: float) -> list[str]:
    """What is wrong, most urgent first; empty when the host is healthy and as planned."""
    found: list[str] = []
    doc = view["agent"]
    age_s = view["tick_age_s"]
    if age_s > fresh_s:
        what = "agent not running" if view["daemon"]["running"] is False else "agent not ticking"
        found.append(f"{what} (last tick {age_text(age_s)} ago, more than {age_text(fresh_s)})")
    api = doc["api"]
    if not api["auth_ok"]:
        found.append("Vast refused the API key")
    elif api["problem"]:
        found.append(f"last reconcile did not run: {api['problem']}")
    if doc["identity"]["mismatch"]:
        found.append(f"machine identity mismatch: {doc['identity']['mismatch']}")
    health = doc["health"]
    if health["ok"] is not True:
        state = "unknown" if health["ok"] is None else "failing"
        found.append(f"health {state}" + (f": {health['reasons'][0]}" if health["reasons"] else ""))
    last = doc["last_actions"]
    pending = [*last["failed"], *last["would_send"], *last["waiting"]]
    if pending:
        pause = doc["owner"]["pause"]
        paused = f" (paused by {pause['by']}: no writes until `hostagent resume`)" if pause is not None else ""
        found.append(f"{len(pending)} change(s) pending on Vast{paused}: {pending[0]}")
    if last["deferred"]:
        found.append(f"changes deferred: {last['deferred']}")
    return found


def check_line(view: StatusView, fresh_s: float) -> tuple[bool, str]:
    """(healthy, the one line to print)."""
    found = problems(view, fresh_s)
    if found:
        return False, "CRITICAL: " + "; ".join(found)
    machine = view["agent"]["machine"]
    where = f"machine {machine['id']}" if machine is not None else "the machine"
    return True, f"OK: {where} as planned, healthy, last tick {age_text(max(view['tick_age_s'], 0.0))} ago"


def age_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
