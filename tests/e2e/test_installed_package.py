"""An installed (not editable) hostagent runs `hostagent demo`: its config and fake GPUs ship as package data.

Built without build isolation and installed with --no-deps into a target directory (no network; the
dependencies come from the test's own environment), from a copy of the package outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_non_editable_install_runs_the_demo_from_its_package_data(tmp_path: Path) -> None:
    """`pip install .` (a real wheel build), then the installed `hostagent demo --days 1` tells a day and ends."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "hostagent", source / "hostagent",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    site = tmp_path / "site"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, timeout=120, env=env, capture_output=True)
    assert (site / "hostagent" / "data" / "demo.toml").is_file()
    assert (site / "hostagent" / "data" / "fake-gpus.toml").is_file()

    run_dir = tmp_path / "elsewhere"  # not the repository: nothing there to fall back on
    run_dir.mkdir()
    program = ("import sys, hostagent, hostagent.cli; print('from', hostagent.__file__); "
               "sys.exit(hostagent.cli.main(['demo', '--days', '1', '--state-dir', sys.argv[1]]))")
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path / "demo")], capture_output=True, text=True,
                          timeout=90, check=False, cwd=run_dir, env={**env, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"from {site}/hostagent/__init__.py")
    assert "hostagent demo: 1 simulated day of the real agent" in done.stdout
    assert "listed at $" in done.stdout
    assert "\nNext:\n" in done.stdout
