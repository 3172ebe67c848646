"""The fair fetch queue: round-robin between requesters, per-peer limits, own jobs apart."""

from __future__ import annotations

import pytest

from web4.errors import LIPQueueError
from web4.lip.work import FairQueue, WorkRefused


def _queue(peer_limit: int = 4) -> FairQueue[str]:
    return FairQueue(own_limit=16, peer_limit=peer_limit, peer_total=8)


def test_requesters_take_turns_however_many_jobs_one_queued() -> None:
    q = _queue()
    for i in range(4):
        q.put("a", f"a{i}")
    q.put("b", "b0")
    q.put(None, "own0")
    first = q.take()
    assert first is not None
    assert (first.requester, first.job) == ("a", "a0")
    second = q.take()
    assert second is not None
    assert (second.requester, second.job) == ("b", "b0")  # not a1: b's turn
    third = q.take()
    assert third is not None
    assert (third.requester, third.job) == (None, "own0")
    assert q.take() is None  # a has one running: its next waits for it
    q.done("a")
    fourth = q.take()
    assert fourth is not None
    assert fourth.job == "a1"


def test_a_peer_over_its_limit_is_refused_and_others_are_not() -> None:
    q = _queue(peer_limit=2)
    q.put("a", "1")
    q.put("a", "2")
    with pytest.raises(WorkRefused, match=r"^peer_limit: peer has 2 fetches outstanding") as e:
        q.put("a", "3")
    assert e.value.reason == "peer_limit"
    assert isinstance(e.value, LIPQueueError)
    q.put("b", "1")  # unaffected
    taken = q.take()
    assert taken is not None
    assert taken.requester == "a"
    with pytest.raises(WorkRefused):
        q.put("a", "3")  # a running job still counts
    q.done("a")
    q.put("a", "3")


def test_all_peers_together_are_bounded_but_our_own_jobs_are_not_counted() -> None:
    q = FairQueue[str](own_limit=3, peer_limit=4, peer_total=5)
    for p in "abcde":
        q.put(p, "x")
    with pytest.raises(WorkRefused, match=r"^busy: 5 peer fetches waiting"):
        q.put("f", "x")
    for i in range(3):
        q.put(None, f"own{i}")  # the peer limits do not apply to ours
    with pytest.raises(WorkRefused, match=r"^busy: our own fetch queue is full"):
        q.put(None, "own3")


def test_our_own_jobs_may_run_side_by_side() -> None:
    q = _queue()
    for i in range(3):
        q.put(None, f"own{i}")
    taken = [q.take() for _ in range(3)]
    assert [t.job for t in taken if t is not None] == ["own0", "own1", "own2"]


def test_our_own_jobs_leave_room_for_peers_when_told_to() -> None:
    q = FairQueue[str](own_limit=16, peer_limit=4, peer_total=8, own_running=3)
    for i in range(5):
        q.put(None, f"own{i}")
    assert [t.job for t in (q.take(), q.take(), q.take()) if t is not None] == [
        "own0",
        "own1",
        "own2",
    ]
    assert q.take() is None  # the fourth worker waits for a peer
    q.put("a", "a0")
    taken = q.take()
    assert taken is not None
    assert taken.requester == "a"
