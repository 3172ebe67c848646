"""LIP_FETCH against a real local HTTP server: every refusal has a clear reason."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

import web4.lip.fetcher as fetch_mod
from web4.clock import FakeClock
from web4.errors import ConfigError, LIPFetchError
from web4.lip.extract import extract_claims
from web4.lip.fetcher import FetchPolicy, FetchResult, address_refusal, fetch

# Generous deadlines: a loaded machine must not turn a refusal or a success into a timeout.
LOCAL = FetchPolicy(
    connect_timeout=5.0, read_timeout=5.0, total_timeout=10.0, max_bytes=4096, allow_private=True
)
# For the one page that answers after 1.5 s: the read deadline is what is tested.
SHORT_READ = FetchPolicy(
    connect_timeout=5.0, read_timeout=0.5, total_timeout=10.0, max_bytes=4096, allow_private=True
)


def get(url: str, policy: FetchPolicy = LOCAL) -> FetchResult:
    return asyncio.run(fetch(url, clock=FakeClock(1_800_000_000.0), policy=policy))


def test_fetch_carries_provenance(server) -> None:
    r = get(server.url("/page.html"))
    assert r.status == 200
    assert r.body == server.page
    assert r.sha256 == hashlib.sha256(server.page).hexdigest()
    assert r.retrieved_at == "2027-01-15T08:00:00.000Z"
    assert r.content_type == "text/html"
    assert r.charset == "utf-8"
    assert r.final_uri == r.uri == server.url("/page.html")
    claims = extract_claims(r.body, r.content_type, r.charset)
    statements = [c.statement for c in claims]
    assert "Water boils at 100 degrees Celsius at sea level." in statements
    assert "Ice melts at zero degrees Celsius." in statements
    assert not any("Scripts" in s for s in statements)
    assert not any("Short one" in s for s in statements)


def test_redirects_within_the_limit_are_followed(server) -> None:
    r = get(server.url("/redirect/3"))
    assert r.final_uri == server.url("/page.html")
    assert len(r.redirects) == 4


@pytest.mark.parametrize(
    ("path", "policy", "reason"),
    [
        ("/big", LOCAL, "too_large: Content-Length"),
        ("/big-unsized", LOCAL, "too_large: body passed 4096"),
        ("/slow", SHORT_READ, "timeout"),
        ("/redirect/9", LOCAL, "redirects: more than 5"),
        ("/json", LOCAL, "content_type: application/json"),
        ("/notype", LOCAL, "content_type: none"),
        ("/missing", LOCAL, "status: "),
        ("/page.html", FetchPolicy(allow_private=False), "address: refusing '127.0.0.1'"),
        ("/goto?file:///etc/passwd", LOCAL, "scheme: only http and https"),
    ],
)
def test_refusals(server, path, policy, reason) -> None:
    start = time.monotonic()
    with pytest.raises(LIPFetchError) as info:
        get(server.url(path), policy)
    assert str(info.value).startswith(reason.split(":")[0] + ":")
    assert reason in str(info.value)
    assert time.monotonic() - start < 5.0


def test_total_deadline_bounds_a_trickling_server(server) -> None:
    policy = FetchPolicy(read_timeout=5.0, total_timeout=0.8, max_bytes=4096, allow_private=True)
    start = time.monotonic()
    with pytest.raises(LIPFetchError, match=r"^timeout: the fetch took longer than 0.8 s"):
        get(server.url("/trickle"), policy)
    assert time.monotonic() - start < 4.0  # the trickle takes 10 s; margin for a loaded machine


def test_every_redirect_hop_is_checked(server, monkeypatch) -> None:
    """The first hop (127.0.0.1, allowed here) redirects to 127.0.0.2: refused."""
    real = fetch_mod.address_refusal
    monkeypatch.setattr(
        fetch_mod, "address_refusal", lambda ip: None if ip == "127.0.0.1" else real(ip)
    )
    hop = f"http://127.0.0.2:{server.port}/page.html"
    with pytest.raises(LIPFetchError, match=r"^address: refusing '127.0.0.2'"):
        get(server.url(f"/goto?{hop}"), FetchPolicy(allow_private=False, total_timeout=3.0))


def test_localhost_name_is_resolved_and_refused(server) -> None:
    with pytest.raises(LIPFetchError, match=r"^address: refusing 'localhost'"):
        get(f"http://localhost:{server.port}/page.html", FetchPolicy(total_timeout=3.0))


@pytest.mark.parametrize(
    ("uri", "reason"),
    [("ftp://example.org/x", "scheme:"), ("not a url", "scheme:"), ("http:///x", "scheme:")],
)
def test_bad_uris(uri: str, reason: str) -> None:
    with pytest.raises(LIPFetchError, match=f"^{reason}"):
        get(uri)


@pytest.mark.parametrize(
    ("ip", "refused"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "not a global"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_refusal(ip: str, refused: str | None) -> None:
    why = address_refusal(ip)
    if refused is None:
        assert why is None
    else:
        assert why is not None
        assert refused in why


def test_https_with_an_untrusted_certificate_is_refused(tls_server) -> None:
    s, _ = tls_server
    with pytest.raises(LIPFetchError, match=r"^tls: certificate not trusted"):
        get(s.url("/page.html").replace("http:", "https:"))


def test_https_with_a_trusted_certificate(tls_server) -> None:
    s, cert = tls_server
    policy = FetchPolicy(total_timeout=10.0, allow_private=True, ca_file=str(cert))
    r = get(s.url("/page.html").replace("http:", "https:"), policy)
    assert r.final_uri.startswith("https://127.0.0.1:")
    assert r.body == s.page


def test_https_to_http_downgrade_is_refused(tls_server, server) -> None:
    s, cert = tls_server
    policy = FetchPolicy(total_timeout=10.0, allow_private=True, ca_file=str(cert))
    url = s.url(f"/goto?{server.url('/page.html')}").replace("http:", "https:", 1)
    with pytest.raises(LIPFetchError, match=r"^redirects: refusing downgrade"):
        get(url, policy)


def test_unreadable_ca_file_is_a_config_error(tmp_path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="ca_file"):
        get("https://127.0.0.1:1/", FetchPolicy(allow_private=True, ca_file=str(bad)))


@pytest.mark.parametrize(
    "host",
    ["[::1]", "0x7f000001", "2130706433", "127.1", "[::ffff:127.0.0.1]", "localhost"],
)
def test_disguised_loopback_addresses_are_refused(server, host: str) -> None:
    with pytest.raises(LIPFetchError, match=r"^address: refusing .* is loopback"):
        get(f"http://{host}:{server.port}/page.html", FetchPolicy(total_timeout=3.0))
