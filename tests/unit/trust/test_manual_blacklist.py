"""A human operator blacklists a peer: from any state, audited with operator and reason,
only through ``TrustBook.blacklist``; lifted only by ``override``."""

from __future__ import annotations

import pytest

from web4.clock import FakeClock
from web4.errors import TrustError
from web4.trust import TrustBook, TrustEvent, TrustState

Ev = TrustEvent


def _trusted(book: TrustBook, peer: str) -> None:
    book.record(peer, Ev.HANDSHAKE_VERIFIED, "hello")
    book.record(peer, Ev.OPERATOR_VOUCH, "anchor")
    assert book.state_of(peer) is TrustState.TRUSTED


def test_an_operator_blacklists_a_peer_from_any_state_with_an_audited_reason(
    book: TrustBook, peers: list[str], clock: FakeClock
) -> None:
    untrusted, probing, trusted = peers[0], peers[1], peers[2]
    book.record(probing, Ev.HANDSHAKE_VERIFIED, "hello")
    _trusted(book, trusted)
    for peer, src in (
        (untrusted, TrustState.UNTRUSTED),
        (probing, TrustState.PROBING),
        (trusted, TrustState.TRUSTED),
    ):
        clock.advance(1)
        out = book.blacklist(peer, operator=" ada ", reason="spam seen in the logs")
        assert out.changed
        assert (out.evaluation.src, out.state) == (src, TrustState.BLACKLISTED)
        entry = book.audit(peer)[-1]
        assert (entry.event, entry.operator, entry.cause) == (
            Ev.MANUAL_BLACKLIST,
            "ada",
            "spam seen in the logs",
        )
    assert book.trusted_since(trusted) is None  # seniority is gone with the trust
    assert book.verify_chain().ok


def test_blacklisting_a_blacklisted_peer_changes_nothing_but_is_audited(
    book: TrustBook, peers: list[str]
) -> None:
    book.blacklist(peers[0], operator="ada", reason="first")
    again = book.blacklist(peers[0], operator="bob", reason="second")
    assert not again.changed
    assert again.state is TrustState.BLACKLISTED
    assert [a.operator for a in book.audit(peers[0])] == ["ada", "bob"]


def test_only_an_override_lifts_a_manual_blacklist(book: TrustBook, peers: list[str]) -> None:
    book.blacklist(peers[0], operator="ada", reason="compromised key")
    for ev in (Ev.HANDSHAKE_VERIFIED, Ev.OPERATOR_VOUCH, Ev.KNOWLEDGE_VERIFIED):
        assert book.record(peers[0], ev, "try").state is TrustState.BLACKLISTED
    assert book.override(peers[0], operator="ada", reason="new key").state is TrustState.PROBING


def test_manual_blacklist_cannot_be_recorded_without_an_operator(
    book: TrustBook, peers: list[str]
) -> None:
    with pytest.raises(TrustError, match="blacklist"):
        book.record(peers[0], Ev.MANUAL_BLACKLIST, "sneaky")
    for operator, reason in (("", "r"), ("  ", "r"), ("ada", " "), ("x" * 1025, "r")):
        with pytest.raises(TrustError):
            book.blacklist(peers[0], operator=operator, reason=reason)
    assert book.audit(peers[0]) == []
    assert book.state_of(peers[0]) is TrustState.UNTRUSTED


def test_audit_newest_returns_the_most_recent_entries_oldest_first(
    book: TrustBook, peers: list[str]
) -> None:
    for n in range(5):
        book.record(peers[n % 2], Ev.ANOMALY, f"event {n}")
    assert [a.cause for a in book.audit(limit=2, newest=True)] == ["event 3", "event 4"]
    assert [a.cause for a in book.audit(limit=2)] == ["event 0", "event 1"]
    assert [a.cause for a in book.audit(peers[0], limit=2, newest=True)] == ["event 2", "event 4"]
