"""`hostagent check-config`: validate the config and the API key as `run` will; exit 0 when both pass, 78 (EX_CONFIG)
otherwise.

The key goes through the loader `run` uses (bootstrap.api_key, hostagent.vast.auth): a key file that is missing,
unreadable, a link, group/world-readable or empty fails here with its fix, not at the next start. A key that
comes only from the unit (systemd's credential, or an environment this shell does not have) cannot be seen here:
the output says so, and which command checks it. Whether Vast accepts the key is `doctor`'s (it asks Vast).
A metrics endpoint bound beyond loopback is valid but printed as a `warning:` line on stderr (still exit 0).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from hostagent.commands import EXIT_CONFIG, EXIT_OK
from hostagent.config import Config, load_config  # standard library only: cheap to import
from hostagent.config.network import metrics_exposure
from hostagent.errors import ConfigError, SecretError


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
    return check_key(config, os.environ)


def check_key(config: Config, environ: Mapping[str, str]) -> int:
    """The key as `run` loads it: one line on stdout when usable or not visible here, the problem on stderr (78)."""
    from hostagent import bootstrap  # noqa: PLC0415  (the one place parts are built; brings httpx)
    from hostagent.vast.auth import CREDENTIAL_NAME, ENV_VAR  # noqa: PLC0415

    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    from_credential = bool(cred_dir) and os.path.lexists(os.path.join(cred_dir or "", CREDENTIAL_NAME))
    if not from_credential and config.vast.api_key_file is None and ENV_VAR not in environ:
        print(
            f"key: not checked here: no [vast] api_key_file and no ${ENV_VAR} in this shell, so `run` takes the key "
            f"from systemd's credential {CREDENTIAL_NAME} (LoadCredential=), which exists only under the unit; "
            "`hostagent doctor` run as the service, or the service's own start, checks it"
        )
        return EXIT_OK
    try:
        bootstrap.api_key(config, environ)
    except SecretError as exc:
        print(f"key refused (as `run` would refuse it): {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if from_credential:
        source = f"systemd credential {CREDENTIAL_NAME}"
    elif config.vast.api_key_file is not None:
        source = f"key file {config.vast.api_key_file} (owner and mode as `run` requires)"
    else:
        source = f"${ENV_VAR} (set in this shell; the unit has its own environment)"
    print(f"key OK: {source}; whether Vast accepts it: `hostagent doctor`")
    return EXIT_OK
