"""Hosts in the spelling the HTTP client contacts: what the tier policy is decided on."""

from __future__ import annotations

import httpx
import pytest

from web4.errors import ConfigError
from web4.lip.hosts import canonical_host, host_of
from web4.lip.tiers import TierPolicy


@pytest.mark.parametrize(
    ("spelling", "host"),
    [
        ("127。0。0。1", "127.0.0.1"),  # U+3002
        ("127．0．0．1", "127.0.0.1"),  # U+FF0E
        ("127｡0｡0｡1", "127.0.0.1"),  # U+FF61
        ("１２７．０．０．１", "127.0.0.1"),  # fullwidth digits (UTS-46)
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("SPAM.Example.", "spam.example"),
        ("spam。example", "spam.example"),
        ("ｓｐａｍ.example", "spam.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("cafe.face", "cafe.face"),  # letters that look hexadecimal stay a name
    ],
)
def test_canonical_host(spelling: str, host: str) -> None:
    assert canonical_host(spelling) == host


@pytest.mark.parametrize("spelling", ["127。0。0。1", "SPAM.example", "spam。example", "bücher.de"])
def test_canonical_host_is_what_httpx_sends(spelling: str) -> None:
    wire = httpx.URL(f"http://{spelling}/").raw_host.decode("ascii")
    assert canonical_host(spelling) == canonical_host(wire) == wire.lower().rstrip(".")


def test_host_of_parses_like_httpx() -> None:
    assert host_of("http://u:p@Spam.Example.:80/x") == "spam.example"
    assert host_of("http://evil.test\\@spam.example/") == host_of("http://spam.example/")
    assert host_of("http://１２７．０．０．１:8/") == "127.0.0.1"  # httpx refuses: still classified
    assert host_of("not a uri") == ""


@pytest.mark.parametrize(
    "spelling",
    ["127。0。0。1", "１２７．０．０．１", "2130706433", "127.0.0.1.", "[::ffff:127.0.0.1]"],
)
def test_policy_classifies_every_spelling_as_the_named_host(spelling: str) -> None:
    policy = TierPolicy.from_toml(
        '[domains]\n"127.0.0.1" = "blocked"\n"spam.example" = "blocked"\n'
    )
    assert policy.base_tier(spelling) == "blocked"
    assert policy.base_tier("x.spam。example") == "blocked"
    assert policy.base_tier("127.0.0.2") == "unknown"


def test_policy_keys_are_canonical_and_an_address_has_no_parents() -> None:
    policy = TierPolicy.from_toml('[domains]\n"EXAMPLE。org" = "high"\n"0.1" = "blocked"\n')
    assert set(policy.domains) == {"example.org", "0.0.0.1"}
    assert policy.base_tier("news.example.org") == "high"
    assert policy.base_tier("10.0.0.1") == "unknown"  # not a subdomain of "0.1"


def test_two_spellings_of_one_key_are_refused() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        TierPolicy.from_toml('[domains]\n"127.0.0.1" = "high"\n"127。0。0。1" = "blocked"\n')
