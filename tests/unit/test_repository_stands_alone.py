"""The repository stands alone: no file reads or cites anything beside the clone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Built from parts so that this file does not match its own search.
BESIDE_THE_CLONE = "../" + "shared"
MARKDOWN_NAME = re.compile(r"\b[\w.-]+\.md\b")


def _repository_files() -> list[Path]:
    """Tracked files plus new ones not yet committed (ignored paths such as .venv left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()
    files = [REPO / name for name in listed.split("\0") if name]
    assert len(files) > 50, f"git listed only {len(files)} files in {REPO}"
    return [f for f in files if f.is_file()]  # a file deleted but not yet committed is listed too


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # binary: nothing to cite


def test_no_file_in_the_repository_names_a_path_beside_the_clone() -> None:
    """No file names the sibling folder the project once read: tests, code and docs stay inside the clone."""
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in _repository_files()
        if (text := _text(path)) is not None
        for number, line in enumerate(text.splitlines(), start=1)
        if BESIDE_THE_CLONE in line
    ]
    assert offenders == []


def test_every_markdown_document_the_repository_cites_is_in_the_repository() -> None:
    """A cited *.md (a reference document) must be one of the repository's own files."""
    files = _repository_files()
    own = {path.name for path in files}
    missing = sorted(
        f"{path.relative_to(REPO)} cites {name}"
        for path in files
        if (text := _text(path)) is not None
        for name in set(MARKDOWN_NAME.findall(text))
        if name not in own
    )
    assert missing == []
