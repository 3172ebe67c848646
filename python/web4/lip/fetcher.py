"""LIP_FETCH: one bounded, guarded HTTP(S) GET that produces provenance-carrying bytes.

Theory of operation: this is the IO edge of LIP (everything else in ``web4.lip`` is pure
or SQLite). ``fetch`` uses an ``httpx.AsyncClient`` whose transport is an
``httpcore.AsyncConnectionPool`` over ``_GuardedBackend``: every TCP connection, on
every redirect hop, resolves the host itself, refuses the whole host if any address is
loopback, private, link-local, multicast, reserved or otherwise not global (unless
``FetchPolicy.allow_private``), and then connects to an address it checked, so DNS
cannot change the answer between the check and the connect. TLS still verifies the
host name. Redirects are followed by hand (at most ``max_redirects``; http(s) only; no
https -> http downgrade). Before any body byte is read the status must be 2xx and the
content type in the allow-list; a declared ``Content-Length`` over the cap is refused;
the (decoded) body is streamed and the fetch stops as soon as it passes ``max_bytes``.
Connect and read timeouts bound each step and ``total_timeout`` bounds the whole fetch,
redirects included. A ``gate`` (the caller's source-tier rule) is asked about the host
before every request, redirect hops included, and at every connection about the host and
each address it resolved to; the host it sees is ``canonical_host`` of what httpx will
contact (``web4.lip.hosts``), so no spelling gets past it; a host it refuses is never
contacted. Every refusal is ``LIPFetchError("<reason>: <detail>")`` with reason one of:
scheme, address, dns, connect, tls, timeout, status, redirects, content_type, too_large,
protocol, blocked.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

from web4.clock import Clock, rfc3339
from web4.errors import ConfigError, LIPFetchError
from web4.lip.hosts import canonical_host, ip_form

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "FetchPolicy",
    "FetchResult",
    "HostGate",
    "address_refusal",
    "fetch",
]

# Why a canonical host may not be contacted (None: it may). The source-tier rule.
HostGate = Callable[[str], str | None]

DEFAULT_CONTENT_TYPES = frozenset({"text/html", "text/plain", "application/xhtml+xml"})


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetch. ``allow_private`` exists for tests on 127.0.0.1 only."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_bytes: int = 2 * 1024 * 1024
    max_redirects: int = 5
    content_types: frozenset[str] = field(default=DEFAULT_CONTENT_TYPES)
    allow_private: bool = False
    user_agent: str = "web4-runtime/0.1 (+LIP/1.0)"
    # Extra trust anchors (PEM file) on top of the system/certifi roots: private PKI, tests.
    ca_file: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What was fetched, from where, when, and its SHA-256 (provenance)."""

    uri: str  # as requested
    final_uri: str  # after redirects
    redirects: tuple[str, ...]
    status: int
    content_type: str
    charset: str | None
    body: bytes
    sha256: str
    retrieved_at: str  # RFC 3339 UTC, when the final response headers arrived


def address_refusal(ip: str) -> str | None:
    """Why a fetch may not connect to ``ip`` (None when it is a global address)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(addr, f"is_{kind}"):
            return f"{ip} is {kind.replace('_', '-')}"
    if not addr.is_global:
        return f"{ip} is not a global address"
    return None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address, connect only to a checked one."""

    def __init__(self, allow_private: bool, gate: HostGate | None) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._gate = gate

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except (OSError, TimeoutError) as e:
            raise LIPFetchError(f"dns: cannot resolve {host!r}: {e}") from e
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not ips:
            raise LIPFetchError(f"dns: {host!r} has no address")
        if self._gate is not None:  # the name as connected, and every address it names
            for name in (canonical_host(host), *(ip_form(ip) or ip for ip in ips)):
                why = self._gate(name)
                if why is not None:
                    raise LIPFetchError(f"blocked: {why}")
        if not self._allow_private:
            for ip in ips:
                why = address_refusal(ip)
                if why is not None:
                    raise LIPFetchError(f"address: refusing {host!r}: {why}")
        last: Exception | None = None
        for ip in ips:
            try:
                return await self._inner.connect_tcp(
                    ip, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        raise LIPFetchError(f"connect: {host}:{port}: {last}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise LIPFetchError("connect: unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _translate(
    e: httpcore.TimeoutException | httpcore.NetworkError | httpcore.ProtocolError,
) -> LIPFetchError:
    if isinstance(e, httpcore.TimeoutException):
        return LIPFetchError(f"timeout: {type(e).__name__} {e}")
    if isinstance(e, httpcore.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in str(e) or "certificate" in str(e).lower():
            return LIPFetchError(f"tls: certificate not trusted: {e}")
        return LIPFetchError(f"connect: {e}")
    return LIPFetchError(f"protocol: {type(e).__name__} {e}")


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_stream():
                yield chunk
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as e:
            raise _translate(e) from e

    async def aclose(self) -> None:
        await self._response.aclose()


class _GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, policy: FetchPolicy, ssl_context: ssl.SSLContext, gate: HostGate | None
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=4,
            retries=0,
            network_backend=_GuardedBackend(policy.allow_private, gate),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as e:
            raise _translate(e) from e
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


@functools.lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying client context per trust-anchor set (loading the roots costs ~20 ms;
    a client context is safe to share)."""
    context = httpx.create_ssl_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"fetch policy: cannot load ca_file {ca_file!r}: {e}") from e
    return context


def _check_scheme(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https"):
        raise LIPFetchError(f"scheme: only http and https are fetched, not {url.scheme!r}")
    if not url.host:
        raise LIPFetchError(f"scheme: {url} has no host")


async def fetch(
    uri: str, *, clock: Clock, policy: FetchPolicy | None = None, gate: HostGate | None = None
) -> FetchResult:
    """GET ``uri`` under ``policy``, contacting no host ``gate`` refuses (see the module
    docstring).

    Raises ``LIPFetchError`` whose message starts with the reason: scheme, address, dns,
    connect, tls, timeout, status, redirects, content_type, too_large, protocol or
    blocked; ``ConfigError`` when ``policy.ca_file`` cannot be loaded.
    """
    p = policy or FetchPolicy()
    try:
        url = httpx.URL(uri)
    except httpx.InvalidURL as e:
        raise LIPFetchError(f"scheme: {uri!r} is not a URL: {e}") from e
    _check_scheme(url)
    timeout = httpx.Timeout(
        connect=p.connect_timeout, read=p.read_timeout, write=p.read_timeout, pool=p.connect_timeout
    )
    transport = _GuardedTransport(p, _ssl_context(p.ca_file), gate)
    headers = {"user-agent": p.user_agent, "accept": ", ".join(sorted(p.content_types))}
    try:
        async with (
            asyncio.timeout(p.total_timeout),
            httpx.AsyncClient(
                transport=transport,
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
                headers=headers,
            ) as client,
        ):
            return await _fetch(client, url, uri, clock, p, gate)
    except TimeoutError as e:
        raise LIPFetchError(f"timeout: the fetch took longer than {p.total_timeout:g} s") from e
    except httpx.TransportError as e:  # defensive: httpx-level failures we did not map
        raise LIPFetchError(f"protocol: {type(e).__name__} {e}") from e


def _check_gate(url: httpx.URL, gate: HostGate | None) -> None:
    if gate is not None:
        why = gate(canonical_host(url.raw_host.decode("ascii")))
        if why is not None:
            raise LIPFetchError(f"blocked: {why}")


async def _fetch(
    client: httpx.AsyncClient,
    url: httpx.URL,
    uri: str,
    clock: Clock,
    p: FetchPolicy,
    gate: HostGate | None,
) -> FetchResult:
    redirects: list[str] = []
    while True:
        _check_gate(url, gate)  # every hop, before anything is sent to it
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                location = response.headers.get("location", "")
                if len(redirects) >= p.max_redirects:
                    raise LIPFetchError(f"redirects: more than {p.max_redirects} redirects")
                nxt = url.join(location)
                _check_scheme(nxt)
                if url.scheme == "https" and nxt.scheme == "http":
                    raise LIPFetchError(f"redirects: refusing downgrade to {nxt}")
                redirects.append(str(nxt))
                url = nxt
                continue
            if not 200 <= response.status_code < 300:
                raise LIPFetchError(f"status: {url} answered {response.status_code}")
            retrieved_at = rfc3339(clock.now())
            mime, charset = _content_type(response.headers.get("content-type", ""))
            if mime not in p.content_types:
                raise LIPFetchError(
                    f"content_type: {mime or 'none'} is not one of {sorted(p.content_types)}"
                )
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > p.max_bytes:
                raise LIPFetchError(f"too_large: Content-Length {declared} > {p.max_bytes}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > p.max_bytes:
                    raise LIPFetchError(f"too_large: body passed {p.max_bytes} bytes")
            data = bytes(body)
            return FetchResult(
                uri=uri,
                final_uri=str(url),
                redirects=tuple(redirects),
                status=response.status_code,
                content_type=mime,
                charset=charset,
                body=data,
                sha256=hashlib.sha256(data).hexdigest(),
                retrieved_at=retrieved_at,
            )


def _content_type(value: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in value.split(";")]
    mime = parts[0].lower()
    charset = None
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val:
            charset = val.strip().strip('"').lower()
    return mime, charset
