"""`hostagent run [--once]`: the agent service (systemd runs this), or one full cycle for cron and tests.

Exit codes: 0 after SIGTERM or a finished `--once`; 1 when another agent holds the state directory or
the state / hardware cannot be opened; 77 (EX_NOPERM) when this user may not write the state store
(a read-only state.db, directory or file system: refused before anything runs, as it would store nothing);
78 (EX_CONFIG) on an invalid config or an unsafe key file, which systemd's RestartPreventExitStatus=78
leaves stopped instead of restarting in a loop.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_NOPERM

if TYPE_CHECKING:
    from hostagent.runtime.metrics import Metrics, MetricsServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="one full cycle (telemetry, reconcile, cleanup, earnings), then exit"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415  (heavy: httpx, NVML, SQLite)
    from hostagent.errors import (  # noqa: PLC0415
        ConfigError,
        HostagentError,
        LockHeldError,
        SecretError,
        StateAccessError,
    )
    from hostagent.runtime.logs import configure_logging, install_excepthook  # noqa: PLC0415
    from hostagent.runtime.sdnotify import Notifier, watchdog_interval_s  # noqa: PLC0415
    from hostagent.runtime.service import Service, reloader  # noqa: PLC0415

    configure_logging(level=args.log_level)
    install_excepthook()
    notifier = Notifier.from_environ()
    try:
        config = bootstrap.config_from(args.config)
    except ConfigError as exc:
        _problems("config invalid", exc.problems)
        notifier.status("config invalid: " + "; ".join(exc.problems)[:200])
        return EXIT_CONFIG
    try:
        parts = bootstrap.build(config)
    except SecretError as exc:
        _problems("API key refused", [str(exc)])
        return EXIT_CONFIG
    except (LockHeldError, StateAccessError) as exc:  # the message says what to do; the name adds nothing
        _problems("not started", [str(exc)])
        return EXIT_NOPERM if isinstance(exc, StateAccessError) else EXIT_FAILURE
    except HostagentError as exc:
        _problems("not started", [f"{type(exc).__name__}: {exc}"])
        return EXIT_FAILURE
    try:
        service = Service(
            parts.agent(), parts.clock, notifier=notifier, watchdog_s=watchdog_interval_s(),
            reload=reloader(args.config, os.environ),
        )
        if args.once:
            return service.run_once()
        service.install_signal_handlers()
        server = _serve_metrics(parts.metrics, config.metrics.address)
        try:
            return service.run()
        finally:
            if server is not None:
                server.stop()
    finally:
        parts.close()


def _problems(title: str, problems: list[str]) -> None:
    print(f"hostagent run: {title}:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _serve_metrics(metrics: Metrics | None, address: str) -> MetricsServer | None:
    """The Prometheus endpoint, or None: a busy port or a bad address costs the metrics, never the agent."""
    import structlog  # noqa: PLC0415

    from hostagent.config.network import metrics_exposure  # noqa: PLC0415

    if metrics is None:
        return None
    log = structlog.get_logger(__name__)
    exposure = metrics_exposure(address)
    if exposure is not None:  # served anyway (no secret on the page), but never silently
        log.warning("metrics_exposed", address=address, fix=exposure.partition(": ")[2])
    try:
        return metrics.serve(address)
    except (OSError, ValueError) as exc:
        log.error("metrics_server_failed", address=address, error=str(exc))
        return None
