"""The hardware layer: typed readings of every GPU and disk, from NVML or from a fake-GPU file.

`build_hardware(cfg, clock)` is the one way in; `bootstrap.py` and `hostagent telemetry` call it.
"""

from __future__ import annotations

from typing import Any

from hostagent.config.model import HardwareConfig
from hostagent.errors import HardwareError
from hostagent.ports import Clock, Hardware


def build_hardware(cfg: HardwareConfig, clock: Clock, *, nvml: Any | None = None) -> Hardware:
    """The backend `cfg.backend` names. `nvml` replaces the `pynvml` module (tests, benchmark).

    Raises `HardwareError` when the fake backend has no file or its file does not exist. The NVML
    backend never raises here: NVML is opened at the first `read()`, which reports a failure as a
    snapshot with `backend_ok=False` and a hint.
    """
    if cfg.backend == "fake":
        from hostagent.hardware.fake import FakeHardware  # noqa: PLC0415  (only the chosen backend is loaded)

        if cfg.fake_file is None:
            raise HardwareError('hardware.backend = "fake" needs hardware.fake_file')
        return FakeHardware(cfg.fake_file, cfg.docker_root)
    if cfg.backend == "nvml":
        from hostagent.hardware.nvml import NvmlHardware  # noqa: PLC0415

        return NvmlHardware(cfg, clock, nvml=nvml)
    raise HardwareError(f"unknown hardware.backend {cfg.backend!r} (expected nvml or fake)")
