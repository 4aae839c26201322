"""Fakes that ship with the product: fake GPUs, the Vast emulator, clocks. Used by tests, the demo and benches."""
