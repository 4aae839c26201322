"""The demo's config and fake GPUs ship as package data (hostagent/data/), equal to the repository's config/ copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostagent.commands.demo import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["demo.toml", "fake-gpus.toml"])
def test_the_packaged_demo_file_equals_the_repository_copy(name: str) -> None:
    """config/<name> and hostagent/data/<name> are the same bytes: edit one, copy it to the other."""
    assert (REPO / "hostagent" / "data" / name).read_bytes() == (REPO / "config" / name).read_bytes(), (
        f"config/{name} and hostagent/data/{name} differ: `cp config/{name} hostagent/data/{name}`"
    )


def test_the_demo_without_config_uses_the_packaged_copy() -> None:
    """`hostagent demo` without --config reads the package data, which an installed (not editable) package has."""
    assert DEFAULT_CONFIG == REPO / "hostagent" / "data" / "demo.toml"
