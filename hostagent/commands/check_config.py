"""`hostagent check-config`: validate the config and say so; exit 0 when valid, 78 (EX_CONFIG) otherwise.

A metrics endpoint bound beyond loopback is valid but printed as a `warning:` line on stderr (still exit 0).
"""

from __future__ import annotations

import argparse
import sys

from hostagent.commands import EXIT_CONFIG, EXIT_OK
from hostagent.config import load_config  # standard library only: cheap to import
from hostagent.config.network import metrics_exposure
from hostagent.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: the config is the global --config (default /etc/hostagent/config.toml)."""


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"config invalid: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return EXIT_CONFIG
    rules, windows = len(config.pricing.rules), len(config.maintenance.windows)
    print(
        f"config OK: {config.source} (mode {config.agent.mode}, backend {config.hardware.backend}, "
        f"{rules} rule{'s' if rules != 1 else ''}, {windows} window{'s' if windows != 1 else ''})"
    )
    # A warning, not a refusal: the page holds no secret, and a firewalled or private interface may be intended.
    exposure = metrics_exposure(config.metrics.address) if config.metrics.enabled else None
    if exposure is not None:
        label = config.source.name if config.source is not None else "<config>"
        print(f"warning: {label}: metrics.address: {exposure}", file=sys.stderr)
    return EXIT_OK
