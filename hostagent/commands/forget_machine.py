"""`hostagent forget-machine [--yes]`: forget which Vast machine this host is, and the identity recorded for it.

The agent records the machine (id, hostname, GPU model and count) when it first finds it, and from then on
refuses every reply about a machine that differs: no write is sent (hostagent.service.identity). When the change is
real (the GPUs were swapped, the host renamed), check the machine in the Vast console, stop the agent, run
this, and start the agent: it finds the machine again (`machine.id`, or by hostname) and records it afresh.
It takes the state directory's lock, so it cannot run beside the agent. Journaled (kind `operator`).
Exit codes: 0 forgotten (or nothing was recorded); 1 the agent holds the state directory, the state store
cannot be written, or the answer was no; 78 invalid config.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, config_or_report

if TYPE_CHECKING:
    from hostagent.service.identity import IdentityStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask")


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import LockHeldError, StateError  # noqa: PLC0415
    from hostagent.runtime.lock import StateLock  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")
    config = config_or_report(args.config, "forget-machine")
    if config is None:
        return EXIT_CONFIG
    state_dir = config.agent.state_dir
    if not (state_dir / "state.db").exists():
        print(f"nothing recorded: no state in {state_dir}")
        return EXIT_OK
    try:
        with StateLock(state_dir), bootstrap.open_store(state_dir) as store:
            return _forget(store, args.yes)
    except LockHeldError as exc:
        print(f"hostagent forget-machine: {exc} (e.g. `systemctl stop hostagent`)", file=sys.stderr)
    except StateError as exc:
        print(f"hostagent forget-machine: {exc}", file=sys.stderr)
    return EXIT_FAILURE


def _forget(store: IdentityStore, yes: bool) -> int:
    from datetime import datetime, timezone  # noqa: PLC0415

    from hostagent.service.agent import MACHINE_ID_KEY  # noqa: PLC0415
    from hostagent.service.identity import IDENTITY_KEY  # noqa: PLC0415

    recorded = {key: store.get(key) for key in (MACHINE_ID_KEY, IDENTITY_KEY)}
    if all(value is None for value in recorded.values()):
        print("nothing recorded: the agent finds and records the machine at its next run")
        return EXIT_OK
    print(f"recorded: machine id {recorded[MACHINE_ID_KEY]}, identity {recorded[IDENTITY_KEY]}")
    if not yes:
        print("Forget it? The agent records the machine afresh at its next start. [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return EXIT_FAILURE
    store.put(MACHINE_ID_KEY, None)
    store.put(IDENTITY_KEY, None)
    store.journal(datetime.now(timezone.utc), "operator", "forget machine", "hostagent forget-machine",
                  request=recorded, result="forgotten; the next run records the machine afresh")
    print("forgotten: start the agent; it finds the machine and records its identity afresh")
    return EXIT_OK
