"""Web4 Runtime: secure, peer-to-peer runtime for local cognitive agents.

Public API. Subsystems live in their own packages (``web4.envelope``, ``web4.rtt``,
``web4.cip``, ...); the names most programs need are re-exported here.
"""

from web4 import errors
from web4.clock import Clock, FakeClock, Rng, SeededRng, SystemClock, SystemRng
from web4.envelope import canonicalize, sign_envelope, verify_envelope
from web4.identity import Identity

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "FakeClock",
    "Identity",
    "Rng",
    "SeededRng",
    "SystemClock",
    "SystemRng",
    "__version__",
    "canonicalize",
    "errors",
    "sign_envelope",
    "verify_envelope",
]
