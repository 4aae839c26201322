"""`hostagent notify-test [--destination NAME]`: send one test message to each [[notify.destinations]] (or one).

The owner's way to check a token: the URL is loaded exactly as the agent loads it (systemd credential
`notify_<name>`, else `url_file` with mode 600) and sent through the same apprise sender, with the same
timeout. Each destination is named, its URL never shown. Nothing is written to the state store, so it runs
beside the agent. Also here: `destination_checks`, doctor's check that each URL loads (nothing sent).
Exit codes: 0 every message sent; 1 a destination did not accept it; 2 no such destination; 78 invalid
config, no destination configured, or a URL missing, unsafe or not understood.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_or_report

if TYPE_CHECKING:
    from hostagent.commands.doctor_checks import Check
    from hostagent.config.model import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--destination", metavar="NAME", help="only this destination (its `name` in [notify])")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.errors import SecretError  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")  # apprise's own warnings go through the masked log chain too
    config = config_or_report(args.config, "notify-test")
    if config is None:
        return EXIT_CONFIG
    destinations = config.notify.destinations
    if args.destination is not None:
        destinations = tuple(d for d in destinations if d.name == args.destination)
        if not destinations:
            names = ", ".join(d.name for d in config.notify.destinations) or "none configured"
            print(f"hostagent notify-test: no destination named {args.destination!r} ({names})", file=sys.stderr)
            return EXIT_USAGE
    if not destinations:
        print("hostagent notify-test: no [[notify.destinations]] in the config: nothing to test", file=sys.stderr)
        return EXIT_CONFIG
    chosen = replace(config, notify=replace(config.notify, destinations=destinations))
    clock = bootstrap.wall_clock()
    try:
        notifier = bootstrap.notifier(chosen, clock, bootstrap.host_name(config))
    except SecretError as exc:
        print(f"hostagent notify-test: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    assert notifier is not None  # destinations is not empty
    failed = 0
    for dest in destinations:
        title = f"hostagent {bootstrap.host_name(config)}: test"
        body = f"A test message from `hostagent notify-test` to destination {dest.name!r}: this destination works."
        problem = notifier.send_now(dest.name, title, body)
        print(f"{dest.name}: sent" if problem is None else f"{dest.name}: FAILED: {problem}")
        failed += problem is not None
    return EXIT_FAILURE if failed else EXIT_OK


def destination_checks(config: Config, environ: Mapping[str, str] = os.environ) -> list[Check]:
    """doctor: one check per destination, that its URL loads and apprise accepts it; nothing is sent."""
    from hostagent.commands.doctor_checks import FAIL, OK, Check  # noqa: PLC0415
    from hostagent.errors import SecretError  # noqa: PLC0415
    from hostagent.service.notify_send import AppriseSender, credential_name, load_url  # noqa: PLC0415

    checks: list[Check] = []
    for dest in config.notify.destinations:
        name = f"notify {dest.name}"
        try:
            sender = AppriseSender({dest.name: load_url(dest, environ)}, timeout_s=config.notify.timeout_s)
        except SecretError as exc:
            fix = (f"write the apprise URL into a file with mode 600 named by url_file, or use systemd "
                   f"LoadCredential={credential_name(dest)}:/path/to/url; then `hostagent notify-test "
                   f"--destination {dest.name}`")
            checks.append(Check(name, FAIL, str(exc), fix))
            continue
        checks.append(Check(name, OK, f"URL loaded ({sender.service(dest.name)}); "
                                      f"`hostagent notify-test --destination {dest.name}` sends a test message"))
    return checks
