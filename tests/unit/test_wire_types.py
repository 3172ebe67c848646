"""One type per wire concept: the knowledge layer and the Agent API use the CIP msgspec
Structs themselves, and the two claim life cycles and the two memories have one name each."""

from __future__ import annotations

import web4.agent as agent
import web4.agent.types as agent_types
import web4.knowledge as knowledge
import web4.lip as lip
from web4.cip import messages as cm


def test_knowledge_and_agent_use_the_cip_structs() -> None:
    assert knowledge.Fact is cm.Fact
    assert knowledge.DmpTrace is cm.DmpTrace
    assert knowledge.SharedDecision is cm.SharedDecision
    assert agent.Intent is cm.Intent
    assert agent.SenderState is cm.SenderState
    assert agent_types.Presence is cm.Presence
    assert agent_types.Goal is cm.Goal


def test_the_old_duplicates_are_gone() -> None:
    for name in ("DMPTrace", "StateUpdate"):
        assert not hasattr(agent, name), name
    assert not hasattr(lip, "ClaimState")  # LIP's is LearnedClaimState
    assert not hasattr(lip, "CausalMemory")  # LIP's port is AcceptedClaimSink
    assert lip.LearnedClaimState is not knowledge.ClaimState
    assert isinstance(knowledge.CausalMemory, type)
