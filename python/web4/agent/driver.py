"""The driver: runs an Agent API agent (``web4.agent.api``) inside the ``AgentLoop``.

Theory of operation: ``HandlerCycle`` is the loop's cycle agent (``CycleAgent``) for any
handler-style agent, so the loop's mission, presence/LRI, drift scoring and deadlines
stay as they are. Per item:

* ``gather_context`` turns what the node offered into the event view (``FactProposed``
  from a routed ``FACT_PROPOSE``, ``ClaimSettled`` from ``KnowledgeAccepted``, ...;
  views the node builds itself pass through);
* ``decide`` calls the agent's handler for that event with a fresh ``AgentContext``
  (under the loop's hook deadline); no handler, or no action taken: no decision;
  otherwise the decision names every action (scored against the mission);
* ``act`` performs the queued actions in order through the node's ``perform`` port
  (under ``AgentLoopConfig.act_timeout``); a failed action is reported and the next
  one still runs;
* ``record`` is the usual DMP trace; ``update_state`` returns the intent the agent
  chose (``ctx.send_intent``), which the loop adopts and announces.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import msgspec

from web4.agent.api import (
    HANDLERS,
    Action,
    AgentContext,
    AgentEvent,
    AgentLike,
    AgentPorts,
    ClaimSettled,
    DecisionShared,
    FactProposed,
    IntentReceived,
    StateReceived,
)
from web4.agent.hooks import trace_of
from web4.agent.types import (
    ActionResult,
    Context,
    Decision,
    DecisionRecord,
    InboundMessage,
    Intent,
    KnowledgeAccepted,
    intent_text,
)
from web4.cip import messages as cm
from web4.cip.claims import claim_hash
from web4.errors import Web4Error

__all__ = ["HandlerCycle", "Perform", "event_of"]

Perform = Callable[[Action], Awaitable[str]]

_CIP: Mapping[str, tuple[type[Any], type[Any]]] = MappingProxyType(
    {
        "INTENT": (IntentReceived, cm.Intent),
        "STATE_UPDATE": (StateReceived, cm.StateUpdate),
        "DECISION_SHARE": (DecisionShared, cm.DecisionShare),
    }
)


def event_of(item: object, ports: AgentPorts) -> AgentEvent | None:
    """The event view of an inbox item (None: nothing an agent handles). Raises
    ``msgspec.ValidationError`` for a payload that is not its type's (the router
    validated it, so only a node bug gets here)."""
    if isinstance(item, tuple(HANDLERS)):
        return item  # type: ignore[return-value]
    if isinstance(item, KnowledgeAccepted):
        claim = ports.claim(item.claim_id)
        if claim is None:
            return None
        return ClaimSettled(item.claim_id, "accepted", claim.reason, claim, item.confirmed_by)
    if not isinstance(item, InboundMessage) or item.protocol != "cip":
        return None
    if item.type == "FACT_PROPOSE":
        payload = msgspec.convert(dict(item.payload), cm.FactPropose)
        return FactProposed(item.peer, item.msg_id or "", claim_hash(item.peer, payload), payload)
    known = _CIP.get(item.type)
    if known is None:
        return None
    view, cls = known
    return view(item.peer, item.msg_id, msgspec.convert(dict(item.payload), cls))  # type: ignore[no-any-return]


class HandlerCycle:
    """The loop's cycle agent around a handler-style agent (see the module docstring)."""

    def __init__(self, agent: AgentLike, ports: AgentPorts, perform: Perform) -> None:
        self.agent = agent
        self.mission = agent.mission
        self._ports = ports
        self._perform = perform
        self._actions: list[Action] = []
        self._intent: Intent | None = None

    def gather_context(self, item: Any, base: Context) -> Context:
        event = event_of(item, self._ports)
        facts = {} if event is None else {"event": event}
        return replace(base, facts=MappingProxyType(facts))

    async def decide(self, context: Context) -> Decision | None:
        self._actions, self._intent = [], None
        event = context.facts.get("event")
        if event is None:
            return None
        name = HANDLERS[type(event)]
        handler = getattr(self.agent, name, None)
        if handler is None:
            return None
        ctx = AgentContext(
            self._ports,
            mission=context.mission,
            presence=context.presence,
            lri=context.lri,
            intent=context.intent,
            peers=context.peers,
            now=self._ports.now(),
        )
        result = handler(ctx, event)
        if inspect.isawaitable(result):
            await result
        if not ctx.actions:
            return None
        for action in ctx.actions:
            if action.kind == "intent":
                self._intent = action.payload
        self._actions = [a for a in ctx.actions if a.kind != "intent"]
        peer = getattr(event, "peer", "?")
        return Decision(
            choice="; ".join(a.note for a in ctx.actions)[:1000],
            steps=(f"{name} on {type(event).__name__} from {str(peer)[:16]}",),
            counterfactuals=("take no action",),
            evidence=(f"{type(event).__name__} {getattr(event, 'msg_id', '')}",),
        )

    async def act(self, decision: Decision, context: Context) -> ActionResult:
        outcomes = []
        for action in self._actions:
            try:
                outcomes.append(await self._perform(action))
            except Web4Error as e:  # reported by the node; the next action still runs
                outcomes.append(f"{action.kind} failed: {type(e).__name__}")
        if self._intent is not None:
            outcomes.append(f"intent {intent_text(self._intent)}")
        return ActionResult("; ".join(outcomes)[:1000] or "no action")

    def record(self, decision: Decision, result: ActionResult, context: Context) -> DecisionRecord:
        return trace_of(decision, result, context)

    def update_state(
        self, decision: Decision, result: ActionResult, context: Context
    ) -> Intent | None:
        return self._intent
