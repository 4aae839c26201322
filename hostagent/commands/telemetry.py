"""`hostagent telemetry`: one reading of every GPU and disk, as a table or (--json) a JSON object.

Uses the configured backend (`[hardware]`), NVML or the fake-GPU file. Touches no state and no API.
Exit codes: 0 read; 1 the backend gave no usable reading (`backend_ok` false: the hint says why, and
the JSON or table is still printed) or could not be built; 78 invalid config.
"""

from __future__ import annotations

import argparse
import json
import sys

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object with every field")


def run(args: argparse.Namespace) -> int:
    from hostagent import bootstrap  # noqa: PLC0415  (imports stay inside run: see cli.py)
    from hostagent.commands import config_or_report  # noqa: PLC0415
    from hostagent.errors import HardwareError  # noqa: PLC0415
    from hostagent.hardware.render import snapshot_json, table  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")  # on stderr, so stdout stays clean JSON
    config = config_or_report(args.config, "telemetry")
    if config is None:
        return EXIT_CONFIG
    try:
        hardware, clock = bootstrap.hardware(config)
    except HardwareError as exc:
        print(f"hostagent telemetry: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        snapshot = hardware.read(clock.now())
    finally:
        hardware.close()
    if args.json:
        print(json.dumps(snapshot_json(snapshot), indent=2))
    else:
        print(table(snapshot))
    return EXIT_OK if snapshot.backend_ok else EXIT_FAILURE
