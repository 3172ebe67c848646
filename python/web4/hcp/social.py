"""HCP social trust: how far the agent trusts a human's guidance, persisted and audited.

Theory of operation: the machine is a ``web4.fsm.TransitionTable`` (the mechanism the
CIP TrustFSM, LIP claims and the CIP handshake share), one row per rule, in
``SOCIAL_TABLE`` below; the spec's table is generated from it
(``SOCIAL_TABLE.to_markdown()``). States: ``untrusted`` (initial), ``probing``,
``trusted``, ``restricted``. Events come from validated inbound messages through
``events_for`` (pure):

- ``hello_verified``: a signed, validated ``HCP_HELLO``;
- ``positive_feedback``: ``HCP_FEEDBACK`` with satisfaction >= 70 and no corrections;
- ``misunderstanding``: ``HCP_FEEDBACK`` with corrections or satisfaction < 40;
- ``consent_revoked`` / ``consent_restored``: the consent in ``state.human`` changes to
  ``revoked`` / from ``revoked`` to something else.

"Mutual validation" = the human's identity verified (probing) and two positive feedbacks
in a row; "repeated misunderstanding" = two misunderstandings in a row (a positive
feedback resets the count, and so does every state change). ``SocialTrust`` keeps one row
per human (by fingerprint) in the store and appends every evaluated event, changed or
not, with its cause, to ``hcp_social_audit`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from web4.fsm import Rule, Step, TransitionTable
from web4.hcp.messages import HcpFeedback, HcpHello, HumanState, Payload
from web4.store import Migration, MigrationSet, Store

__all__ = [
    "MIGRATIONS",
    "SOCIAL_TABLE",
    "AuditEntry",
    "SocialCtx",
    "SocialEvent",
    "SocialState",
    "SocialTrust",
    "events_for",
]

POSITIVE_AT = 70  # satisfaction at or above this, without corrections, is positive
NEGATIVE_BELOW = 40  # satisfaction below this is a misunderstanding
REPEAT = 2  # "two in a row"


class SocialState(StrEnum):
    UNTRUSTED = "untrusted"
    PROBING = "probing"
    TRUSTED = "trusted"
    RESTRICTED = "restricted"


class SocialEvent(StrEnum):
    HELLO_VERIFIED = "hello_verified"
    POSITIVE_FEEDBACK = "positive_feedback"
    MISUNDERSTANDING = "misunderstanding"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_RESTORED = "consent_restored"


@dataclass(frozen=True, slots=True)
class SocialCtx:
    positives: int = 0
    misunderstandings: int = 0


def _positive_enough(c: SocialCtx) -> bool:
    return c.positives + 1 >= REPEAT


def _repeated(c: SocialCtx) -> bool:
    return c.misunderstandings + 1 >= REPEAT


def _reset(c: SocialCtx) -> SocialCtx:
    return SocialCtx()


def _count_positive(c: SocialCtx) -> SocialCtx:
    return SocialCtx(positives=c.positives + 1, misunderstandings=0)


def _count_misunderstanding(c: SocialCtx) -> SocialCtx:
    return SocialCtx(positives=0, misunderstandings=c.misunderstandings + 1)


S, E = SocialState, SocialEvent
R = Rule[SocialState, SocialEvent, SocialCtx]
_REVOKE_NOTE = "consent revoked: the agent takes no guidance-driven action"

SOCIAL_TABLE: TransitionTable[SocialState, SocialEvent, SocialCtx] = TransitionTable(
    "hcp-social-trust",
    list(SocialState),
    list(SocialEvent),
    [
        R(S.UNTRUSTED, E.HELLO_VERIFIED, S.PROBING, "identity verified by a signed HCP_HELLO",
          effect=_reset),
        R(S.PROBING, E.POSITIVE_FEEDBACK, S.TRUSTED, "mutual validation",
          guard=_positive_enough, guard_text=f"{REPEAT} positive in a row", effect=_reset),
        R(S.PROBING, E.POSITIVE_FEEDBACK, S.PROBING, "positive feedback counted",
          effect=_count_positive),
        R(S.PROBING, E.MISUNDERSTANDING, S.PROBING, "misunderstanding counted",
          effect=_count_misunderstanding),
        R(S.TRUSTED, E.POSITIVE_FEEDBACK, S.TRUSTED, "positive feedback: count reset",
          effect=_reset),
        R(S.TRUSTED, E.MISUNDERSTANDING, S.PROBING, "repeated misunderstanding: re-validate",
          guard=_repeated, guard_text=f"{REPEAT} in a row", effect=_reset),
        R(S.TRUSTED, E.MISUNDERSTANDING, S.TRUSTED, "misunderstanding counted",
          effect=_count_misunderstanding),
        R(S.UNTRUSTED, E.CONSENT_REVOKED, S.RESTRICTED, _REVOKE_NOTE, effect=_reset),
        R(S.PROBING, E.CONSENT_REVOKED, S.RESTRICTED, _REVOKE_NOTE, effect=_reset),
        R(S.TRUSTED, E.CONSENT_REVOKED, S.RESTRICTED, _REVOKE_NOTE, effect=_reset),
        R(S.RESTRICTED, E.CONSENT_RESTORED, S.PROBING, "consent restored: re-validate",
          effect=_reset),
    ],
)  # fmt: skip


def events_for(
    previous: HumanState | None, current: HumanState, payload: Payload, *, verified: bool
) -> list[SocialEvent]:
    """The social events one validated inbound message produces, in order: a consent
    change first (it rules everything after it), then the payload's own event."""
    out: list[SocialEvent] = []
    before = previous.consent if previous is not None else "granted"
    if current.consent == "revoked" and before != "revoked":
        out.append(E.CONSENT_REVOKED)
    elif current.consent != "revoked" and before == "revoked":
        out.append(E.CONSENT_RESTORED)
    if isinstance(payload, HcpHello) and verified:
        out.append(E.HELLO_VERIFIED)
    elif isinstance(payload, HcpFeedback):
        if payload.corrections or payload.satisfaction < NEGATIVE_BELOW:
            out.append(E.MISUNDERSTANDING)
        elif payload.satisfaction >= POSITIVE_AT:
            out.append(E.POSITIVE_FEEDBACK)
    return out


@dataclass(frozen=True, slots=True)
class AuditEntry:
    human: str
    at: float
    src: str
    event: str
    dst: str
    note: str
    cause: str


MIGRATIONS = MigrationSet(
    "hcp_social",
    (
        Migration(
            1,
            "social trust per human, and its audit log",
            (
                """CREATE TABLE hcp_social_humans (
                    human TEXT PRIMARY KEY,
                    state TEXT NOT NULL,
                    positives INTEGER NOT NULL,
                    misunderstandings INTEGER NOT NULL,
                    updated_at REAL NOT NULL
                ) STRICT""",
                """CREATE TABLE hcp_social_audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    human TEXT NOT NULL,
                    at REAL NOT NULL,
                    src TEXT NOT NULL,
                    event TEXT NOT NULL,
                    dst TEXT NOT NULL,
                    note TEXT NOT NULL,
                    cause TEXT NOT NULL
                ) STRICT""",
            ),
        ),
    ),
)


class SocialTrust:
    """Social trust of every human this node talks to, in ``store``."""

    def __init__(self, store: Store) -> None:
        """Applies the ``hcp_social`` migrations. Raises ``StoreError``."""
        self._store = store
        store.migrate(MIGRATIONS)

    def _load(self, human: str) -> tuple[SocialState, SocialCtx]:
        row = self._store.query_one(
            "SELECT state, positives, misunderstandings FROM hcp_social_humans WHERE human = ?",
            (human,),
        )
        if row is None:
            return SocialState.UNTRUSTED, SocialCtx()
        return SocialState(row[0]), SocialCtx(int(row[1]), int(row[2]))

    def state_of(self, human: str) -> SocialState:
        """The current state (``untrusted`` for a human never seen). Raises ``StoreError``."""
        return self._load(human)[0]

    def apply(
        self, human: str, event: SocialEvent, *, now: float, cause: str
    ) -> Step[SocialState, SocialEvent, SocialCtx]:
        """Evaluate ``event`` for ``human``, persist the result and audit it, atomically.
        Raises ``StoreError``."""
        with self._store.transaction():
            state, ctx = self._load(human)
            step = SOCIAL_TABLE.step(state, event, ctx)
            self._store.execute(
                "INSERT INTO hcp_social_humans VALUES (?, ?, ?, ?, ?) ON CONFLICT(human) DO "
                "UPDATE SET state = excluded.state, positives = excluded.positives, "
                "misunderstandings = excluded.misunderstandings, updated_at = excluded.updated_at",
                (human, step.dst.value, step.ctx.positives, step.ctx.misunderstandings, now),
            )
            self._store.execute(
                "INSERT INTO hcp_social_audit (human, at, src, event, dst, note, cause) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (human, now, step.src.value, event.value, step.dst.value, step.note, cause),
            )
        return step

    def audit(self, human: str) -> list[AuditEntry]:
        """Every evaluated event for ``human``, oldest first. Raises ``StoreError``."""
        rows = self._store.query(
            "SELECT human, at, src, event, dst, note, cause FROM hcp_social_audit "
            "WHERE human = ? ORDER BY id",
            (human,),
        )
        return [AuditEntry(*(r[0], float(r[1]), *r[2:])) for r in rows]
