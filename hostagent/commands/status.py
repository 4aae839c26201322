"""`hostagent status [--json]`: what the agent sees and did, from the state store, in well under 0.25 s.

Read-only (SQLite `mode=ro`); works whether the daemon runs or not and says which (the state-directory
lock) and how old the last tick is. Imports neither httpx nor NVML nor structlog (a test checks).
Exit codes: 0 shown; 1 no state yet (no completed tick) or the store cannot be read; 78 invalid config.
`--check` (hostagent.commands.status_check): one line on stdout, 0 "OK: ..." when healthy and as planned, else 1
"CRITICAL: ..." naming every problem (no state yet and an unreadable store included).
"""

from __future__ import annotations

import argparse
import json
import sys

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, config_or_report, require_state_access


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the versioned JSON document (schema 1)")
    parser.add_argument("--actions", type=int, default=5, metavar="N", help="recent journal entries to show (5)")
    parser.add_argument(
        "--check", action="store_true",
        help="for monitoring: one line, exit 0 when healthy and as planned, 1 (CRITICAL: why) otherwise",
    )


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415
    from hostagent.bootstrap import open_reader  # noqa: PLC0415
    from hostagent.commands.status_view import build_view, daemon_state  # noqa: PLC0415
    from hostagent.errors import StateError  # noqa: PLC0415

    config = config_or_report(args.config, "status")
    if config is None:
        return EXIT_CONFIG
    state_dir = config.agent.state_dir
    require_state_access(state_dir)  # another user on the service's 0700 directory: exit 77
    daemon = daemon_state(state_dir)
    try:
        reader = open_reader(state_dir)
        view = None
        if reader is not None:
            try:
                view = build_view(config, reader, daemon, bootstrap.wall_clock().now(), actions=max(args.actions, 0))
            finally:
                reader.close()
    except StateError as exc:
        if args.check:
            print(f"CRITICAL: state store unreadable: {exc}")
        else:
            print(f"hostagent status: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if view is None and args.check:
        print(f"CRITICAL: no state yet in {state_dir} (the agent has not finished a tick)")
        return EXIT_FAILURE
    if view is None:
        running = "the agent runs but has not finished a tick yet" if daemon.running else "the agent is not running"
        print(
            f"hostagent status: no state yet in {state_dir} ({running}); start it with "
            "`systemctl start hostagent` or run one cycle with `hostagent run --once`",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if args.check:
        from hostagent.commands.status_check import check_line, fresh_for_s  # noqa: PLC0415

        healthy, line = check_line(view, fresh_for_s(config.agent.tick_s, config.agent.reconcile_s))
        print(line)
        return EXIT_OK if healthy else EXIT_FAILURE
    if args.json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        from hostagent.commands.render import render_status  # noqa: PLC0415

        print(render_status(view))
    return EXIT_OK
