"""Running hostagent as a user who is not the state directory's owner, for the permission tests.

Root ignores file modes, so when the tests run as root the command runs as nobody (uid 65534); otherwise it
runs as us and the test takes the permission away with chmod. Only loopback is ever contacted.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

NOBODY = 65534
AS_ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
# hostagent and its dependencies by path, for an interpreter other than this venv's
PYTHONPATH = os.pathsep.join([str(REPO), *site.getsitepackages()])


@cache
def interpreter() -> str:
    """This Python, or else the system's: a pyenv Python under /root (0700) cannot be run by nobody."""
    if not AS_ROOT:
        return sys.executable
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import hostagent.cli"], env={"PYTHONPATH": PYTHONPATH}, capture_output=True,
                check=False, user=NOBODY, group=NOBODY, extra_groups=[], timeout=60,
            )
        except OSError:  # not found, or not executable by nobody
            continue
        if probe.returncode == 0:
            return candidate
    pytest.fail("no Python interpreter that uid 65534 may run: install python3 outside /root")


def run_hostagent(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m hostagent ARGS` as nobody (as root) or as us, with no API key in the environment."""
    return run_python(cwd, "-m", "hostagent", *args)


def run_python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` (`-c CODE` when the first is not an option) as nobody (as root) or as us."""
    argv = list(args) if args and args[0].startswith("-") else ["-c", *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": PYTHONPATH}
    who = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if AS_ROOT else {}
    return subprocess.run(  # noqa: PLW1510 -- the exit status is what the tests check
        [interpreter(), *argv],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120, **who,  # type: ignore[call-overload]
    )
