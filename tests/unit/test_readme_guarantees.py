"""The README's reliability guarantees each name the tests that hold them, and those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Reliability: what hostagent guarantees"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:end if end != -1 else None]


def test_every_guarantee_row_names_at_least_one_test() -> None:
    rows = [line for line in _section().splitlines() if line.startswith("| ") and not line.startswith("| guarantee")]
    assert len(rows) >= 10
    for row in rows:
        assert TEST_REF.search(row), f"a guarantee without a test: {row[:80]}"


def test_every_test_the_guarantees_name_exists() -> None:
    refs = TEST_REF.findall(_section())
    assert refs
    for path, name in refs:
        source = (REPO / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name} named in the README does not exist"
