"""A stateful Vast host API on loopback, accepted by the official `vastai` CLI as Vast.

    with Emulator(clock=FakeClock(), seed=1) as emu:
        client = VastClient(emu.url, emu.api_key)
        emu.inject(Fault("status", path_contains="/machines", status=503, times=2))
        emu.advance(3600 * 24)   # renters rent, contracts end, earnings accrue

Module map: state (the account), seed (the default account and market), market (offers and the bundles
query), renters (the renter simulation), routes/writes (the endpoints), faults, ratelimit, server (HTTP),
emulator (the Emulator that ties them together).
"""

from hostagent.testing.emulator.emulator import Emulator
from hostagent.testing.emulator.faults import Fault
from hostagent.testing.emulator.renters import rent_probability
from hostagent.testing.emulator.seed import DEMO_ACCOUNT_ID, DEMO_API_KEY, DEMO_MACHINE_ID
from hostagent.testing.emulator.server import RecordedRequest

__all__ = ["DEMO_ACCOUNT_ID", "DEMO_API_KEY", "DEMO_MACHINE_ID", "Emulator", "Fault", "RecordedRequest",
           "rent_probability"]
