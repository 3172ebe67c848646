"""One HCP session (one human, this agent): validated envelopes in, verdicts and events out.

Theory of operation: this is the piece the node's router and agent loop call. It owns a
``HumanGate`` (consent, pacing, check-in; in memory: a session starts with
``HCP_HELLO``) and uses ``SocialTrust`` (persisted). ``receive`` takes an envelope that
already passed the generic validator with ``HCP_SPEC``, runs ``check_semantics``, feeds
the gate *before* returning (so a consent change rules the very next action), applies
the social-trust events, and returns frozen ``HcpEvent``s whose kinds match the
observability contract (``hcp.session_open``, ``hcp.intent``, ``hcp.consent_changed``)
plus ``hcp.social`` for social-trust steps. ``attempt`` wraps ``HumanGate.attempt``: a
consent refusal is persisted in ``hcp_refusals`` (with the action and the reason) before
``ConsentError`` propagates. Nothing here does network IO; time is passed in.
"""

from __future__ import annotations

from typing import Any

import msgspec

from web4.errors import ConsentError
from web4.hcp.gate import AgentAction, HumanGate, Verdict, topic_in_scope
from web4.hcp.messages import HcpEnvelope, HcpHello, HcpIntent, Payload, check_semantics
from web4.hcp.social import SocialState, SocialTrust, events_for
from web4.store import Migration, MigrationSet, Store

__all__ = ["MIGRATIONS", "HcpEvent", "HcpSession", "StoredRefusal"]

Attr = str | int | float | bool | None


class HcpEvent(msgspec.Struct, frozen=True):
    """Something the session observed; ``kind`` is an observability event kind."""

    kind: str
    attrs: dict[str, Attr]


class StoredRefusal(msgspec.Struct, frozen=True):
    human: str
    at: float
    kind: str
    topic: str | None
    consent: str
    reason: str


MIGRATIONS = MigrationSet(
    "hcp_session",
    (
        Migration(
            1,
            "consent refusals",
            (
                """CREATE TABLE hcp_refusals (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    human TEXT NOT NULL,
                    at REAL NOT NULL,
                    kind TEXT NOT NULL,
                    topic TEXT,
                    consent TEXT NOT NULL,
                    reason TEXT NOT NULL
                ) STRICT""",
            ),
        ),
    ),
)


class HcpSession:
    """The HCP session with the human whose key has fingerprint ``human``."""

    def __init__(self, store: Store, human: str, social: SocialTrust | None = None) -> None:
        """Applies the ``hcp_session`` (and social) migrations. Raises ``StoreError``."""
        self._store = store
        self.human = human
        self.gate = HumanGate()
        self.social = social or SocialTrust(store)
        store.migrate(MIGRATIONS)

    @property
    def social_state(self) -> SocialState:
        return self.social.state_of(self.human)

    def receive(self, env: HcpEnvelope[Any], now: float) -> list[HcpEvent]:
        """Apply one validated inbound envelope.

        Raises ``PayloadSchemaError`` (``check_semantics``), ``HandshakeError`` for a
        message before ``HCP_HELLO``, ``StoreError``.
        """
        check_semantics(env)
        payload: Payload = env.payload
        human = env.state.human
        previous = self.gate.state
        self.gate.observe(env.type, human, payload)
        current = self.gate.state
        assert current is not None
        out: list[HcpEvent] = []
        if isinstance(payload, HcpHello):
            out.append(
                HcpEvent(
                    "hcp.session_open",
                    {
                        "name": payload.identity.name,
                        "role": payload.identity.role,
                        "scope": " ".join(payload.consent_scope),
                        "safety_flags": " ".join(payload.safety_flags),
                        "consent": current.consent,
                    },
                )
            )
        if previous is not None and previous.consent != current.consent:
            changed = {"consent": current.consent, "was": previous.consent}
            out.append(HcpEvent("hcp.consent_changed", dict[str, Attr](changed)))
        if isinstance(payload, HcpIntent):
            in_scope = current.consent == "granted" or (
                current.consent == "limited" and topic_in_scope(payload.topic, self.gate.scope)
            )
            out.append(
                HcpEvent(
                    "hcp.intent",
                    {
                        "goal": payload.goal,
                        "topic": payload.topic,
                        "priority": payload.priority,
                        "actionable": in_scope,
                    },
                )
            )
        # The envelope passed signature verification, so a HELLO here is verified.
        for ev in events_for(previous, current, payload, verified=True):
            step = self.social.apply(self.human, ev, now=now, cause=f"{env.type} {env.msg_id}")
            out.append(
                HcpEvent(
                    "hcp.social",
                    {"from": step.src.value, "event": ev.value, "to": step.dst.value,
                     "note": step.note},
                )
            )  # fmt: skip
        return out

    def attempt(self, action: AgentAction, now: float) -> Verdict:
        """``HumanGate.attempt``, with consent refusals persisted.

        Raises ``ConsentError`` (after storing the refusal), ``HandshakeError`` before
        ``HCP_HELLO``, ``StoreError``.
        """
        try:
            return self.gate.attempt(action, now)
        except ConsentError as e:
            consent = self.gate.state.consent if self.gate.state is not None else "unknown"
            with self._store.transaction():
                self._store.execute(
                    "INSERT INTO hcp_refusals (human, at, kind, topic, consent, reason) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self.human, now, action.kind, action.topic, consent, str(e)),
                )
            raise

    def refusals(self, limit: int = 1000) -> list[StoredRefusal]:
        """The most recent persisted refusals for this human, oldest first (at most
        ``limit``). Raises ``StoreError``."""
        rows = self._store.query(
            "SELECT human, at, kind, topic, consent, reason FROM (SELECT * FROM hcp_refusals "
            "WHERE human = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
            (self.human, limit),
        )
        return [
            StoredRefusal(str(r[0]), float(r[1]), str(r[2]), r[3], str(r[4]), str(r[5]))
            for r in rows
        ]
