"""ProtocolRouter: (protocol, type) -> handler, behind validation and a trust gate."""

from web4.router.router import Emit, Fault, Inbound, ProtocolRouter, RouteResult
from web4.router.routes import DESTINATIONS, ROUTES, Destination
from web4.router.throttle import ThrottleConfig, TokenBuckets

__all__ = [
    "DESTINATIONS",
    "ROUTES",
    "Destination",
    "Emit",
    "Fault",
    "Inbound",
    "ProtocolRouter",
    "RouteResult",
    "ThrottleConfig",
    "TokenBuckets",
]
