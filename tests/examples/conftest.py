"""The example agents live in ``examples/`` (not an installed package): put that folder on
``sys.path`` so the tests import them as ``librarian`` and ``llm``, the names
``web4 node --agent`` is given when ``examples/`` is on ``PYTHONPATH``."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
