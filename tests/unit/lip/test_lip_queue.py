"""The deferred-acceptance queue: the brief's transitions, and nothing else."""

from __future__ import annotations

import pytest

from web4.errors import LIPQueueError, UnknownClaimError
from web4.lip._state import CLAIM_TABLE, ClaimEvent, LearnedClaimState
from web4.lip.extract import claim_id
from web4.lip.learn import payload_for
from web4.lip.messages import Claim, Evidence, LipAccept, LipConflict, LipReject
from web4.lip.queue import AcceptedClaim, ClaimQueue
from web4.lip.tiers import SourceTiers, TierPolicy
from web4.store import Store

POLICY = """
[domains]
"high.test" = "high"
"medium.test" = "medium"
"low.test" = "low"
"blocked.test" = "blocked"
"""
TRUSTED = {"agent-b", "agent-c", "agent-d"}
S = LearnedClaimState


class Knowledge:
    def __init__(self) -> None:
        self.contradicted: dict[str, list[str]] = {}

    def conflicts_with(self, statement: str) -> list[str]:
        return self.contradicted.get(statement, [])


class Memory:
    def __init__(self) -> None:
        self.claims: list[AcceptedClaim] = []

    def record_claim(self, claim: AcceptedClaim) -> None:
        self.claims.append(claim)


class Env:
    def __init__(self, path, window: float = 100.0, max_open: int = 100) -> None:
        self.store = Store.open(path)
        self.knowledge, self.memory = Knowledge(), Memory()
        self.tiers = SourceTiers(self.store, TierPolicy.from_toml(POLICY))
        self.queue = ClaimQueue(
            self.store,
            self.tiers,
            knowledge=self.knowledge,
            memory=self.memory,
            is_trusted=TRUSTED.__contains__,
            window=window,
            max_open=max_open,
        )

    def submit(self, host: str, statement: str, now: float = 0.0, overloaded: bool = False):
        ev = Evidence(
            uri=f"http://{host}/p",
            final_uri=f"http://{host}/p",
            retrieved_at="2026-01-01T00:00:00.000Z",
            sha256="a" * 64,
            content_type="text/html",
            size=1,
        )
        c = Claim(claim_id(statement), statement, "p[1]")
        return c.claim_id, self.queue.submit(ev, [c], now=now, overloaded=overloaded, cause="t")


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path / "q.sqlite3")
    yield e
    e.store.close()


@pytest.mark.parametrize(
    ("host", "state"),
    [
        ("high.test", S.ACCEPTED),
        ("medium.test", S.ACCEPTED),
        ("www.medium.test", S.ACCEPTED),
        ("unknown.test", S.PENDING),
        ("low.test", S.PENDING),
        ("blocked.test", S.REJECTED),
    ],
)
def test_every_tier_at_intake(env, host, state) -> None:
    cid, transitions = env.submit(host, "The sky is blue on clear days.")
    assert env.queue.get(cid).state == state
    assert next(t.event for t in transitions) == "queued"
    assert [c.claim_id for c in env.memory.claims] == ([cid] if state == S.ACCEPTED else [])


@pytest.mark.parametrize(("peers", "state"), [(0, S.PENDING), (1, S.PENDING), (2, S.ACCEPTED)])
def test_corroboration_by_trusted_peers(env, peers, state) -> None:
    cid, _ = env.submit("low.test", "Bees communicate by dancing in hives.")
    for peer in ["agent-b", "agent-c"][:peers]:
        env.queue.corroborate(cid, peer, "confirm", now=1, cause="FACT_CONFIRM")
    assert env.queue.get(cid).state == state
    if state == S.ACCEPTED:
        assert env.memory.claims[0].corroborators == ("agent-b", "agent-c")
        assert env.memory.claims[0].reason == "confirmed by 2 trusted peers"


def test_untrusted_and_repeated_confirmations_do_not_count(env) -> None:
    cid, _ = env.submit("unknown.test", "Owls can rotate their heads widely.")
    env.queue.corroborate(cid, "agent-b", "confirm", now=1)
    env.queue.corroborate(cid, "agent-b", "confirm", now=2)
    env.queue.corroborate(cid, "stranger", "confirm", now=3)
    assert env.queue.get(cid).state == S.PENDING
    assert "untrusted (not counted) peer stranger" in [a[3] for a in env.queue.audit(cid)]


def test_conflict_disputed_then_resolved(env) -> None:
    statement = "Water boils at 90 degrees at sea level."
    env.knowledge.contradicted[statement] = ["fact-42"]
    cid, transitions = env.submit("high.test", statement)
    assert env.queue.get(cid).state == S.DISPUTED
    assert env.queue.get(cid).local_refs == ("fact-42",)
    conflict = payload_for(transitions[-1])
    assert isinstance(conflict, LipConflict)
    assert conflict.severity == "high"
    assert conflict.local_refs == ["fact-42"]
    assert env.memory.claims == []
    # overloaded: the resolution waits too
    assert env.queue.resolve(cid, in_favour=True, now=5, overloaded=True, cause="human") == []
    assert env.queue.get(cid).state == S.DISPUTED
    moved = env.queue.process(now=6)
    assert [(t.src, t.event, t.dst) for t in moved] == [("disputed", "resolved", "accepted")]
    assert isinstance(payload_for(moved[0]), LipAccept)
    assert [c.claim_id for c in env.memory.claims] == [cid]


def test_dispute_resolved_against_stays_disputed_and_counts_against_the_source(env) -> None:
    statement = "The moon is made of cheese entirely."
    env.knowledge.contradicted[statement] = ["fact-1"]
    cid, _ = env.submit("unknown.test", statement)
    env.queue.resolve(cid, in_favour=False, now=1, cause="operator")
    env.queue.process(now=1000)
    assert env.queue.get(cid).state == S.DISPUTED
    assert env.memory.claims == []
    assert env.tiers.audit("unknown.test")[-1].event == "rejected"


def test_trusted_peer_rejection_disputes(env) -> None:
    cid, _ = env.submit("low.test", "Tomatoes are vegetables, botanically.")
    t = env.queue.corroborate(cid, "agent-c", "reject", now=1)
    assert [x.dst for x in t] == ["disputed"]
    p = payload_for(t[0])
    assert isinstance(p, LipConflict)
    assert p.severity == "medium"


def test_blocked_source_is_rejected(env) -> None:
    cid, transitions = env.submit("blocked.test", "Miracle pills cure every disease.")
    p = payload_for(transitions[-1])
    assert isinstance(p, LipReject)
    assert p.reason == "source tier is blocked"
    with pytest.raises(LIPQueueError, match="not disputed"):
        env.queue.resolve(cid, in_favour=True, now=1, cause="x")


def test_overloaded_claims_wait_then_assimilate(env) -> None:
    cid, _ = env.submit("high.test", "Light travels faster than sound.", overloaded=True)
    assert env.queue.get(cid).state == S.PENDING
    assert env.queue.process(now=1, overloaded=True) == []
    assert env.memory.claims == []
    assert [t.dst for t in env.queue.process(now=2)] == ["accepted"]


def test_low_trust_when_the_window_closes(env) -> None:
    cid, _ = env.submit("unknown.test", "Cats sleep most of the day.", now=0)
    env.queue.corroborate(cid, "agent-b", "confirm", now=10)
    assert env.queue.process(now=99) == []
    moved = env.queue.process(now=100)
    assert [(t.event, t.dst) for t in moved] == [("low_trust", "rejected")]
    assert "1 trusted confirmation(s)" in moved[0].reason
    # final: nothing moves a rejected claim again
    assert env.queue.corroborate(cid, "agent-c", "confirm", now=101) == []
    assert env.queue.get(cid).state == S.REJECTED


def test_unknown_claim_and_duplicates(env) -> None:
    with pytest.raises(UnknownClaimError):
        env.queue.corroborate("0" * 64, "agent-b", "confirm", now=0)
    _cid, _ = env.submit("low.test", "Snow is frozen water crystals.")
    _, again = env.submit("low.test", "Snow is frozen water crystals.")
    assert again == []
    assert len(env.queue.by_state(S.PENDING)) == 1


def test_queue_is_bounded(tmp_path) -> None:
    e = Env(tmp_path / "b.sqlite3", max_open=2)
    e.submit("low.test", "First claim is long enough.")
    e.submit("low.test", "Second claim is long enough.")
    with pytest.raises(LIPQueueError, match="queue full"):
        e.submit("low.test", "Third claim is long enough.")
    e.store.close()


def test_memory_failure_rolls_back(env) -> None:
    def boom(claim: AcceptedClaim) -> None:
        raise RuntimeError("disk full")

    env.memory.record_claim = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        env.submit("high.test", "Rollback keeps the queue consistent.")
    assert env.queue.by_state(S.PENDING) == []
    assert env.queue.by_state(S.ACCEPTED) == []


def test_table_has_exactly_the_brief_transitions() -> None:
    assert {(r.src, r.event, r.dst) for r in CLAIM_TABLE.rules} == {
        (S.PENDING, ClaimEvent.VERIFIED, S.ACCEPTED),
        (S.PENDING, ClaimEvent.CONFLICT, S.DISPUTED),
        (S.DISPUTED, ClaimEvent.RESOLVED, S.ACCEPTED),
        (S.PENDING, ClaimEvent.LOW_TRUST, S.REJECTED),
    }


def test_queue_survives_reopening(tmp_path) -> None:
    path = tmp_path / "r.sqlite3"
    e = Env(path)
    cid, _ = e.submit("low.test", "Persistence survives a restart.")
    e.queue.corroborate(cid, "agent-b", "confirm", now=1)
    e.store.close()
    e2 = Env(path)
    assert e2.queue.get(cid).state == S.PENDING
    e2.queue.corroborate(cid, "agent-d", "confirm", now=2)
    assert e2.queue.get(cid).state == S.ACCEPTED
    assert [a[1] for a in e2.queue.audit(cid)] == ["queued", "confirm", "confirm", "verified"]
    e2.store.close()
