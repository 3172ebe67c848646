"""The Agent API: what an agent author writes against (``docs/AGENTS.md``).

Theory of operation: an agent is any object with a ``mission`` (one line: what it is
for; the loop scores its decisions against it for drift) and any of the handlers below.
Subclassing ``Agent`` gives every handler a no-op default; a plain class works too (a
missing handler means "not interested"). Each handler may be a plain function or
``async``; it runs inside the agent loop under a deadline (``handler_timeout``, default
10 s), one event at a time, and a handler that
raises or overruns is reported (``agent.hook_error``) and the loop goes on.

What reaches the agent (each a frozen view around the wire message it came in):

====================  =============================  ====================================
handler               event                          when
====================  =============================  ====================================
``on_fact_proposed``  ``FactProposed``               a peer proposed a fact (``FACT_PROPOSE``)
``on_vote``           ``Vote``                       a peer confirmed, rejected or
                                                     challenged a claim we hold
``on_claim_settled``  ``ClaimSettled``               a claim (ours or a peer's) was
                                                     accepted, disputed or rejected
``on_intent``         ``IntentReceived``             a peer declared its intent (``INTENT``)
``on_state``          ``StateReceived``              a peer's ``STATE_UPDATE``
``on_decision_shared`` ``DecisionShared``            a peer shared a decision (``DECISION_SHARE``)
``on_human``          ``HumanMessage``               an authorised human's HCP message,
                                                     with its consent and scope
``on_evidence``       ``EvidenceReceived``           a peer's LIP evidence (``LIP_EVIDENCE``)
====================  =============================  ====================================

Every handler is called as ``handler(ctx, event)``; ``ctx`` is an ``AgentContext``. Its
*actions* (``propose``, ``confirm``, ``challenge``, ``reject``, ``share_decision``,
``send_intent``, ``send_state``, ``reply``, ``ask``, ``decide``, ``fetch``) check their
arguments at once (``MessageBuildError``, ``DecisionError``) and are then carried out by
the node, in order, when the handler returns: through the same builders, signatures,
knowledge rules, HCP consent/pacing gate and LIP tier policy as everything else the node
does, so an agent cannot bypass them. Its *queries* (``trust``, ``claim``, ``claims``,
``memory``, ``traces``, ``peers``, ``peer_state``) read the node's store as it is now.
Each action the handler takes becomes part of the cycle's decision (``agent.decision``
event, DMP trace in causal memory, mission-drift score).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

import msgspec

from web4.agent.types import Intent, PeerState, Presence, check_intent, intent_text
from web4.cip import messages as cm
from web4.errors import MessageBuildError
from web4.hcp import messages as hm
from web4.hcp.builder import agent_payload
from web4.hcp.responder import Planned, plan_for
from web4.knowledge import Claim, ClaimState, MemoryNode, StoredTrace
from web4.lip import messages as lm

__all__ = [
    "HANDLERS",
    "Action",
    "Agent",
    "AgentContext",
    "AgentEvent",
    "AgentOptions",
    "AgentPorts",
    "ClaimSettled",
    "DecisionShared",
    "EvidenceReceived",
    "FactProposed",
    "HumanMessage",
    "IntentReceived",
    "StateReceived",
    "Vote",
]

T = TypeVar("T")
Maybe: TypeAlias = T | Awaitable[T]

# --- what reaches the agent -------------------------------------------------------------


@dataclass(frozen=True)
class FactProposed:
    """A peer's ``FACT_PROPOSE``: ``payload`` is the wire message as the peer signed it;
    ``claim_hash`` binds a vote to exactly this content (``web4.cip.claims``)."""

    peer: str
    msg_id: str
    claim_hash: str
    payload: cm.FactPropose

    @property
    def fact(self) -> cm.Fact:
        return self.payload.fact

    @property
    def statement(self) -> str:
        return self.payload.fact.statement

    @property
    def trace(self) -> cm.DmpTrace:
        return self.payload.dmp_trace


VoteKind = Literal["confirm", "reject", "challenge"]


@dataclass(frozen=True)
class Vote:
    """A peer's vote on a claim we hold, after the knowledge rules applied it.
    ``counts``: it counted towards acceptance (the voter was trusted before the claim
    arrived); ``claim_state``: the claim's state after it."""

    peer: str
    msg_id: str
    claim_id: str
    kind: VoteKind
    payload: cm.FactConfirm | cm.FactReject | cm.FactChallenge
    counts: bool
    claim_state: str


Settled = Literal["accepted", "disputed", "rejected"]


@dataclass(frozen=True)
class ClaimSettled:
    """A claim (ours or a peer's) reached ``accepted``, ``disputed`` or ``rejected``.
    ``claim`` is the stored claim; ``confirmed_by`` the counted confirmers."""

    claim_id: str
    state: Settled
    reason: str
    claim: Claim
    confirmed_by: tuple[str, ...] = ()

    # what the loop reads from any item
    @property
    def peer(self) -> str:
        return self.claim.sender

    @property
    def msg_id(self) -> str:
        return self.claim_id


@dataclass(frozen=True)
class IntentReceived:
    """A peer's ``INTENT``."""

    peer: str
    msg_id: str | None
    payload: cm.Intent


@dataclass(frozen=True)
class StateReceived:
    """A peer's ``STATE_UPDATE`` (the loop already keeps it: ``ctx.peer_state``)."""

    peer: str
    msg_id: str | None
    payload: cm.StateUpdate


@dataclass(frozen=True)
class DecisionShared:
    """A peer's ``DECISION_SHARE`` (its DMP trace is already in causal memory)."""

    peer: str
    msg_id: str | None
    payload: cm.DecisionShare


@dataclass(frozen=True)
class HumanMessage:
    """An HCP message from a human the operator authorised, after the consent gate saw
    it. ``consent`` (``granted``/``limited``/``revoked``) and ``scope`` are the human's
    current ones: a reply outside them is refused by the gate, so read them to decide
    what to offer. ``topic`` is the human's current topic (its last ``HCP_INTENT``)."""

    human: str  # the human's key fingerprint
    name: str
    msg_id: str
    type: str
    payload: hm.Payload
    state: hm.HumanState
    consent: str
    scope: tuple[str, ...]
    topic: str | None

    @property
    def peer(self) -> str:
        return self.human


@dataclass(frozen=True)
class EvidenceReceived:
    """A peer's ``LIP_EVIDENCE`` (the LIP queue already counted it as corroboration)."""

    peer: str
    msg_id: str
    payload: lm.LipEvidence
    source: lm.Source


AgentEvent: TypeAlias = (
    FactProposed
    | Vote
    | ClaimSettled
    | IntentReceived
    | StateReceived
    | DecisionShared
    | HumanMessage
    | EvidenceReceived
)

# event type -> handler name
HANDLERS: Mapping[type[Any], str] = MappingProxyType(
    {
        FactProposed: "on_fact_proposed",
        Vote: "on_vote",
        ClaimSettled: "on_claim_settled",
        IntentReceived: "on_intent",
        StateReceived: "on_state",
        DecisionShared: "on_decision_shared",
        HumanMessage: "on_human",
        EvidenceReceived: "on_evidence",
    }
)

# --- what the agent asks the node to do --------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One action, checked and queued by ``AgentContext``, performed by the node.

    ``kind`` says which; ``payload`` is the typed wire payload (``cm.FactPropose`` for
    ``propose``, ``cm.FactConfirm`` ... for votes, ``cm.DecisionShare``, ``Intent``,
    a ``web4.hcp.responder.Planned`` for a human); ``peer`` the recipient (None: every ready agent
    peer); ``msg_id`` the id it will carry (known before it is sent); ``note`` a line
    for the decision's trace."""

    kind: Literal["propose", "vote", "share_decision", "intent", "state", "human", "fetch"]
    note: str
    payload: Any = None
    peer: str | None = None
    msg_id: str | None = None
    topic: str | None = None  # the topic the human action is about (consent scope)


class AgentPorts(Protocol):
    """What the node gives every ``AgentContext`` (``web4.node.agent_ports.NodePorts``)."""

    @property
    def fingerprint(self) -> str: ...

    def new_msg_id(self) -> str: ...

    def now(self) -> float: ...

    def trust_of(self, peer: str) -> str: ...

    def claim(self, claim_id: str) -> Claim | None: ...

    def claims(self, state: ClaimState | None, limit: int) -> list[Claim]: ...

    def memory(self, limit: int) -> list[MemoryNode]: ...

    def traces(self, decision_id: str | None, limit: int) -> list[StoredTrace]: ...

    def agent_peers(self) -> list[str]: ...


def _texts(values: Sequence[str], what: str, *, limit: int = 4096) -> list[str]:
    if isinstance(values, str):
        raise MessageBuildError(f"{what}: a list of strings, not one string")
    out = [str(v) for v in values]
    if any(len(v) > limit for v in out):
        raise MessageBuildError(f"{what}: each at most {limit} characters")
    return out


def _convert(payload: dict[str, Any], cls: type[T], what: str) -> T:
    try:
        return msgspec.convert(payload, cls)
    except msgspec.ValidationError as e:
        raise MessageBuildError(f"{what}: {e}") from e


class AgentContext:
    """What a handler acts through and reads from (see the module docstring). One per
    event; its actions are performed when the handler returns."""

    def __init__(
        self,
        ports: AgentPorts,
        *,
        mission: str,
        presence: Presence,
        lri: int,
        intent: Intent | None,
        peers: Mapping[str, PeerState],
        now: float,
    ) -> None:
        self._ports = ports
        self.mission = mission
        self.presence: Presence = presence
        self.lri = lri
        self.intent = intent
        self.now = now
        self._peers = peers
        self.actions: list[Action] = []

    @property
    def me(self) -> str:
        """This node's fingerprint."""
        return self._ports.fingerprint

    # --- actions: knowledge ------------------------------------------------------------

    def propose(
        self,
        statement: str,
        *,
        sources: Sequence[str],
        steps: Sequence[str],
        domain: str = "general",
        confidence: float = 0.9,
        context: str = "",
        counterfactuals: Sequence[str] = (),
        evidence: Sequence[str] = (),
        causal_links: Sequence[str] = (),
    ) -> str:
        """Propose a fact to every ready peer, with its DMP reasoning trace (``steps``:
        how the agent reached it; ``sources``: where it comes from, also listed as
        evidence, which the knowledge rules require). Our own copy is judged by the same
        rules: it stays pending until two trusted peers confirm it. Returns the claim's
        msg_id. Raises ``MessageBuildError`` (no steps or sources, a broken limit)."""
        if not [s for s in steps if str(s).strip()]:
            raise MessageBuildError("propose: the DMP trace needs at least one step")
        src = _texts(sources, "propose: sources")
        if not [s for s in src if s.strip()]:
            raise MessageBuildError("propose: name at least one source")
        ev = _texts(evidence, "propose: evidence")
        trace = {
            "decision_id": self._ports.new_msg_id(),
            "steps": _texts(steps, "propose: steps"),
            "counterfactuals": _texts(counterfactuals, "propose: counterfactuals"),
            "evidence": [*src, *(e for e in ev if e not in src)],
        }
        fact = {
            "statement": statement,
            "domain": domain,
            "confidence": confidence,
            "sources": src,
            "context": context,
        }
        payload = _convert(
            {"fact": fact, "dmp_trace": trace, "causal_links": list(causal_links)},
            cm.FactPropose,
            "propose",
        )
        msg_id = self._ports.new_msg_id()
        self.actions.append(Action("propose", f"propose: {statement[:120]}", payload, None, msg_id))
        return msg_id

    def _ref(self, claim: FactProposed | str) -> tuple[str, str]:
        if isinstance(claim, FactProposed):
            return claim.msg_id, claim.claim_hash
        stored = self._ports.claim(claim)
        if stored is None or stored.claim_hash is None:
            raise MessageBuildError(f"no claim {claim!r} in this node's store")
        return stored.wire_msg_id or stored.msg_id, stored.claim_hash

    def _vote(self, kind: str, cls: type[Any], claim: FactProposed | str, **fields: Any) -> str:
        ref, digest = self._ref(claim)
        payload = _convert({"fact_ref": ref, "claim_hash": digest, **fields}, cls, kind)
        msg_id = self._ports.new_msg_id()
        self.actions.append(Action("vote", f"{kind} claim {ref}", payload, None, msg_id))
        return msg_id

    def confirm(
        self, claim: FactProposed | str, *, confidence: float = 0.9, notes: str = ""
    ) -> str:
        """Confirm a claim (the event, or a claim id from ``claims()``), to every ready
        peer. Returns the vote's msg_id. Raises ``MessageBuildError``."""
        return self._vote(
            "confirm",
            cm.FactConfirm,
            claim,
            decision="confirm",
            confidence=confidence,
            notes=notes,
        )

    def reject(self, claim: FactProposed | str, *, confidence: float = 0.9, notes: str = "") -> str:
        """Reject a claim (``FACT_REJECT``: the agent judges it false). Raises
        ``MessageBuildError``."""
        return self._vote(
            "reject", cm.FactReject, claim, decision="reject", confidence=confidence, notes=notes
        )

    def challenge(
        self,
        claim: FactProposed | str,
        *,
        reason: Literal["conflict", "insufficient_evidence", "cannot_verify"] = "conflict",
        notes: str = "",
    ) -> str:
        """Challenge a claim (``FACT_CHALLENGE``). Raises ``MessageBuildError``."""
        return self._vote("challenge", cm.FactChallenge, claim, reason=reason, notes=notes)

    def share_decision(
        self,
        choice: str,
        *,
        steps: Sequence[str],
        outcome: str = "",
        context: str = "",
        counterfactuals: Sequence[str] = (),
        evidence: Sequence[str] = (),
        retrospective: str = "",
        peer: str | None = None,
    ) -> str:
        """Share a decision and its DMP trace (``DECISION_SHARE``) with ``peer`` or every
        ready peer. Returns its msg_id. Raises ``MessageBuildError``."""
        if not [s for s in steps if str(s).strip()]:
            raise MessageBuildError("share_decision: the DMP trace needs at least one step")
        trace = {
            "decision_id": self._ports.new_msg_id(),
            "steps": _texts(steps, "share_decision: steps"),
            "counterfactuals": _texts(counterfactuals, "share_decision: counterfactuals"),
            "evidence": _texts(evidence, "share_decision: evidence"),
        }
        decision = {"choice": choice, "outcome": outcome, "context": context}
        payload = _convert(
            {"decision": decision, "dmp_trace": trace, "retrospective": retrospective},
            cm.DecisionShare,
            "share_decision",
        )
        msg_id = self._ports.new_msg_id()
        note = f"share decision: {choice[:120]}"
        self.actions.append(Action("share_decision", note, payload, peer, msg_id))
        return msg_id

    # --- actions: intent and state -----------------------------------------------------

    def send_intent(
        self,
        goal: Literal["verify_knowledge", "ask", "learn", "propose_solution", "test_hypothesis"],
        topic: str,
        *,
        priority: Literal["low", "normal", "high"] = "normal",
        context: str = "",
    ) -> None:
        """Adopt an intent and announce it (``INTENT``) to every ready peer; it is also
        scored against the mission. Raises ``ConfigError`` (bad goal, topic)."""
        intent = check_intent(Intent(goal, topic, priority, context))
        self.actions.append(Action("intent", f"intent: {intent_text(intent)}"[:200], intent))

    def send_state(self, *, peer: str | None = None) -> None:
        """Send our current ``STATE_UPDATE`` (presence, LRI, intent: what the loop
        measures, not what the agent says) now, to ``peer`` or every ready peer."""
        self.actions.append(Action("state", "send state", None, peer))

    # --- actions: humans (HCP; the consent and pacing gate decides when, or whether) ---

    def _human(
        self,
        to: HumanMessage,
        kind: Literal["reply", "question", "decision"],
        text: str,
        topic: str | None,
        rationale: str = "",
        alternatives: Sequence[str] = (),
    ) -> None:
        if not text.strip() or len(text) > 4096:
            raise MessageBuildError("a message to a human has 1..4096 characters")
        alts = tuple(_texts(alternatives, f"{kind}: alternatives"))
        agent_payload(kind, text, rationale=rationale, alternatives=alts)  # checks it now
        about = to.topic if topic is None else topic
        planned = Planned(kind, about, text, rationale, alts)
        note = f"{kind} to {to.name}: {text}"[:200]
        self.actions.append(Action("human", note, planned, to.human, topic=about))

    def reply(self, to: HumanMessage, text: str, *, topic: str | None = None) -> None:
        """Reply to a human, on ``topic`` (default: the human's current topic; a
        ``limited`` consent refuses anything outside its scope). Raises
        ``MessageBuildError`` (empty or too long)."""
        self._human(to, "reply", text, topic)

    def ask(self, to: HumanMessage, question: str, *, topic: str | None = None) -> None:
        """Ask a human a question (slow mode lets one wait at a time)."""
        self._human(to, "question", question, topic)

    def decide(
        self,
        to: HumanMessage,
        decision: str,
        *,
        rationale: str,
        alternatives: Sequence[str],
        topic: str | None = None,
    ) -> None:
        """Put a decision to a human, with why and what else could be done. Raises
        ``DecisionError`` (no rationale or alternatives)."""
        self._human(to, "decision", decision, topic, rationale, alternatives)

    def usual_answer(self, to: HumanMessage) -> None:
        """Answer ``to`` as the node always has (``web4.hcp.responder.plan_for``: a
        greeting, an acknowledgement, a decision on an intent, ...); nothing when there
        is nothing to say. For agents that only answer some messages themselves."""
        planned = plan_for(to.payload, to.topic)
        if planned is None:
            return
        if planned.kind == "decision":
            self.decide(
                to,
                planned.text,
                rationale=planned.rationale,
                alternatives=planned.alternatives,
                topic=planned.topic,
            )
        elif planned.kind == "question":
            self.ask(to, planned.text, topic=planned.topic)
        else:
            self.reply(to, planned.text, topic=planned.topic)

    # --- actions: the web (LIP) --------------------------------------------------------

    def fetch(self, url: str) -> None:
        """Learn from ``url`` through LIP: fetched under the node's tier policy and
        address checks, its claims queued until trusted peers corroborate them. Raises
        ``MessageBuildError`` for a URL that is not http(s)."""
        if not url.startswith(("http://", "https://")) or len(url) > 2048:
            raise MessageBuildError(f"fetch: {url[:80]!r} is not an http(s) URL")
        self.actions.append(Action("fetch", f"fetch {url[:180]}", url))

    # --- queries -----------------------------------------------------------------------

    def trust(self, peer: str) -> str:
        """Our trust state of ``peer``: unknown, probing, trusted, untrusted, blacklisted."""
        return self._ports.trust_of(peer)

    def claim(self, claim_id: str) -> Claim | None:
        return self._ports.claim(claim_id)

    def claims(self, state: ClaimState | str | None = "accepted", limit: int = 100) -> list[Claim]:
        """Stored claims in ``state`` (default accepted knowledge; None: all)."""
        st = ClaimState(state) if isinstance(state, str) else state
        return self._ports.claims(st, limit)

    def memory(self, limit: int = 100) -> list[MemoryNode]:
        """Causal memory: accepted claims, oldest first."""
        return self._ports.memory(limit)

    def traces(self, decision_id: str | None = None, limit: int = 100) -> list[StoredTrace]:
        """DMP traces in causal memory (ours and peers'), oldest first."""
        return self._ports.traces(decision_id, limit)

    def peers(self) -> list[str]:
        """Fingerprints of the agent peers whose handshake is done (humans excluded)."""
        return self._ports.agent_peers()

    def peer_state(self, peer: str) -> PeerState | None:
        """A peer's last ``STATE_UPDATE``, as the loop keeps it."""
        return self._peers.get(peer)


# --- the agent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentOptions:
    """What a factory (``web4 node --agent module:factory``) is called with: the
    operator's mission (``[agent] mission``), a private directory for the agent's own
    files, ``--believe`` statements, and ``--agent-opt KEY=VALUE`` / ``[agent.options]``."""

    mission: str = "exchange and verify knowledge with peers"
    data_dir: Path = Path(".")
    beliefs: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@runtime_checkable
class AgentLike(Protocol):
    """The least an agent is: a mission (handlers are optional)."""

    mission: str


class Agent:
    """Base class: override the handlers you need (sync or ``async``). ``mission`` is
    required; ``name`` shows in events; ``handler_timeout`` bounds each handler call."""

    mission: str = ""
    name: str = "agent"
    handler_timeout: float = 10.0

    def on_fact_proposed(self, ctx: AgentContext, proposal: FactProposed) -> Maybe[None]:
        return None

    def on_vote(self, ctx: AgentContext, vote: Vote) -> Maybe[None]:
        return None

    def on_claim_settled(self, ctx: AgentContext, settled: ClaimSettled) -> Maybe[None]:
        return None

    def on_intent(self, ctx: AgentContext, intent: IntentReceived) -> Maybe[None]:
        return None

    def on_state(self, ctx: AgentContext, state: StateReceived) -> Maybe[None]:
        return None

    def on_decision_shared(self, ctx: AgentContext, shared: DecisionShared) -> Maybe[None]:
        return None

    def on_human(self, ctx: AgentContext, message: HumanMessage) -> Maybe[None]:
        return None

    def on_evidence(self, ctx: AgentContext, evidence: EvidenceReceived) -> Maybe[None]:
        return None


Factory = Callable[..., AgentLike]
