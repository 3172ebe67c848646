"""Hosts as the HTTP client will contact them: the one spelling tiers are decided on.

Theory of operation: a tier policy says ``"spam.example" = "blocked"``, but a URI can
spell that host many ways that httpx (``httpx._urlparse.encode_host``) turns into the same
name on the wire: upper case, IDNA labels separated by U+3002 / U+FF0E / U+FF61 (the
``idna`` package treats them as dots), a trailing dot. The resolver then reads numeric
spellings of an IPv4 address (``2130706433``, ``0x7f.1``, ``127.1``) like ``inet_aton``.
``canonical_host`` applies exactly that chain: httpx's own host encoding (through
``httpx.URL``, so it cannot drift from the client's), lowercase, no trailing dot, then an
IP address in its canonical text (IPv4-mapped IPv6 as IPv4, IPv4 as ``inet_aton`` reads
it). A spelling httpx refuses (e.g. fullwidth digits ``１２７．０．０．１``) is mapped with
UTS-46 instead, so it still classifies as the host it looks like (httpx would not fetch
it anyway). ``host_of`` is the canonical host of a URI, parsed by httpx itself so that
our parse and the client's cannot disagree.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx
import idna

__all__ = ["canonical_host", "host_of", "ip_form"]

_NUMERIC = re.compile(r"^[0-9a-fx.]+$")


def ip_form(host: str) -> str | None:
    """``host`` as a canonical IP address text, or None when it is a name. IPv4 spellings
    are read as ``inet_aton`` (the resolver) reads them; IPv4-mapped IPv6 is IPv4."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        if not _NUMERIC.match(text) or not any(c.isdigit() for c in text):
            return None
        try:
            return socket.inet_ntoa(socket.inet_aton(text))
        except OSError:
            return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def canonical_host(host: str) -> str:
    """The host the HTTP client contacts for ``host`` (see the module docstring)."""
    h = host.strip()
    try:
        wire = httpx.URL(scheme="http", host=h, path="/").raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError):
        try:
            wire = idna.encode(h, uts46=True).decode("ascii")
        except (idna.IDNAError, ValueError, UnicodeError):
            wire = h.lower()  # no client reaches it; classified as spelled
    wire = wire.lower().rstrip(".")
    return ip_form(wire) or wire


def host_of(uri: str) -> str:
    """The canonical host of ``uri`` as httpx parses it ("" when it has none). A URI httpx
    refuses (it is never fetched) falls back to ``urlsplit`` for classification."""
    try:
        raw = httpx.URL(uri).raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError):
        try:
            raw = urlsplit(uri).hostname or ""
        except ValueError:
            return ""
    return canonical_host(raw) if raw else ""
