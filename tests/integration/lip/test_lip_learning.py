"""LIP end to end against a real local HTTP server: tiers, corroboration, disputes,
blocked sources, restarts and a killed process."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from web4.clock import FakeClock
from web4.errors import LIPFetchError
from web4.lip._state import LearnedClaimState
from web4.lip.fetcher import FetchPolicy
from web4.lip.learn import Learned, corroborate_with, learn, payload_for
from web4.lip.messages import LipAccept, LipConflict
from web4.lip.queue import AcceptedClaim, ClaimQueue
from web4.lip.tiers import SourceTiers, TierPolicy
from web4.store import Store

POLICY = FetchPolicy(total_timeout=5.0, max_bytes=64 * 1024, allow_private=True)
TRUSTED = {"agent-b", "agent-c"}  # peer names; the signed-message test uses fingerprints
BOILS = "Water boils at 100 degrees Celsius at sea level."


class Knowledge:
    def __init__(self, contradicted: dict[str, list[str]] | None = None) -> None:
        self.contradicted = contradicted or {}

    def conflicts_with(self, statement: str) -> list[str]:
        return self.contradicted.get(statement, [])


class Memory:
    def __init__(self) -> None:
        self.claims: list[AcceptedClaim] = []

    def record_claim(self, claim: AcceptedClaim) -> None:
        self.claims.append(claim)


class Agent:
    def __init__(self, path: Path, tiers_toml: str, knowledge: Knowledge | None = None) -> None:
        self.clock = FakeClock()
        self.store = Store.open(path)
        self.memory = Memory()
        self.tiers = SourceTiers(self.store, TierPolicy.from_toml(tiers_toml))
        self.queue = ClaimQueue(
            self.store,
            self.tiers,
            knowledge=knowledge or Knowledge(),
            memory=self.memory,
            is_trusted=TRUSTED.__contains__,
            window=3600,
        )

    def learn(self, url: str) -> Learned:
        job = learn(url, queue=self.queue, tiers=self.tiers, clock=self.clock, policy=POLICY)
        return asyncio.run(job)

    def state_of(self, learned: Learned, statement: str) -> LearnedClaimState:
        (claim,) = [c for c in learned.evidence.claims if c.statement == statement]
        return self.queue.get(claim.claim_id).state


def tiers(tier: str) -> str:
    return f'[domains]\n"127.0.0.1" = "{tier}"\n'


@pytest.fixture
def make(tmp_path):
    agents: list[Agent] = []

    def _make(name: str, toml: str, knowledge: Knowledge | None = None) -> Agent:
        a = Agent(tmp_path / f"{name}.sqlite3", toml, knowledge)
        agents.append(a)
        return a

    yield _make
    for a in agents:
        a.store.close()


@pytest.mark.parametrize(
    ("tier", "state"),
    [("high", "accepted"), ("medium", "accepted"), ("unknown", "pending"), ("low", "pending")],
)
def test_every_tier(server, make, tier, state) -> None:
    a = make("a", tiers(tier))
    learned = a.learn(server.url("/page.html"))
    assert learned.source.trust_tier == tier
    assert learned.source.uri == server.url("/page.html")
    assert learned.evidence.evidence.sha256 == hashlib.sha256(server.page).hexdigest()
    assert a.state_of(learned, BOILS) == state
    assert len(a.memory.claims) == (len(learned.evidence.claims) if state == "accepted" else 0)
    if state == "accepted":
        assert isinstance(payload_for(learned.transitions[-1]), LipAccept)


def test_blocked_host_is_not_fetched(server, make) -> None:
    a = make("a", tiers("blocked"))
    with pytest.raises(LIPFetchError, match=r"^blocked: 127\.0\.0\.1"):
        a.learn(server.url("/page.html"))


def test_redirect_to_a_blocked_host_is_refused_before_contacting_it(server, make) -> None:
    # (it used to be fetched and its claims rejected; now the hop is never made)
    a = make("a", tiers("medium") + '"localhost" = "blocked"\n')
    with pytest.raises(LIPFetchError, match=r"^blocked: localhost is a blocked source"):
        a.learn(server.url(f"/goto?http://localhost:{server.port}/page.html"))
    assert a.store.query_one("SELECT COUNT(*) FROM lip_claims") == (0,)
    assert a.memory.claims == []


@pytest.mark.parametrize(("peers", "state"), [(0, "pending"), (1, "pending"), (2, "accepted")])
def test_corroboration_by_trusted_peers(server, make, peers, state) -> None:
    a = make("a", tiers("low"))
    mine = a.learn(server.url("/page.html"))
    for name in ["agent-b", "agent-c"][:peers]:
        peer = make(name, tiers("unknown"))  # each peer fetches for itself
        theirs = peer.learn(server.url("/page.html"))
        corroborate_with(a.queue, name, theirs.evidence, now=a.clock.now())
    # an untrusted peer never counts
    stranger = make("stranger", tiers("unknown")).learn(server.url("/page.html"))
    corroborate_with(a.queue, "stranger", stranger.evidence, now=a.clock.now())
    assert a.state_of(mine, BOILS) == state
    accepted = [c.statement for c in a.memory.claims]
    assert (BOILS in accepted) is (state == "accepted")
    if state == "accepted":
        assert a.memory.claims[0].corroborators == ("agent-b", "agent-c")


def test_conflict_disputed_then_resolved(server, make) -> None:
    a = make("a", tiers("high"), Knowledge({BOILS: ["memory:fact-7"]}))
    learned = a.learn(server.url("/page.html"))
    assert a.state_of(learned, BOILS) == "disputed"
    conflicts = [payload_for(t) for t in learned.transitions if t.dst == "disputed"]
    assert len(conflicts) == 1
    assert isinstance(conflicts[0], LipConflict)
    assert conflicts[0].local_refs == ["memory:fact-7"]
    assert BOILS not in [c.statement for c in a.memory.claims]
    (cid,) = [c.claim_id for c in learned.evidence.claims if c.statement == BOILS]
    moved = a.queue.resolve(cid, in_favour=True, now=a.clock.now(), cause="human decided")
    assert [(t.src, t.dst) for t in moved] == [("disputed", "accepted")]
    assert BOILS in [c.statement for c in a.memory.claims]


def test_queue_intact_after_reopening(server, make, tmp_path) -> None:
    a = make("a", tiers("unknown"))
    learned = a.learn(server.url("/page.html"))
    a.store.close()
    b = make("a", tiers("unknown"))
    assert {c.claim_id for c in b.queue.by_state(LearnedClaimState.PENDING)} == {
        c.claim_id for c in learned.evidence.claims
    }


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from web4.clock import FakeClock
    from web4.lip.fetcher import FetchPolicy
    from web4.lip.learn import learn
    from web4.lip.queue import ClaimQueue
    from web4.lip.tiers import SourceTiers, TierPolicy
    from web4.store import Store

    class K:
        def conflicts_with(self, s): return []

    class M:
        def record_claim(self, c): pass

    store = Store.open(sys.argv[1])
    tiers = SourceTiers(store, TierPolicy.from_toml('[domains]\\n"127.0.0.1" = "low"\\n'))
    q = ClaimQueue(store, tiers, knowledge=K(), memory=M(), is_trusted=lambda p: True)
    policy = FetchPolicy(total_timeout=5.0, allow_private=True)
    job = learn(sys.argv[2], queue=q, tiers=tiers, clock=FakeClock(), policy=policy)
    learned = asyncio.run(job)
    first = learned.evidence.claims[0].claim_id
    q.corroborate(first, "agent-b", "confirm", now=1.0)
    print(first, flush=True)
    time.sleep(60)
    """
)


def test_queue_intact_after_killing_the_process(server, make, tmp_path) -> None:
    db = tmp_path / "killed.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), server.url("/page.html")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 20
        first = ""
        while not first and time.monotonic() < deadline and child.poll() is None:
            first = child.stdout.readline().strip()
        assert first, "the child never reported"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    a = make("killed", tiers("low"))
    pending = a.queue.by_state(LearnedClaimState.PENDING)
    assert first in {c.claim_id for c in pending}
    assert len(pending) >= 4
    # the confirmation the child recorded survived: one more trusted peer accepts it
    moved = a.queue.corroborate(first, "agent-c", "confirm", now=2.0)
    assert [t.dst for t in moved] == ["accepted"]


def test_corroboration_over_signed_lip_messages(server, make) -> None:
    """A asks B and C with a signed LIP_FETCH; each fetches for itself and answers with a
    signed LIP_EVIDENCE; A validates both and counts them: the low-tier claim is accepted
    only after the second trusted answer."""
    from web4.clock import SeededRng
    from web4.envelope.replay import ReplayCache
    from web4.envelope.validate import Validator
    from web4.identity import Identity
    from web4.lip.builder import build_lip
    from web4.lip.learn import answer_fetch
    from web4.lip.messages import LIP_SPEC, LipFetch

    a = make("a", tiers("low"))
    ids = {n: Identity(bytes([i + 1]) * 32, n) for i, n in enumerate(["a", "agent-b", "agent-c"])}
    TRUSTED.update(ids[p].fingerprint for p in ("agent-b", "agent-c"))
    rng = SeededRng(5)

    def validator(me: str) -> Validator:
        return Validator(
            LIP_SPEC,
            our_fingerprint=ids[me].fingerprint,
            clock=a.clock,
            replay=ReplayCache(),
            trust_gate=lambda fp, t: None,
        )

    mine = a.learn(server.url("/page.html"))
    (boils,) = [c.claim_id for c in mine.evidence.claims if c.statement == BOILS]
    for peer in ("agent-b", "agent-c"):
        assert a.queue.get(boils).state == LearnedClaimState.PENDING
        ask = build_lip(
            ids["a"],
            receiver_id=peer,
            receiver_fingerprint=ids[peer].fingerprint,
            payload=LipFetch(query=server.url("/page.html")),
            source=mine.source,
            clock=a.clock,
            rng=rng,
        )
        request = validator(peer).validate(ask)
        peer_agent = make(peer, tiers("unknown"))
        source, evidence = asyncio.run(
            answer_fetch(request.payload, tiers=peer_agent.tiers, clock=a.clock, policy=POLICY)
        )
        reply = build_lip(
            ids[peer],
            receiver_id="a",
            receiver_fingerprint=ids["a"].fingerprint,
            payload=evidence,
            source=source,
            clock=a.clock,
            rng=rng,
        )
        answer = validator("a").validate(reply)
        peer_fp = answer.sender.fingerprint  # authenticated; agent_id is self-asserted
        corroborate_with(a.queue, peer_fp, answer.payload, now=a.clock.now())
    assert a.queue.get(boils).state == LearnedClaimState.ACCEPTED
    fps = tuple(sorted(ids[p].fingerprint for p in ("agent-b", "agent-c")))
    assert a.memory.claims[0].corroborators == fps
