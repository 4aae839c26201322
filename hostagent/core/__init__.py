"""The pure core: decisions from values. Standard library only; no I/O, no clock reads, no logging."""
