"""A tiny local web site for the two-agent demo: two pages and a tier policy.

Theory of operation: ``DemoSite.start(directory)`` serves ``PAGES`` with the standard
library's ``ThreadingHTTPServer`` on 127.0.0.1 (a free port, a daemon thread) and writes
``tiers.toml`` beside it. The policy leaves the host ``unknown`` (claims wait in the
queue) with ``promote_after = 1``: one corroboration by a trusted peer moves the host up
one tier, to ``medium``, which accepts its claims (``docs/LIP_SPEC.md`` §3 and §4). So in
a two-agent demo a claim is accepted only after the other agent fetched the same page
itself and confirmed it. ``node_args`` gives the fetching node's flags (the fetches,
the policy, and ``--lip-allow-private``: loopback fetches are refused by default).
``stop`` shuts the server down. Nothing here is used by a node at run time.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["PAGES", "POLICY", "DemoSite"]

PAGES: dict[str, bytes] = {
    "/everest.html": b"<!doctype html><html><head><title>Everest</title></head><body>"
    b"<p>Mount Everest is the highest mountain above sea level on Earth.</p></body></html>",
    "/moon.html": b"<!doctype html><html><head><title>Moon</title></head><body>"
    b"<p>The Moon orbits the Earth roughly every 27 days.</p></body></html>",
}
POLICY = """# web4 demo: the local site starts unknown; one trusted corroboration promotes it
default = "unknown"
promote_after = 1
demote_after = 2
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


class DemoSite:
    """The demo's web site (see the module docstring)."""

    def __init__(self, server: ThreadingHTTPServer, policy: Path) -> None:
        self._server = server
        self.policy = policy
        self.base = f"http://127.0.0.1:{server.server_address[1]}"

    @classmethod
    def start(cls, directory: Path) -> DemoSite:
        """Serve the pages and write the policy. Raises ``OSError`` (no port, no file)."""
        policy = directory / "tiers.toml"
        policy.write_text(POLICY, encoding="utf-8")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
        return cls(server, policy)

    def urls(self) -> list[str]:
        return [self.base + path for path in PAGES]

    def node_args(self) -> list[str]:
        args = ["--lip-allow-private", "--lip-tiers", str(self.policy)]
        for url in self.urls():
            args += ["--fetch", url]
        return args

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
