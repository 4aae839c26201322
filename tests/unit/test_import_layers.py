"""The package's layers are a contract (pyproject's [tool.importlinter]): the tree keeps it, and an import that
goes up a layer breaks the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        capture_output=True, text=True, cwd=root, env=env, timeout=120, check=False,
    )


def test_the_package_keeps_its_layers() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KEPT" in done.stdout


def test_a_core_module_importing_the_service_layer_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(REPO / "hostagent", tmp_path / "hostagent", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "hostagent" / "core" / "planted.py").write_text("import hostagent.service.reconcile\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "hostagent.core.planted -> hostagent.service.reconcile" in done.stdout
