"""A stateful adversary against the trust + knowledge rules (hypothesis).

The world: operator anchors (honest: they propose only true statements, confirm true ones
and challenge false ones) and an adversary that controls any number of fresh keys and
sends any subset of messages: proposals of any statement under fresh or copied msg_ids,
votes of any kind on any claim with the right, another claim's or a made-up hash,
handshakes, at any time. The operator may vouch for a new anchor at any moment.

Invariants, after every step:
- no claim is accepted unless at least two independent parties that were trusted before
  the claim arrived (not its proposer) confirmed it;
- no false statement is ever accepted (only the adversary confirms them);
- no operator anchor is ever demoted, and no adversary key is ever trusted.
"""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from web4.clock import FakeClock
from web4.errors import KnowledgeError
from web4.knowledge import ClaimState, DmpTrace, Fact, KnowledgeExchange, LocalState
from web4.store import Store
from web4.trust import TrustBook, TrustEvent, TrustState

OK = LocalState("engaged", 10)
TRUE = ("Water boils at 100 C", "The sky is blue", "Ice is cold")
FALSE = (
    "Water does not boil at 100 C",
    "The sky is not blue",
    "Ice is not cold",
    "Drinking bleach cures the common cold",
)
KEYS = [hashlib.sha256(f"sybil-{i}".encode()).hexdigest() for i in range(8)]
ANCHORS = [hashlib.sha256(f"anchor-{i}".encode()).hexdigest() for i in range(4)]


def fact(statement: str) -> tuple[Fact, DmpTrace]:
    return (
        Fact(statement, "general", 0.9, ["src"]),
        DmpTrace(str(uuid.uuid4()), ["observed"], [], ["src"]),
    )


class Adversary(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(1_800_000_000.0)
        self.store = Store.open(":memory:")
        self.trust = TrustBook(self.store, self.clock)
        self.kx = KnowledgeExchange(self.store, self.trust, self.clock)
        self.vouched: dict[str, float] = {}  # anchor -> when the operator vouched
        self.claims: list[str] = []  # local claim ids, in arrival order
        for anchor in ANCHORS[:2]:
            self._vouch(anchor)

    def teardown(self) -> None:
        self.store.close()

    def _vouch(self, anchor: str) -> None:
        self.trust.record(anchor, TrustEvent.HANDSHAKE_VERIFIED, "anchor handshake")
        self.trust.record(anchor, TrustEvent.OPERATOR_VOUCH, "operator anchor")
        self.vouched[anchor] = self.clock.now()

    def _propose(self, sender: str, statement: str, msg_id: str) -> None:
        f, t = fact(statement)
        try:
            out = self.kx.propose(msg_id=msg_id, sender=sender, fact=f, trace=t, local=OK)
        except KnowledgeError:
            return
        self.claims.append(out.claim_id)

    def _vote(self, voter: str, claim_id: str, kind: str, digest: str | None, ref: str) -> None:
        common = {"msg_id": str(uuid.uuid4()), "sender": voter, "fact_ref": ref, "local": OK}
        try:
            if kind == "confirm":
                self.kx.confirm(confidence=0.9, claim_hash=digest, **common)  # type: ignore[arg-type]
            elif kind == "reject":
                self.kx.reject(confidence=0.9, claim_hash=digest, **common)  # type: ignore[arg-type]
            else:
                self.kx.challenge(reason="conflict", claim_hash=digest, **common)  # type: ignore[arg-type]
        except KnowledgeError:
            pass

    # --- the adversary ----------------------------------------------------------------

    @rule(key=st.sampled_from(KEYS))
    def handshake(self, key: str) -> None:
        self.trust.record(key, TrustEvent.HANDSHAKE_VERIFIED, "fresh key handshake")

    @rule(
        key=st.sampled_from(KEYS),
        statement=st.sampled_from(TRUE + FALSE),
        copy=st.integers(min_value=-1, max_value=30),
    )
    def adversary_proposes(self, key: str, statement: str, copy: int) -> None:
        # a fresh msg_id, or one copied from a claim already seen (a hijack attempt)
        if 0 <= copy < len(self.claims):
            msg_id = self.kx.claim(self.claims[copy]).wire_msg_id
        else:
            msg_id = str(uuid.uuid4())
        self._propose(key, statement, msg_id)

    @rule(
        key=st.sampled_from(KEYS),
        pick=st.integers(min_value=0, max_value=30),
        other=st.integers(min_value=-1, max_value=30),
        kind=st.sampled_from(["confirm", "reject", "challenge"]),
    )
    def adversary_votes(self, key: str, pick: int, other: int, kind: str) -> None:
        if not self.claims:
            return
        claim = self.kx.claim(self.claims[pick % len(self.claims)])
        if other == -1:
            digest: str | None = "f" * 64  # a made-up hash
        elif other < len(self.claims):  # another claim's hash under this claim's msg_id
            digest = self.kx.claim(self.claims[other]).claim_hash
        else:
            digest = claim.claim_hash
        self._vote(key, claim.msg_id, kind, digest, claim.wire_msg_id)

    # --- the honest parties ---------------------------------------------------------

    @rule(statement=st.sampled_from(TRUE), who=st.integers(min_value=0, max_value=3))
    def anchor_proposes(self, statement: str, who: int) -> None:
        anchors = list(self.vouched)
        self._propose(anchors[who % len(anchors)], statement, str(uuid.uuid4()))

    @rule(pick=st.integers(min_value=0, max_value=30), who=st.integers(min_value=0, max_value=3))
    def anchor_judges(self, pick: int, who: int) -> None:
        if not self.claims:
            return
        anchors = list(self.vouched)
        claim = self.kx.claim(self.claims[pick % len(self.claims)])
        kind = "confirm" if claim.fact.statement in TRUE else "challenge"
        self._vote(anchors[who % len(anchors)], claim.msg_id, kind, claim.claim_hash,
                   claim.wire_msg_id)  # fmt: skip

    @precondition(lambda self: len(self.vouched) < len(ANCHORS))
    @rule()
    def operator_vouches_a_new_anchor(self) -> None:
        self.clock.advance(1.0)  # after the claims already here
        self._vouch(ANCHORS[len(self.vouched)])

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 30.0, 301.0]))
    def time_passes(self, dt: float) -> None:
        self.clock.advance(dt)

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def accepted_only_with_two_prior_trusted_confirmations(self) -> None:
        for c in self.kx.claims(ClaimState.ACCEPTED):
            rows = self.store.query(
                "SELECT DISTINCT voter FROM knowledge_votes WHERE claim_id = ? AND kind = "
                "'confirm' AND voter != ?",
                (c.msg_id, c.sender),
            )
            prior = [v for (v,) in rows if self.vouched.get(str(v), float("inf")) <= c.created_at]
            assert len(prior) >= 2, (c.fact.statement, rows)
            assert c.fact.statement in TRUE

    @invariant()
    def anchors_stay_trusted_and_keys_never_are(self) -> None:
        for anchor in self.vouched:
            assert self.trust.state_of(anchor) is TrustState.TRUSTED
        for key in KEYS:
            assert self.trust.state_of(key) is not TrustState.TRUSTED


Adversary.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_adversary_with_fresh_keys_cannot_buy_trust = Adversary.TestCase
