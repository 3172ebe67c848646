"""HCP consent, pacing and check-in gate: the pure core that rules every agent action.

Theory of operation (normative text in ``docs/HCP_SPEC.md`` §4 and §5): one ``HumanGate`` per
human session, single-threaded, no IO, time passed in. The node feeds it every validated
inbound HCP message (``observe``) and asks it before every automated action
(``attempt``). Because ``observe`` updates the human-state vector before it returns, and
``attempt`` reads only that state, a consent change takes effect on the very next
message, with no race.

``attempt`` evaluates, in this order:

1. consent: ``revoked`` refuses every action; ``limited`` refuses any action whose topic
   is outside ``consent_scope`` (check-ins carry no topic and are allowed). A refusal
   raises ``ConsentError`` and is recorded in ``refusals``.
2. check-in: affect ``anxious`` or ``tense`` makes a check-in the only allowed action,
   until the human answers it (any later human message is the answer). The requirement
   re-arms when affect changes to another value and back, or between the two.
   While a check-in is unanswered, every other action is deferred.
3. ``avoid_conflict`` flag: no unsolicited proposal or decision (deferred unless the
   human's latest ``HCP_INTENT`` goal is ``decide`` or ``resolve_conflict``).
4. slow mode (pressure >= 80, clarity <= 30, presence ``overloaded`` or the
   ``slow_pacing`` safety flag): no new proposals or decisions (deferred until the human
   state leaves slow mode), one question at a time (no question while another is
   unanswered) and at least ``SLOW_MIN_INTERVAL`` seconds between agent messages.
   ``task`` actions (no message to the human) are not paced.

Refusals are kept in a bounded in-memory log (``HcpSession`` also persists them).
A ``Verdict`` of ``proceed`` commits the action (it counts for pacing); ``defer`` and
``check_in`` commit nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from web4.errors import ConsentError, DecisionError, HandshakeError
from web4.hcp.messages import (
    HcpDecision,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanState,
    Payload,
)

__all__ = [
    "CLARITY_SLOW",
    "PRESSURE_SLOW",
    "SLOW_MIN_INTERVAL",
    "ActionKind",
    "AgentAction",
    "HumanGate",
    "Refusal",
    "Verdict",
    "check_decision",
    "topic_in_scope",
]

PRESSURE_SLOW = 80  # pressure at or above this is slow mode
CLARITY_SLOW = 30  # clarity at or below this is slow mode
SLOW_MIN_INTERVAL = 10.0  # seconds between two agent messages in slow mode
MAX_REFUSALS = 256  # refusals kept in memory (``HcpSession`` persists all of them)

ActionKind = Literal["reply", "question", "check_in", "proposal", "decision", "task"]
_QUESTIONS = frozenset({"question", "check_in"})
_NEW_WORK = frozenset({"proposal", "decision"})
_CHECK_IN_AFFECTS = frozenset({"anxious", "tense"})
_ASKED_FOR_DECISION = frozenset({"decide", "resolve_conflict"})


class AgentAction(msgspec.Struct, frozen=True):
    """Something the agent wants to do. ``task`` is automated work the human does not
    see directly (a fetch, a tool run); the others are messages to the human."""

    kind: ActionKind
    topic: str | None = None


class Verdict(msgspec.Struct, frozen=True):
    """``proceed``; ``defer`` (retry at ``not_before``, or when state changes if it is
    None); or ``check_in`` (send a check-in question first)."""

    outcome: Literal["proceed", "defer", "check_in"]
    reason: str
    not_before: float | None = None


class Refusal(msgspec.Struct, frozen=True):
    """A recorded consent refusal."""

    at: float
    action: AgentAction
    consent: str
    reason: str


def normalize_topic(topic: str) -> str:
    return "/".join(p for p in topic.strip().lower().split("/") if p)


def topic_in_scope(topic: str, scope: list[str] | tuple[str, ...]) -> bool:
    """``topic:work`` covers ``work`` and ``work/...`` but not ``workshop``.
    Topics compare case-insensitively, ignoring surrounding and repeated slashes."""
    t = normalize_topic(topic)
    for entry in scope:
        if not entry.startswith("topic:"):
            continue
        s = normalize_topic(entry[len("topic:") :])
        if s and (t == s or t.startswith(s + "/")):
            return True
    return False


def check_decision(decision: str, rationale: str, alternatives: list[str]) -> HcpDecision:
    """The payload of an agent's ``HCP_DECISION``. Raises ``DecisionError`` when the
    decision, its rationale or its alternatives are missing or blank."""
    if not decision.strip():
        raise DecisionError("HCP_DECISION needs a decision")
    if not rationale.strip():
        raise DecisionError("HCP_DECISION needs a rationale")
    alts = [a for a in alternatives if a.strip()]
    if not alts:
        raise DecisionError("HCP_DECISION needs at least one alternative")
    return HcpDecision(decision=decision, rationale=rationale, alternatives=alts, follow_up="")


@dataclass
class HumanGate:
    """Per-human session state and the rules over it (see the module docstring)."""

    state: HumanState | None = None
    scope: tuple[str, ...] = ()
    safety_flags: tuple[str, ...] = ()
    opened: bool = False
    awaiting_answer: Literal["question", "check_in"] | None = None
    check_in_done_for: str | None = None  # affect value whose check-in was answered
    last_sent: float | None = None
    last_goal: str | None = None  # goal of the human's latest HCP_INTENT
    refusals: deque[Refusal] = field(default_factory=lambda: deque(maxlen=MAX_REFUSALS))

    # --- inbound ------------------------------------------------------------------

    def observe(self, msg_type: str, human: HumanState, payload: Payload) -> None:
        """Apply a validated inbound message: state first, then the payload.

        Raises ``HandshakeError`` if the session was not opened with ``HCP_HELLO``.
        """
        if isinstance(payload, HcpHello):
            self.opened = True
            self.scope = tuple(payload.consent_scope)
            self.safety_flags = tuple(payload.safety_flags)
        elif not self.opened:
            raise HandshakeError(f"{msg_type} before HCP_HELLO: the session is not open")
        if isinstance(payload, HcpIntent):
            self.last_goal = payload.goal
        if isinstance(payload, HcpStateUpdate):
            human = HumanState(
                presence=payload.presence,
                affect=payload.affect,
                clarity=payload.clarity,
                pressure=payload.pressure,
                intent=human.intent,
                consent=payload.consent,
            )
        previous = self.state
        self.state = human
        if previous is None or previous.affect != human.affect:
            self.check_in_done_for = None  # a new affect value re-arms the check-in
        if self.awaiting_answer is not None and msg_type != "HCP_HELLO":
            if self.awaiting_answer == "check_in":
                self.check_in_done_for = human.affect
            self.awaiting_answer = None

    # --- derived facts --------------------------------------------------------------

    @property
    def slow(self) -> bool:
        h = self.state
        if h is None:
            return False
        return (
            h.pressure >= PRESSURE_SLOW
            or h.clarity <= CLARITY_SLOW
            or h.presence == "overloaded"
            or "slow_pacing" in self.safety_flags
        )

    @property
    def check_in_required(self) -> bool:
        h = self.state
        return (
            h is not None and h.affect in _CHECK_IN_AFFECTS and self.check_in_done_for != h.affect
        )

    # --- outbound -------------------------------------------------------------------

    def attempt(self, action: AgentAction, now: float) -> Verdict:
        """Decide whether ``action`` may happen now; a ``proceed`` verdict commits it.

        Raises ``ConsentError`` (after recording a ``Refusal``) when consent does not
        cover the action, and ``HandshakeError`` before ``HCP_HELLO``.
        """
        if not self.opened or self.state is None:
            raise HandshakeError("no HCP session: HCP_HELLO not received")
        self._check_consent(action, now)
        if self.awaiting_answer == "check_in":
            return Verdict("defer", "waiting for the human to answer the check-in")
        if self.check_in_required and action.kind != "check_in":
            return Verdict("check_in", f"affect is {self.state.affect}: check in first")
        if (
            action.kind in _NEW_WORK
            and "avoid_conflict" in self.safety_flags
            and self.last_goal not in _ASKED_FOR_DECISION
        ):
            return Verdict("defer", "avoid_conflict: no unsolicited proposal or decision")
        if self.slow:
            if action.kind in _NEW_WORK:
                return Verdict("defer", "slow mode: no new proposals or decisions")
            if action.kind in _QUESTIONS and self.awaiting_answer is not None:
                return Verdict("defer", "slow mode: one question at a time")
            if (
                action.kind != "task"
                and self.last_sent is not None
                and now - self.last_sent < SLOW_MIN_INTERVAL
            ):
                return Verdict(
                    "defer",
                    f"slow mode: at least {SLOW_MIN_INTERVAL:g}s between agent messages",
                    self.last_sent + SLOW_MIN_INTERVAL,
                )
        if action.kind != "task":
            self.last_sent = now
        if action.kind in _QUESTIONS:
            self.awaiting_answer = "check_in" if action.kind == "check_in" else "question"
        return Verdict("proceed", "allowed")

    def _check_consent(self, action: AgentAction, now: float) -> None:
        assert self.state is not None
        consent = self.state.consent
        reason: str | None = None
        if consent == "revoked":
            reason = "consent revoked: no automated action"
        elif consent == "limited" and action.kind != "check_in":
            if action.topic is None:
                reason = "consent limited: an action without a topic is not covered"
            elif not topic_in_scope(action.topic, self.scope):
                reason = f"consent limited: topic {action.topic!r} is outside {list(self.scope)}"
        if reason is not None:
            self.refusals.append(Refusal(now, action, consent, reason))
            raise ConsentError(reason)
