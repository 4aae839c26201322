"""`hostagent run [--once]`: the agent service (systemd runs this), or one full cycle for cron and tests.

Exit codes: 0 after SIGTERM or a clean `--once`. After a `--once` cycle that met a problem, the worst of:
67 (EX_NOUSER) Vast refused the key, 68 (EX_NOHOST) no such machine or not the recorded one, 69 (EX_UNAVAILABLE)
Vast unreachable or failing after the retries (in any call of the cycle). 1 when another agent holds the state
directory or the state / hardware cannot be opened; 77 (EX_NOPERM) when this user may not write the state store
(a read-only state.db, directory or file system: refused before anything runs, as it would store nothing);
78 (EX_CONFIG) on an invalid config or an unsafe key file, which systemd's RestartPreventExitStatus=78
leaves stopped instead of restarting in a loop. 73 (EX_CANTCREAT) when the service cannot bind metrics.address (the
port is taken, or the address is not this host's): before READY, so systemd records a failed start, and
RestartPreventExitStatus=73 keeps it from retrying every 10 s until someone frees the port. The long-running
`run` never exits 67-69: it keeps telemetry going and tries Vast again (a refused key is fixed by a new key and a
reload, without a restart).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from hostagent.commands import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_KEY_REFUSED,
    EXIT_METRICS_ADDRESS,
    EXIT_NO_MACHINE,
    EXIT_NOPERM,
    EXIT_OK,
    EXIT_UNAVAILABLE,
)

if TYPE_CHECKING:
    from hostagent.runtime.metrics import Metrics, MetricsServer
    from hostagent.runtime.service import Service
    from hostagent.service.agent import Agent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="one full cycle (telemetry, reconcile, cleanup, earnings), then exit"
    )
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"],
                        help="log detail on stderr (default info); also `hostagent --log-level LEVEL run`")


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

    configure_logging(level=args.log_level or "info")
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
        _problems("secret refused (API key or notification URL)", [str(exc)])
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
            service.run_once()
            return cycle_exit_code(service.agent)
        service.install_signal_handlers()
        return _serve(service, parts.metrics, config.metrics.address)
    finally:
        parts.close()


def cycle_exit_code(agent: Agent) -> int:
    """The exit code of a `--once` cycle: the worst problem that kept it from reconciling, else 0.

    A refused key outranks the rest (no lookup can succeed without it), then a missing machine, then Vast down.
    """
    from hostagent.errors import (  # noqa: PLC0415
        VastAuthError,
        VastError,
        VastNotFound,
        VastRetryable,
        VastWriteUncertain,
        VastWrongMachine,
    )
    from hostagent.service.apigate import ApiDeferred  # noqa: PLC0415

    error, last = agent.problem_error, agent.gate.last_error  # the gate is this process's: its errors are this cycle's
    unavailable = {cls.__name__ for cls in (*_subclasses(VastRetryable), VastWriteUncertain)}
    if agent.gate.auth_failed_at is not None or isinstance(error, VastAuthError):
        code, why = EXIT_KEY_REFUSED, agent.problem or "Vast refused the API key"
    elif isinstance(error, (LookupError, VastNotFound, VastWrongMachine)):
        code, why = EXIT_NO_MACHINE, str(agent.problem)
    elif isinstance(error, (VastError, ApiDeferred)):
        code, why = EXIT_UNAVAILABLE, str(agent.problem)
    elif last is not None and last["kind"] in unavailable:  # a later step (a write, cleanup, earnings) failed
        code, why = EXIT_UNAVAILABLE, f"Vast unavailable for {last['operation']}: {last['message']}"
    else:
        return EXIT_OK
    print(f"hostagent run --once: {why}", file=sys.stderr)
    return code


def _subclasses(cls: type[Exception]) -> list[type[Exception]]:
    found = [cls]
    for child in cls.__subclasses__():
        found += _subclasses(child)
    return found


def _problems(title: str, problems: list[str]) -> None:
    print(f"hostagent run: {title}:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _serve(service: Service, metrics: Metrics | None, address: str) -> int:
    """The long-running service with its metrics endpoint; 73 before READY when the endpoint cannot be bound."""
    try:
        server = _serve_metrics(metrics, address)
    except OSError as exc:  # before READY: systemd sees a failed start, and 73 is not restarted in a loop
        _problems("not started", [metrics_bind_problem(address, exc)])
        service.notifier.status(f"not started: metrics.address {address} cannot be bound")
        return EXIT_METRICS_ADDRESS
    try:
        return service.run()
    finally:
        if server is not None:
            server.stop()


def metrics_bind_problem(address: str, exc: OSError) -> str:
    """One line: which address could not be bound, why, and the fix."""
    return (
        f"metrics.address {address} cannot be bound ({exc.strerror or exc}): another process holds the port, or "
        "the address is not this host's; stop that process (`ss -ltnp` names it) or set another [metrics] address "
        "(or enabled = false), then start again"
    )


def _serve_metrics(metrics: Metrics | None, address: str) -> MetricsServer | None:
    """The Prometheus endpoint, or None when metrics are off. Raises OSError when the address cannot be bound:
    an agent whose configured endpoint is silently missing would look dead to every alert built on it."""
    import structlog  # noqa: PLC0415

    from hostagent.config.network import metrics_exposure  # noqa: PLC0415

    if metrics is None:
        return None
    log = structlog.get_logger(__name__)
    exposure = metrics_exposure(address)
    if exposure is not None:  # served anyway (no secret on the page), but never silently
        log.warning("metrics_exposed", address=address, fix=exposure.partition(": ")[2])
    return metrics.serve(address)  # a ValueError cannot come: config validation parsed the address
