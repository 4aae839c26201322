"""What Vast says about a machine on its own account: renter reports, verification, offline, errors, its own windows.

None of these is set through the host's API; a test (or `hostagent emulator`'s control routes) stages them:

- POST `/_emulator/report`      {machine_id, problem, message?, created_at?}: a renter files a report
- POST `/_emulator/signals`     {machine_id, verification?, offline?, error_description?, reliability2?}:
  Vast (de)verifies the machine, stops hearing from it (`offline: true`: `timeout` grows from now) or hears
  from it again, shows an error in red (null or "" clears it), or moves its reliability score
- POST `/_emulator/maintenance` {machine_id, start_time, duration_hours, category?}: a window Vast schedules
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hostagent.testing.emulator.state import EmulatorState, Machine

VERIFICATION_STATES = ("verified", "unverified", "deverified")


def _machine(state: EmulatorState, body: Mapping[str, object]) -> Machine:
    machine_id = body.get("machine_id")
    if isinstance(machine_id, bool) or not isinstance(machine_id, int):
        raise ValueError("machine_id must be an integer")
    if machine_id not in state.machines:
        raise ValueError(f"no machine {machine_id} in this account")
    return state.machines[machine_id]


def number(body: Mapping[str, object], key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number")
    return float(value)


def add_report(state: EmulatorState, body: Mapping[str, object], now_s: float) -> dict[str, object]:
    """A renter's report, as Vast lists it (GET /machines/{id}/reports/ shows the 20 most recent)."""
    machine = _machine(state, body)
    problem, message = body.get("problem"), body.get("message", "")
    if not isinstance(problem, str) or not problem.strip():
        raise ValueError("problem must be a non-empty string")
    if not isinstance(message, str):
        raise ValueError("message must be a string")
    report: dict[str, object] = {
        "problem": problem, "message": message, "created_at": number(body, "created_at", now_s),
    }
    machine.reports.append(report)
    return report


def set_signals(state: EmulatorState, body: Mapping[str, object], now_s: float) -> None:
    """Change what Vast shows about the machine; keys left out stay as they are."""
    machine = _machine(state, body)
    verification = body.get("verification", machine.verification)
    if verification not in VERIFICATION_STATES:
        raise ValueError(f"verification must be one of {', '.join(VERIFICATION_STATES)}")
    offline = body.get("offline")
    if offline is not None and not isinstance(offline, bool):
        raise ValueError("offline must be true or false")
    error = body.get("error_description", machine.error_description)
    if error is not None and not isinstance(error, str):
        raise ValueError("error_description must be a string or null")
    reliability = number(body, "reliability2", machine.reliability2)
    if not 0.0 <= reliability <= 1.0:
        raise ValueError("reliability2 must lie in 0..1")
    machine.verification = str(verification)
    if offline is True and machine.offline_since_s is None:
        machine.offline_since_s = now_s
    elif offline is False:
        machine.offline_since_s = None
    machine.error_description = error or None
    machine.reliability2 = reliability
