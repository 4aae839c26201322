"""Values only the Vast client returns. The ones the agent reasons about live in `hostagent.core.model`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VastUser:
    """The account behind the key (GET /users/current). Vast's reply also carries the caller's own
    `api_key`; it is never read into this object, so no repr or log of a VastUser can show it."""

    id: int
    username: str | None
    email: str | None
    balance_usd: float | None
    credit_usd: float | None
    host_agreement_accepted: bool | None


@dataclass(frozen=True, slots=True)
class MachineReport:
    """One renter report against a machine (GET /machines/{id}/reports/)."""

    problem: str
    message: str
    created_at: float  # epoch s
