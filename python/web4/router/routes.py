"""The routing matrix: every (protocol, message type) and where it goes.

Theory of operation: this table is the one place that says which part of the node
handles which message (brief §6). A *destination* is a name; the node binds each name
to a handler (``ProtocolRouter.bind``). Keeping the matrix as data makes it checkable:
a test asserts that every type each protocol declares has exactly one route here.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["DESTINATIONS", "ROUTES", "Destination", "Protocol"]

Protocol = Literal["cip", "hcp", "lip"]
Destination = Literal[
    "handshake",  # CIP HELLO: the handshake state machine (its VERIFY step feeds TrustFSM)
    "intent",  # CIP INTENT: the handshake's last step, then the agent loop
    "peer_state",  # CIP STATE_UPDATE: the agent's view of the peer's presence and load
    "knowledge",  # facts, confirmations, challenges, decisions, LIP evidence
    "human",  # HCP messages other than the intent: consent, pacing, decisions, feedback
    "agent",  # HCP_INTENT: the agent loop
    "lip",  # LIP fetch requests and claim outcomes
]

ROUTES: Final[dict[tuple[Protocol, str], Destination]] = {
    ("cip", "HELLO"): "handshake",
    ("cip", "INTENT"): "intent",
    ("cip", "STATE_UPDATE"): "peer_state",
    ("cip", "FACT_PROPOSE"): "knowledge",
    ("cip", "FACT_CHALLENGE"): "knowledge",
    ("cip", "FACT_CONFIRM"): "knowledge",
    ("cip", "FACT_REJECT"): "knowledge",
    ("cip", "DECISION_SHARE"): "knowledge",
    ("hcp", "HCP_HELLO"): "human",
    ("hcp", "HCP_INTENT"): "agent",
    ("hcp", "HCP_CONTEXT"): "human",
    ("hcp", "HCP_DECISION"): "human",
    ("hcp", "HCP_FEEDBACK"): "human",
    ("hcp", "HCP_STATE_UPDATE"): "human",
    ("lip", "LIP_FETCH"): "lip",
    ("lip", "LIP_EVIDENCE"): "knowledge",
    ("lip", "LIP_CONFLICT"): "lip",
    ("lip", "LIP_ACCEPT"): "lip",
    ("lip", "LIP_REJECT"): "lip",
}

DESTINATIONS: Final[frozenset[Destination]] = frozenset(ROUTES.values())
