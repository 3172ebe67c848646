"""The agent: the public Agent API, and the loop that drives it.

Theory of operation: an agent author writes against ``web4.agent.api`` (re-exported
here): an ``Agent`` with handlers (``on_fact_proposed``, ``on_vote``, ``on_human``, ...)
that act through an ``AgentContext``; ``docs/AGENTS.md`` is the tutorial. The node runs
it in an ``AgentLoop`` (``loop``) through ``HandlerCycle`` (``driver``): gather_context
-> decide -> act -> record -> update_state for every routed item, under deadlines, in a
TaskGroup. Presence and LRI come from real local load (``presence``); drift scoring is
pluggable (``drift``); decisions and accepted knowledge go to a ``Memory`` port
(``memory``). ``load_agent`` (``loading``) finds an agent by ``module:factory``, path or
installed name (entry-point group ``web4.agents``). ``RuleBasedAgent`` (``rules``) is a
cycle agent for demos and tests.
"""

from web4.agent.api import (
    HANDLERS,
    Action,
    Agent,
    AgentContext,
    AgentEvent,
    AgentLike,
    AgentOptions,
    AgentPorts,
    ClaimSettled,
    DecisionShared,
    EvidenceReceived,
    FactProposed,
    HumanMessage,
    IntentReceived,
    StateReceived,
    Vote,
)
from web4.agent.drift import DriftAlarm, DriftDetector, Realigned, Scorer, TokenOverlapScorer
from web4.agent.driver import HandlerCycle
from web4.agent.hooks import AgentLoopConfig, CycleAgent, Emit
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
    DecisionRecord,
    InboundItem,
    InboundMessage,
    Intent,
    KnowledgeAccepted,
    Outbound,
    PeerState,
    SenderState,
    check_intent,
    intent_text,
)

__all__ = [
    "HANDLERS",
    "Action",
    "ActionResult",
    "Agent",
    "AgentContext",
    "AgentEvent",
    "AgentLike",
    "AgentLoop",
    "AgentLoopConfig",
    "AgentOptions",
    "AgentPorts",
    "Assessment",
    "ClaimSettled",
    "Context",
    "CycleAgent",
    "Decision",
    "DecisionRecord",
    "DecisionShared",
    "DriftAlarm",
    "DriftDetector",
    "Emit",
    "EvidenceReceived",
    "FactProposed",
    "HandlerCycle",
    "HumanMessage",
    "InMemoryMemory",
    "InboundItem",
    "InboundMessage",
    "Intent",
    "IntentReceived",
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
    "SenderState",
    "StatePublisher",
    "StateReceived",
    "SystemLoadProbe",
    "TokenOverlapScorer",
    "Vote",
    "assess",
    "check_intent",
    "intent_text",
]
