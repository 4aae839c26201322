"""The configuration reference and the man page are built from the program, and the page renders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hostagent import commands
from hostagent.commands import COMMANDS
from hostagent.config import Config
from hostagent.config.convert import schema_paths
from hostagent.docgen.config_reference import keys, reference_markdown
from hostagent.docgen.manpage import exit_codes, manpage

REPO = Path(__file__).resolve().parents[2]
MAN_PAGE = REPO / "docs" / "hostagent.1"


def test_the_configuration_reference_has_a_row_for_every_key_the_config_reads() -> None:
    """Each key path of the model is a row of docs/configuration.md, with a meaning from the example config."""
    documented = {key.path for key in keys()}
    # The idle-decay steps are one row: the example writes them as one inline array of {after_h, cut_pct}.
    paths = schema_paths(Config, skip=frozenset({(Config, "source")}))
    read = {re.sub(r"steps\[\]\.\w+$", "steps", path) for path in paths}
    assert documented == read
    assert [key.path for key in keys() if not key.description] == []
    assert "| `read_timeout_s` | number | `20` | > 0 |" in reference_markdown()


def test_the_man_page_names_every_command_and_every_exit_code() -> None:
    """The page is built from the command table and the EXIT_* constants, with their meaning."""
    page = manpage()
    for name in COMMANDS:
        assert f"\n.SS {name.replace('-', chr(92) + '-')}\n" in page
    codes = dict(exit_codes())
    assert {0, 1, 2, 67, 68, 69, 77, 78} <= codes.keys()
    assert all(codes.values())
    defined = re.findall(r"^EXIT_\w+ = \d+", Path(commands.__file__).read_text(encoding="utf-8"), re.MULTILINE)
    assert len(exit_codes()) == len(defined), "an EXIT_* constant without a comment saying what it means"
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "FILES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page


def test_the_man_page_renders_without_a_warning() -> None:
    """groff (what `man -l docs/hostagent.1` runs) formats the page with every warning on, and says nothing."""
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed here: the page's content is checked by the test above")
    done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN_PAGE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    shown = subprocess.run(["groff", "-man", "-Tutf8", str(MAN_PAGE)], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    plain = re.sub(".\x08", "", shown).replace("\u2010", "-")  # bold and underline are overstruck on a tty
    assert "EXIT STATUS" in plain
    assert "forget-machine" in plain
    if shutil.which("man") is not None:  # what an operator types
        page = subprocess.run(["man", "-l", str(MAN_PAGE)], capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"})
        assert (page.returncode, page.stderr) == (0, "")
        words = " ".join(re.sub(".\x08", "", page.stdout).replace("\u2010", "-").replace("\u2212", "-").split())
        assert "hostagent - keep a Vast.ai host's listing right" in words
