"""The front of the command line: `hostagent` alone lists the commands, -V, and a --log-level every command obeys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hostagent import __version__
from hostagent.cli import main
from hostagent.commands import COMMANDS

# After the command ran, one info and one warning line: which come out shows the level the command left set.
PROBE = ("import sys, structlog; from hostagent.cli import main; main(sys.argv[1:]); "
         "log = structlog.get_logger('probe'); log.info('info_after'); log.warning('warning_after')")


def _probe(*args: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                          check=False)
    return done.stderr


def test_hostagent_alone_lists_every_command_on_stderr_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """No command is a usage error (2), answered with the whole list of commands rather than one terse line."""
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    for name, text in COMMANDS.items():
        assert f"  {name} " in err
        assert text in err


def test_the_command_list_keeps_its_descriptions_in_one_column(capsys: pytest.CaptureFixture[str]) -> None:
    """The longest name (forget-machine) does not push its description out of line."""
    main([])
    rows = [line for line in capsys.readouterr().err.splitlines() if line.startswith("  ") and
            line.split()[0] in COMMANDS]
    columns = {line.index(COMMANDS[line.split()[0]]) for line in rows}
    assert len(rows) == len(COMMANDS)
    assert len(columns) == 1


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_dash_v_prints_the_version(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    """-V and --version print `hostagent <version>` and exit 0."""
    with pytest.raises(SystemExit) as exited:
        main([flag])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"hostagent {__version__}\n"


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--log-level takes debug, info, warning or error; anything else is exit 2 naming them."""
    with pytest.raises(SystemExit) as exited:
        main(["--log-level", "loud", "status"])
    assert exited.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err


def test_the_global_log_level_wins_over_a_commands_own_default(tmp_path: Path) -> None:
    """`completion` logs nothing by itself; --log-level before or after the command sets the level for the process,
    and a command's own configure_logging() (doctor: error) cannot lower what the operator asked for."""
    assert "info_after" in _probe("--log-level", "info", "completion", "bash")
    after = _probe("completion", "bash", "--log-level", "warning")
    assert "warning_after" in after
    assert "info_after" not in after
    doctor = _probe("--log-level", "info", "--config", str(tmp_path / "absent.toml"), "doctor")
    assert "info_after" in doctor
