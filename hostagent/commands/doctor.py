"""`hostagent doctor [--strict] [--json]`: check what the agent needs, each failure with its fix.

NVML and the GPU count, device access, the config, the key file, API reachability (a show_user read) and
which further scopes the key has (show_machines, search_offers, show_earnings: each tried read-only), the state
directory, and the clock against Vast's HTTP Date header. Nothing is written (the state-directory check
creates and removes one temporary file).
Exit codes: 0 no check failed (warnings allowed; with --strict a warning fails too); 1 a check failed;
78 the config is invalid (the other checks need it, so they do not run).
"""

from __future__ import annotations

import argparse
import json

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    parser.add_argument("--json", action="store_true", help="a JSON array of {name, status, detail, fix}")


def run(args: argparse.Namespace) -> int:
    from hostagent.commands.doctor_checks import FAIL, WARN, run_checks  # noqa: PLC0415  (httpx, NVML)
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="error")
    checks = run_checks(args.config)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            print(f"{c.status:<5} {c.name:<21} {c.detail}")
            if c.fix and c.status != "ok":
                print("\n".join(f"      fix: {line}" if i == 0 else f"           {line}"
                                for i, line in enumerate(c.fix.splitlines())))
    if checks[0].name == "config" and checks[0].status == FAIL:
        return EXIT_CONFIG
    failing = {FAIL, WARN} if args.strict else {FAIL}
    return EXIT_FAILURE if any(c.status in failing for c in checks) else EXIT_OK
