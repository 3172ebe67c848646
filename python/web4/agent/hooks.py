"""The agent loop's ports: the ``Agent`` hooks, the senders, the emit hook, the config.

Theory of operation: the loop depends on these protocols only, so the node can wire any
agent, transport and observability to it. A hook may be a plain method or ``async``; its
result type is written ``Maybe[T]`` (``T`` or an awaitable of ``T``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeVar

from web4.agent.presence import LoadSample, PresenceConfig
from web4.agent.types import (
    ActionResult,
    Context,
    Decision,
    DecisionRecord,
    Intent,
    Outbound,
    SenderState,
)
from web4.cip.messages import DmpTrace
from web4.errors import ConfigError

__all__ = [
    "AgentLoopConfig",
    "CycleAgent",
    "Emit",
    "IntentSender",
    "LoadProbe",
    "Maybe",
    "OutboundSender",
    "StateSender",
    "trace_of",
]

T = TypeVar("T")
Maybe: TypeAlias = T | Awaitable[T]


def trace_of(decision: Decision, result: ActionResult, context: Context) -> DecisionRecord:
    """The usual ``record`` hook: the decision's steps, counterfactuals and evidence,
    the outcome, and the message that triggered it."""
    item = context.item
    return DecisionRecord(
        DmpTrace(
            decision_id=decision.decision_id,
            steps=[*decision.steps, f"outcome: {result.outcome}"],
            counterfactuals=list(decision.counterfactuals),
            evidence=list(decision.evidence),
        ),
        choice=decision.choice,
        outcome=result.outcome,
        trigger_msg_id=getattr(item, "msg_id", None),
        peer=getattr(item, "peer", None),
    )


class CycleAgent(Protocol):
    """What the loop drives: a declared mission and five cycle hooks (sync or async).
    An Agent API agent (``web4.agent.api``) is driven through ``HandlerCycle``
    (``web4.agent.driver``); ``RuleBasedAgent`` implements these hooks directly."""

    mission: str

    def gather_context(self, item: Any, base: Context) -> Maybe[Context]: ...

    def decide(self, context: Context) -> Maybe[Decision | None]: ...

    def act(self, decision: Decision, context: Context) -> Maybe[ActionResult]: ...

    def record(
        self, decision: Decision, result: ActionResult, context: Context
    ) -> Maybe[DecisionRecord]: ...

    def update_state(
        self, decision: Decision, result: ActionResult, context: Context
    ) -> Maybe[Intent | None]: ...


class Emit(Protocol):
    """The observability hook (``EventBus.emit`` satisfies it)."""

    def __call__(
        self, kind: str, *, peer: str | None = None, msg_id: str | None = None, **attrs: Any
    ) -> object: ...


class LoadProbe(Protocol):
    def sample(self) -> LoadSample: ...


StateSender = Callable[[SenderState], Awaitable[None]]
OutboundSender = Callable[[Outbound], Awaitable[None]]
IntentSender = Callable[[Intent], Awaitable[None]]


@dataclass(frozen=True)
class AgentLoopConfig:
    inbox_size: int = 256
    hook_timeout: float = 2.0
    # ``act`` sends messages, each under its own send deadline (None: ``hook_timeout``)
    act_timeout: float | None = None
    send_timeout: float = 2.0
    idle_poll: float = 0.1
    sample_interval: float = 1.0
    max_peers: int = 1024
    drift_window: int = 5
    drift_threshold: float = 0.2
    drift_sustain: int = 3
    presence: PresenceConfig = field(default_factory=PresenceConfig)

    def __post_init__(self) -> None:
        if self.inbox_size < 1 or self.max_peers < 1:
            raise ConfigError("inbox_size and max_peers must be at least 1")
        timeouts = (
            self.hook_timeout,
            self.hook_timeout if self.act_timeout is None else self.act_timeout,
            self.send_timeout,
            self.idle_poll,
            self.sample_interval,
        )
        if min(timeouts) <= 0:
            raise ConfigError("timeouts and intervals must be positive")
