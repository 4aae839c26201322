"""scripts/test.sh and scripts/demo.sh: pip shows progress, runs only when pyproject.toml changed (or --reinstall),
and each script ends with the agreed "Next:" block of absolute commands.

The scripts run in a copy of the repository whose .venv/bin/python is a stand-in that records pip's arguments and
prints pip's progress lines: a real pip would need PyPI, and tests never leave loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# `python --version` and `python -m pip install ...` as the scripts call them; PIP_FAILS makes pip fail.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = --version ]; then echo "Python 3.12.0"; exit 0; fi
echo "$*" >> "$(dirname "$0")/../pip-calls.log"
echo "Collecting example-dependency"
echo "  Downloading example_dependency-1.0-py3-none-any.whl (10 kB)"
if [ -n "${PIP_FAILS:-}" ]; then echo "ERROR: No matching distribution found"; exit 1; fi
echo "Successfully installed example-dependency-1.0"
"""
FAKE_HOSTAGENT = '#!/bin/sh\necho "hostagent called with: $*"\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the scripts and pyproject.toml, with a stand-in .venv."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", root / "scripts")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("hostagent", FAKE_HOSTAGENT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return root


def _script(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(repo / "scripts" / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=30, check=False, env={**os.environ, **env})


def _pip_calls(repo: Path) -> list[str]:
    log = repo / ".venv" / "pip-calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _next_commands(out: str, repo: Path) -> list[str]:
    """The agreed block: "Next:", lines of two spaces + the venv's hostagent (absolute), then how to activate."""
    lines = out.splitlines()
    start = lines.index("Next:")
    commands = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            assert "source .venv/bin/activate" in line
            return commands
        assert line.startswith(f"  {repo}/.venv/bin/hostagent "), line
        commands.append(line[2:])
    raise AssertionError(f"no activation line after the commands:\n{out}")


def test_setup_only_installs_with_progress_once_then_skips_pip_until_reinstall(repo: Path) -> None:
    """First run: pip's progress lines and the Next block; second: no pip; --reinstall: pip again."""
    first = _script(repo, "test.sh", "--setup-only")
    assert first.returncode == 0, first.stderr
    assert "== installing hostagent[test]" in first.stdout
    assert "   Collecting example-dependency" in first.stdout
    assert "Downloading" not in first.stdout  # progress is one line per package, not pip's whole chatter
    assert _pip_calls(repo) == ["-m pip install --disable-pip-version-check --upgrade pip",
                                "-m pip install --disable-pip-version-check -e .[test]"]
    (command,) = _next_commands(first.stdout, repo)
    assert command == f"{repo}/.venv/bin/hostagent --config {repo}/config/demo.toml demo"

    second = _script(repo, "test.sh", "--setup-only")
    assert second.returncode == 0, second.stderr
    assert "== .venv is up to date" in second.stdout
    assert len(_pip_calls(repo)) == 2
    assert _next_commands(second.stdout, repo) == [command]

    forced = _script(repo, "test.sh", "--setup-only", "--reinstall")
    assert "== installing" in forced.stdout
    assert len(_pip_calls(repo)) == 4


def test_a_changed_pyproject_reinstalls(repo: Path) -> None:
    """The stamp is pyproject.toml's hash: an edited pyproject.toml makes the next run install again."""
    assert _script(repo, "test.sh", "--setup-only").returncode == 0
    with (repo / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a new dependency would go here\n")
    assert "== installing" in _script(repo, "test.sh", "--setup-only").stdout
    assert len(_pip_calls(repo)) == 4


def test_a_failing_pip_shows_its_log_and_fails_without_a_stamp(repo: Path) -> None:
    """pip failing stops the script (exit 1) with pip's whole log on stderr; the next run tries again."""
    failed = _script(repo, "test.sh", "--setup-only", PIP_FAILS="1")
    assert failed.returncode == 1
    assert "ERROR: No matching distribution found" in failed.stderr
    assert "Next:" not in failed.stdout
    assert "== installing" in _script(repo, "test.sh", "--setup-only").stdout


def test_demo_sh_reuses_the_test_venv_and_passes_its_options_to_the_demo(repo: Path) -> None:
    """A venv set up by test.sh serves demo.sh without pip; --reinstall is the script's, the rest the demo's."""
    assert _script(repo, "test.sh", "--setup-only").returncode == 0
    demo = _script(repo, "demo.sh", "--days", "1")
    assert demo.returncode == 0, demo.stderr
    assert "== .venv is up to date" in demo.stdout
    assert "hostagent called with: --config config/demo.toml demo --days 1" in demo.stdout
    assert len(_pip_calls(repo)) == 2
