"""Tier policy (TOML) and the written rule that moves tiers; persisted and audited."""

from __future__ import annotations

import pytest

from web4.errors import ConfigError
from web4.lip.tiers import SourceTiers, TierPolicy, tier_rank
from web4.store import Store

POLICY = """
default = "unknown"
promote_after = 3
demote_after = 2
[domains]
"example.org" = "medium"
"docs.example.org" = "high"
"spam.example" = "blocked"
"low.example" = "low"
"""


@pytest.fixture
def tiers(tmp_path):
    with Store.open(tmp_path / "w.sqlite3") as store:
        yield SourceTiers(store, TierPolicy.from_toml(POLICY))


@pytest.mark.parametrize(
    ("host", "tier"),
    [
        ("example.org", "medium"),
        ("www.example.org", "medium"),
        ("docs.example.org", "high"),
        ("a.docs.example.org", "high"),
        ("EXAMPLE.ORG.", "medium"),
        ("notexample.org", "unknown"),
        ("x.spam.example", "blocked"),
        ("low.example", "low"),
        ("elsewhere.net", "unknown"),
    ],
)
def test_base_tier(host: str, tier: str) -> None:
    assert TierPolicy.from_toml(POLICY).base_tier(host) == tier


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default = ", "not TOML"),
        ('default = "great"', "tier must be one of"),
        ("promote_after = 0", "promote_after must be"),
        ("demote_after = true", "demote_after must be"),
        ("colour = 1", "unknown keys"),
        ('domains = "x"', "must be a table"),
        ('[domains]\n"a b" = "high"', "malformed domain"),
        ('[domains]\n"x.org" = "top"', "tier must be one of"),
    ],
)
def test_bad_policy(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TierPolicy.from_toml(text)


def test_policy_file(tmp_path) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text(POLICY)
    assert TierPolicy.load(path).domains["spam.example"] == "blocked"
    with pytest.raises(ConfigError, match="cannot read"):
        TierPolicy.load(tmp_path / "missing.toml")


def test_promotion_after_three_corroborations_capped_at_high(tiers) -> None:
    host = "elsewhere.net"
    seen = [tiers.record(host, "corroborated", now=i, cause=f"c{i}") for i in range(9)]
    assert seen == ["unknown", "unknown", "medium"] + ["medium"] * 2 + ["high"] * 4
    assert tiers.audit(host)[-1].note == "3 corroborated claims: up one tier (already at high)"


def test_demotion_after_two_rejections_floored_at_low(tiers) -> None:
    host = "docs.example.org"
    seen = [tiers.record(host, "rejected", now=i, cause="r") for i in range(8)]
    assert seen == ["high", "medium", "medium", "unknown", "unknown", "low", "low", "low"]
    # climbing back starts from the floor, not from a debt below it
    up = [tiers.record(host, "corroborated", now=10 + i, cause="c") for i in range(3)]
    assert up[-1] == "unknown"


def test_mixed_outcomes_reset_counters_only_on_a_move(tiers) -> None:
    host = "example.org"
    tiers.record(host, "corroborated", now=0, cause="")
    tiers.record(host, "rejected", now=1, cause="")
    assert tiers.record(host, "rejected", now=2, cause="") == "unknown"
    assert tiers.record(host, "corroborated", now=3, cause="") == "unknown"


def test_blocked_is_sticky(tiers) -> None:
    for i in range(10):
        assert tiers.record("spam.example", "corroborated", now=i, cause="") == "blocked"
    assert {a.note for a in tiers.audit("spam.example")} == {"blocked is sticky: nothing changes"}
    tiers.block("elsewhere.net", now=20, cause="malicious evidence")
    for i in range(5):
        assert tiers.record("elsewhere.net", "corroborated", now=30 + i, cause="") == "blocked"


def test_state_survives_reopening(tmp_path) -> None:
    path = tmp_path / "w.sqlite3"
    policy = TierPolicy.from_toml(POLICY)
    with Store.open(path) as store:
        t = SourceTiers(store, policy)
        for i in range(3):
            t.record("elsewhere.net", "corroborated", now=i, cause="c")
    with Store.open(path) as store:
        t = SourceTiers(store, policy)
        assert t.tier_of("elsewhere.net") == "medium"
        assert [a.after for a in t.audit("elsewhere.net")] == ["unknown", "unknown", "medium"]


def test_rank() -> None:
    assert tier_rank("blocked") < tier_rank("low") < tier_rank("unknown") < tier_rank("medium")
