"""Worker monopoly, over real ``web4 node`` processes: Mallory's node asks Victor's node to
fetch 16 slow pages; Bob's node, asking afterwards for one quick page, is still answered
at once, while Mallory's fetches are queued or running.

The page server answers each ``/slow/`` path quickly the first time (Mallory's own fetch,
before she asks her peers) and holds every later request for ``SLOW`` seconds (Victor's
fetches for her). Victor answers peers he only probes (``--lip-fetch-for probing``)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.nodeproc import Event, NodeProc

pytestmark = pytest.mark.timeout(120)
SLOW = 6.0
PAGE = b"<html><body><p>Copper conducts electricity well at room temperature.</p></body></html>"


@pytest.fixture
def site() -> Iterator[str]:
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                seen[self.path] += 1
                again = seen[self.path] > 1
            if self.path.startswith("/slow/") and again:
                time.sleep(SLOW)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _at(e: Event) -> float:
    return datetime.fromisoformat(e["time"]).timestamp()


def _from(kind: str, peer: str, **attrs: object) -> object:
    def pred(e: Event) -> bool:
        return (
            e["kind"] == kind
            and e.get("peer") == peer
            and all(e["attributes"].get(k) == v for k, v in attrs.items())
        )

    return pred


def test_a_slow_peer_cannot_keep_another_peer_waiting(tmp_path: Path, site: str) -> None:
    slow = [a for i in range(16) for a in ("--fetch", f"{site}/slow/{i}")]
    mallory = NodeProc.new(tmp_path, "mallory", "--lip-allow-private", *slow)
    victor = NodeProc.new(
        tmp_path, "victor", "--peer", mallory.addr(), "--lip-allow-private",
        "--lip-fetch-for", "probing",
    )  # fmt: skip
    bob = None
    try:
        m = mallory.fingerprint
        # all 16 requests reached Victor before Bob asks
        victor.wait_for(
            lambda e: (
                sum(bool(_from("router.routed", m, type="LIP_FETCH")(x)) for x in victor.events)
                >= 16
            ),
            40.0,
        )
        bob = NodeProc.new(
            tmp_path, "bob", "--peer", victor.addr(), "--lip-allow-private",
            "--fetch", f"{site}/quick.html",
        )  # fmt: skip
        asked = victor.wait_for(_from("router.routed", bob.fingerprint, type="LIP_FETCH"), 30.0)
        answered = victor.wait_for(_from("lip.fetch", bob.fingerprint, answer=True), 10.0)
        assert _at(answered) - _at(asked) < 2.0  # not behind Mallory's slow pages
        bob.wait_for(_from("lip.evidence", victor.fingerprint, source="peer"), 10.0)
        # Mallory's fetches were still queued or running: at most one answered so far
        done_for_m = [e for e in victor.events if _from("lip.fetch", m, answer=True)(e)]
        assert len(done_for_m) <= 1
        assert not [e for e in victor.events if _from("lip.fetch_failed", bob.fingerprint)(e)]
        # Mallory was over her limit at once: 4 accepted, 12 refused with a clear reason
        refused = [e for e in victor.events if _from("lip.fetch_failed", m)(e)]
        assert len(refused) == 12
        assert all(
            e["attributes"]["reason"].startswith("peer_limit: peer has 4 fetches outstanding")
            for e in refused
        )
    finally:
        for n in (bob, victor, mallory):
            if n is not None:
                n.stop()
