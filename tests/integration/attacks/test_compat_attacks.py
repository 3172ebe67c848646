"""What issue 16's relaxations let a key do to a real node (security review of the
original-spec compatibility): envelopes without ``sender.pubkey`` over RTT, the original
vote shape (no ``claim_hash``, refused by design: CIP D23), unknown members, and HCP
without a CIP handshake. Real ``web4 node`` processes, keys minted by the harness.

Each test is a rule that must keep holding:
- a key that leaves out ``sender.pubkey`` can only speak for the key its RTT link
  proved: naming an operator anchor gets it nothing and costs the anchor nothing;
- an honest peer that speaks the original vote shape has its votes refused (D23) but is
  not punished for it: no anomaly, no demotion, no disconnect;
- unknown members never reach the store (the quota counts what is kept);
- a human key the operator authorised and then blacklisted steers nothing over HCP.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import Attacker, Node, Nodes, peer_states, proposal, query, store_bytes

from web4.envelope import canonicalize, sign_envelope

pytestmark = pytest.mark.timeout(120)


def anomalies(node: Node, peer: str) -> list[tuple[str, str, str]]:
    return [
        (str(e), str(f), str(t))
        for e, f, t in query(
            node.data,
            "SELECT event, from_state, to_state FROM trust_audit WHERE peer = ? "
            "AND event = 'anomaly'",
            peer,
        )
    ]


def test_an_anchor_sending_the_original_vote_shape_is_refused_but_not_punished(
    tmp_path: Path,
) -> None:
    # A is an operator anchor whose software follows the original CIP: its votes carry
    # no claim_hash. This node refuses them (D23: a vote must be bound to content), but
    # A did nothing wrong by the original: refusing must not demote or disconnect it.
    with Nodes(tmp_path) as nodes, Attacker() as att:
        a = att.key("original-anchor")
        p = att.key("proposer")
        v = nodes.start("victim", "--trust", a.fp)
        ca = a.connect(v)
        v.kind("trust.transition", peer=a.fp, to="trusted", timeout=20)
        cp = p.connect(v)
        claim, h = cp.propose(proposal("Tea is best brewed below boiling", domain="food"))
        v.kind("knowledge.claim_pending", peer=p.fp, claim_id=claim)

        votes = [ca.confirm(claim, None), ca.reject(claim, None), ca.challenge(claim, None)]
        votes += [ca.confirm(claim, None) for _ in range(22)]  # past the flood limit (20)
        for mid in votes:
            refused = v.kind("router.rejected", msg_id=mid, timeout=20)
            assert "claim_hash" in refused["attributes"]["message"]

        # the same anchor's vote with claim_hash still counts: A is trusted and connected
        counted = ca.confirm(claim, h)
        v.kind("knowledge.confirmation", msg_id=counted, timeout=20)
        assert peer_states(v.data)[a.fp] == "trusted"
        assert anomalies(v, a.fp) == []
        assert not ca.closed.is_set()
        assert not v.events("trust.transition", peer=a.fp, **{"from": "trusted"})


def test_an_envelope_without_pubkey_speaks_only_for_its_own_link(tmp_path: Path) -> None:
    # M (a fresh key, probing at V) sends envelopes that leave out sender.pubkey and name
    # the operator anchor A: her own signature, and a HELLO naming A on a second session.
    # None is taken as A's; A's trust is untouched; M pays for the forgery.
    with Nodes(tmp_path) as nodes, Attacker() as att:
        a = att.key("anchor")
        m = att.key("mallory")
        v = nodes.start("victim", "--trust", a.fp)
        ca = a.connect(v)
        v.kind("trust.transition", peer=a.fp, to="trusted", timeout=20)
        cm = m.connect(v)

        env = cm.envelope("FACT_PROPOSE", proposal("The anchor says: bleach cures colds"))
        body = {k: val for k, val in env.items() if k != "sign"}
        body["sender"] = dict(body["sender"], fingerprint=a.fp, agent_id="anchor")
        del body["sender"]["pubkey"]
        forged = sign_envelope(body, m.identity)
        cm.send_raw(canonicalize(forged))
        refused = v.kind("router.rejected", msg_id=forged["msg_id"], timeout=20)
        assert refused["attributes"]["reason"] == "FingerprintMismatchError"
        assert not v.events("knowledge.claim_pending", peer=a.fp)
        assert not v.events("router.routed", msg_id=forged["msg_id"])

        states = peer_states(v.data)
        assert states[a.fp] == "trusted"
        assert states[m.fp] == "blacklisted"  # a fingerprint that is not her link's key
        audited = query(v.data, "SELECT event FROM trust_audit WHERE peer = ?", a.fp)
        assert {str(e) for (e,) in audited} == {"handshake_verified", "operator_vouch"}
        # A is still served: its proposal is pending at V
        claim, _ = ca.propose(proposal("Honey never spoils when sealed", domain="food"))
        v.kind("knowledge.claim_pending", peer=a.fp, claim_id=claim, timeout=20)


def test_unknown_members_are_not_stored_and_not_charged(tmp_path: Path) -> None:
    # A probing key proposes claims that each carry ~200 KiB of members the node does not
    # know. They are ignored: what is stored (and counted against the quota) is the
    # claim, a few hundred bytes, so the store grows by far less than what was sent.
    with Nodes(tmp_path) as nodes, Attacker() as att:
        v = nodes.start("victim")
        k = att.key("bloater").connect(v)
        before = store_bytes(v.data)
        claims = []
        for i in range(40):
            payload = proposal(f"Bloated claim number {i} is small", domain="junk")
            payload["x_bloat"] = ["y" * 4000 for _ in range(50)]  # ~200 KiB, unknown
            payload["fact"]["x_more"] = "z" * 4000
            claims.append(k.send("FACT_PROPOSE", payload))
        for mid in claims:
            v.kind("knowledge.claim_pending", peer=k.fp, claim_id=mid, timeout=30)
        time.sleep(1.0)  # the WAL settles
        grown = store_bytes(v.data) - before
        sent = 40 * 204_000
        # WAL pages of 40 small commits, not the bloat (measured: about 1.4 MB)
        assert grown < sent // 4, f"store grew {grown} bytes for {sent} bytes of bloat"
        for name in ("web4.sqlite3", "web4.sqlite3-wal"):
            kept = (v.data / name).read_bytes() if (v.data / name).exists() else b""
            assert b"y" * 1000 not in kept, f"bloat in {name}"
            assert b"z" * 1000 not in kept, f"bloat in {name}"
        rows = query(
            v.data,
            "SELECT count(*), max(length(fact) + length(trace)) FROM knowledge_claims "
            "WHERE sender = ?",
            k.fp,
        )
        assert rows[0][0] == 40
        assert rows[0][1] < 1024  # the claim only: no unknown member was kept
        assert peer_states(v.data)[k.fp] == "probing"
