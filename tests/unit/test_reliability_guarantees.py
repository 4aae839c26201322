"""The reliability guarantees (docs/reliability.md) each name the tests that hold them, and those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reliability.md"
SECTION = "## What hostagent guarantees"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:end if end != -1 else None]


def test_every_guarantee_row_names_at_least_one_test() -> None:
    """A promise without a test that holds it is no promise: each row names one."""
    rows = [line for line in _section().splitlines() if line.startswith("| ") and not line.startswith("| guarantee")]
    assert len(rows) >= 10
    for row in rows:
        assert TEST_REF.search(row), f"a guarantee without a test: {row[:80]}"


def test_every_test_the_guarantees_name_exists() -> None:
    """A guarantee names a test that exists, so renaming or deleting the test fails here."""
    refs = TEST_REF.findall(_section())
    assert refs
    for path, name in refs:
        source = (REPO / path).read_text(encoding="utf-8")
        named = f"{path}::{name} named in docs/reliability.md does not exist"
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), named
