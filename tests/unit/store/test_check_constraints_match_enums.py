"""Every value the code can write into a CHECKed column passes the CHECK: a state added
to an enum without a migration widening the CHECK would break the constraint on the first
write of it (a ``StoreConstraintError``) on whatever peer's input led there."""

from __future__ import annotations

import pytest

from web4.knowledge import ClaimState
from web4.knowledge.memory import KNOWLEDGE_MIGRATIONS
from web4.store import Store
from web4.trust import TRUST_MIGRATIONS, TrustState

FP = "ab" * 32


@pytest.mark.parametrize("state", list(ClaimState))
def test_every_claim_state_fits_knowledge_claims(state: ClaimState) -> None:
    with Store.open(":memory:", migrations=(KNOWLEDGE_MIGRATIONS,)) as store:
        store.execute(
            "INSERT INTO knowledge_claims (msg_id, sender, domain_key, subject_key, negated, "
            "fact, trace, links, state, reason, created_at, updated_at) "
            "VALUES ('m', ?, 'd', 's', 0, '{}', '{}', '[]', 'pending', 'r', 0, 0)",
            (FP,),
        )
        assert store.execute("UPDATE knowledge_claims SET state = ?", (state.value,)) == 1


@pytest.mark.parametrize("state", list(TrustState))
def test_every_trust_state_fits_trust_peers(state: TrustState) -> None:
    with Store.open(":memory:", migrations=(TRUST_MIGRATIONS,)) as store:
        store.execute(
            "INSERT INTO trust_peers (peer, state, cooldown_until, unverifiable, anomalies, "
            "updated_at) VALUES (?, ?, 0, '[]', '[]', 0)",
            (FP, state.value),
        )


@pytest.mark.parametrize("origin", ["claim", "decision_share", "local_decision"])
@pytest.mark.parametrize("kind", ["confirm", "reject", "challenge"])
def test_trace_origins_and_vote_kinds_fit(origin: str, kind: str) -> None:
    with Store.open(":memory:", migrations=(KNOWLEDGE_MIGRATIONS,)) as store:
        store.execute(
            "INSERT INTO knowledge_traces VALUES ('m', ?, 'd', ?, '{}', NULL, NULL, 0)",
            (origin, FP),
        )
        store.execute(
            "INSERT INTO knowledge_claims (msg_id, sender, domain_key, subject_key, negated, "
            "fact, trace, links, state, reason, created_at, updated_at) "
            "VALUES ('m', ?, 'd', 's', 0, '{}', '{}', '[]', 'pending', 'r', 0, 0)",
            (FP,),
        )
        store.execute(
            "INSERT INTO knowledge_votes (claim_id, voter, msg_id, kind, reason, confidence, "
            "notes, at) VALUES ('m', ?, 'v', ?, 'r', NULL, '', 0)",
            (FP, kind),
        )
