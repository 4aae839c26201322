"""`hostagent completion bash` completes commands and each command's flags in a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def _complete(words: list[str]) -> list[str]:
    script = subprocess.run(
        [sys.executable, "-m", "hostagent", "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    line = " ".join(words)
    probe = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _hostagent; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_first_word_completes_to_the_commands() -> None:
    assert _complete(["hostagent", "st"]) == ["status"]


def test_a_commands_flags_and_subcommands_complete_even_after_a_config_option() -> None:
    assert "--json" in _complete(["hostagent", "--config", "x.toml", "status", "--"])
    assert _complete(["hostagent", "maint", "ca"]) == ["cancel"]
    assert "--duration-h" in _complete(["hostagent", "maint", "add", "--d"])
