"""The node's side of the Agent API: the queries an ``AgentContext`` reads and the
actions it queues, performed through the node's own paths.

Theory of operation: ``NodePorts`` answers the context's queries from the node's store
(trust book, knowledge exchange, causal memory) and the ready peers. ``perform`` carries
out one queued ``Action`` exactly as the node does its own work, so an agent gets no
other way out:

* ``propose``: our claim is stored and judged by the knowledge rules first (it waits
  for two trusted confirmations like any), then one ``FACT_PROPOSE`` with one msg_id is
  broadcast (``CipService.send``: schema, signature, per-peer envelope);
* ``vote``: recorded in our store first (a vote on a claim we do not hold is refused
  here and never sent; our own votes never count), then broadcast;
* ``share_decision``, ``state``: ``CipService.send`` / the state sender;
* ``human``: onto that human's agenda, drained through the HCP consent / pacing /
  check-in gate (``HcpLipRuntime.say``);
* ``fetch``: ``HcpLipRuntime.learn`` (LIP queue, tiers, address checks).

A failed action is an ``error`` event (``source="agent"``) and the ``Web4Error`` goes back
to the driver, which goes on with the next action.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from web4.agent import Action, AgentLoop
from web4.cip import new_msg_id
from web4.cip.service import CipService
from web4.clock import Clock, Rng
from web4.errors import MessageBuildError, Web4Error
from web4.hcp.runtime import HcpLipRuntime
from web4.knowledge import CausalLink, Claim, ClaimState, KnowledgeExchange, MemoryNode, StoredTrace
from web4.node.desk import KnowledgeDesk, fact_from, trace_from
from web4.observability import EventBus
from web4.trust import TrustBook

__all__ = ["NodePorts", "PortsHost"]

_VOTE_TYPES = {"FactConfirm": "FACT_CONFIRM", "FactReject": "FACT_REJECT"}


class PortsHost(Protocol):
    """What the ports read from the node. Properties, read when an action runs: the node
    builds the ports before the agent loop, the desk and the HCP/LIP runtime exist."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def rng(self) -> Rng: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def trust(self) -> TrustBook: ...

    @property
    def kx(self) -> KnowledgeExchange: ...

    @property
    def desk(self) -> KnowledgeDesk: ...

    @property
    def cip(self) -> CipService: ...

    @property
    def loop(self) -> AgentLoop: ...

    @property
    def protocols(self) -> HcpLipRuntime: ...


class NodePorts:
    """``AgentPorts`` over a running node (see the module docstring)."""

    def __init__(self, host: PortsHost) -> None:
        self._node = host

    @property
    def fingerprint(self) -> str:
        return self._node.fingerprint

    def new_msg_id(self) -> str:
        return new_msg_id(self._node.rng)

    def now(self) -> float:
        return self._node.clock.now()

    def trust_of(self, peer: str) -> str:
        return self._node.trust.state_of(peer).value

    def claim(self, claim_id: str) -> Claim | None:
        try:
            return self._node.kx.claim(claim_id)
        except Web4Error:
            return None

    def claims(self, state: ClaimState | None, limit: int) -> list[Claim]:
        return self._node.kx.claims(state)[: max(0, limit)]

    def memory(self, limit: int) -> list[MemoryNode]:
        return self._node.kx.memory.nodes()[: max(0, limit)]

    def traces(self, decision_id: str | None, limit: int) -> list[StoredTrace]:
        return self._node.kx.memory.traces(decision_id)[: max(0, limit)]

    def agent_peers(self) -> list[str]:
        return self._node.protocols.agent_peers()

    # --- actions ------------------------------------------------------------------------

    async def perform(self, action: Action) -> str:
        """Carry out one action; returns a line for the decision's outcome. Raises
        ``Web4Error`` (reported as an ``error`` event first)."""
        try:
            return await self._perform(action)
        except Web4Error as e:
            self._node.bus.emit(
                "error",
                peer=action.peer,
                msg_id=action.msg_id,
                error=type(e).__name__,
                detail=str(e)[:200],
                source="agent",
                action=action.kind,
            )
            raise

    async def _perform(self, action: Action) -> str:
        node = self._node
        if action.kind == "propose":
            p = action.payload
            msg_id = action.msg_id or self.new_msg_id()
            links = CausalLink.parse_all(list(p.causal_links))
            node.desk.propose(
                msg_id, node.fingerprint, fact_from(p.fact), trace_from(p.dmp_trace), links
            )
            await node.cip.send("FACT_PROPOSE", p, msg_id=msg_id)
            return f"proposed {msg_id}"
        if action.kind == "vote":
            msg_type = _VOTE_TYPES.get(type(action.payload).__name__, "FACT_CHALLENGE")
            msg_id = action.msg_id or self.new_msg_id()
            body: dict[str, Any] = msgspec.to_builtins(action.payload)
            node.desk.record_vote(msg_id, node.fingerprint, msg_type, body)
            await node.cip.send(msg_type, action.payload, msg_id=msg_id)
            return f"{msg_type.lower()} {body['fact_ref']}"
        if action.kind == "share_decision":
            await node.cip.send(
                "DECISION_SHARE", action.payload, peer=action.peer, msg_id=action.msg_id
            )
            return f"shared decision {action.msg_id}"
        if action.kind == "state":
            if action.peer is None:
                await node.cip.send_state(node.loop.state())
            else:
                await node.cip.send_state_to(node.loop.state(), action.peer)
            return "state sent"
        if action.kind == "human":
            assert action.peer is not None
            return await node.protocols.say(action.peer, action.payload)
        if action.kind == "fetch":
            node.protocols.learn(str(action.payload))
            return f"fetch queued {str(action.payload)[:120]}"
        raise MessageBuildError(f"no such agent action {action.kind!r}")
