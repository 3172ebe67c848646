"""LIP on a running node: learn from the web with peers' corroboration (LIP_SPEC.md §9).

Theory of operation: ``LipRuntime`` is the node's LIP side; ``web4.hcp.runtime``
constructs it with the node's identity, store, event bus and ports (``send(peer, channel,
bytes)``, ``peers()`` = agent peers with a finished CIP handshake, the peer trust lookup,
and our presence/LRI) and runs ``run``. ``learn(uri)`` queues a fetch; ``run`` performs it
with the ``[lip]`` tier policy and fetch policy, queues the claims (``web4.lip.learn``),
and asks every agent peer to corroborate with a signed ``LIP_FETCH`` on ``knowledge``;
peers that connect later are asked too while claims of that URI are pending. A peer's
``LIP_FETCH`` is answered, if the peer's trust reaches ``[lip] fetch_for`` (default
``trusted``: fetching is work and traffic we do in our name), by our own fetch under our
own policy (``answer_fetch``) with ``LIP_EVIDENCE``; a peer's ``LIP_EVIDENCE`` counts as
its confirmation of every claim we hold that it also extracted (only trusted peers count,
in ``ClaimQueue``), and its ``LIP_REJECT`` as its rejection. Every claim transition is an
event and is announced to agent peers (``LIP_ACCEPT``/``LIP_REJECT``/``LIP_CONFLICT``);
accepted claims enter causal memory through ``KnowledgeBridge``. Fetches run on
``[lip] workers`` workers from a fair queue (``web4.lip.work.FairQueue``: round-robin
between requesters, one running fetch and ``peer_limit`` outstanding per peer; over a
limit: refused, never grows), so one peer with slow URIs cannot keep the others waiting;
every second ``run`` re-evaluates open claims (deadlines, load) and asks newly connected
peers. Every fetch has a deadline, and any failure of one fetch (a URI the fetcher cannot
even encode included) is a ``lip.fetch_failed`` event: a peer's ``LIP_FETCH`` never ends
the node's LIP task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from web4.cip.messages import SenderState, TrustViews
from web4.clock import Clock, Rng
from web4.envelope import canonicalize
from web4.errors import ConfigError, LIPFetchError, LIPQueueError, RTTError, Web4Error
from web4.identity import Identity
from web4.isolation import Isolate
from web4.lip.builder import build_lip
from web4.lip.fetcher import FetchPolicy
from web4.lip.hosts import host_of
from web4.lip.learn import answer_fetch, corroborate_with, payload_for, reject_from
from web4.lip.learn import learn as lip_learn
from web4.lip.memory import KnowledgeBridge
from web4.lip.messages import LipEvidence, LipFetch, LipReject, Source
from web4.lip.queue import ClaimQueue, Transition
from web4.lip.tiers import SourceTiers, TierPolicy
from web4.lip.work import FairQueue, WorkRefused
from web4.router import Emit, Inbound
from web4.store import Store

__all__ = ["LipRuntime", "LipSettings"]


WORK_QUEUE = 16  # our own fetches waiting
PEER_WAITING = 64  # peers' fetches waiting, all peers together
MAX_ASKING = 64  # URIs whose pending claims we keep asking new peers about
FETCH_DEADLINE = 60.0  # seconds for one fetch job (the fetch policy's own total is 20 s)

FetchFor = Literal["trusted", "probing", "none"]
# Whose LIP_FETCH we answer: the lowest trust state that is served ("none": nobody).
_SERVED: dict[str, frozenset[str]] = {
    "trusted": frozenset({"trusted"}),
    "probing": frozenset({"probing", "trusted"}),
    "none": frozenset(),
}


@dataclass(frozen=True)
class LipSettings:
    """The node's ``[lip]`` table: tier policy file, private addresses (tests/demo only),
    corroboration window (s), how long a fetch waits for an agent peer to ask, the URIs
    to fetch at start, fetch workers, the per-peer fetch limit, and whose ``LIP_FETCH`` we
    answer. Raises ``ConfigError`` for bad values."""

    tiers: Path | None = None
    allow_private: bool = False
    window: float = 24 * 3600.0
    peer_wait: float = 10.0
    fetch: tuple[str, ...] = ()  # URIs to learn from once the node runs (``--fetch``)
    workers: int = 4  # fetches running at once
    peer_limit: int = 4  # a peer's fetches waiting or running
    fetch_for: FetchFor = "trusted"  # peers we fetch for: trusted, probing (or better), none

    def __post_init__(self) -> None:
        if not (self.window > 0 and self.peer_wait > 0):
            raise ConfigError("[lip] window and peer_wait must be > 0 seconds")
        for key in ("workers", "peer_limit"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
                raise ConfigError(f"[lip] {key} must be an integer 1..64, got {value!r}")
        if self.fetch_for not in _SERVED:
            raise ConfigError(
                f"[lip] fetch_for must be one of {sorted(_SERVED)}, got {self.fetch_for!r}"
            )
        for uri in self.fetch:
            if not uri.startswith(("http://", "https://")):
                raise ConfigError(f"[lip] fetch: {uri!r} is not an http(s) URI")


class LipRuntime:
    """The LIP side of one node (see the module docstring)."""

    def __init__(
        self,
        identity: Identity,
        store: Store,
        emit: Emit,
        clock: Clock,
        rng: Rng,
        *,
        send: Callable[[str, str, bytes], Awaitable[None]],
        peers: Callable[[], Sequence[str]],
        trust_of: Callable[[str], str],
        presence: Callable[[], str],
        lri: Callable[[], int],
        settings: LipSettings | None = None,
        isolate: Isolate | None = None,
    ) -> None:
        """``isolate``: a bug met in one fetch job ends that job only (``web4.isolation``;
        None: it propagates). Raises ``ConfigError`` (unreadable or bad tier policy),
        ``StoreError``."""
        self.identity, self.store, self.emit, self.clock, self.rng = (
            identity,
            store,
            emit,
            clock,
            rng,
        )
        self._send, self._peers, self._trust_of = send, peers, trust_of
        self._presence, self._lri = presence, lri
        self._isolate = isolate
        self.settings = settings or LipSettings()
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
            is_trusted=lambda fp: trust_of(fp) == "trusted",
        )
        self._work: FairQueue[str] = FairQueue(
            own_limit=WORK_QUEUE,
            peer_limit=self.settings.peer_limit,
            peer_total=PEER_WAITING,
            own_running=max(1, self.settings.workers - 1),  # one worker is always the peers'
        )
        self._wake = asyncio.Event()  # a job was queued or ended: idle workers look again
        self._asking: dict[str, tuple[Source, tuple[str, ...], set[str]]] = {}

    def overloaded(self) -> bool:
        return self._presence() == "overloaded"

    def learn(self, uri: str) -> None:
        """Queue a fetch of ``uri`` by this node (performed by ``run``). Raises
        ``LIPQueueError`` when our own fetch queue is full (peers' fetches do not count)."""
        try:
            self._work.put(None, uri)
        except WorkRefused as e:
            raise LIPQueueError(f"fetch queue full ({WORK_QUEUE}): {uri} not queued") from e
        self._wake.set()

    def serves(self, peer: str) -> bool:
        """Whether we fetch on ``peer``'s behalf: its trust reaches ``fetch_for``."""
        return self._trust_of(peer) in _SERVED[self.settings.fetch_for]

    def _ask_fetch(self, uri: str, peer: str) -> None:
        """A peer's ``LIP_FETCH``: queued, or refused with a ``lip.fetch_failed`` event
        (``not_trusted``, ``peer_limit``, ``busy``) and no network IO."""
        if not self.serves(peer):
            reason = (
                f"not_trusted: peer is {self._trust_of(peer)}; this node fetches for "
                f"{self.settings.fetch_for} peers only ([lip] fetch_for)"
            )
            self.emit("lip.fetch_failed", peer=peer, uri=uri, reason=reason)
            return
        try:
            self._work.put(peer, uri)
        except WorkRefused as e:
            # the short reason first: "busy" stays the word for a full queue
            reason = e.reason if e.reason == "busy" else str(e)
            self.emit("lip.fetch_failed", peer=peer, uri=uri, reason=reason, detail=str(e))
            return
        self._wake.set()

    async def on_lip(self, msg: Inbound) -> None:
        """One validated LIP message from an agent peer. Raises ``StoreError``."""
        payload, now = msg.envelope.payload, self.clock.now()
        if isinstance(payload, LipFetch):
            self._ask_fetch(payload.query, msg.peer)
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
        while not self._peers() and self.clock.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.emit("lip.fetch", uri=uri, tier=self.tiers.tier_of(host_of(uri)))
        try:
            got = await lip_learn(
                uri,
                queue=self.queue,
                tiers=self.tiers,
                clock=self.clock,
                policy=self.fetch_policy,
                overloaded=self.overloaded(),
            )
        except Exception as e:  # noqa: BLE001 - a URI the fetcher cannot handle: that fetch fails
            self.emit("lip.fetch_failed", uri=uri, reason=_reason(e))
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
            new = [p for p in self._peers() if p not in asked]
            for peer in new:
                asked.add(peer)
                await self._send_lip(peer, LipFetch(query=uri), source)
            if new:
                self.emit("lip.asked", uri=uri, peers=len(new), asked=len(asked))

    async def _answer(self, uri: str, peer: str) -> None:
        if not self.serves(peer):  # its trust fell while the job waited
            self.emit("lip.fetch_failed", peer=peer, uri=uri, reason="not_trusted: trust fell")
            return
        try:
            source, evidence = await answer_fetch(
                LipFetch(query=uri), tiers=self.tiers, clock=self.clock, policy=self.fetch_policy
            )
        except Exception as e:  # noqa: BLE001 - the peer's URI fails this fetch, nothing else
            self.emit("lip.fetch_failed", peer=peer, uri=uri, reason=_reason(e))
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
            for peer in self._peers():
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
            state=SenderState(presence=self._presence(), lri=self._lri()),  # type: ignore[arg-type]
            trust=TrustViews("probing", self._trust_of(peer)),  # type: ignore[arg-type]
        )
        try:
            await self._send(peer, "knowledge", canonicalize(env))
        except (RTTError, TimeoutError) as e:
            self.emit("error", peer=peer, error=type(e).__name__, detail=str(e)[:200], source="lip")

    async def run(self, running: Callable[[], bool], tick: float = 0.25) -> None:
        """Until ``running()`` is False: the start-up fetches, queued fetch jobs on
        ``[lip] workers`` workers (each job under ``FETCH_DEADLINE``), and every second the
        open claims and newly connected peers. Faults become ``error`` events, never
        exceptions."""
        for uri in self.settings.fetch:
            try:
                self.learn(uri)
            except LIPQueueError as e:
                self.emit("lip.fetch_failed", uri=uri, reason=str(e))
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.settings.workers):
                tg.create_task(self._worker(running, tick))
            last = self.clock.monotonic()
            while running():
                await asyncio.sleep(tick)
                if self.clock.monotonic() - last < 1.0:
                    continue
                last = self.clock.monotonic()
                try:
                    await self._ask_peers()
                    now = self.clock.now()
                    await self._announce(self.queue.process(now=now, overloaded=self.overloaded()))
                except (Web4Error, TimeoutError) as e:
                    self.emit("error", error=type(e).__name__, detail=str(e)[:300], source="lip")

    async def _worker(self, running: Callable[[], bool], tick: float) -> None:
        """One fetch worker: the fair queue's next job, until ``running()`` is False."""
        while running():
            taken = self._work.take()
            if taken is None:
                self._wake.clear()  # no await since take(): no job can slip in between
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(tick):
                        await self._wake.wait()
                continue
            uri, peer = taken.job, taken.requester
            try:
                async with asyncio.timeout(self.settings.peer_wait + FETCH_DEADLINE):
                    await (self._do_learn(uri) if peer is None else self._answer(uri, peer))
            except (Web4Error, TimeoutError) as e:
                self.emit("error", error=type(e).__name__, detail=str(e)[:300], source="lip")
            except Exception as e:
                if self._isolate is None or not self._isolate(peer, "lip", e):
                    raise
            finally:
                self._work.done(peer)
                self._wake.set()  # that peer may run its next job now


def _reason(e: Exception) -> str:
    """A failed fetch's reason: ``LIPFetchError``'s text; anything else the fetcher let
    through (e.g. ``UnicodeError`` for a host IDNA cannot encode) with its type."""
    text = str(e) if isinstance(e, LIPFetchError) else f"{type(e).__name__}: {e}"
    return text[:300]
