"""The knowledge rules under attack: votes bound to content, seniority, quotas, expiry and
the node's own claims (docs/CIP_SPEC.md section 7, "Trust that cannot be bought")."""

from __future__ import annotations

import uuid

import pytest

from support.knowledge_world import OK, World
from web4.cip.claims import claim_hash
from web4.errors import KnowledgeError, QuotaError, UnknownClaimError
from web4.knowledge import ClaimState, DmpTrace, Fact, KnowledgeExchange, KnowledgePolicy
from web4.knowledge.model import to_json
from web4.trust import TrustEvent, TrustState

T, P = TrustState.TRUSTED, TrustState.PROBING


def payload_of(world: World, claim_id: str) -> dict[str, object]:
    c = world.kx.claim(claim_id)
    return {
        "fact": to_json(c.fact),
        "dmp_trace": to_json(c.trace),
        "causal_links": [link.target for link in c.links],
    }


def vote(world: World, voter: str, fact_ref: str, digest: str, kind: str = "confirm"):
    common = {"msg_id": world.msg_id(), "sender": voter, "fact_ref": fact_ref, "local": OK}
    if kind == "confirm":
        return world.kx.confirm(confidence=0.9, claim_hash=digest, **common)  # type: ignore[arg-type]
    return world.kx.challenge(reason="conflict", claim_hash=digest, **common)  # type: ignore[arg-type]


def test_a_claims_hash_is_the_hash_of_what_its_proposer_signed(world: World) -> None:
    sender = world.peer(P)
    out = world.propose(sender)
    stored = world.kx.claim(out.claim_id)
    assert stored.claim_hash == claim_hash(sender, payload_of(world, out.claim_id))
    assert stored.wire_msg_id == out.claim_id


def test_a_vote_applies_only_to_the_claim_with_its_hash(world: World) -> None:
    honest, attacker = world.peer(P), world.peer(P)
    a1, a2 = world.peer(T), world.peer(T)
    real = world.propose(honest, "Water boils at 100 C", "physics")
    digest = world.kx.claim(real.claim_id).claim_hash
    assert digest is not None
    # the attacker proposes a lie under the honest claim's msg_id: it is kept apart
    lie = world.kx.propose(
        msg_id=real.claim_id,
        sender=attacker,
        fact=Fact("Drinking bleach cures colds", "health", 0.9, ["x"]),
        trace=DmpTrace(str(uuid.uuid4()), ["s"], [], ["x"]),
        local=OK,
    )
    assert lie.claim_id != real.claim_id
    assert world.kx.claim(lie.claim_id).wire_msg_id == real.claim_id
    vote(world, a1, real.claim_id, digest)
    vote(world, a2, real.claim_id, digest)
    assert world.kx.claim(real.claim_id).state is ClaimState.ACCEPTED
    assert world.kx.claim(lie.claim_id).state is ClaimState.PENDING
    assert world.kx.confirmers(lie.claim_id) == []


def test_a_vote_whose_fact_ref_and_hash_disagree_is_refused(world: World) -> None:
    sender, voter = world.peer(P), world.peer(T)
    c1 = world.propose(sender, "A is a")
    c2 = world.propose(sender, "B is b")
    h2 = world.kx.claim(c2.claim_id).claim_hash
    assert h2 is not None
    with pytest.raises(KnowledgeError, match="is not the msg_id"):
        vote(world, voter, c1.claim_id, h2)
    with pytest.raises(UnknownClaimError):
        vote(world, voter, c1.claim_id, "0" * 64)
    with pytest.raises(KnowledgeError, match="claim_hash"):
        vote(world, voter, c1.claim_id, "NOT-A-HASH")


def test_one_vote_per_voter_and_claim_whatever_its_msg_id(world: World) -> None:
    sender, voter = world.peer(P), world.peer(T)
    claim = world.propose(sender).claim_id
    digest = world.kx.claim(claim).claim_hash
    assert digest is not None
    vote(world, voter, claim, digest)
    with pytest.raises(KnowledgeError, match="already voted"):
        vote(world, voter, claim, digest, "challenge")
    assert world.kx.claim(claim).state is ClaimState.PENDING


def test_a_voter_trusted_only_after_the_claim_arrived_does_not_count(world: World) -> None:
    sender, early = world.peer(P), world.peer(T)
    claim = world.propose(sender).claim_id
    world.clock.advance(1.0)
    late = world.peer(T)  # promoted after the claim was first seen
    world.confirm(claim, early)
    world.confirm(claim, late)
    assert world.kx.claim(claim).state is ClaimState.PENDING
    third = world.propose(sender, "The grass is green").claim_id
    world.confirm(third, early)
    world.confirm(third, late)  # trusted before this one arrived: counts
    assert world.kx.claim(third).state is ClaimState.ACCEPTED


def test_fresh_keys_confirming_each_other_earn_no_trust(world: World) -> None:
    anchors = [world.peer(T), world.peer(T)]
    sybils = [world.peer(P) for _ in range(5)]
    # each sybil parrots what the anchors believe; the anchors confirm
    for s in sybils:
        claim = world.propose(s, "Water boils at 100 C", "physics").claim_id
        for a in anchors:
            world.confirm(claim, a)
        assert world.kx.claim(claim).state is ClaimState.ACCEPTED
        assert world.trust.state_of(s) is P  # knowledge earns no trust
    lie = world.propose(sybils[0], "Drinking bleach cures the common cold", "health").claim_id
    for s in sybils[1:]:
        world.confirm(lie, s)
    assert world.kx.claim(lie).state is ClaimState.PENDING
    assert world.kx.memory.get(lie) is None


def test_junior_trusted_peers_cannot_demote_a_senior_one(world: World) -> None:
    senior = world.peer(T)
    world.clock.advance(10.0)
    juniors = [world.peer(T), world.peer(T)]
    world.clock.advance(10.0)
    for i in range(5):
        claim = world.propose(senior, f"Statement number {i} is true").claim_id
        for j in juniors:
            world.kx.challenge(
                msg_id=world.msg_id(), sender=j, fact_ref=claim, reason="conflict", local=OK
            )
        assert world.kx.claim(claim).state is ClaimState.DISPUTED
    assert world.trust.state_of(senior) is T
    assert not [e for e in world.trust.audit(senior) if e.event is TrustEvent.CONFLICT]


def test_a_peer_trusted_as_long_may_charge_a_trusted_sender(world: World) -> None:
    a, b = world.peer(T), world.peer(T)  # trusted at the same moment
    world.clock.advance(1.0)
    claim = world.propose(a).claim_id
    world.kx.challenge(msg_id=world.msg_id(), sender=b, fact_ref=claim, reason="conflict", local=OK)
    assert [e.event for e in world.trust.audit(a) if e.cause != "setup"] == [TrustEvent.CONFLICT]


def test_the_nodes_own_claims_need_confirmations_and_touch_no_trust(world: World) -> None:
    me = world.peer(TrustState.UNTRUSTED, "me")
    kx = KnowledgeExchange(world.store, world.trust, world.clock, me=me)
    own = kx.propose(
        msg_id=world.msg_id(), sender=me, fact=Fact("x is y", "d", 0.9, ["op"]),
        trace=DmpTrace(str(uuid.uuid4()), ["s"], [], ["op"]), local=OK,
    )  # fmt: skip
    assert own.state is ClaimState.PENDING  # not rejected as from an untrusted sender
    anchor = world.peer(T)
    kx.challenge(msg_id=world.msg_id(), sender=anchor, fact_ref=own.claim_id,
                 reason="conflict", local=OK)  # fmt: skip
    assert kx.claim(own.claim_id).state is ClaimState.DISPUTED
    assert me not in [r.peer for r in world.trust.peers()]
    # and our own vote never counts for anyone's claim
    other = kx.propose(
        msg_id=world.msg_id(), sender=world.peer(P), fact=Fact("a is b", "d", 0.9, ["s"]),
        trace=DmpTrace(str(uuid.uuid4()), ["s"], [], ["s"]), local=OK,
    )  # fmt: skip
    kx.confirm(msg_id=world.msg_id(), sender=me, fact_ref=other.claim_id, confidence=1, local=OK)
    assert kx.counted_voters(kx.claim(other.claim_id)) == []


def small_world(world: World, **policy: float) -> KnowledgeExchange:
    return KnowledgeExchange(
        world.store,
        world.trust,
        world.clock,
        KnowledgePolicy(**policy),  # type: ignore[arg-type]
    )


def test_a_sender_over_its_claim_quota_is_refused_and_others_are_not(world: World) -> None:
    kx = small_world(world, max_open_claims_per_sender=3, max_open_bytes_per_sender=5_000)
    flooder, other = world.peer(P), world.peer(P)

    def claim(sender: str, text: str, size: int = 10) -> str:
        return kx.propose(
            msg_id=world.msg_id(), sender=sender, fact=Fact(text, "d", 0.9, ["s"],
            "c" * size), trace=DmpTrace(str(uuid.uuid4()), ["s"], [], ["s"]), local=OK,
        ).claim_id  # fmt: skip

    for i in range(3):
        claim(flooder, f"claim {i}")
    with pytest.raises(QuotaError, match="quota"):
        claim(flooder, "claim 3")
    claim(other, "an honest claim")  # someone else's quota is untouched
    big = world.peer(P)
    claim(big, "a huge claim", size=4000)
    with pytest.raises(QuotaError, match="bytes"):
        claim(big, "another huge claim", size=4000)


def test_claims_never_accepted_expire_and_free_the_quota(world: World) -> None:
    kx = small_world(world, max_open_claims_per_sender=2, claim_ttl_s=100.0)
    sender = world.peer(P)

    def claim(text: str) -> str:
        return kx.propose(
            msg_id=world.msg_id(), sender=sender, fact=Fact(text, "d", 0.9, ["s"]),
            trace=DmpTrace(str(uuid.uuid4()), ["s"], [], ["s"]), local=OK,
        ).claim_id  # fmt: skip

    old = [claim("one is one"), claim("two is two")]
    with pytest.raises(QuotaError):
        claim("three is three")
    world.clock.advance(101.0)
    claim("three is three")  # the old ones expired on the way in
    for c in old:
        with pytest.raises(UnknownClaimError):
            kx.claim(c)


def test_many_fresh_keys_share_one_pool_and_trusted_peers_are_outside_it(world: World) -> None:
    kx = small_world(world, max_open_bytes_untrusted=3_000)
    keys = [world.peer(P) for _ in range(20)]
    anchor = world.peer(T)

    def claim(sender: str, text: str) -> str:
        return kx.propose(
            msg_id=world.msg_id(), sender=sender, fact=Fact(text, "d", 0.9, ("s",),
            "c" * 500), trace=DmpTrace(str(uuid.uuid4()), ("s",), (), ("s",)), local=OK,
        ).claim_id  # fmt: skip

    refused: list[str] = []
    for i, key in enumerate(keys):  # one claim each: every per-sender quota is fine
        try:
            claim(key, f"claim number {i}")
        except QuotaError as e:
            refused.append(str(e))
    assert 0 < len(refused) < len(keys)
    assert all("shared quota" in r for r in refused)
    claim(anchor, "an anchor's claim")  # trusted peers are outside the pool
