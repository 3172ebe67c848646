"""A real local HTTP server (stdlib, in a thread, 127.0.0.1:0) with pages that behave
well and badly, for the LIP fetcher and queue tests."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

PAGE = b"""<!doctype html><html><head><title>Water facts for testing</title>
<meta name="description" content="A small page about the boiling point of water.">
<script>var x = "Scripts are never claims at all.";</script></head><body>
<p>Water boils at 100 degrees Celsius at sea level. Ice melts at zero degrees Celsius.</p>
<p>Short one.</p>
<p>The Moon orbits the Earth roughly every 27 days.</p>
</body></html>"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, ctype: str | None, body: bytes, length: bool = True) -> None:
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The fetcher hangs up on purpose (size cap, wrong type): not a server error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path in self.pages:
            ctype, body = self.pages[path]
            self._send(200, ctype, body)
        elif path == "/page.html":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif path == "/plain.txt":
            self._send(200, "text/plain", b"Plain text pages also carry claims here.\n\nSecond.")
        elif path == "/big":
            self._send(200, "text/html", b"<p>" + b"x" * 5000 + b"</p>")
        elif path == "/big-unsized":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"y" * 1000)
            self.close_connection = True
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, "text/html", PAGE)
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                try:
                    self.wfile.write(b"z")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
        elif path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/page.html" if n <= 0 else f"/redirect/{n - 1}"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/goto?"):
            self.send_response(302)
            self.send_header("Location", path.split("?", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/json":
            self._send(200, "application/json", b'{"a": 1}')
        elif path == "/notype":
            self._send(200, None, b"<p>no type</p>")
        else:
            self._send(404, "text/plain", b"not found")


class Server:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.page = PAGE
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, ctype: str = "text/html; charset=utf-8") -> str:
        Handler.pages[path] = (ctype, body)
        return self.url(path)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
        Handler.pages.clear()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (its own CA), as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web4 test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    s = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    s.httpd.socket = context.wrap_socket(s.httpd.socket, server_side=True)
    s.thread.start()
    try:
        yield s, cert
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
