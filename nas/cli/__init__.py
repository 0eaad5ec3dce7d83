"""Command-line interface. Each `cmd_*.py` module adds its sub-commands through `register()`."""
