"""The owner's TOML config: typed objects (`model`) and the loader that reports every problem (`load`)."""

from hostagent.config.model import *  # noqa: F403  (the config vocabulary, re-exported on purpose)
