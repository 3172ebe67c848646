"""HCP and LIP on a running node: the handlers for ``human``, ``agent``, ``lip`` and the LIP
half of ``knowledge``, the node-level ``learn(uri)``, and one background task.

Theory of operation: the node constructs one ``HcpLipRuntime`` with its identity, store,
trust book, agent loop, event bus and two ports (``send(peer, channel, bytes)`` over the
peer's live session, ``peers()`` = fingerprints whose CIP handshake is done), calls
``bind(router, knowledge=<the CIP knowledge handler>)`` and runs ``run(running)`` in its
TaskGroup.

HCP (``docs/HCP_SPEC.md`` §9): a human client has an Ed25519 identity like any peer;
RTT proves it, and the client sends HCP on ``control`` with no CIP handshake (the session
loop, ``web4.cip.service.drive_handshake``, routes it; one CIP handshake first is fine).
Only keys the operator listed in ``DATA_DIR/authorized_humans`` (``web4.hcp.authorized``,
re-read when it changes) steer the agent: a message signed by any other key gets a refusal back
(``not_authorized``, with the command the operator must run), an ``hcp.unauthorized``
event, and nothing else: no session, no store write, no intent, no broadcast. Each human
(by fingerprint) has an ``HcpSession`` and an ``Agenda``. A message goes through
``HcpSession.receive`` first (so a consent change rules the very next action), its
events are emitted, the planned answer (``web4.hcp.responder``) is queued, and the
agenda is drained through the consent/pacing/check-in gate; what proceeds is signed
(``build_hcp``) and sent back over the same session on ``control``. When that session
ends the node calls ``forget``, so the table of humans holds live sessions only. ``HCP_INTENT``
becomes ``AgentLoop.set_intent`` only when consent covers its topic (a ``task`` through
the gate, so a refusal is recorded). Timed deferrals are retried by ``run``. With an
Agent API agent (``to_agent`` set by the node) the answer is the agent's, not a
template: the message goes to it as a ``HumanMessage`` (with the consent and scope the
gate holds now) and its ``ctx.reply``/``ask``/``decide`` come back through ``say``, onto
the same agenda and gate.

LIP (``docs/LIP_SPEC.md`` §9) is ``web4.lip.runtime.LipRuntime`` (``self.lip``): this
class gives it the node's ports, routes ``lip`` and LIP's part of ``knowledge`` to it, and
runs its task beside the HCP retry task; ``learn(uri)`` is the node-level entry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from web4.agent import AgentEvent, AgentLoop, EvidenceReceived, HumanMessage, check_intent
from web4.cip import messages as cm
from web4.clock import Clock, Rng
from web4.envelope import canonicalize
from web4.errors import ConsentError, RTTError, Web4Error
from web4.hcp import AgentAction, HcpSession, SocialTrust
from web4.hcp.authorized import AuthorizedHumans, authorized_path
from web4.hcp.builder import (
    NOT_AUTHORIZED,
    PACING,
    agent_payload,
    build_hcp,
    not_authorized_text,
    refusal_payload,
    refusal_reason,
)
from web4.hcp.messages import HcpHello, HcpIntent
from web4.hcp.responder import Agenda, Outcome, Planned, plan_for
from web4.identity import Identity
from web4.isolation import Isolate
from web4.lip.runtime import LipRuntime, LipSettings
from web4.router import Emit, Inbound, ProtocolRouter
from web4.store import Store
from web4.trust import TrustBook

__all__ = ["HCP_TO_AGENT_GOAL", "HcpLipRuntime", "LipSettings"]


HCP_TO_AGENT_GOAL: dict[str, cm.Goal] = {
    "align": "ask",
    "request": "propose_solution",
    "clarify": "ask",
    "decide": "propose_solution",
    "resolve_conflict": "verify_knowledge",
}


class _Human:
    def __init__(self, session: HcpSession, link: str, agent_id: str) -> None:
        self.session, self.link, self.agent_id = session, link, agent_id
        self.name = agent_id
        self.agenda = Agenda()
        self.topic: str | None = None
        # planned actions whose deferral the human was told of (by id, kept alive here
        # while they wait on the agenda): a deferral is told once, not at every drain
        self.told: dict[int, Planned] = {}


class HcpLipRuntime:
    """HCP and LIP runtimes of one node (see the module docstring)."""

    def __init__(
        self,
        identity: Identity,
        store: Store,
        trust: TrustBook,
        loop: AgentLoop,
        emit: Emit,
        clock: Clock,
        rng: Rng,
        *,
        send: Callable[[str, str, bytes], Awaitable[None]],
        peers: Callable[[], Sequence[str]],
        settings: LipSettings | None = None,
        authorized: AuthorizedHumans | None = None,
        isolate: Isolate | None = None,
    ) -> None:
        """``authorized``: the human keys that may steer the agent (default: the
        ``authorized_humans`` file beside the store; an in-memory store: nobody).
        ``isolate``: a bug met serving one human or one LIP job ends that piece of work
        only (``web4.isolation``); None: it propagates.
        Raises ``ConfigError`` (bad tier policy; a bad ``authorized_humans`` file),
        ``StoreError``."""
        self.identity, self.store, self.trust, self.loop = identity, store, trust, loop
        self.emit, self.clock, self.rng = emit, clock, rng
        self._send, self._peers = send, peers
        self._isolate = isolate
        self.social = SocialTrust(store)
        self.humans: dict[str, _Human] = {}
        # unauthorised human -> its link, while it lasts: only a session's own key (the
        # link's), so the table is bounded by the sessions, not by the keys they relay
        self.refused: dict[str, str] = {}
        if authorized is None:
            db = Path(store.path)
            authorized = AuthorizedHumans(
                None if store.path == ":memory:" else authorized_path(db.parent)
            )
        authorized.load()
        self.authorized = authorized
        # the Agent API: an authorised human's messages and peers' LIP evidence go to the
        # agent (the node sets it); None: the built-in templates answer humans
        self.to_agent: Callable[[AgentEvent], bool] | None = None
        self.lip = LipRuntime(
            identity, store, emit, clock, rng, send=send, peers=self.agent_peers,
            trust_of=lambda fp: trust.state_of(fp).value, presence=lambda: loop.presence,
            lri=lambda: loop.lri, settings=settings, isolate=isolate,
        )  # fmt: skip

    def bind(self, router: ProtocolRouter, *, knowledge: Callable[[Inbound], Any]) -> None:
        """Bind ``human``, ``agent`` and ``lip``; ``knowledge`` keeps CIP messages going to
        ``knowledge`` (the node's handler) and takes ``LIP_EVIDENCE`` here."""

        async def knowledge_or_lip(msg: Inbound) -> None:
            if msg.protocol == "lip":
                await self.lip.on_lip(msg)
                if msg.type == "LIP_EVIDENCE" and self.to_agent is not None:
                    env = msg.envelope
                    self.to_agent(EvidenceReceived(msg.peer, msg.msg_id, env.payload, env.source))
            else:
                result = knowledge(msg)
                if asyncio.iscoroutine(result):
                    await result

        router.bind("human", self.on_hcp)
        router.bind("agent", self.on_hcp)
        router.bind("lip", self.lip.on_lip)
        router.bind("knowledge", knowledge_or_lip)

    def learn(self, uri: str) -> None:
        """Learn from ``uri`` (LIP): queue the fetch. Raises ``LIPQueueError`` (queue full)."""
        self.lip.learn(uri)

    def forget(self, link_peer: str) -> None:
        """The session with ``link_peer`` ended: drop the humans it carried (their gate
        and agenda are per session; a new session starts with ``HCP_HELLO``)."""
        for fp in [fp for fp, h in self.humans.items() if link_peer in (fp, h.link)]:
            del self.humans[fp]
        for fp in [fp for fp, link in self.refused.items() if link_peer in (fp, link)]:
            del self.refused[fp]

    def agent_peers(self) -> list[str]:
        """Ready peers that are agents (not human clients)."""
        me = self.identity.fingerprint
        return [
            p for p in self._peers() if p not in self.humans and p not in self.refused and p != me
        ]

    # --- HCP -----------------------------------------------------------------------------

    async def on_hcp(self, msg: Inbound) -> None:
        """One validated HCP message from a human. Raises ``PayloadSchemaError`` and
        ``HandshakeError`` (the router reports them), ``StoreError``."""
        env, now = msg.envelope, self.clock.now()
        if not self._authorized(msg.peer):
            await self._refuse(msg)
            return
        human = self.humans.get(msg.peer)
        if human is None:
            human = _Human(
                HcpSession(self.store, msg.peer, self.social),
                msg.link_peer or msg.peer,
                env.sender.agent_id,
            )
        human.link = msg.link_peer or msg.peer
        events = human.session.receive(env, now)
        self.humans[msg.peer] = human
        for ev in events:
            self.emit(ev.kind, peer=msg.peer, msg_id=msg.msg_id, attributes=ev.attrs)
        payload = env.payload
        if isinstance(payload, HcpHello):
            human.name = payload.identity.name
        if isinstance(payload, HcpIntent):
            human.topic = payload.topic
            await self._adopt(human, payload)
        if self.to_agent is None:
            human.agenda.add(plan_for(payload, human.topic))  # revoked: drain refuses it
        else:  # the agent answers through ``say`` (the gate rules it there)
            gate = human.session.gate
            state = gate.state
            if state is not None:
                self.to_agent(
                    HumanMessage(
                        msg.peer, human.name, msg.msg_id, msg.type, payload, state,
                        state.consent, tuple(gate.scope), human.topic,
                    )
                )  # fmt: skip
        await self._drain(msg.peer, human, now)

    async def say(self, fp: str, planned: Planned) -> str:
        """The agent's answer to human ``fp``: onto its agenda, then drained through the
        consent / pacing / check-in gate. Returns what happened. Raises ``ConsentError``
        (no live session with that human), ``StoreError``."""
        human = self.humans.get(fp)
        if human is None:
            raise ConsentError(f"no live HCP session with human {fp[:16]}")
        human.agenda.add(planned)
        outcomes = await self._drain(fp, human, self.clock.now())
        return ", ".join(f"{o.planned.kind} {o.what}" for o in outcomes) or "queued"

    def _authorized(self, fp: str) -> bool:
        """Is ``fp`` in ``authorized_humans`` (re-read if it changed)? A file that turned
        bad authorises nobody, and says why once."""
        problem = self.authorized.refresh()
        if problem is not None:
            self.emit(
                "error", error="ConfigError", detail=problem[:200], source="authorized_humans"
            )
        return self.authorized.get(fp) is not None

    async def _refuse(self, msg: Inbound) -> None:
        """Refuse a message from a key the operator has not authorised: an event for the
        operator, a refusal for the human, nothing else (HCP_SPEC §9.1)."""
        fp, env = msg.peer, msg.envelope
        link = msg.link_peer or fp
        self.humans.pop(fp, None)  # a key removed mid-session loses its session at once
        # remember only the session's own key: one session may carry HCP signed by any
        # number of fresh keys, and one entry per such key would grow without bound
        if fp == link:
            self.refused[fp] = link
        command = f"web4 human-key add {fp} --data-dir "
        where = self.authorized.path.parent if self.authorized.path else None
        attrs = {"type": msg.type, "agent_id": env.sender.agent_id[:64]}
        if isinstance(env.payload, HcpHello):
            attrs["name"] = env.payload.identity.name[:64]
        attrs["hint"] = command + (str(where) if where else "DATA_DIR")
        self.emit(
            "hcp.unauthorized", peer=fp, msg_id=msg.msg_id, reason=NOT_AUTHORIZED, attributes=attrs
        )
        reply = build_hcp(
            self.identity,
            receiver_id=env.sender.agent_id,
            receiver_fingerprint=fp,
            payload=refusal_payload(NOT_AUTHORIZED, not_authorized_text(fp)),
            human=env.state.human,
            clock=self.clock,
            rng=self.rng,
            sender_view="untrusted",
        )
        with contextlib.suppress(RTTError, TimeoutError):  # the refusal is a courtesy
            await self._send(link, "control", canonicalize(reply))

    async def _adopt(self, human: _Human, intent: HcpIntent) -> None:
        try:
            human.session.attempt(AgentAction("task", intent.topic), self.clock.now())
        except Web4Error as e:
            self.emit(
                "hcp.refused",
                peer=human.session.human,
                reason=str(e),
                action="set_intent",
                topic=intent.topic,
            )
            return
        goal = HCP_TO_AGENT_GOAL[intent.goal]
        await self.loop.set_intent(
            check_intent(
                cm.Intent(
                    goal,
                    intent.topic[:200],
                    intent.priority,
                    context=f"HCP_INTENT from {human.agent_id}",
                )
            )
        )

    async def _drain(self, fp: str, human: _Human, now: float) -> list[Outcome]:
        """Drain the agenda through the gate. The human is told of each refusal (reason
        ``consent`` or ``scope``) and, once per planned action, of its deferral
        (``pacing``)."""
        state = human.session.gate.state
        if state is None:
            return []
        outcomes = human.agenda.drain(human.session.attempt, state, now)
        for out in outcomes:
            p = out.planned
            if out.what == "refused":
                self.emit("hcp.refused", peer=fp, reason=out.reason, action=p.kind, topic=p.topic)
                await self._tell(fp, human, refusal_reason(out.reason), out.reason)
            elif out.what == "deferred":
                self.emit(
                    "hcp.deferred",
                    peer=fp,
                    reason=out.reason,
                    action=p.kind,
                    not_before=out.not_before,
                )
                if id(p) not in human.told:
                    human.told[id(p)] = p
                    await self._tell(fp, human, PACING, f"{p.kind} deferred: {out.reason}")
            else:
                if p.kind == "check_in":
                    self.emit("hcp.check_in", peer=fp, reason=out.reason, topic=p.topic)
                await self._send_hcp(fp, human, p.kind, p.text, p.rationale, p.alternatives)
        waiting = {id(x) for x in human.agenda.items}
        human.told = {k: v for k, v in human.told.items() if k in waiting}
        return outcomes

    async def _tell(self, fp: str, human: _Human, reason: str, text: str) -> None:
        """Tell the human why the agent did not answer (HCP_SPEC §9.2): a refusal
        notice, not an agent action, so it does not pass the gate or count for pacing."""
        env = self._envelope(fp, human, refusal_payload(reason, text))
        with contextlib.suppress(RTTError, TimeoutError):  # the notice is a courtesy
            await self._send(human.link, "control", canonicalize(env))

    def _envelope(self, fp: str, human: _Human, payload: Any) -> dict[str, Any]:
        state = human.session.gate.state
        assert state is not None
        return build_hcp(
            self.identity,
            receiver_id=human.agent_id,
            receiver_fingerprint=fp,
            payload=payload,
            human=state,
            clock=self.clock,
            rng=self.rng,
            sender_view=human.session.social_state.value,
            capabilities=("hcp/1.0",),
        )

    async def _send_hcp(
        self,
        fp: str,
        human: _Human,
        kind: Any,
        text: str,
        rationale: str,
        alternatives: tuple[str, ...],
    ) -> None:
        payload = agent_payload(kind, text, rationale=rationale, alternatives=alternatives)
        env = self._envelope(fp, human, payload)
        try:
            await self._send(human.link, "control", canonicalize(env))
        except (RTTError, TimeoutError) as e:
            self.emit("error", peer=fp, error=type(e).__name__, detail=str(e)[:200], source="hcp")
            return
        sent = {"type": env["type"], "action": kind, "text": text[:200]}
        if rationale:
            sent.update(rationale=rationale[:200], alternatives="; ".join(alternatives)[:200])
        self.emit("hcp.sent", peer=fp, msg_id=env["msg_id"], attributes=sent)

    # --- the background task -----------------------------------------------------------

    async def run(self, running: Callable[[], bool], tick: float = 0.25) -> None:
        """Until ``running()`` is False: the LIP task, and the retry of timed HCP deferrals
        (each human's agenda, when its ``not_before`` has passed). Faults become events."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.lip.run(running, tick), name="lip")
            while running():
                await asyncio.sleep(tick)
                now = self.clock.now()
                for fp, human in list(self.humans.items()):
                    if not self._authorized(fp):  # removed from authorized_humans
                        del self.humans[fp]
                    elif human.agenda.due(now):
                        try:
                            await self._drain(fp, human, now)
                        except Web4Error as e:
                            self.emit("error", peer=fp, error=type(e).__name__,
                                      detail=str(e)[:300], source="hcp")  # fmt: skip
                        except Exception as e:
                            if self._isolate is None or not self._isolate(fp, "hcp", e):
                                raise
                            human.agenda.clear()  # else it is met again every tick
