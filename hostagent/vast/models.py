"""Values only the Vast client returns. The ones the agent reasons about live in `hostagent.core.model`."""

from __future__ import annotations

from dataclasses import dataclass

from hostagent.core.model import MachineReport

__all__ = ["MachineReport", "VastUser"]  # MachineReport lives in the core: the Marketplace port returns it


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
