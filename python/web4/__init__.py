"""Web4 Runtime: secure, peer-to-peer runtime for local cognitive agents.

Public API. Subsystems live in their own packages (``web4.envelope``, ``web4.rtt``,
``web4.cip``, ...); the names most programs need are re-exported here.
"""

from web4 import errors
from web4.clock import Clock, FakeClock, Rng, SeededRng, SystemClock, SystemRng
from web4.envelope import canonicalize, sign_envelope, verify_envelope
from web4.identity import Identity

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``web4.Node``, ``web4.NodeConfig`` and ``web4.Agent`` on first use (importing the
    node pulls in the transport, store and every protocol)."""
    if name in ("Node", "NodeConfig"):
        import web4.node

        return getattr(web4.node, name)
    if name == "Agent":
        import web4.agent

        return web4.agent.Agent
    raise AttributeError(f"module 'web4' has no attribute {name!r}")


__all__ = [  # noqa: RUF022 - the lazy names last
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
    "Agent",
    "Node",
    "NodeConfig",
]
