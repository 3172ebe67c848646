"""KnowledgeExchange end to end: causal memory, conflicts, DMP rules, deferral, decisions,
trust feedback, bad input."""

from __future__ import annotations

import uuid

import pytest

from web4.errors import KnowledgeError, StoreError, UnknownClaimError
from web4.knowledge import (
    CausalLink,
    ClaimState,
    DmpTrace,
    LinkRelation,
    LocalState,
    SharedDecision,
)
from web4.trust import TrustEvent, TrustState

U, P, T, B = TrustState.UNTRUSTED, TrustState.PROBING, TrustState.TRUSTED, TrustState.BLACKLISTED
BUSY = LocalState("overloaded", 95)


def accept(world, sender: str, statement: str = "The sky is blue", **kw) -> str:
    claim = world.propose(sender, statement, **kw).claim_id
    world.confirm(claim, world.peer(T))
    world.confirm(claim, world.peer(T))
    assert world.kx.claim(claim).state is ClaimState.ACCEPTED
    return claim


def test_accepted_claim_enters_causal_memory_with_links_and_trace(world) -> None:
    sender = world.peer(P)
    links = (CausalLink("m-prior", LinkRelation.DERIVES_FROM), CausalLink("d-1"))
    claim = accept(world, sender, links=links)
    node = world.kx.memory.get(claim)
    assert node is not None
    assert node.sender == sender
    assert node.fact.statement == "The sky is blue"
    assert world.kx.memory.links_from(claim) == sorted(links, key=lambda x: x.target)
    assert world.kx.memory.links_to("m-prior") == [(claim, "derives_from")]
    (trace,) = world.kx.memory.traces(node.decision_id)
    assert (trace.origin, trace.origin_msg_id, trace.decision) == ("claim", claim, None)
    assert [n.node_id for n in world.kx.memory.nodes()] == [claim]
    # verified knowledge is recorded but earns no trust: the proposer stays probing
    assert world.trust.state_of(sender) is P
    entry = world.trust.audit(sender)[-1]
    assert entry.event is TrustEvent.KNOWLEDGE_VERIFIED
    assert entry.evidence[0] == claim
    assert len(entry.evidence) == 3


def test_nothing_unaccepted_can_enter_causal_memory(world) -> None:
    claim = world.propose(world.peer(P)).claim_id
    c = world.kx.claim(claim)
    with pytest.raises(StoreError, match="only accepted"):
        world.kx.memory.admit(claim, c.sender, ("weather", "x", False), c.fact, c.trace, (), 0.0)
    assert world.kx.memory.get(claim) is None


def test_conflict_with_an_accepted_claim_is_disputed_and_demotes(world) -> None:
    accept(world, world.peer(T), "The sky is blue")
    liar = world.peer(P)
    out = world.propose(liar, "the sky is NOT blue", domain=" Weather ")
    assert out.state is ClaimState.DISPUTED
    assert "causal memory" in out.reason
    assert [t.evaluation.event for t in out.trust] == [TrustEvent.CONFLICT]
    assert world.trust.state_of(liar) is U
    assert world.kx.memory.get(out.claim_id) is None


def test_same_subject_other_domain_is_no_conflict(world) -> None:
    accept(world, world.peer(T), "The sky is blue")
    out = world.propose(world.peer(P), "The sky is not blue", domain="poetry")
    assert out.state is ClaimState.PENDING


def test_explicit_contradicts_marker_is_a_conflict(world) -> None:
    old = accept(world, world.peer(T), "The sky is blue")
    out = world.propose(
        world.peer(P), "Sunsets are red", links=(CausalLink(old, LinkRelation.CONTRADICTS),)
    )
    assert out.state is ClaimState.DISPUTED
    assert out.trust[0].audit.evidence == (out.claim_id, old)
    # a marker pointing at something not in causal memory is no conflict
    out2 = world.propose(
        world.peer(P), "Sunsets are red", links=(CausalLink("nowhere", "contradicts"),)
    )
    assert out2.state is ClaimState.PENDING


def test_contradicting_own_accepted_claim_is_severe_and_blacklists_trusted(world) -> None:
    flipper = world.peer(T)
    accept(world, flipper, "The sky is blue")
    out = world.propose(flipper, "The sky is not blue")
    assert out.state is ClaimState.DISPUTED
    assert out.trust[0].evaluation.event is TrustEvent.SEVERE_CONFLICT
    assert world.trust.state_of(flipper) is B


def test_contradicting_a_claim_one_confirmed_is_severe(world) -> None:
    confirmer = world.peer(T)
    claim = world.propose(world.peer(P), "The sky is blue").claim_id
    world.confirm(claim, confirmer)
    world.confirm(claim, world.peer(T))
    out = world.propose(confirmer, "The sky isn't blue")
    assert out.trust[0].evaluation.event is TrustEvent.SEVERE_CONFLICT


def test_claim_contradicting_its_own_trace_is_malicious(world) -> None:
    sender = world.peer(T)
    trace = DmpTrace(
        str(uuid.uuid4()), ["checked"], ["The sky is blue"], ["https://example.org/sky"]
    )
    out = world.propose(sender, "The sky is blue", trace=trace)
    assert out.state is ClaimState.REJECTED
    assert out.trust[0].evaluation.event is TrustEvent.MALICIOUS_EVIDENCE
    assert world.trust.state_of(sender) is B


def test_three_unverifiable_claims_demote_a_probing_peer(world) -> None:
    sender = world.peer(P)
    bare = DmpTrace(str(uuid.uuid4()), ["guessed"], [], [])  # evidence lacks the source
    for i in range(3):
        out = world.propose(sender, f"claim number {i}", trace=bare)
        assert out.state is ClaimState.REJECTED
        assert "DMP" in out.reason
        world.clock.advance(60)
    assert world.trust.state_of(sender) is U
    assert [e.event for e in world.trust.audit(sender)][-3:] == [TrustEvent.UNVERIFIABLE_CLAIM] * 3


@pytest.mark.parametrize(
    ("reason", "event"),
    [
        ("conflict", TrustEvent.CONFLICT),
        ("insufficient_evidence", TrustEvent.UNVERIFIABLE_CLAIM),
        ("cannot_verify", TrustEvent.UNVERIFIABLE_CLAIM),
    ],
)
def test_trusted_challenge_reasons_map_to_trust_events(world, reason, event) -> None:
    claim = world.propose(world.peer(P)).claim_id
    out = world.kx.challenge(
        msg_id=world.msg_id(), sender=world.peer(T), fact_ref=claim, reason=reason,
        local=LocalState(),
    )  # fmt: skip
    assert out.state is ClaimState.DISPUTED
    assert out.trust[0].evaluation.event is event


def test_deferred_while_overloaded_then_reevaluated(world) -> None:
    sender = world.peer(P)
    claim = world.propose(sender, local=BUSY).claim_id
    assert world.kx.claim(claim).state is ClaimState.DEFERRED
    world.confirm(claim, world.peer(T), local=BUSY)
    world.confirm(claim, world.peer(T), local=BUSY)
    assert world.kx.claim(claim).state is ClaimState.DEFERRED  # kept, not lost
    assert world.kx.memory.get(claim) is None
    assert [o.state for o in world.kx.reevaluate(BUSY)] == [ClaimState.DEFERRED]
    assert world.kx.reevaluate(LocalState(), limit=0) == []
    (out,) = world.kx.reevaluate(LocalState("focused", 20))
    assert (out.previous, out.state, out.changed) == (
        ClaimState.DEFERRED,
        ClaimState.ACCEPTED,
        True,
    )
    assert world.kx.memory.get(claim) is not None
    assert world.kx.reevaluate(LocalState()) == []


def test_deferred_with_too_few_confirmations_returns_to_pending(world) -> None:
    claim = world.propose(world.peer(P), local=BUSY).claim_id
    (out,) = world.kx.reevaluate(LocalState())
    assert (out.previous, out.state) == (ClaimState.DEFERRED, ClaimState.PENDING)
    assert world.kx.claims(ClaimState.PENDING)[0].msg_id == claim


def test_trust_is_read_at_evaluation_time(world) -> None:
    sender = world.peer(P)
    claim = world.propose(sender).claim_id
    c1 = world.peer(T)
    world.confirm(claim, c1)
    world.trust.record(c1, TrustEvent.SEVERE_CONFLICT, "elsewhere")  # c1 blacklisted
    world.confirm(claim, world.peer(T))
    assert world.kx.claim(claim).state is ClaimState.PENDING
    world.trust.record(sender, TrustEvent.CONFLICT, "elsewhere")  # sender untrusted now
    (out,) = world.kx.reevaluate(LocalState())
    assert out.state is ClaimState.REJECTED


def test_final_states_do_not_change(world) -> None:
    claim = accept(world, world.peer(P))
    out = world.kx.challenge(
        msg_id=world.msg_id(), sender=world.peer(T), fact_ref=claim, reason="conflict",
        local=LocalState(),
    )  # fmt: skip
    assert (out.state, out.changed, out.trust) == (ClaimState.ACCEPTED, False, ())
    assert world.kx.memory.get(claim) is not None


def test_untrusted_sender_claim_is_stored_rejected(world) -> None:
    out = world.propose(world.peer(U))
    assert (out.previous, out.state) == (None, ClaimState.REJECTED)
    assert world.kx.claims(ClaimState.REJECTED)[0].msg_id == out.claim_id
    assert len(world.kx.claims()) == 1


def test_decision_share_is_stored_as_a_dmp_trace(world) -> None:
    sender = world.peer(P)
    trace = DmpTrace(str(uuid.uuid4()), ["weighed options"], [], ["benchmark"])
    mid = world.msg_id()
    out = world.kx.share_decision(
        msg_id=mid, sender=sender, decision=SharedDecision("use sqlite", "works", "storage"),
        trace=trace, retrospective="fine",
    )  # fmt: skip
    assert out.stored
    (stored,) = world.kx.memory.traces(trace.decision_id)
    assert (stored.origin, stored.sender, stored.retrospective) == (
        "decision_share",
        sender,
        "fine",
    )
    assert stored.decision == SharedDecision("use sqlite", "works", "storage")
    assert stored.trace == trace
    again = world.kx.share_decision(
        msg_id=mid, sender=sender, decision=SharedDecision("x"), trace=trace
    )
    assert not again.stored
    assert world.kx.memory.nodes() == []  # a shared decision is not an accepted claim
    refused = world.kx.share_decision(
        msg_id=world.msg_id(), sender=world.peer(B), decision=SharedDecision("x"), trace=trace
    )
    assert (refused.stored, refused.reason) == (False, "sender is blacklisted")


def test_bad_input_is_typed(world) -> None:
    sender = world.peer(P)
    claim = world.propose(sender).claim_id
    local = LocalState()
    with pytest.raises(UnknownClaimError):
        world.kx.confirm(
            msg_id=world.msg_id(), sender=sender, fact_ref="nope", confidence=1, local=local
        )
    with pytest.raises(UnknownClaimError):
        world.kx.claim("nope")
    with pytest.raises(KnowledgeError, match="challenge reason"):
        world.kx.challenge(
            msg_id=world.msg_id(), sender=sender, fact_ref=claim, reason="meh", local=local
        )
    with pytest.raises(KnowledgeError, match="confidence"):
        world.kx.reject(
            msg_id=world.msg_id(), sender=sender, fact_ref=claim, confidence=2, local=local
        )
    with pytest.raises(KnowledgeError, match="fingerprint"):
        world.kx.confirm(
            msg_id=world.msg_id(), sender="ABC", fact_ref=claim, confidence=1, local=local
        )
    with pytest.raises(KnowledgeError, match="msg_id"):
        world.kx.confirm(msg_id="", sender=sender, fact_ref=claim, confidence=1, local=local)
    mid = world.msg_id()
    world.kx.confirm(msg_id=mid, sender=sender, fact_ref=claim, confidence=1, local=local)
    with pytest.raises(KnowledgeError, match="already voted"):
        world.kx.confirm(msg_id=mid, sender=sender, fact_ref=claim, confidence=1, local=local)
    stored = world.kx.claim(claim)
    with pytest.raises(KnowledgeError, match="already proposed"):
        world.kx.propose(
            msg_id=claim, sender=sender, fact=stored.fact, trace=stored.trace,
            links=stored.links, local=local,
        )  # fmt: skip
    with pytest.raises(KnowledgeError, match="64 causal links"):
        world.propose(sender, links=tuple(CausalLink(f"l{i}") for i in range(65)))
    with pytest.raises(KnowledgeError, match="retrospective"):
        world.kx.share_decision(
            msg_id=world.msg_id(), sender=sender, decision=SharedDecision("x"),
            trace=DmpTrace(str(uuid.uuid4())), retrospective="r" * 16385,
        )  # fmt: skip
    # the claim is untouched by all of that
    assert world.kx.claim(claim).state is ClaimState.PENDING
