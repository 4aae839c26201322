"""hostagent: keeps a Vast.ai host's listing right."""

__version__ = "0.1.0"
