"""The service layer: the use cases (tick, preview, find the machine, an operator's write) and the ONE write path."""
