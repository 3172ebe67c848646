"""A ``blocked`` host is never contacted, however it is reached or spelled: through a
redirect from an allowed host, through a spelling httpx normalises to it (U+3002 and
other IDNA dots, fullwidth digits, numeric IPv4 forms, a trailing dot), or through a name
that resolves to a blocked address. Each blocked host is a real local server that counts
the requests it gets: the count stays 0."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from web4.clock import FakeClock
from web4.errors import LIPFetchError
from web4.lip.fetcher import FetchPolicy
from web4.lip.learn import answer_fetch, learn
from web4.lip.messages import LipFetch
from web4.lip.queue import AcceptedClaim, ClaimQueue
from web4.lip.tiers import SourceTiers, TierPolicy
from web4.store import Store

POLICY = FetchPolicy(total_timeout=5.0, allow_private=True)
PAGE = b"<html><body><p>Water boils at 100 degrees Celsius at sea level.</p></body></html>"


class Counting(ThreadingHTTPServer):
    """A page server that counts every request it receives."""

    def __init__(self, host: str) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

        super().__init__((host, 0), Handler)
        self.daemon_threads = True
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def blocked_site() -> Iterator[Counting]:
    s = Counting("127.0.0.3")
    yield s
    s.shutdown()
    s.server_close()


class _Knowledge:
    def conflicts_with(self, statement: str) -> list[str]:
        return []


class _Memory:
    def record_claim(self, claim: AcceptedClaim) -> None:
        pass


def _agent(tmp_path: Path, policy: str) -> tuple[ClaimQueue, SourceTiers, Store]:
    store = Store.open(tmp_path / "a.sqlite3")
    tiers = SourceTiers(store, TierPolicy.from_toml(policy))
    queue = ClaimQueue(
        store, tiers, knowledge=_Knowledge(), memory=_Memory(), is_trusted=lambda p: True
    )
    return queue, tiers, store


def _learn(tmp_path: Path, policy: str, uri: str) -> None:
    queue, tiers, store = _agent(tmp_path, policy)
    try:
        job = learn(uri, queue=queue, tiers=tiers, clock=FakeClock(), policy=POLICY)
        asyncio.run(job)
    finally:
        store.close()


BLOCK_3 = '[domains]\n"127.0.0.1" = "medium"\n"127.0.0.3" = "blocked"\n'


def test_a_redirect_to_a_blocked_host_never_contacts_it(
    tmp_path: Path, server, blocked_site: Counting
) -> None:
    target = f"http://127.0.0.3:{blocked_site.port}/page.html"
    with pytest.raises(LIPFetchError, match=r"^blocked: 127\.0\.0\.3 is a blocked source"):
        _learn(tmp_path, BLOCK_3, server.url(f"/goto?{target}"))
    assert blocked_site.hits == 0


def test_a_peers_fetch_redirected_to_a_blocked_host_returns_no_evidence(
    tmp_path: Path, server, blocked_site: Counting
) -> None:
    _, tiers, store = _agent(tmp_path, BLOCK_3)
    # the redirect names the blocked host by a numeric spelling (127.0.0.3 = 2130706435)
    request = LipFetch(query=server.url(f"/goto?http://2130706435:{blocked_site.port}/x"))
    try:
        with pytest.raises(LIPFetchError, match=r"^blocked: 127\.0\.0\.3"):
            asyncio.run(answer_fetch(request, tiers=tiers, clock=FakeClock(), policy=POLICY))
    finally:
        store.close()
    assert blocked_site.hits == 0


@pytest.mark.parametrize(
    "spelling",
    [
        "127。0。0。3",  # U+3002 ideographic full stop: httpx (idna) reads it as a dot
        "127．0．0．3",  # U+FF0E fullwidth full stop
        "127｡0｡0｡3",  # U+FF61 halfwidth ideographic full stop
        "１２７．０．０．３",  # fullwidth digits: UTS-46 maps them (httpx refuses the URL)
        "127.0.0.3.",  # trailing dot
        "2130706435",  # one number, as the resolver (inet_aton) reads it
        "0x7f.0.0.3",  # hexadecimal first part
        "127.3",  # short form
    ],
)
def test_spellings_of_a_blocked_host_are_classified_as_it(
    tmp_path: Path, blocked_site: Counting, spelling: str
) -> None:
    uri = f"http://{spelling}:{blocked_site.port}/page.html"
    with pytest.raises(LIPFetchError, match=r"^blocked: 127\.0\.0\.3 is a blocked source"):
        _learn(tmp_path, '[domains]\n"127.0.0.3" = "blocked"\n', uri)
    assert blocked_site.hits == 0


def test_a_name_resolving_to_a_blocked_address_is_not_contacted(tmp_path: Path) -> None:
    site = Counting("127.0.0.1")
    try:
        with pytest.raises(LIPFetchError, match=r"^blocked: 127\.0\.0\.1 is a blocked source"):
            _learn(
                tmp_path,
                '[domains]\n"127.0.0.1" = "blocked"\n',
                f"http://localhost:{site.port}/page.html",
            )
        assert site.hits == 0
    finally:
        site.shutdown()
        site.server_close()


def test_an_allowed_host_is_still_fetched_through_the_gate(
    tmp_path: Path, blocked_site: Counting
) -> None:
    # the same server, not blocked: the gate lets it through (the counter is live)
    _learn(tmp_path, 'default = "unknown"\n', f"http://127.0.0.3:{blocked_site.port}/p")
    assert blocked_site.hits == 1
