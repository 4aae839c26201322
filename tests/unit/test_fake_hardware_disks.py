"""Disk readings through psutil: the nearest existing parent is read; one failure spoils only itself."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from hostagent.hardware.disk import DiskReader, nearest_existing


def test_a_missing_docker_root_reads_its_nearest_existing_parent(tmp_path):
    assert nearest_existing(tmp_path / "a" / "b") == tmp_path
    (reading,) = DiskReader([tmp_path / "a" / "b"]).read()
    assert reading.requested_path == str(tmp_path / "a" / "b")
    assert reading.path == str(tmp_path)
    assert reading.total_bytes
    assert reading.free_bytes is not None
    assert reading.error is None


def test_a_failing_read_makes_that_reading_unknown_and_the_others_continue(tmp_path):
    def usage(path: str) -> SimpleNamespace:
        if path == str(tmp_path):
            raise OSError(5, os.strerror(5))
        return SimpleNamespace(total=100, free=40)

    other = Path(tmp_path.anchor)
    failed, fine = DiskReader([tmp_path, other], usage=usage).read()
    assert failed.total_bytes is None
    assert failed.free_bytes is None
    assert failed.error
    assert "OSError" in failed.error
    assert (fine.total_bytes, fine.free_bytes, fine.error) == (100, 40, None)
