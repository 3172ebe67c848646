"""LIP over real ``web4 node`` processes and a real local HTTP server.

Node A fetches (``--fetch``) from ``http.server`` on 127.0.0.x (``--lip-allow-private``),
queues the claims, and asks its agent peers with ``LIP_FETCH``; they fetch for
themselves under their own policy and answer ``LIP_EVIDENCE``. Peers are trusted by A
through operator trust anchors (``--trust``). The shared helper nodes do not know A (it
is only ``probing`` to them), so their ``[lip]`` table says ``fetch_for = "probing"``;
the default (``trusted``) is tested at the end. Helper nodes are shared by the module;
every wait has a deadline.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from support.nodeproc import Event, NodeProc

pytestmark = pytest.mark.timeout(120)

PAGES = {
    "/water.html": b"<html><head><title>Water</title></head><body><p>Water boils at 100 "
    b"degrees Celsius at sea level. Ice melts at 0 degrees Celsius.</p></body></html>",
    "/never.html": b"<html><body><p>Water never boils at 100 degrees Celsius at sea level."
    b"</p></body></html>",
}


class _Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(f"{self.server.server_address[0]}{self.path}")
        body = PAGES.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.fixture(scope="module")
def web() -> Iterator[dict[str, str]]:
    """The same pages on 127.0.0.1, .2 and .3 (one port each): hosts with their own tiers."""
    servers = [ThreadingHTTPServer((f"127.0.0.{i}", 0), _Pages) for i in (1, 2, 3)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield {
        f"127.0.0.{i}": f"http://127.0.0.{i}:{s.server_address[1]}"
        for i, s in zip((1, 2, 3), servers, strict=True)
    }
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    """B and C fetch for their peers (loopback allowed); D keeps the safe default."""
    root = tmp_path_factory.mktemp("lip-peers")
    serve = root / "serve-probing.toml"  # they answer peers they only probe
    serve.write_text('[lip]\nfetch_for = "probing"\n', encoding="utf-8")
    nodes: dict[str, NodeProc] = {}
    try:
        for name in ("bob", "carol"):
            nodes[name] = NodeProc.new(root, name, "--config", str(serve), "--lip-allow-private")
        nodes["dave"] = NodeProc.new(root, "dave", "--config", str(serve))
        yield nodes
    finally:
        for n in nodes.values():
            n.stop()


def _agent(
    root: Path, name: str, peers: list[NodeProc], trusted: list[NodeProc], policy: str, *fetch: str
) -> NodeProc:
    (root / f"{name}-tiers.toml").write_text(policy, encoding="utf-8")
    args = ["--lip-allow-private", "--lip-tiers", str(root / f"{name}-tiers.toml")]
    for p in peers:
        args += ["--peer", p.addr()]
    for p in trusted:
        args += ["--trust", p.fingerprint]
    for uri in fetch:
        args += ["--fetch", uri]
    return NodeProc.new(root, name, *args)


def _is(kind: str, **attrs: object) -> object:
    def pred(e: Event) -> bool:
        return e["kind"] == kind and all(e["attributes"].get(k) == v for k, v in attrs.items())

    return pred


def _memory(node: NodeProc) -> list[tuple[str, str]]:
    db = sqlite3.connect(node.data_dir / "web4.sqlite3")
    try:
        rows = db.execute(
            "SELECT msg_id, state FROM knowledge_claims WHERE msg_id LIKE 'lip:%'"
        ).fetchall()
    finally:
        db.close()
    return [(str(a), str(b)) for a, b in rows]


def test_one_trusted_confirmation_is_not_enough(
    tmp_path: Path, web: dict[str, str], peers: dict[str, NodeProc]
) -> None:
    b, c, d = peers["bob"], peers["carol"], peers["dave"]
    url = web["127.0.0.2"] + "/water.html"
    a = _agent(tmp_path, "alice1", [b, c, d], [b, d], 'default = "unknown"\n', url)
    try:
        a.wait_for(_is("lip.asked", uri=url, asked=3), 30.0)
        for peer in (b, c):
            a.wait_for(
                lambda e, p=peer: (
                    e["kind"] == "lip.evidence"
                    and e["peer"] == p.fingerprint
                    and e["attributes"]["matched"] == 2
                ),
                20.0,
            )
        # D keeps its own policy: it refuses the loopback fetch and sends nothing
        d.wait_for(
            lambda e: (
                e["kind"] == "lip.fetch_failed"
                and e["peer"] == a.fingerprint
                and e["attributes"]["reason"].startswith("address")
            ),
            20.0,
        )
        a.wait_for(_is("lip.claim", to="pending"), 20.0)
        assert a.kinds("lip.accepted") == []  # B counts, C is not trusted, D never answered
        assert _memory(a) == []
    finally:
        assert a.stop() == 0
    db = sqlite3.connect(a.data_dir / "web4.sqlite3")
    try:
        notes = [r[0] for r in db.execute("SELECT note FROM lip_claim_audit").fetchall()]
        states = {r[0] for r in db.execute("SELECT state FROM lip_claims").fetchall()}
    finally:
        db.close()
    assert states == {"pending"}  # still queued after the process ended
    assert any(n.startswith("trusted peer " + b.fingerprint) for n in notes)
    assert any(n.startswith("untrusted (not counted) peer " + c.fingerprint) for n in notes)


def test_claims_accepted_only_after_two_trusted_peers_corroborate(
    tmp_path: Path, web: dict[str, str], peers: dict[str, NodeProc]
) -> None:
    b, c = peers["bob"], peers["carol"]
    url = web["127.0.0.2"] + "/water.html"
    a = _agent(tmp_path, "alice2", [b, c], [b, c], 'default = "unknown"\n', url)
    try:
        accepted = [
            a.wait_for(
                _is("lip.accepted", reason="confirmed by 2 trusted peers", claim=cid[:16]), 30.0
            )
            for cid in _claims(a, 2)
        ]
        kinds = [e["kind"] for e in a.events]
        first_peer_evidence = next(
            i for i, e in enumerate(a.events) if _is("lip.evidence", source="peer")(e)
        )
        assert kinds.index("lip.accepted") > first_peer_evidence + 1  # not after one peer
        assert {tuple(e["attributes"]["corroborators"]) for e in accepted} == {
            tuple(sorted((b.fingerprint[:16], c.fingerprint[:16])))
        }
        assert sorted(s for _, s in _memory(a)) == ["accepted", "accepted"]
        # the router delivered LIP_EVIDENCE to knowledge; B got LIP_FETCH and LIP_ACCEPT
        a.wait_for(_is("router.routed", type="LIP_EVIDENCE", destination="knowledge"), 20.0)
        b.wait_for(
            lambda e: (
                _is("router.routed", type="LIP_FETCH", destination="lip")(e)
                and e["peer"] == a.fingerprint
            ),
            20.0,
        )
        b.wait_for(
            lambda e: _is("lip.accepted", source="peer")(e) and e["peer"] == a.fingerprint, 20.0
        )
    finally:
        assert a.stop() == 0


def _claims(node: NodeProc, n: int) -> list[str]:
    node.wait_for(lambda e: len(node.kinds("lip.claim")) >= n, 30.0)
    return [e["attributes"]["claim"] for e in node.kinds("lip.claim")[:n]]


def test_tiers_conflict_and_blocked_sources(
    tmp_path: Path, web: dict[str, str], peers: dict[str, NodeProc]
) -> None:
    b = peers["bob"]
    policy = '[domains]\n"127.0.0.1" = "medium"\n"127.0.0.3" = "blocked"\n'
    first, second = web["127.0.0.1"] + "/water.html", web["127.0.0.1"] + "/never.html"
    blocked = web["127.0.0.3"] + "/water.html"
    a = _agent(tmp_path, "alice3", [b], [b], policy, first, second, blocked)
    try:
        ok = a.wait_for(_is("lip.accepted", reason="source tier is medium"), 30.0)
        assert ok["attributes"]["corroborators"] == []  # the tier alone accepted it
        dispute = a.wait_for(_is("lip.conflict", to="disputed"), 30.0)
        assert dispute["attributes"]["severity"] == "high"  # against causal memory
        assert dispute["attributes"]["reason"].startswith("conflicts with 1 local")
        b.wait_for(
            lambda e: (
                _is("lip.conflict", source="peer", severity="high")(e)
                and e["peer"] == a.fingerprint
            ),
            20.0,
        )
        b.wait_for(_is("router.routed", type="LIP_CONFLICT", destination="lip"), 20.0)
        refused = a.wait_for(_is("lip.fetch_failed", uri=blocked), 30.0)
        assert refused["attributes"]["reason"].startswith("blocked:")
        assert not any(h.startswith("127.0.0.3") for h in _Pages.hits)  # never contacted
        # the first page's two claims; the disputed one stays out of causal memory
        assert [s for _, s in _memory(a)] == ["accepted", "accepted"]
    finally:
        assert a.stop() == 0


def test_by_default_a_node_fetches_only_for_peers_it_trusts(
    tmp_path: Path, web: dict[str, str]
) -> None:
    """Erin keeps the default (``fetch_for = "trusted"``): A is only probing to her, so
    she refuses without fetching. Frank's operator vouches for A (``--trust``): he fetches
    and answers."""
    url = web["127.0.0.2"] + "/water.html"
    hits = "127.0.0.2/water.html"  # as _Pages records it
    before = _Pages.hits.count(hits)
    a = _agent(tmp_path, "alice4", [], [], 'default = "unknown"\n', url)
    erin = NodeProc.new(tmp_path, "erin", "--peer", a.addr(), "--lip-allow-private")
    frank = NodeProc.new(
        tmp_path, "frank", "--peer", a.addr(), "--trust", a.fingerprint, "--lip-allow-private"
    )
    try:
        refused = erin.wait_for(
            lambda e: e["kind"] == "lip.fetch_failed" and e["peer"] == a.fingerprint, 30.0
        )
        assert refused["attributes"]["reason"].startswith("not_trusted: peer is probing")
        assert refused["attributes"]["uri"] == url
        frank.wait_for(
            lambda e: _is("lip.fetch", answer=True)(e) and e["peer"] == a.fingerprint, 30.0
        )
        a.wait_for(
            lambda e: _is("lip.evidence", source="peer")(e) and e["peer"] == frank.fingerprint,
            20.0,
        )
        assert _Pages.hits.count(hits) - before == 2  # A's own fetch and Frank's, not Erin's
        assert not [
            e for e in a.kinds("lip.evidence") if e.get("peer") == erin.fingerprint
        ]  # Erin sent nothing
    finally:
        for n in (erin, frank, a):
            assert n.stop() == 0
