"""What the agent says back to a human, and the order in which it may say it.

Theory of operation: pure and deterministic (no IO, time passed in). ``plan_for`` maps one
validated inbound HCP message to at most one ``Planned`` agent action (HCP_SPEC.md §7):

- ``HCP_HELLO``: a reply acknowledging the session (no topic, so ``limited`` consent
  refuses it: a topic-less action is not covered by a scope);
- ``HCP_INTENT``: goal ``decide``/``resolve_conflict`` -> a decision with rationale and
  alternatives; ``clarify`` -> a question; other goals -> a reply; all on the intent's
  topic;
- ``HCP_CONTEXT``/``HCP_FEEDBACK``/``HCP_DECISION`` -> a reply on the current topic;
- ``HCP_STATE_UPDATE`` -> nothing (the state itself is what changes).

``Agenda`` holds the planned actions of one human session in order (bounded: the oldest
is dropped beyond ``MAX_PENDING``) and ``drain`` asks the gate about each in turn:
``proceed`` sends it; a consent refusal drops it (the refusal is recorded by
``HcpSession.attempt``); ``defer`` until the human's state changes keeps it and goes on
with the next one (a deferred proposal in slow mode does not block a question); a timed
``defer`` (pacing interval) keeps it and stops (``not_before`` says when to retry);
``check_in`` sends the check-in question instead and stops (everything waits for the
human's answer).
A session whose consent is ``revoked`` thus ends every planned action without sending.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from web4.errors import ConsentError
from web4.hcp.gate import ActionKind, AgentAction, Verdict
from web4.hcp.messages import (
    HcpContext,
    HcpDecision,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HumanState,
    Payload,
)

__all__ = ["MAX_PENDING", "Agenda", "Outcome", "Planned", "check_in_for", "plan_for"]

MAX_PENDING = 8


@dataclass(frozen=True, slots=True)
class Planned:
    """An agent action and the words it carries."""

    kind: ActionKind
    topic: str | None
    text: str
    rationale: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def action(self) -> AgentAction:
        return AgentAction(self.kind, self.topic)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``drain`` did with one planned action: ``sent``, ``deferred`` or ``refused``."""

    what: str
    planned: Planned
    reason: str
    not_before: float | None = None


def _short(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def plan_for(payload: Payload, topic: str | None) -> Planned | None:
    """The agent's planned answer to one inbound payload (``topic``: the human's current
    topic, from the latest ``HCP_INTENT``)."""
    if isinstance(payload, HcpHello):
        who = payload.identity.name
        scope = ", ".join(payload.consent_scope) or "everything"
        return Planned("reply", None, f"Hello {who}. Session open; consent scope: {scope}.")
    if isinstance(payload, HcpIntent):
        t = payload.topic
        if payload.goal in ("decide", "resolve_conflict"):
            return Planned(
                "decision",
                t,
                f"Take the next step on {t} now, in one small reversible change",
                rationale=(
                    f"you asked me to {payload.goal.replace('_', ' ')} on {t} with "
                    f"{payload.priority} priority; a small reversible step keeps your "
                    "options open and shows quickly whether it works"
                ),
                alternatives=(
                    f"postpone {t} until you have more information",
                    f"ask a trusted peer agent to review {t} first",
                ),
            )
        if payload.goal == "clarify":
            return Planned("question", t, f"What is unclear about {t}: the goal, or the next step?")
        return Planned("reply", t, f"Understood: {payload.goal} on {t} ({payload.priority}).")
    if isinstance(payload, HcpContext):
        return Planned("reply", topic, f"Noted: {_short(payload.context)}")
    if isinstance(payload, HcpFeedback):
        fix = f"; corrections noted: {len(payload.corrections)}" if payload.corrections else ""
        return Planned("reply", topic, f"Thank you (satisfaction {payload.satisfaction}){fix}.")
    if isinstance(payload, HcpDecision):
        return Planned("reply", topic, f"Your decision is recorded: {_short(payload.decision)}")
    return None


def check_in_for(state: HumanState, topic: str | None) -> Planned:
    """The explicit check-in question asked before acting while affect is tense/anxious."""
    about = f" on {topic}" if topic else ""
    return Planned(
        "check_in",
        topic,
        f"Check-in: you seem {state.affect}. Before I act{about}, is now a good time, "
        "and what matters most to you?",
    )


@dataclass
class Agenda:
    """The planned actions of one human session, in order (see the module docstring)."""

    items: deque[Planned] = field(default_factory=lambda: deque(maxlen=MAX_PENDING))
    not_before: float | None = None  # retry time of a timed deferral of the head

    def add(self, planned: Planned | None) -> None:
        if planned is not None:
            self.items.append(planned)

    def clear(self) -> None:
        self.items.clear()
        self.not_before = None

    def due(self, now: float) -> bool:
        """Whether a timed deferral has expired (the head may be retried now)."""
        return bool(self.items) and self.not_before is not None and now >= self.not_before

    def drain(
        self,
        attempt: Callable[[AgentAction, float], Verdict],
        state: HumanState,
        now: float,
    ) -> list[Outcome]:
        """Ask the gate about the head until it does not proceed; returns what happened,
        in order (``sent`` items must be sent by the caller, in that order). Raises
        ``HandshakeError`` before ``HCP_HELLO``, ``StoreError`` (refusal not stored)."""
        out: list[Outcome] = []
        self.not_before = None
        kept: deque[Planned] = deque(maxlen=MAX_PENDING)
        while self.items:
            head = self.items.popleft()
            try:
                verdict = attempt(head.action, now)
            except ConsentError as e:
                out.append(Outcome("refused", head, str(e)))
                continue
            if verdict.outcome == "proceed":
                out.append(Outcome("sent", head, verdict.reason))
                continue
            if verdict.outcome == "defer" and verdict.not_before is None:
                kept.append(head)  # waits for a state change; later actions may still go
                out.append(Outcome("deferred", head, verdict.reason))
                continue
            self.items.appendleft(head)
            if verdict.outcome == "check_in":
                ask = check_in_for(state, head.topic)
                second = attempt(ask.action, now)  # check-ins pass consent and scope
                if second.outcome == "proceed":
                    out.append(Outcome("sent", ask, verdict.reason))
                else:
                    self.not_before = second.not_before
                    out.append(Outcome("deferred", ask, second.reason, second.not_before))
                break
            self.not_before = verdict.not_before
            out.append(Outcome("deferred", head, verdict.reason, verdict.not_before))
            break
        kept.extend(self.items)
        self.items = kept
        return out
