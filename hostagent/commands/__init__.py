"""One module per `hostagent` command: `add_arguments(parser)` and `run(args) -> int` (see hostagent.cli).

Here: the exit codes every command shares (sysexits-style), the command table, and the helpers commands share.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hostagent.config import Config, load_config  # standard library only: cheap to import
from hostagent.errors import ConfigError

EXIT_OK = 0  # done
EXIT_FAILURE = 1  # failure: no state yet, Vast or the hardware unreadable, a doctor check failed, a prompt answered no
EXIT_USAGE = 2  # usage error: an unknown option or value (argparse, journal --kind, --since)
EXIT_CHANGES_PENDING = 2  # changes pending: `plan --detailed-exitcode` only, as terraform's
EXIT_KEY_REFUSED = 67  # EX_NOUSER: Vast refused the API key (77 is the state store's)
EXIT_NO_MACHINE = 68  # EX_NOHOST: no machine (or several) with this hostname, or not the recorded one
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: Vast unreachable, 5xx or rate-limited after the retries
EXIT_METRICS_ADDRESS = 73  # EX_CANTCREAT: `run` cannot bind metrics.address (taken, or not this host's)
EXIT_NOPERM = 77  # EX_NOPERM: this user may not read or write the state store (one line names the sudo command)
EXIT_CONFIG = 78  # EX_CONFIG: invalid config, unsafe API key file or notification URL (systemd does not restart)

# name -> one-line help; the module is hostagent.commands.<name with - as _>
COMMANDS: dict[str, str] = {
    "run": "run the agent (the systemd service); --once for one full cycle",
    "status": "what the agent sees and did, from the state store (fast; the daemon need not run)",
    "plan": "what the agent would change now and why, changing nothing",
    "telemetry": "print one reading of every GPU and disk",
    "earnings": "earnings by day with totals, occupancy and realised $/GPU-hour",
    "maint": "maintenance windows: list, add, cancel",
    "journal": "the action journal: every decision and API call",
    "doctor": "check NVML, devices, config, key, API, state directory, clock and notification URLs, each with its fix",
    "hold": "keep the machine unlisted (rentals continue) until `release` or --until",
    "release": "end the hold: the agent plans the listing again",
    "pause": "send no writes to Vast at all (the agent still decides and journals) until `resume`",
    "resume": "end the pause",
    "notify-test": "send one test message to each notification destination (or --destination NAME)",
    "forget-machine": "forget the recorded machine and its identity (after a real hostname or GPU change)",
    "check-config": "validate the config and the API key file as `run` will; exit 0 when valid, 78 otherwise",
    "emulator": "serve the Vast host API emulator on loopback (try hostagent without a Vast account)",
    "demo": "a few simulated days of the real agent against the emulator and fake GPUs",
    "completion": "print a completion script: hostagent completion bash|zsh|fish",
}


def config_or_report(path: str | Path | None, command: str) -> Config | None:
    """The config, or None after printing every problem on stderr (the caller then exits 78)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"hostagent {command}: config invalid:", *exc.problems, sep="\n  ", file=sys.stderr)
        return None


def require_state_access(state_dir: Path) -> None:
    """Raise PermissionError when this user may not read `state_dir/state.db`; `hostagent.cli` turns it into
    one line naming `sudo` and exit 77. A missing store is left to the command ("no state yet")."""
    try:
        fd = os.open(state_dir / "state.db", os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        raise
    except OSError:  # absent, or not a file: the command says so in its own words
        return
    os.close(fd)
