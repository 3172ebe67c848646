"""docs/LIP_SPEC.md states what the code does: its tables and defaults come from it."""

from __future__ import annotations

from pathlib import Path

from web4.lip._state import CLAIM_TABLE, REQUIRED_CONFIRMATIONS
from web4.lip.extract import MAX_CLAIMS
from web4.lip.fetcher import DEFAULT_CONTENT_TYPES, FetchPolicy
from web4.lip.learn import CONFIDENCE
from web4.lip.tiers import LADDER, TierPolicy

SPEC = (Path(__file__).parents[3] / "docs" / "LIP_SPEC.md").read_text(encoding="utf-8")
TEXT = " ".join(SPEC.split())  # prose, with line wrapping undone


def test_claim_table_is_the_generated_one() -> None:
    assert CLAIM_TABLE.to_markdown() in SPEC


def test_defaults_match() -> None:
    p = FetchPolicy()
    assert f"connect [{p.connect_timeout:g} s]" in TEXT
    assert f"each read [{p.read_timeout:g} s]" in TEXT
    assert f"[{p.total_timeout:g} s]" in TEXT
    assert f"at most [{p.max_redirects}]" in TEXT
    assert f"[{p.max_bytes // (1024 * 1024)} MiB]" in TEXT
    for ctype in DEFAULT_CONTENT_TYPES:
        assert f"`{ctype}`" in TEXT
    assert f"at most {MAX_CLAIMS} claims" in TEXT
    assert " < ".join(f"`{t}`" for t in LADDER) in TEXT
    policy = TierPolicy()
    assert f"promote_after = {policy.promote_after}" in TEXT
    assert f"demote_after = {policy.demote_after}" in TEXT
    assert f"at least {REQUIRED_CONFIRMATIONS} distinct trusted peers" in TEXT
    assert ", ".join(f"{k} {v:g}" for k, v in CONFIDENCE.items()) in TEXT


def test_fetching_for_peers_defaults_match() -> None:
    from web4.lip.runtime import PEER_WAITING, WORK_QUEUE, LipSettings

    s = LipSettings()
    assert f"`workers` (fetches running at once, default {s.workers}," in TEXT
    assert f"`peer_limit` (a peer's fetches waiting or running, default {s.peer_limit}," in TEXT
    assert f"`{s.fetch_for}` (default)" in TEXT
    assert f"at most {PEER_WAITING} jobs waiting" in TEXT
    assert f"at most {WORK_QUEUE} of them wait" in TEXT
