"""AgentLoop: drives a user's agent through the cognitive cycle, with presence and drift.

Theory of operation: the router (and the knowledge layer) put items into a bounded inbox
(``offer`` never waits; a full inbox drops and counts). ``run()`` owns two tasks in one
``asyncio.TaskGroup``:

* the *cycle* task takes one item at a time and calls the agent's hooks in this order:
  ``gather_context`` -> ``decide`` -> ``act`` -> ``record`` -> ``update_state``. ``decide``
  may return ``None`` (nothing to do; the cycle ends there). The loop scores the decision's
  ``choice`` and any new intent against the mission (``Scorer``, drift detector), sends the
  action's outbound messages through the injected ``outbound_sender``, stores the DMP trace
  that ``record`` returns in ``Memory``, and emits ``agent.decision``/``agent.intent``/
  ``agent.mission_drift``. A CIP ``STATE_UPDATE`` first updates the agent's view of that
  peer; a ``KnowledgeAccepted`` item is first written to memory (``record_accepted``).
* the *presence* task samples local load every ``sample_interval`` seconds (the default
  probe, ``loop.probe``, counts the inbox; the node adds its other queues with
  ``loop.probe.add_queue``), computes
  presence and LRI (``assess``) and, when ``StatePublisher`` allows (change + rate limit),
  sends a ``SenderState`` through the injected ``state_sender`` (the node puts it on the
  RTT ``state`` channel) and emits ``agent.state_update``.

Every await has a deadline: hooks ``hook_timeout`` (``act``: ``act_timeout``), senders
``send_timeout``, the inbox wait ``idle_poll``. Hooks may be sync or async; a sync hook
runs inline and must be quick (it cannot be interrupted). A hook that raises or times out
is isolated: ``agent.hook_error``, the item is dropped, the loop goes on. A failing
``Memory`` call is reported the same way but does not end the cycle (the action already
happened). Anything else a cycle raises (a result the loop cannot use, a bug) goes to
``isolate`` when given (``web4.isolation``: the item is dropped, the loop goes on, unless
it is fatal, e.g. ``StoreError``), else out of ``run()``. ``stop()`` makes both tasks
finish their current step and return, so ``run()`` returns within about max(idle_poll,
one cycle); items still in the inbox are counted as dropped in ``agent.stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from web4.agent.api import AgentEvent
from web4.agent.drift import DriftAlarm, DriftDetector, Realigned, Scorer, TokenOverlapScorer
from web4.agent.hooks import (
    AgentLoopConfig,
    CycleAgent,
    Emit,
    IntentSender,
    LoadProbe,
    OutboundSender,
    StateSender,
)
from web4.agent.memory import Memory
from web4.agent.presence import (
    Assessment,
    StatePublisher,
    SystemLoadProbe,
    assess,
)
from web4.agent.types import (
    ActionResult,
    Context,
    Decision,
    DecisionRecord,
    InboundItem,
    InboundMessage,
    Intent,
    KnowledgeAccepted,
    Outbound,
    PeerState,
    SenderState,
    intent_text,
)
from web4.clock import Clock, SystemClock
from web4.errors import ConfigError
from web4.isolation import Isolate

__all__ = ["AgentLoop"]


class _HookError(Exception):
    def __init__(self, hook: str, error: BaseException) -> None:
        super().__init__(hook)
        self.hook = hook
        self.error = error


class AgentLoop:
    """See the module docstring. Raises ``ConfigError`` for an agent without a mission."""

    def __init__(
        self,
        agent: CycleAgent,
        *,
        emit: Emit,
        memory: Memory,
        state_sender: StateSender,
        outbound_sender: OutboundSender | None = None,
        intent_sender: IntentSender | None = None,
        probe: LoadProbe | None = None,
        scorer: Scorer | None = None,
        clock: Clock | None = None,
        config: AgentLoopConfig | None = None,
        isolate: Isolate | None = None,
    ) -> None:
        if not isinstance(getattr(agent, "mission", None), str) or not agent.mission.strip():
            raise ConfigError("an agent declares a non-empty mission")
        self.agent = agent
        self.config = config or AgentLoopConfig()
        self._emit = emit
        self._memory = memory
        self._state_sender = state_sender
        self._outbound_sender = outbound_sender
        self._intent_sender = intent_sender
        self._isolate = isolate  # a bug met outside a hook drops that item (web4.isolation)
        self._scorer = scorer or TokenOverlapScorer()
        self._clock = clock or SystemClock()
        self._inbox: asyncio.Queue[InboundItem | AgentEvent] = asyncio.Queue(
            maxsize=self.config.inbox_size
        )
        self.probe: LoadProbe = probe or SystemLoadProbe([self.depth])
        self._publisher = StatePublisher(self.config.presence)
        self._drift = DriftDetector(
            window=self.config.drift_window,
            threshold=self.config.drift_threshold,
            sustain=self.config.drift_sustain,
        )
        self._peers: OrderedDict[str, PeerState] = OrderedDict()
        self._assessment = Assessment("diffuse", 0, ())
        self._intent: Intent | None = None
        self._stop = asyncio.Event()
        self._running = False
        self.processed = 0
        self.dropped = 0
        self.hook_errors = 0

    # --- what the node reads and feeds -------------------------------------------------

    @property
    def presence(self) -> str:
        return self._assessment.presence

    @property
    def lri(self) -> int:
        return self._assessment.lri

    @property
    def current_intent(self) -> Intent | None:
        return self._intent

    @property
    def drifting(self) -> bool:
        return self._drift.drifting

    def state(self) -> SenderState:
        """Our state now, for the ``state`` block of every outgoing envelope."""
        intent = None if self._intent is None else intent_text(self._intent)
        return self._assessment.state_update(intent)

    def peer_state(self, peer: str) -> PeerState | None:
        return self._peers.get(peer)

    def depth(self) -> tuple[int, int]:
        """(items waiting, capacity) of the inbox, for the load probe."""
        return self._inbox.qsize(), self.config.inbox_size

    def offer(self, item: InboundItem | AgentEvent) -> bool:
        """Queue an item without waiting; False (and counted) when the inbox is full.
        Call it from the loop's own thread (the router runs there); asyncio queues are not
        thread-safe."""
        try:
            self._inbox.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            self._emit("agent.dropped", peer=getattr(item, "peer", None), reason="inbox_full")
            return False
        return True

    async def set_intent(self, intent: Intent | None) -> None:
        """Adopt an intent (from a human, HCP); announced like one the agent chose."""
        await self._adopt_intent(intent)

    def stop(self) -> None:
        """Ask ``run`` to return after the current step."""
        self._stop.set()

    # --- the tasks ---------------------------------------------------------------------

    async def run(self) -> None:
        """Run until ``stop()``. Raises ``ConfigError`` if already running."""
        if self._running:
            raise ConfigError("this AgentLoop is already running")
        self._running = True
        self._stop.clear()
        self._emit("agent.started", mission=self.agent.mission[:200])
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._cycles(), name="agent-cycles")
                tg.create_task(self._presence(), name="agent-presence")
        finally:
            left = self._inbox.qsize()
            while not self._inbox.empty():
                self._inbox.get_nowait()
            self.dropped += left
            self._running = False
            self._emit("agent.stopped", processed=self.processed, dropped=self.dropped, left=left)

    async def _cycles(self) -> None:
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(self.config.idle_poll):
                    item = await self._inbox.get()
            except TimeoutError:
                continue
            try:
                await self._cycle(item)
            except _HookError as failed:
                self._report(failed, item)
            except Exception as exc:  # not a hook's: an unusable result, or a bug of ours
                peer = getattr(item, "peer", None)
                if self._isolate is None or not self._isolate(peer, "agent", exc):
                    raise
            self.processed += 1

    def _report(self, failed: _HookError, item: object) -> None:
        self.hook_errors += 1
        self._emit(
            "agent.hook_error",
            peer=getattr(item, "peer", None),
            msg_id=getattr(item, "msg_id", None),
            hook=failed.hook,
            error=type(failed.error).__name__,
            detail=str(failed.error)[:200],
        )

    async def _presence(self) -> None:
        while not self._stop.is_set():
            await self.refresh_presence()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.sample_interval):
                    await self._stop.wait()

    async def refresh_presence(self) -> bool:
        """Sample, assess and maybe send a ``STATE_UPDATE`` now; True if one was sent."""
        self._assessment = assess(self.probe.sample(), self.config.presence)
        update = self.state()
        if not self._publisher.offer(update, self._clock.monotonic()):
            return False
        try:
            async with asyncio.timeout(self.config.send_timeout):
                await self._state_sender(update)
        except Exception as exc:  # noqa: BLE001 - a failed send is reported, then retried
            self._publisher.forget()
            self._emit("error", error=type(exc).__name__, detail=str(exc)[:200], source="state")
            return False
        self._emit(
            "agent.state_update",
            presence=update.presence,
            lri=update.lri,
            kernel_signals=list(update.kernel_signals),
            intent=update.intent,
        )
        return True

    # --- one cognitive cycle -----------------------------------------------------------

    async def _call(self, hook: str, *args: Any, timeout: float | None = None) -> Any:
        try:
            async with asyncio.timeout(timeout or self.config.hook_timeout):
                result = getattr(self.agent, hook)(*args)
                if inspect.isawaitable(result):
                    result = await result
                return result
        except Exception as exc:
            raise _HookError(hook, exc) from exc

    async def _cycle(self, item: InboundItem | AgentEvent) -> None:
        if isinstance(item, InboundMessage) and item.type in ("STATE_UPDATE", "HCP_STATE_UPDATE"):
            self._apply_peer_state(item)
        if isinstance(item, KnowledgeAccepted):
            await self._call_memory("record_accepted", item, item)
        base = Context(
            item=item,
            mission=self.agent.mission,
            presence=self._assessment.presence,
            lri=self._assessment.lri,
            intent=self._intent,
            peers=dict(self._peers),
        )
        context: Context = await self._call("gather_context", item, base)
        decision: Decision | None = await self._call("decide", context)
        if decision is None:
            return
        score = self._scorer.score(self.agent.mission, decision.choice)
        self._observe_drift(score, decision.choice)
        result: ActionResult = await self._call(
            "act", decision, context, timeout=self.config.act_timeout
        )
        for out in result.outbound:
            await self._send_outbound(out)
        trace: DecisionRecord = await self._call("record", decision, result, context)
        await self._call_memory("record_decision", trace, item)
        self._emit(
            "agent.decision",
            peer=getattr(item, "peer", None),
            msg_id=getattr(item, "msg_id", None),
            decision_id=trace.decision_id,
            choice=decision.choice[:200],
            outcome=result.outcome[:200],
            mission_score=round(score, 4),
        )
        new_intent: Intent | None = await self._call("update_state", decision, result, context)
        if new_intent is not None and new_intent != self._intent:
            await self._adopt_intent(new_intent)

    async def _call_memory(self, method: str, arg: object, item: object) -> None:
        """A memory failure is reported; the cycle goes on (the action already happened)."""
        try:
            async with asyncio.timeout(self.config.hook_timeout):
                result = getattr(self._memory, method)(arg)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:  # noqa: BLE001 - isolated like a hook, but not fatal
            self._report(_HookError(f"memory.{method}", exc), item)

    async def _send_outbound(self, out: Outbound) -> None:
        if self._outbound_sender is None:
            return
        try:
            async with asyncio.timeout(self.config.send_timeout):
                await self._outbound_sender(out)
        except Exception as exc:  # noqa: BLE001 - one failed send does not stop the cycle
            self._emit(
                "error",
                peer=out.peer,
                error=type(exc).__name__,
                detail=str(exc)[:200],
                source="outbound",
                type=out.type,
            )

    async def _adopt_intent(self, intent: Intent | None) -> None:
        self._intent = intent
        if intent is None:
            self._emit("agent.intent", intent=None)
            return
        score = self._scorer.score(self.agent.mission, f"{intent.topic} {intent.context}")
        self._emit(
            "agent.intent",
            intent=intent_text(intent),
            goal=intent.goal,
            mission_score=round(score, 4),
        )
        self._observe_drift(score, intent_text(intent))
        if self._intent_sender is not None:
            try:
                async with asyncio.timeout(self.config.send_timeout):
                    await self._intent_sender(intent)
            except Exception as exc:  # noqa: BLE001 - reported; the intent stays adopted
                self._emit(
                    "error", error=type(exc).__name__, detail=str(exc)[:200], source="intent"
                )

    def _observe_drift(self, score: float, text: str) -> None:
        signal = self._drift.observe(score)
        if isinstance(signal, DriftAlarm):
            self._emit(
                "agent.mission_drift",
                average=round(signal.average, 4),
                threshold=signal.threshold,
                window=signal.window,
                consecutive=signal.consecutive,
                last_text=text[:200],
            )
        elif isinstance(signal, Realigned):
            self._emit("agent.mission_realigned", average=round(signal.average, 4))

    def _apply_peer_state(self, msg: InboundMessage) -> None:
        p: Mapping[str, Any] = msg.payload
        presence, lri = p.get("presence"), p.get("lri")
        if not isinstance(presence, str) or not isinstance(lri, int):
            return  # the validator guarantees these for CIP; HCP has no lri: ignore
        signals = p.get("kernel_signals")
        intent = p.get("intent")
        state = PeerState(
            presence=presence,
            lri=lri,
            kernel_signals=tuple(str(s) for s in signals) if isinstance(signals, list) else (),
            intent=intent if isinstance(intent, str) else None,
            updated_at=self._clock.now(),
        )
        self._peers[msg.peer] = state
        self._peers.move_to_end(msg.peer)
        while len(self._peers) > self.config.max_peers:
            self._peers.popitem(last=False)
        self._emit("agent.peer_state", peer=msg.peer, msg_id=msg.msg_id, presence=presence, lri=lri)
