"""The ``web4`` command: argument parsing and wiring only."""
