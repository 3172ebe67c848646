"""HCP and LIP on a running node: the handlers for ``human``, ``agent``, ``lip`` and the LIP
half of ``knowledge``, the node-level ``learn(uri)``, and one background task.

Theory of operation: the node constructs one ``HcpLipRuntime`` with its identity, store,
trust book, agent loop, event bus and two ports (``send(peer, channel, bytes)`` over the
peer's live session, ``peers()`` = fingerprints whose CIP handshake is done), calls
``bind(router, knowledge=<the CIP knowledge handler>)`` and runs ``run(running)`` in its
TaskGroup.

HCP (``docs/HCP_SPEC.md`` §7): a human client authenticates with the CIP handshake
(it has an Ed25519 identity like any peer), then sends HCP on ``control``. Each human
(by fingerprint) has an ``HcpSession`` and an ``Agenda``. A message goes through
``HcpSession.receive`` first (so a consent change rules the very next action), its
events are emitted, the planned answer (``web4.hcp.responder``) is queued, and the
agenda is drained through the consent/pacing/check-in gate; what proceeds is signed
(``build_hcp``) and sent back over the same session on ``control``. ``HCP_INTENT``
becomes ``AgentLoop.set_intent`` only when consent covers its topic (a ``task`` through
the gate, so a refusal is recorded). Timed deferrals are retried by ``run``.

LIP (``docs/LIP_SPEC.md`` §9): ``learn(uri)`` queues a fetch; ``run`` performs it with the
node's tier policy and fetch policy (``[lip]`` settings), queues the claims, and asks
every agent peer to corroborate with a signed ``LIP_FETCH`` on ``knowledge`` (peers that
connect later are asked too, while claims of that URI are pending). A peer's
``LIP_FETCH`` is answered by its own fetch (its own policy) with ``LIP_EVIDENCE``; our
queue counts that evidence as confirmations (only trusted peers count). Every claim
transition is an event and is announced to agent peers (``LIP_ACCEPT``/``LIP_REJECT``/
``LIP_CONFLICT``); ``LIP_REJECT`` from a peer counts as its rejection. Fetches run one
at a time from a bounded work queue (a full queue is refused, never grows); ``run`` also
re-evaluates open claims every second (deadlines, load).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from web4.agent import AgentLoop
from web4.agent import Intent as AgentIntent
from web4.agent.types import Goal
from web4.cip.messages import SenderState, TrustViews
from web4.clock import Clock, Rng
from web4.envelope import canonicalize
from web4.errors import ConfigError, LIPFetchError, LIPQueueError, RTTError, Web4Error
from web4.hcp import AgentAction, HcpSession, SocialTrust
from web4.hcp.builder import agent_payload, build_hcp
from web4.hcp.messages import HcpIntent
from web4.hcp.responder import Agenda, plan_for
from web4.identity import Identity
from web4.lip import ClaimQueue, FetchPolicy, KnowledgeBridge, SourceTiers, TierPolicy
from web4.lip import learn as lip_learn
from web4.lip.builder import build_lip
from web4.lip.learn import answer_fetch, corroborate_with, payload_for, reject_from
from web4.lip.messages import LipEvidence, LipFetch, LipReject, Source
from web4.lip.queue import Transition
from web4.observability.events import register_kind
from web4.router import Emit, Inbound, ProtocolRouter
from web4.store import Store
from web4.trust import TrustBook, TrustState

__all__ = ["HCP_TO_AGENT_GOAL", "HcpLipRuntime", "LipSettings"]

register_kind("hcp.sent", "info", ("type", "action"), "the agent sent a message to a human")
register_kind("hcp.refused", "warning", ("reason",), "consent refused an agent action")
register_kind("lip.claim", "info", ("claim", "to"), "a claim entered the acceptance queue")
register_kind("lip.asked", "info", ("uri", "peers"), "peers were asked to corroborate a fetch")

HCP_TO_AGENT_GOAL: dict[str, Goal] = {
    "align": "ask",
    "request": "propose_solution",
    "clarify": "ask",
    "decide": "propose_solution",
    "resolve_conflict": "verify_knowledge",
}
WORK_QUEUE = 16  # pending fetches (ours and peers' requests)
MAX_ASKING = 64  # URIs whose pending claims we keep asking new peers about
SEND_TIMEOUT = 5.0


@dataclass(frozen=True)
class LipSettings:
    """The node's ``[lip]`` table: tier policy file, private addresses (tests/demo only),
    corroboration window (s), how long a fetch waits for an agent peer to ask, and the URIs
    to fetch at start. Raises ``ConfigError`` for bad values."""

    tiers: Path | None = None
    allow_private: bool = False
    window: float = 24 * 3600.0
    peer_wait: float = 10.0
    fetch: tuple[str, ...] = ()  # URIs to learn from once the node runs (``--fetch``)

    def __post_init__(self) -> None:
        if not (self.window > 0 and self.peer_wait > 0):
            raise ConfigError("[lip] window and peer_wait must be > 0 seconds")
        for uri in self.fetch:
            if not uri.startswith(("http://", "https://")):
                raise ConfigError(f"[lip] fetch: {uri!r} is not an http(s) URI")


class _Human:
    def __init__(self, session: HcpSession, link: str, agent_id: str) -> None:
        self.session, self.link, self.agent_id = session, link, agent_id
        self.agenda = Agenda()
        self.topic: str | None = None


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
    ) -> None:
        """Raises ``ConfigError`` (unreadable or bad tier policy), ``StoreError``."""
        self.identity, self.store, self.trust, self.loop = identity, store, trust, loop
        self.emit, self.clock, self.rng = emit, clock, rng
        self._send, self._peers = send, peers
        self.settings = settings or LipSettings()
        self.social = SocialTrust(store)
        self.humans: dict[str, _Human] = {}
        policy = TierPolicy.load(self.settings.tiers) if self.settings.tiers else TierPolicy()
        self.tiers = SourceTiers(store, policy)
        self.fetch_policy = FetchPolicy(allow_private=self.settings.allow_private)
        bridge = KnowledgeBridge(store, agent_fingerprint=identity.fingerprint)
        self.queue = ClaimQueue(
            store,
            self.tiers,
            knowledge=bridge,
            memory=bridge,
            window=self.settings.window,
            is_trusted=lambda fp: trust.state_of(fp) is TrustState.TRUSTED,
        )
        self._work: asyncio.Queue[tuple[str, str, str | None]] = asyncio.Queue(WORK_QUEUE)
        self._asking: dict[str, tuple[Source, tuple[str, ...], set[str]]] = {}

    def bind(self, router: ProtocolRouter, *, knowledge: Callable[[Inbound], Any]) -> None:
        """Bind ``human``, ``agent`` and ``lip``; ``knowledge`` keeps CIP messages going to
        ``knowledge`` (the node's handler) and takes ``LIP_EVIDENCE`` here."""

        async def knowledge_or_lip(msg: Inbound) -> None:
            if msg.protocol == "lip":
                await self.on_lip(msg)
            else:
                result = knowledge(msg)
                if asyncio.iscoroutine(result):
                    await result

        router.bind("human", self.on_hcp)
        router.bind("agent", self.on_hcp)
        router.bind("lip", self.on_lip)
        router.bind("knowledge", knowledge_or_lip)

    def overloaded(self) -> bool:
        return self.loop.presence == "overloaded"

    def agent_peers(self) -> list[str]:
        """Ready peers that are agents (not human clients)."""
        return [p for p in self._peers() if p not in self.humans and p != self.identity.fingerprint]

    # --- HCP -----------------------------------------------------------------------------

    async def on_hcp(self, msg: Inbound) -> None:
        """One validated HCP message from a human. Raises ``PayloadSchemaError`` and
        ``HandshakeError`` (the router reports them), ``StoreError``."""
        env, now = msg.envelope, self.clock.now()
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
        if isinstance(payload, HcpIntent):
            human.topic = payload.topic
            await self._adopt(human, payload)
        human.agenda.add(plan_for(payload, human.topic))  # revoked: drain refuses it
        await self._drain(msg.peer, human, now)

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
            AgentIntent(
                goal,
                intent.topic[:200],
                intent.priority,
                context=f"HCP_INTENT from {human.agent_id}",
            )
        )

    async def _drain(self, fp: str, human: _Human, now: float) -> None:
        state = human.session.gate.state
        if state is None:
            return
        for out in human.agenda.drain(human.session.attempt, state, now):
            p = out.planned
            if out.what == "refused":
                self.emit("hcp.refused", peer=fp, reason=out.reason, action=p.kind, topic=p.topic)
            elif out.what == "deferred":
                self.emit(
                    "hcp.deferred",
                    peer=fp,
                    reason=out.reason,
                    action=p.kind,
                    not_before=out.not_before,
                )
            else:
                if p.kind == "check_in":
                    self.emit("hcp.check_in", peer=fp, reason=out.reason, topic=p.topic)
                await self._send_hcp(fp, human, p.kind, p.text, p.rationale, p.alternatives)

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
        state = human.session.gate.state
        assert state is not None
        env = build_hcp(
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
        try:
            await self._send(human.link, "control", canonicalize(env))
        except (RTTError, TimeoutError) as e:
            self.emit("error", peer=fp, error=type(e).__name__, detail=str(e)[:200], source="hcp")
            return
        sent = {"type": env["type"], "action": kind, "text": text[:200]}
        if rationale:
            sent.update(rationale=rationale[:200], alternatives="; ".join(alternatives)[:200])
        self.emit("hcp.sent", peer=fp, msg_id=env["msg_id"], attributes=sent)

    # --- LIP -----------------------------------------------------------------------------

    def learn(self, uri: str) -> None:
        """Queue a fetch of ``uri`` by this node (performed by ``run``). Raises
        ``LIPQueueError`` when the work queue is full."""
        try:
            self._work.put_nowait(("learn", uri, None))
        except asyncio.QueueFull:
            raise LIPQueueError(f"fetch queue full ({WORK_QUEUE}): {uri} not queued") from None

    async def on_lip(self, msg: Inbound) -> None:
        """One validated LIP message from an agent peer. Raises ``StoreError``."""
        payload, now = msg.envelope.payload, self.clock.now()
        if isinstance(payload, LipFetch):
            try:
                self._work.put_nowait(("answer", payload.query, msg.peer))
            except asyncio.QueueFull:
                self.emit("lip.fetch_failed", peer=msg.peer, uri=payload.query, reason="busy")
        elif isinstance(payload, LipEvidence):
            held = [c for c in payload.claims if self.queue.has(c.claim_id)]
            self.emit(
                "lip.evidence",
                peer=msg.peer,
                msg_id=msg.msg_id,
                uri=payload.evidence.uri,
                sha256=payload.evidence.sha256,
                claims=len(payload.claims),
                matched=len(held),
                source="peer",
            )
            ts = corroborate_with(
                self.queue, msg.peer, payload, now=now, overloaded=self.overloaded()
            )
            await self._announce(ts)
        elif isinstance(payload, LipReject):
            ts = reject_from(self.queue, msg.peer, payload, now=now, overloaded=self.overloaded())
            await self._announce(ts)
        else:
            kind = "lip.accepted" if msg.type == "LIP_ACCEPT" else "lip.conflict"
            attrs = msgspec.to_builtins(payload)
            n = len(attrs.get("claim_ids", attrs.get("conflicts", [])))
            severity = attrs.get("severity", "n/a")
            self.emit(
                kind, peer=msg.peer, msg_id=msg.msg_id, source="peer", severity=severity, claims=n
            )

    async def _do_learn(self, uri: str) -> None:
        deadline = self.clock.monotonic() + self.settings.peer_wait
        while not self.agent_peers() and self.clock.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.emit("lip.fetch", uri=uri, tier=self.tiers.tier_of(_host(uri)))
        try:
            got = await lip_learn(
                uri,
                queue=self.queue,
                tiers=self.tiers,
                clock=self.clock,
                policy=self.fetch_policy,
                overloaded=self.overloaded(),
            )
        except LIPFetchError as e:
            self.emit("lip.fetch_failed", uri=uri, reason=str(e)[:300])
            return
        ev = got.evidence.evidence
        self.emit(
            "lip.evidence",
            uri=uri,
            final_uri=ev.final_uri,
            sha256=ev.sha256,
            retrieved_at=ev.retrieved_at,
            tier=got.source.trust_tier,
            claims=len(got.evidence.claims),
            source="self",
        )
        await self._announce(list(got.transitions))
        ids = tuple(c.claim_id for c in got.evidence.claims)
        if len(self._asking) >= MAX_ASKING:
            self._asking.pop(next(iter(self._asking)))
        self._asking[uri] = (got.source, ids, set())
        await self._ask_peers()

    async def _ask_peers(self) -> None:
        """Ask every agent peer not yet asked (peers that connect later too) to fetch each
        URI that still has pending claims; forget a URI once none is pending."""
        for uri, (source, ids, asked) in list(self._asking.items()):
            if not any(self.queue.get(cid).state == "pending" for cid in ids):
                del self._asking[uri]
                continue
            new = [p for p in self.agent_peers() if p not in asked]
            for peer in new:
                asked.add(peer)
                await self._send_lip(peer, LipFetch(query=uri), source)
            if new:
                self.emit("lip.asked", uri=uri, peers=len(new), asked=len(asked))

    async def _answer(self, uri: str, peer: str) -> None:
        try:
            source, evidence = await answer_fetch(
                LipFetch(query=uri), tiers=self.tiers, clock=self.clock, policy=self.fetch_policy
            )
        except LIPFetchError as e:
            self.emit("lip.fetch_failed", peer=peer, uri=uri, reason=str(e)[:300])
            return
        self.emit(
            "lip.fetch",
            peer=peer,
            uri=uri,
            tier=source.trust_tier,
            answer=True,
            sha256=evidence.evidence.sha256,
            claims=len(evidence.claims),
        )
        await self._send_lip(peer, evidence, source)

    async def _announce(self, transitions: list[Transition]) -> None:
        for t in transitions:
            attrs = {
                "claim": t.claim_id[:16],
                "from": t.src,
                "event": t.event,
                "to": t.dst,
                "reason": t.reason[:200],
                "host": t.host,
                "corroborators": [c[:16] for c in t.corroborators],
            }
            if t.event == "queued":
                queued = self.queue.get(t.claim_id)
                self.emit("lip.claim", attributes={**attrs, "statement": queued.statement[:160]})
                continue
            kind = {"accepted": "lip.accepted", "rejected": "lip.rejected"}.get(
                t.dst, "lip.conflict"
            )
            if kind == "lip.conflict":
                attrs["severity"] = "high" if t.local_refs else "medium"
            self.emit(kind, attributes=attrs)
            message = payload_for(t)
            if message is None:
                continue
            row = self.store.query_one(
                "SELECT final_uri, retrieved_at FROM lip_claims WHERE claim_id = ?", (t.claim_id,)
            )
            assert row is not None
            source = Source(str(row[0]), self.tiers.tier_of(t.host), str(row[1]))
            for peer in self.agent_peers():
                await self._send_lip(peer, message, source)

    async def _send_lip(self, peer: str, payload: msgspec.Struct, source: Source) -> None:
        env = build_lip(
            self.identity,
            receiver_id=peer[:16],
            receiver_fingerprint=peer,
            payload=payload,
            source=source,
            clock=self.clock,
            rng=self.rng,
            state=SenderState(presence=self.loop.presence, lri=self.loop.lri),  # type: ignore[arg-type]
            trust=TrustViews("probing", self.trust.state_of(peer).value),
        )
        try:
            await self._send(peer, "knowledge", canonicalize(env))
        except (RTTError, TimeoutError) as e:
            self.emit("error", peer=peer, error=type(e).__name__, detail=str(e)[:200], source="lip")

    # --- the background task -----------------------------------------------------------

    async def run(self, running: Callable[[], bool], tick: float = 0.25) -> None:
        """Until ``running()`` is False: perform queued fetches, retry timed HCP deferrals,
        and re-evaluate open claims every second. Faults become events, never exceptions."""
        last_process = self.clock.monotonic()
        for uri in self.settings.fetch:
            try:
                self.learn(uri)
            except LIPQueueError as e:
                self.emit("lip.fetch_failed", uri=uri, reason=str(e))
        while running():
            item = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    item = await self._work.get()
            try:
                if item is not None:
                    _, uri, peer = item
                    async with asyncio.timeout(self.settings.peer_wait + 60.0):
                        await (self._do_learn(uri) if peer is None else self._answer(uri, peer))
                now = self.clock.now()
                for fp, human in list(self.humans.items()):
                    if human.agenda.due(now):
                        await self._drain(fp, human, now)
                if self.clock.monotonic() - last_process >= 1.0:
                    last_process = self.clock.monotonic()
                    await self._ask_peers()
                    await self._announce(self.queue.process(now=now, overloaded=self.overloaded()))
            except (Web4Error, TimeoutError) as e:
                self.emit("error", error=type(e).__name__, detail=str(e)[:300], source="hcp_lip")


def _host(uri: str) -> str:
    return (urlsplit(uri).hostname or "").lower()
