"""`hostagent demo [--days N] [--seed N] [--state-dir DIR]`: the real agent, a few simulated days, one timeline.

Runs against the embedded Vast emulator and a temporary copy of the fake GPU file on an accelerated
clock; nothing outside the state directory is written and nothing leaves the machine. Ends with
`hostagent status` for the state it wrote; that directory is kept (with a config copy pointing at it)
so `status`, `journal` and `earnings` can be tried on it. Exit codes: 0 done; 78 invalid config;
1 the state directory is not empty.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from hostagent.commands import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

# Package data, so an installed (not editable) hostagent runs the demo too; config/demo.toml and
# config/fake-gpus.toml are the repository's copies, kept equal by tests/unit/test_demo_package_data.py.
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "data" / "demo.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=4, metavar="N", help="simulated days (default 4, at least 1)")
    parser.add_argument("--seed", type=int, default=0, help="the renter simulation's seed (default 0)")
    parser.add_argument("--state-dir", metavar="DIR", help="where the demo's state goes (default: a new temp dir)")


def run(args: argparse.Namespace) -> int:
    from hostagent.commands.demo_story import run_demo, write_config_copy  # noqa: PLC0415  (heavy: httpx, the emulator)
    from hostagent.config.load import load_config  # noqa: PLC0415
    from hostagent.errors import ConfigError  # noqa: PLC0415
    from hostagent.runtime.logs import configure_logging  # noqa: PLC0415

    # The timeline is the output: the agent's own log lines would drown it, and its events (a GPU fault is logged
    # at error) are already lines of the timeline. `--log-level` still shows them.
    configure_logging(level="critical")
    path = Path(args.config) if args.config else DEFAULT_CONFIG
    try:
        config = load_config(path, environ={})
    except ConfigError as exc:
        print("hostagent demo: config invalid:", *exc.problems, sep="\n  ", file=sys.stderr)
        return EXIT_CONFIG
    workdir = Path(args.state_dir) if args.state_dir else Path(tempfile.mkdtemp(prefix="hostagent-demo-"))
    if workdir.exists() and any(workdir.iterdir()):
        print(f"hostagent demo: {workdir} is not empty; give an empty or new --state-dir", file=sys.stderr)
        return EXIT_FAILURE
    sim = run_demo(config, workdir, days=max(args.days, 1), seed=args.seed, out=sys.stdout)
    now = sim.now
    state_dir = sim.config.agent.state_dir
    sim.close()  # releases the state lock: status reads a stopped agent's state, as after `systemctl stop`
    config_copy = write_config_copy(path, state_dir, workdir / "demo.toml")
    print("\n$ hostagent status   (at the end of the simulated time)\n")
    print(_status(sim.config, state_dir, now))
    if config_copy is not None:
        print(f"\nThe demo's state is kept in {state_dir}.")
        print(next_steps([f"--config {config_copy} {command}" for command in ("status", "journal", "earnings")]))
    return EXIT_OK


def next_steps(arguments: list[str]) -> str:
    """The "Next:" block: each command with the absolute path of this hostagent, which need not be on the PATH
    (a venv that was never activated), then how to activate that venv. scripts/*.sh print the same form."""
    bin_dir = Path(sys.executable).parent  # the venv's bin/, unresolved: a venv's python is a symlink
    program = bin_dir / "hostagent"
    shown = str(program) if program.is_file() else f"{sys.executable} -m hostagent"
    lines = ["Next:", *(f"  {shown} {words}" for words in arguments)]
    if (bin_dir / "activate").is_file():
        lines.append(f"Or put hostagent on the PATH first: source {bin_dir / 'activate'}")
    return "\n".join(lines)


def _status(config: object, state_dir: Path, now: object) -> str:
    from hostagent.bootstrap import open_reader  # noqa: PLC0415
    from hostagent.commands.render import render_status  # noqa: PLC0415
    from hostagent.commands.status_view import build_view, daemon_state  # noqa: PLC0415

    reader = open_reader(state_dir)
    if reader is None:
        return "(no state was written)"
    try:
        view = build_view(config, reader, daemon_state(state_dir), now)  # type: ignore[arg-type]
    finally:
        reader.close()
    return render_status(view) if view is not None else "(no tick finished)"
