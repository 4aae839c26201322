"""Every relative link and #anchor in README.md and docs/*.md leads somewhere that exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def prose(path: Path) -> str:
    """The page without its code blocks (a `# comment` in a shell block is no heading, a `[x](y)` no link)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.findall(prose(path)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(path)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check offline
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{path.relative_to(REPO)}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{path.relative_to(REPO)}: {target}: no heading with that anchor in {dest.name}")
    return broken


def test_every_relative_link_and_anchor_in_the_documentation_resolves() -> None:
    """A link to a missing page, or to a heading that was renamed or moved, fails here by name."""
    broken = [problem for path in documents() for problem in broken_links(path)]
    assert broken == []


def test_every_docs_page_is_linked_from_the_docs_index() -> None:
    """docs/README.md lists every page, so an operator finds each one by task."""
    index = prose(REPO / "docs" / "README.md")
    linked = {target.partition("#")[0] for target in LINK.findall(index)}
    pages = {path.name for path in (REPO / "docs").iterdir() if path.suffix in (".md", ".1")} - {"README.md"}
    assert sorted(pages - linked) == []


def test_the_anchor_of_a_heading_is_the_one_github_makes() -> None:
    """The checker's anchors are GitHub's: markup and punctuation dropped, spaces to hyphens."""
    assert slug("The agent: `run` and `plan`") == "the-agent-run-and-plan"
    assert slug("Timeouts, retries and rate limits") == "timeouts-retries-and-rate-limits"
    assert slug("`hostagent maint list|add|cancel`") == "hostagent-maint-listaddcancel"
