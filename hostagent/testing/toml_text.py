"""Edits of config text for tests that run real commands on the shipped configs."""

from __future__ import annotations


def without_windows(toml_text: str) -> str:
    """The config without its `[[maintenance.windows]]`: a test run by the real clock must not land in one (the
    demo's and the example's first Sunday morning of a month keeps the machine unlisted)."""
    kept, skipping = [], False
    for line in toml_text.splitlines(keepends=True):
        if line.startswith("["):
            skipping = line.strip() == "[[maintenance.windows]]"
        if not skipping:
            kept.append(line)
    return "".join(kept)
