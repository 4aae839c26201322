"""The write-path contract: the Vast client, the state store, SQLite and HTTP only in their owning packages and
the composition root (ruff's banned-api, TID251, configured in pyproject.toml)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLANTED = "hostagent/commands/planted.py"


def ruff(*args: str, source: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", "pyproject.toml", "--no-cache", *args],
        input=source, capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )


@pytest.mark.parametrize(
    "planted",
    [
        "from hostagent.vast.client import VastClient\n",
        "from hostagent.vast import VastClient\n",
        "from hostagent.store import StateStore\n",
        "from hostagent.store.store import StateStore\n",
        "import sqlite3\n",
        "import httpx\n",
    ],
    ids=["VastClient", "VastClient re-exported", "StateStore", "StateStore's module", "sqlite3", "httpx"],
)
def test_a_command_that_builds_its_own_part_fails_the_lint(planted: str) -> None:
    """A planted import of a banned part in a command fails ruff, naming TID251."""
    source = f'"""Planted."""\n\n{planted}\n__all__ = ["{planted.rsplit(maxsplit=1)[-1]}"]\n'
    result = ruff("--select", "TID251", "--stdin-filename", PLANTED, "-", source=source)
    assert result.returncode != 0
    assert "TID251" in result.stdout


def test_the_owning_packages_and_the_composition_root_may_import_their_parts() -> None:
    """The same import passes where the contract allows it: hostagent/store, hostagent/bootstrap.py."""
    source = '"""Allowed."""\n\nimport sqlite3\n\n__all__ = ["sqlite3"]\n'
    for allowed in ("hostagent/store/planted.py", "hostagent/bootstrap.py"):
        result = ruff("--select", "TID251", "--stdin-filename", allowed, "-", source=source)
        assert result.returncode == 0, result.stdout


def test_the_real_tree_keeps_the_contract() -> None:
    """ruff's banned-api rule passes on the product, the tests and the benchmarks as they are."""
    result = ruff("--select", "TID251", "hostagent", "tests", "bench")
    assert result.returncode == 0, result.stdout


ALLOWED = {
    r"\bVastClient\(": ("hostagent/vast/", "hostagent/bootstrap.py", "hostagent/testing/"),
    r"\bStateStore\.open\(": ("hostagent/store/", "hostagent/bootstrap.py"),
    r"^\s*(import httpx|from httpx\b)": ("hostagent/vast/", "hostagent/bootstrap.py", "hostagent/testing/"),
    r"^\s*(import sqlite3|from sqlite3\b)": ("hostagent/store/",),
    r"\bload_api_key\(": ("hostagent/vast/", "hostagent/bootstrap.py"),
    r"\bgethostname\(": ("hostagent/bootstrap.py",),
}


@pytest.mark.parametrize("pattern", list(ALLOWED), ids=list(ALLOWED))
def test_parts_are_built_only_where_the_contract_allows(pattern: str) -> None:
    """The client constructed, the store opened, httpx/sqlite3 imported, the key loaded and the host named only
    in their own packages and bootstrap (docstrings and comments aside)."""
    found = []
    for path in sorted((REPO / "hostagent").rglob("*.py")):
        where = path.relative_to(REPO).as_posix()
        if where.startswith(ALLOWED[pattern]):
            continue
        code = [line.split("#")[0] for line in path.read_text(encoding="utf-8").splitlines()]
        found += [f"{where}: {line.strip()}" for line in code if re.search(pattern, line) and "`" not in line]
    assert found == []
