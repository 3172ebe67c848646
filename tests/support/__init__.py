"""Helpers shared by the test suites (importable as ``support``: pytest's ``pythonpath``
in pyproject.toml puts tests/ on sys.path)."""
