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


def _script(shell: str) -> str:
    return subprocess.run([sys.executable, "-m", "hostagent", "completion", shell],
                          capture_output=True, text=True, check=True).stdout


def test_bash_completes_the_shells_of_completion_and_the_levels_of_log_level() -> None:
    """The global --log-level's values and `completion`'s shells complete too."""
    assert _complete(["hostagent", "completion", "z"]) == ["zsh"]
    assert _complete(["hostagent", "completion", "f"]) == ["fish"]
    assert _complete(["hostagent", "--log-level", "w"]) == ["warning"]
    assert "--log-level" in _complete(["hostagent", "--"])


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_commands_and_each_commands_flags() -> None:
    """In a real fish: `complete -C` on the sourced script gives the commands, then a command's flags."""
    def complete(line: str) -> list[str]:
        probe = f"source -; complete -C {line!r}"
        done = subprocess.run(["fish", "--no-config", "-c", probe], input=_script("fish"), capture_output=True,
                              text=True, check=True, timeout=30)
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("hostagent st") == ["status"]
    assert "--json" in complete("hostagent --config x.toml status --")
    assert complete("hostagent maint ca") == ["cancel"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_commands_and_each_commands_flags() -> None:
    """In a real zsh, the generated function offers commands, then a command's flags (compadd recorded)."""
    def complete(*words: str) -> list[str]:
        # Outside a completion widget `words` and `CURRENT` are plain variables; compadd and _describe record.
        probe = (
            "compdef() { :; }\n" + _script("zsh") + "\n"
            "compadd() { [[ $1 == -- ]] && shift; print -l -- \"$@\"; }\n"
            "_describe() { print -l -- ${${(P)${@[-1]}}%%:*}; }\n"
            f"words=(hostagent {' '.join(words)}); CURRENT={len(words) + 1}; _hostagent"
        )
        done = subprocess.run(["zsh", "-f", "-c", probe], capture_output=True, text=True, check=True, timeout=30)
        return done.stdout.split()

    assert "status" in complete("")
    assert "--json" in complete("--config", "x.toml", "status", "--")
    assert complete("--log-level", "")[:4] == ["debug", "info", "warning", "error"]
