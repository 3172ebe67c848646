"""TrustBook: persistence, the append-only audit log, the manual override, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4.clock import FakeClock
from web4.errors import StoreError, TrustError
from web4.store import Store
from web4.trust import TrustBook, TrustEvent, TrustPolicy, TrustState

Ev = TrustEvent


def test_unknown_peer_is_untrusted_and_has_no_history(book: TrustBook, peers: list[str]) -> None:
    assert book.state_of(peers[0]) is TrustState.UNTRUSTED
    assert book.audit(peers[0]) == []
    assert book.peers() == []


def test_every_event_is_audited_changed_or_not(
    book: TrustBook, peers: list[str], clock: FakeClock
) -> None:
    p = peers[0]
    first = book.record(p, Ev.KNOWLEDGE_VERIFIED, "claim accepted early", ["m-1"])
    assert not first.changed
    clock.advance(5)
    second = book.record(p, Ev.HANDSHAKE_VERIFIED, "handshake verified", ["m-2", "m-3"])
    assert second.changed
    assert second.state is TrustState.PROBING
    entries = book.audit(p)
    assert [(e.event, e.src, e.dst, e.changed) for e in entries] == [
        (Ev.KNOWLEDGE_VERIFIED, TrustState.UNTRUSTED, TrustState.UNTRUSTED, False),
        (Ev.HANDSHAKE_VERIFIED, TrustState.UNTRUSTED, TrustState.PROBING, True),
    ]
    assert entries[1].evidence == ("m-2", "m-3")
    assert entries[1].cause == "handshake verified"
    assert entries[1].at == clock.now()
    assert entries[1].operator is None
    assert entries[0].seq < entries[1].seq
    assert second.audit == entries[1]


def test_audit_filters_and_limits(book: TrustBook, peers: list[str]) -> None:
    for p in peers[:3]:
        book.record(p, Ev.ANOMALY, "handler fault")
    assert len(book.audit()) == 3
    assert len(book.audit(limit=2)) == 2
    assert [e.peer for e in book.audit(peers[1])] == [peers[1]]
    assert [r.peer for r in book.peers()] == sorted(peers[:3])


def test_state_survives_reopening_the_store(tmp_path: Path, peers: list[str]) -> None:
    clock = FakeClock(1_800_000_000.0)
    path = tmp_path / "db.sqlite3"
    with Store.open(path) as store:
        book = TrustBook(store, clock)
        book.record(peers[0], Ev.HANDSHAKE_VERIFIED, "hs")
        book.record(peers[0], Ev.UNVERIFIABLE_CLAIM, "cannot verify", ["c1"])
        book.record(peers[1], Ev.FINGERPRINT_MISMATCH, "fp mismatch", ["h1"])
    with Store.open(path) as store:
        book = TrustBook(store, clock)
        assert book.state_of(peers[0]) is TrustState.PROBING
        assert book.peer(peers[0]).unverifiable == (clock.now(),)
        assert book.state_of(peers[1]) is TrustState.BLACKLISTED
        assert len(book.audit()) == 3


def test_audit_log_is_append_only(book: TrustBook, store: Store, peers: list[str]) -> None:
    book.record(peers[0], Ev.ANOMALY, "x")
    with pytest.raises(StoreError, match="append-only"):
        store.execute("UPDATE trust_audit SET to_state = 'trusted'")
    with pytest.raises(StoreError, match="append-only"):
        store.execute("DELETE FROM trust_audit")
    assert len(book.audit()) == 1


def test_manual_override_is_explicit_and_audited(
    book: TrustBook, peers: list[str], clock: FakeClock
) -> None:
    p = peers[0]
    book.record(p, Ev.FINGERPRINT_MISMATCH, "fingerprint does not match pubkey", ["h1"])
    with pytest.raises(TrustError, match="override"):
        book.record(p, Ev.MANUAL_OVERRIDE, "sneaky")
    clock.advance(60)
    out = book.override(p, operator=" alice ", reason="key rotation confirmed by phone")
    assert out.changed
    assert out.state is TrustState.PROBING
    entry = book.audit(p)[-1]
    assert (entry.event, entry.operator, entry.cause) == (
        Ev.MANUAL_OVERRIDE,
        "alice",
        "key rotation confirmed by phone",
    )


def test_override_of_a_peer_not_blacklisted_changes_nothing_but_is_audited(
    book: TrustBook, peers: list[str]
) -> None:
    out = book.override(peers[0], operator="bob", reason="why not")
    assert not out.changed
    assert out.state is TrustState.UNTRUSTED
    assert book.audit(peers[0])[-1].operator == "bob"


@pytest.mark.parametrize(
    ("operator", "reason"), [("", "r"), ("   ", "r"), ("op", ""), ("op", "  "), ("x" * 1025, "r")]
)
def test_override_needs_operator_and_reason(
    book: TrustBook, peers: list[str], operator: str, reason: str
) -> None:
    with pytest.raises(TrustError):
        book.override(peers[0], operator=operator, reason=reason)
    assert book.audit() == []


@pytest.mark.parametrize("bad", ["", "ABCD", "g" * 64, "a" * 63, "A" * 64, 42])
def test_malformed_peer_ids_are_refused(book: TrustBook, bad: str) -> None:
    with pytest.raises(TrustError, match="fingerprint"):
        book.record(bad, Ev.ANOMALY, "x")
    with pytest.raises(TrustError):
        book.state_of(bad)
    with pytest.raises(TrustError):
        book.audit(bad)


def test_bad_event_cause_and_evidence_are_refused(book: TrustBook, peers: list[str]) -> None:
    p = peers[0]
    with pytest.raises(TrustError, match="unknown trust event"):
        book.record(p, "hug", "x")  # type: ignore[arg-type]
    with pytest.raises(TrustError, match="cause"):
        book.record(p, Ev.ANOMALY, " ")
    with pytest.raises(TrustError, match="cause"):
        book.record(p, Ev.ANOMALY, "c" * 1025)
    with pytest.raises(TrustError, match="evidence"):
        book.record(p, Ev.ANOMALY, "x", ["m"] * 65)
    with pytest.raises(TrustError, match="evidence"):
        book.record(p, Ev.ANOMALY, "x", [""])
    assert book.audit() == []


def test_event_string_values_are_accepted(book: TrustBook, peers: list[str]) -> None:
    out = book.record(peers[0], "handshake_verified", "hs")  # type: ignore[arg-type]
    assert out.state is TrustState.PROBING


def test_store_failure_writes_nothing(book: TrustBook, store: Store, peers: list[str]) -> None:
    book.record(peers[0], Ev.HANDSHAKE_VERIFIED, "hs")
    store.close()
    with pytest.raises(StoreError):
        book.record(peers[0], Ev.KNOWLEDGE_VERIFIED, "ok")


def test_policy_reaches_the_evaluator(store: Store, clock: FakeClock, peers: list[str]) -> None:
    book = TrustBook(store, clock, TrustPolicy(demotion_cooldown_s=10))
    book.record(peers[0], Ev.HANDSHAKE_VERIFIED, "hs")
    book.record(peers[0], Ev.CONFLICT, "conflict", ["f1"])
    clock.advance(9)
    assert not book.record(peers[0], Ev.HANDSHAKE_VERIFIED, "hs").changed
    clock.advance(1)
    assert book.record(peers[0], Ev.HANDSHAKE_VERIFIED, "hs").changed
