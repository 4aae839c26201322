"""One module per `hostagent` command: `add_arguments(parser)` and `run(args) -> int` (see hostagent.cli)."""
