"""Documentation generated from the program: the configuration reference, the man page, command samples."""
