"""Fact propagation through a mesh of real ``web4 node`` processes, measured.

Theory of operation: ``Mesh(root, n)`` starts ``n - 1`` nodes, one at a time, each
dialling the nodes started before it (``peers_of``; the default is the static full mesh
``web4 mesh-demo`` builds), and waits until every one has finished its CIP handshake with
every peer it should have. ``propagate(facts)`` then starts the ``n``-th node, the
proposer: it dials its peers the same way and, once they are all ready, proposes each
fact (``--propose``, one second apart, as the node does). Every node runs the belief
agent believing the facts, so every node also votes on each one, as in the demo.

All figures come from the nodes' own ``--json`` events (one machine, one clock; event
times have millisecond precision):

* a fact is *sent* at the proposer's first event naming its claim (``desk.propose``
  records it just before the broadcast) and *reaches* a node at that node's first
  event naming it (``msg_id`` or ``claim_id``); propagation = reach - sent, for every
  (fact, other node): p50, p99, max;
* a *copy* of a fact is one ``FACT_PROPOSE`` envelope a node's router handled
  (``router.routed``) or refused point to point (``router.rejected``, e.g. a replayed
  duplicate; gossip copies refused are in ``gossip_copies``, from the stats), counted
  for the link peer that delivered it: copies sent per node (amplification: total copies
  per fact over the ``n - 1`` nodes that need one; 1.0 is the floor) and duplicates per
  receiver. Votes (``FACT_CONFIRM``/``FACT_CHALLENGE``/``FACT_REJECT``) are counted the same way.

The proposer of the static full mesh sends every copy itself (``n - 1`` per fact) and
nobody forwards; gossip (issue 14) spreads that work, at the price of duplicates: the
figures of the two are comparable because both come from the same events. ``peers_of``,
``node_args`` and ``wrap`` (a command prefix per node, e.g. a network namespace) are the
hooks a discovery/gossip mesh replaces; ``Mesh.nodes`` are ``NodeProc`` handles (stop,
kill, restart for churn).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from support.nodeproc import LOOPBACK, Event, NodeProc
from web4.identity import Identity

__all__ = [
    "Mesh",
    "MeshResult",
    "event_time",
    "full_mesh",
    "gossip_copies",
    "naming",
    "own_claim",
    "percentile",
    "sparse",
]

FACT_TYPES = frozenset({"FACT_PROPOSE"})
VOTE_TYPES = frozenset({"FACT_CONFIRM", "FACT_CHALLENGE", "FACT_REJECT"})


def full_mesh(i: int, addrs: Sequence[str]) -> list[str]:
    """Node ``i`` dials every node started before it: ``addrs[:i]``."""
    return list(addrs[:i])


def sparse(i: int, addrs: Sequence[str]) -> list[str]:
    """Node ``i`` dials node ``i - 1`` and node ``(i - 1) // 2``: a chain with a binary
    tree over it, connected, at most four links per node, most pairs several hops apart
    (what gossip must cross; issue 14)."""
    return [addrs[j] for j in sorted({i - 1, (i - 1) // 2}) if 0 <= j < i]


def gossip_copies(nodes: Sequence[NodeProc]) -> dict[str, int]:
    """Per node, the gossip messages that reached it so far, from its last
    ``cip.gossip.stats``: those handed to it (``received``) plus the copies gossipsub
    dropped as already seen (``duplicates``)."""
    out: dict[str, int] = {}
    for node in nodes:
        stats = [e for e in list(node.events) if e["kind"] == "cip.gossip.stats"]
        if stats:
            a = stats[-1]["attributes"]
            out[node.data_dir.name] = int(a.get("received", 0)) + int(a.get("duplicates", 0))
    return out


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by nearest rank; NaN for no data."""
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def event_time(ev: Event) -> float:
    return datetime.fromisoformat(ev["time"].replace("Z", "+00:00")).timestamp()


def _names_claim(ev: Event, claim: str) -> bool:
    return ev.get("msg_id") == claim or ev["attributes"].get("claim_id") == claim


def naming(claim: str) -> Callable[[Event], bool]:
    return lambda e: _names_claim(e, claim)


def _handshake_with(fp: str) -> Callable[[Event], bool]:
    return lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == fp


def own_claim(me: str, statement: str) -> Callable[[Event], bool]:
    """The proposer's record of its own claim (``desk.propose``, before the broadcast)."""
    return lambda e: (
        e["kind"] == "knowledge.claim_pending"
        and e["attributes"].get("statement") == statement
        and e["peer"] == me
    )


@dataclass
class MeshResult:
    """What one ``propagate`` measured; ``summary()`` is its JSON form."""

    nodes: int
    facts: list[str]  # claim ids, in proposal order
    statements: list[str]
    propagation_ms: list[float]  # one per (fact, node reached)
    unreached: list[tuple[str, str]]  # (claim id, node name) never reached
    copies_sent: dict[str, int]  # node name -> FACT_PROPOSE copies it delivered, all facts
    copies_received: dict[str, int]  # node name -> FACT_PROPOSE copies it got, all facts
    votes_sent: dict[str, int]  # node name -> votes it delivered
    mesh_setup_s: float
    propagate_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        f = max(1, len(self.facts))
        need = max(1, self.nodes - 1)  # nodes that need a copy of each fact
        sent = list(self.copies_sent.values())
        dups = [max(0, c - f) for c in self.copies_received.values()]
        ms = self.propagation_ms
        return {
            "nodes": self.nodes,
            "facts": len(self.facts),
            "reached": len(ms),
            "unreached": len(self.unreached),
            "propagation_ms": {
                "p50": percentile(ms, 0.50),
                "p99": percentile(ms, 0.99),
                "max": max(ms) if ms else math.nan,
                "n": len(ms),
            },
            "copies": {
                "total_per_fact": sum(sent) / f,
                "amplification": sum(sent) / f / need,
                "max_sent_per_node_per_fact": max(sent, default=0) / f,
                "mean_sent_per_node_per_fact": sum(sent) / f / self.nodes,
                "duplicates_received_per_fact": sum(dups) / f,
                "votes_per_fact": sum(self.votes_sent.values()) / f,
            },
            "mesh_setup_s": round(self.mesh_setup_s, 2),
            "propagate_s": round(self.propagate_s, 2),
            **self.extra,
        }


class Mesh:
    """``n`` real node processes in ``root``; a context manager that stops them all."""

    def __init__(
        self,
        root: Path,
        n: int,
        *,
        peers_of: Callable[[int, Sequence[str]], list[str]] = full_mesh,
        listen: Callable[[int], Sequence[str]] = lambda i: LOOPBACK,
        wrap: Callable[[int], Sequence[str]] = lambda i: (),
        node_args: Sequence[str] = (),
        start_timeout: float = 60.0,
        exit_after: float = 900.0,
    ) -> None:
        """``exit_after``: every node stops by itself after that long (``--exit-after``),
        so a harness killed mid-way leaves no process behind for long."""
        if n < 2:
            raise ValueError(f"a mesh of {n} nodes: at least 2")
        self.root, self.n = root, n
        self._peers_of, self._listen, self._wrap = peers_of, listen, wrap
        self._node_args = (*node_args, "--exit-after", str(exit_after))
        self._start_timeout = start_timeout
        self.names = [f"n{i:02d}" for i in range(n)]
        self.nodes: list[NodeProc] = []
        self.addrs: list[str] = []
        self.fps: list[str] = []
        self._dialled: list[list[str]] = []  # addresses each node was given
        self.mesh_setup_s = 0.0
        self.past: dict[int, list[NodeProc]] = {}  # node i's killed processes (churn)

    def __enter__(self) -> Mesh:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _start(self, i: int, believe: Sequence[str], propose: Sequence[str]) -> NodeProc:
        name = self.names[i]
        self.fps.append(Identity.create_in_data_dir(self.root / name, name).fingerprint)
        peers = self._peers_of(i, self.addrs)
        self._dialled.append(peers)
        args = [*self._listen(i), *self._node_args]
        args += [x for s in believe for x in ("--believe", s)]
        args += [x for a in peers for x in ("--peer", a)]
        args += [x for s in propose for x in ("--propose", f"{s}|mesh|0.9")]
        node = NodeProc(self.root / name, *args, wrap=self._wrap(i))
        self.nodes.append(node)
        self.addrs.append(node.addr(self._start_timeout))
        return node

    def _expected_links(self) -> list[set[str]]:
        """Per node, the fingerprints it must have finished a handshake with."""
        by_addr = dict(zip(self.addrs, self.fps, strict=True))
        links: list[set[str]] = [set() for _ in self.nodes]
        for i, peers in enumerate(self._dialled):
            for a in peers:
                j = self.fps.index(by_addr[a])
                links[i].add(self.fps[j])
                links[j].add(self.fps[i])
        return links

    def _wait_linked(self, upto: int, deadline: float) -> None:
        want = self._expected_links()
        for i, node in enumerate(self.nodes[:upto]):
            for fp in want[i]:
                node.wait_for(_handshake_with(fp), max(0.1, deadline - time.monotonic()))

    def start(self, believe: Sequence[str] = ()) -> None:
        """Start the ``n - 1`` nodes that are not the proposer and wait until every link
        ``peers_of`` asks for has finished its handshake."""
        t0 = time.monotonic()
        for i in range(self.n - 1):
            self._start(i, believe, ())
        self._wait_linked(self.n - 1, time.monotonic() + self._start_timeout)
        self.mesh_setup_s = time.monotonic() - t0

    def propagate(self, statements: Sequence[str], timeout: float = 60.0) -> MeshResult:
        """Start the proposer (the last node) with ``statements`` to propose; wait until
        every node has seen every fact (or ``timeout``) and every vote settled; measure."""
        t0 = time.monotonic()
        proposer = self._start(self.n - 1, statements, statements)
        deadline = time.monotonic() + timeout
        claims: list[str] = []
        for s in statements:
            ev = proposer.wait_for(
                own_claim(proposer.fingerprint, s), max(0.1, deadline - time.monotonic())
            )
            claims.append(str(ev["attributes"]["claim_id"]))
        for node in self.nodes[:-1]:
            for c in claims:
                try:
                    node.wait_for(naming(c), max(0.1, deadline - time.monotonic()))
                except AssertionError:
                    break  # measured as unreached below
        # votes trail the facts: let each node's votes arrive everywhere before counting
        self._settle(claims, deadline)
        took = time.monotonic() - t0
        return self._measure(claims, list(statements), took)

    def _settle(self, claims: list[str], deadline: float, quiet: float = 0.5) -> None:
        """Until no node has logged an event about ``claims`` for ``quiet`` s."""
        wanted = set(claims)
        seen = [0] * len(self.nodes)  # events looked at so far, per node
        count, last = 0, -1
        since = time.monotonic()
        while time.monotonic() < deadline:
            for i, node in enumerate(self.nodes):
                new = node.events[seen[i] :]  # appended only: a slice is a snapshot
                seen[i] += len(new)
                count += sum(
                    1 for e in new if e.get("msg_id") in wanted or
                    e["attributes"].get("claim_id") in wanted
                )  # fmt: skip
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.1)

    def _measure(self, claims: list[str], statements: list[str], took: float) -> MeshResult:
        name_of = dict(zip(self.fps, self.names, strict=True))
        proposer = self.nodes[-1]
        sent_at = {
            c: min(event_time(e) for e in list(proposer.events) if _names_claim(e, c))
            for c in claims
        }
        ms: list[float] = []
        unreached: list[tuple[str, str]] = []
        copies_sent: Counter[str] = Counter(dict.fromkeys(self.names, 0))
        copies_received: Counter[str] = Counter(dict.fromkeys(self.names, 0))
        votes_sent: Counter[str] = Counter(dict.fromkeys(self.names, 0))
        wanted = set(claims)
        for name, node in zip(self.names, self.nodes, strict=True):
            events = list(node.events)
            for c in claims:
                if node is proposer:
                    continue
                first = next((e for e in events if _names_claim(e, c)), None)
                if first is None:
                    unreached.append((c, name))
                else:
                    ms.append(round(max(0.0, (event_time(first) - sent_at[c]) * 1000.0), 1))
            for e in events:
                if e["kind"] not in ("router.routed", "router.rejected"):
                    continue
                kind = e["attributes"].get("type")
                sender = name_of.get(str(e.get("peer")), "?")
                if kind in FACT_TYPES and e.get("msg_id") in wanted:
                    copies_sent[sender] += 1
                    copies_received[name] += 1
                elif kind in VOTE_TYPES:
                    votes_sent[sender] += 1
        return MeshResult(
            nodes=self.n,
            facts=claims,
            statements=statements,
            propagation_ms=ms,
            unreached=unreached,
            copies_sent=dict(copies_sent),
            copies_received=dict(copies_received),
            votes_sent=dict(votes_sent),
            mesh_setup_s=self.mesh_setup_s,
            propagate_s=took,
        )

    def kill(self, i: int) -> None:
        """SIGKILL node ``i`` (churn); its events stay readable in ``past[i]``."""
        self.nodes[i].kill()
        self.past.setdefault(i, []).append(self.nodes[i])

    def restart(self, i: int, believe: Sequence[str] = (), wait: bool = True) -> NodeProc:
        """Start node ``i`` again after ``kill``: the same identity, store, port and
        peers (they redial it; it redials those it was given). ``wait``: until it
        listens."""
        port = self.addrs[i].split("/tcp/")[1].split("/")[0]
        args = ["--listen", f"/ip4/127.0.0.1/tcp/{port}", *self._node_args]
        args += [x for s in believe for x in ("--believe", s)]
        args += [x for a in self._dialled[i] for x in ("--peer", a)]
        node = NodeProc(self.root / self.names[i], *args, wrap=self._wrap(i))
        self.nodes[i] = node
        if wait:
            node.kind("node.started", self._start_timeout)
        return node

    def events_of(self, i: int) -> list[Event]:
        """Node ``i``'s events, those of its killed processes first."""
        return [e for p in (*self.past.get(i, []), self.nodes[i]) for e in list(p.events)]

    def stop(self) -> None:
        """SIGTERM every node at once, then wait for each (SIGKILL past its deadline);
        idempotent."""
        for node in self.nodes:
            if node.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGTERM)
        for node in self.nodes:
            node.stop()
