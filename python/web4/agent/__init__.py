"""The agent loop: cognitive-cycle hooks, presence and LRI, intent, mission drift, memory.

Theory of operation: ``AgentLoop`` (``loop``) drives a user's ``Agent`` through
gather_context -> decide -> act -> record -> update_state for every routed item, under
deadlines, in a TaskGroup. Presence and LRI come from real local load (``presence``);
drift scoring is pluggable (``drift``); decisions and accepted knowledge go to a
``Memory`` port (``memory``). ``RuleBasedAgent`` (``rules``) ships for demos and tests.
"""

from web4.agent.drift import DriftAlarm, DriftDetector, Realigned, Scorer, TokenOverlapScorer
from web4.agent.hooks import Agent, AgentLoopConfig, Emit
from web4.agent.loop import AgentLoop
from web4.agent.memory import InMemoryMemory, Memory
from web4.agent.presence import (
    Assessment,
    LoadSample,
    PresenceConfig,
    StatePublisher,
    SystemLoadProbe,
    assess,
)
from web4.agent.rules import Rule, RuleBasedAgent
from web4.agent.types import (
    ActionResult,
    Context,
    Decision,
    DMPTrace,
    InboundItem,
    InboundMessage,
    Intent,
    KnowledgeAccepted,
    Outbound,
    PeerState,
    StateUpdate,
)

__all__ = [
    "ActionResult",
    "Agent",
    "AgentLoop",
    "AgentLoopConfig",
    "Assessment",
    "Context",
    "DMPTrace",
    "Decision",
    "DriftAlarm",
    "DriftDetector",
    "Emit",
    "InMemoryMemory",
    "InboundItem",
    "InboundMessage",
    "Intent",
    "KnowledgeAccepted",
    "LoadSample",
    "Memory",
    "Outbound",
    "PeerState",
    "PresenceConfig",
    "Realigned",
    "Rule",
    "RuleBasedAgent",
    "Scorer",
    "StatePublisher",
    "StateUpdate",
    "SystemLoadProbe",
    "TokenOverlapScorer",
    "assess",
]
