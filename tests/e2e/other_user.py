"""Running hostagent as someone who is not the owner of the state, for the permission tests.

Root ignores file modes, so as root the command runs as root *without* the capabilities that bypass them
(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; `setpriv` drops them from the bounding set before exec), and the
test hands the state to another owner (uid 65534, standing in for the unit's DynamicUser): from then on the
file modes decide, as they do for an operator who is not the service user. Not as root, the command runs
as us and the test takes the permission away with chmod. The same venv's Python runs the command, so the
checkout may live anywhere (a 0700 temp dir, /root). Only loopback is ever contacted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOBODY = 65534
AS_ROOT = os.geteuid() == 0
# Root minus the two capabilities that ignore file modes: an ordinary user as far as files go.
_NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def give_away(*paths: Path) -> None:
    """As root: hand these paths to another owner, so the modes apply to the command (no-op otherwise)."""
    if AS_ROOT:
        for path in paths:
            os.chown(path, NOBODY, NOBODY)


def run_hostagent(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m hostagent ARGS` as an ordinary user (root without DAC capabilities, or us), no API key."""
    return run_python(cwd, "-m", "hostagent", *args)


def run_python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` (`-c CODE` when the first is not an option) as an ordinary user."""
    argv = list(args) if args and args[0].startswith("-") else ["-c", *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    prefix = _NO_DAC if AS_ROOT else []
    return subprocess.run(  # noqa: PLW1510 -- the exit status is what the tests check
        [*prefix, sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )
