"""A CIP peer as the original specification describes it (test helper, no IO).

Theory of operation: ``OriginalPeer`` builds signed CIP envelopes in the shapes of the
original specification (``original-shapes.md`` of the issue-16 brief): RFC 3339 timestamps
without fractional seconds, payloads exactly as the original's examples, no member this
runtime added (no ``challenge_response`` in its first HELLO, no ``claim_hash``), signed
over RFC 8785 with Ed25519. It follows the original two-HELLO handshake: as initiator it
sends HELLO, and on the other side's HELLO it sends STATE_UPDATE and INTENT, never a third
HELLO; as responder it answers a HELLO with its own HELLO (optionally with the original's
proof, a signature over the bare challenge) and a STATE_UPDATE. Randomness comes from a
seed and time from the caller, so the unit tests stay deterministic; the integration test
drives the same object over a real RTT session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

from web4.envelope.crypto import canonicalize, sign_envelope
from web4.identity import Identity

__all__ = ["OriginalPeer", "rfc3339"]


def rfc3339(t: float) -> str:
    """``t`` as the original's ``date-time``, whole seconds, ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class OriginalPeer:
    """One original-style CIP peer talking to the node ``node_fp``."""

    def __init__(
        self, identity: Identity, node_fp: str, *, seed: int = 7, send_pubkey: bool = True
    ) -> None:
        self.identity, self.node_fp, self.send_pubkey = identity, node_fp, send_pubkey
        self._seed, self._n = seed, 0
        self.nonce = self._bytes(16)
        self.challenge = self._bytes(32)
        self.sent_intent: str | None = None

    def _bytes(self, n: int) -> bytes:
        self._n += 1
        digest = hashlib.sha512(f"original {self._seed} {self._n}".encode()).digest()
        return digest[:n]

    def _msg_id(self) -> str:
        return str(uuid.UUID(bytes=self._bytes(16), version=4))

    def envelope(self, msg_type: str, payload: dict[str, Any], now: float) -> dict[str, Any]:
        """A signed envelope of ``msg_type``; ``trust`` and ``state`` as the original's
        examples carry them."""
        sender: dict[str, Any] = {
            "agent_id": self.identity.agent_id,
            "fingerprint": self.identity.fingerprint,
            "capabilities": ["state_exchange", "knowledge_exchange"],
        }
        if self.send_pubkey:
            sender["pubkey"] = base64.b64encode(self.identity.public_key).decode()
        env = {
            "cip": "1.0",
            "msg_id": self._msg_id(),
            "type": msg_type,
            "timestamp": rfc3339(now),
            "sender": sender,
            "receiver": {"agent_id": self.node_fp[:16], "fingerprint": self.node_fp},
            "trust": {"sender_view": "probing", "receiver_view": "unknown"},
            "state": {"presence": "focused", "lri": 20, "kernel_signals": []},
            "payload": payload,
        }
        return sign_envelope(env, self.identity)

    def hello(self, now: float, response: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "protocols": ["cip/1.0"],
            "capabilities": ["state_exchange", "knowledge_exchange"],
            "session_nonce": base64.b64encode(self.nonce).decode(),
            "challenge": base64.b64encode(self.challenge).decode(),
            "features": {"supports_mesh": False, "supports_multiplex": True},
        }
        if response is not None:
            payload["challenge_response"] = response
        return self.envelope("HELLO", payload, now)

    def bare_proof(self, their_hello: dict[str, Any]) -> str:
        """The original's proof: a signature over the other side's bare challenge."""
        challenge = base64.b64decode(their_hello["payload"]["challenge"])
        return base64.b64encode(self.identity.sign(challenge)).decode()

    def state_update(self, now: float, presence: str = "focused") -> dict[str, Any]:
        payload = {
            "presence": presence,
            "lri": 20,
            "ltppeerstate": "probing",
            "kernel_signals": [],
            "intent": "learn",
        }
        return self.envelope("STATE_UPDATE", payload, now)

    def intent(self, now: float) -> dict[str, Any]:
        payload = {
            "goal": "learn",
            "topic": "boiling point",
            "priority": "normal",
            "context": "an original-spec peer",
        }
        env = self.envelope("INTENT", payload, now)
        self.sent_intent = env["msg_id"]
        return env

    def fact_propose(self, now: float, statement: str) -> dict[str, Any]:
        payload = {
            "fact": {
                "statement": statement,
                "domain": "physics",
                "confidence": 0.9,
                "sources": ["textbook"],
                "context": "sea level",
            },
            "dmp_trace": {
                "decision_id": self._msg_id(),
                "steps": ["read the textbook"],
                "counterfactuals": [],
                "evidence": ["textbook"],
            },
            "causal_links": [],
        }
        return self.envelope("FACT_PROPOSE", payload, now)

    @staticmethod
    def wire(env: dict[str, Any]) -> bytes:
        return canonicalize(env)

    @staticmethod
    def parse(data: bytes) -> dict[str, Any]:
        out = json.loads(data)
        assert isinstance(out, dict)
        return out
