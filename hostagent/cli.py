"""The `hostagent` command line. Each command lives in `hostagent/commands/<name>.py`.

Commands are imported only when chosen, so `hostagent status` never pays for NVML or httpx.
A command module provides `add_arguments(parser)` and `run(args) -> int`, and imports anything
heavy inside `run`.

`hostagent` alone prints the commands on stderr and exits 2 (a usage error: it names no command).
Exit codes: 0 success; 1 failure; 2 usage error; 67-69 `run --once` met a refused key, no machine, Vast
unavailable (see hostagent.commands); 73 `run` cannot bind metrics.address (EX_CANTCREAT, not restarted); 77
this user may not read or write the state store (EX_NOPERM: one line saying to run the command with sudo, never a
traceback); 78 invalid config or unsafe key file (EX_CONFIG, which systemd's RestartPreventExitStatus=78 treats as
"do not restart").
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import importlib
import os
import shlex
import stat
import sys
from collections.abc import Sequence

from hostagent import __version__

# The exit codes and the command table live with the commands (they use them); the CLI re-exports them.
from hostagent.commands import (
    COMMANDS,
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_NOPERM,
    EXIT_OK,
    EXIT_USAGE,
)

LOG_LEVELS = ("debug", "info", "warning", "error")

__all__ = ["COMMANDS", "EXIT_CONFIG", "EXIT_FAILURE", "EXIT_NOPERM", "EXIT_OK", "EXIT_USAGE", "main"]


def _top_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS)) + 1
    parser = argparse.ArgumentParser(
        prog="hostagent",
        description="Keeps a Vast.ai host's listing right.",
        epilog="commands:\n" + "\n".join(f"  {name:<{width}} {text}" for name, text in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default /etc/hostagent/config.toml)")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, metavar="LEVEL",
        help="how much the command logs on stderr: debug, info, warning or error (default: info for `run`, "
             "warning or error for the others, whose output is on stdout)",
    )
    parser.add_argument("-V", "--version", action="version", version=f"hostagent {__version__}")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND",
                        help="one of the commands below; `hostagent COMMAND --help` for its options")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words:  # a usage error (exit 2), but with the list of commands rather than argparse's one line
        _top_parser().print_help(sys.stderr)
        return EXIT_USAGE
    top = _top_parser().parse_args(words)
    module = importlib.import_module("hostagent.commands." + top.command.replace("-", "_"))
    sub = argparse.ArgumentParser(prog=f"hostagent {top.command}", description=COMMANDS[top.command])
    sub.add_argument("--config", dest="sub_config", metavar="PATH", help=argparse.SUPPRESS)
    module.add_arguments(sub)
    # Also after the command, as --config is; `run` documents its own --log-level (the conflict is that).
    with contextlib.suppress(argparse.ArgumentError):
        sub.add_argument("--log-level", choices=LOG_LEVELS, default=None, help=argparse.SUPPRESS)
    args = sub.parse_args(top.args)
    args.config = args.sub_config or top.config
    args.log_level = args.log_level or top.log_level
    if args.log_level is not None:
        from hostagent.runtime.logs import override_level  # noqa: PLC0415  (structlog: only when asked for)

        override_level(args.log_level)
    try:
        code: int = module.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except PermissionError as exc:
        # An operator who is not the service user, on its 0700 state directory: say what works instead.
        print(no_permission(top.command, words, exc), file=sys.stderr)
        return EXIT_NOPERM
    return code


def no_permission(command: str, words: Sequence[str], exc: PermissionError) -> str:
    """One line: what could not be opened, and the same command line to run with sudo (or, where the state
    directory grants a group read, as scripts/install-host.sh makes it for hostagent-ops, that group to join)."""
    what = exc.filename if exc.filename is not None else exc.strerror or "a file"
    sudo = f"`sudo hostagent {shlex.join(words)}`"
    group = _reading_group(str(what))
    if group is not None:
        return (f"hostagent {command}: permission denied on {what}: the service's state is readable by the group "
                f"{group} only: join it (`sudo usermod -aG {group} $USER`, then log in again), or run it as root: "
                f"{sudo}")
    return (
        f"hostagent {command}: permission denied on {what}: the service's state directory (mode 0700) is for "
        f"root and the service's user only; run it as root: {sudo}"
    )


def _reading_group(path: str) -> str | None:
    """The group that may read the state directory holding `path`, when its mode grants one; else None."""
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    try:
        info = os.stat(directory)
    except OSError:  # a directory this user cannot even stat
        return None
    if not info.st_mode & stat.S_IRGRP:
        return None
    try:
        return grp.getgrgid(info.st_gid).gr_name
    except KeyError:  # a gid with no name on this host: its number still works with usermod
        return str(info.st_gid)


if __name__ == "__main__":
    sys.exit(main())
