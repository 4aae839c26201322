"""The generated parts of README.md and docs/ are what a fresh run of scripts/gen_docs.py writes now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_generated_part_of_the_docs_matches_a_fresh_run_of_the_generator() -> None:
    """Samples from real runs, the config reference and the man page: a stale copy fails, naming the command."""
    done = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "gen_docs: everything up to date\n"
