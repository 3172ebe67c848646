"""docs/HCP_SPEC.md states what the code does: its tables and constants come from it."""

from __future__ import annotations

from pathlib import Path

from web4.hcp import gate
from web4.hcp.social import SOCIAL_TABLE

SPEC = (Path(__file__).parents[3] / "docs" / "HCP_SPEC.md").read_text(encoding="utf-8")
TEXT = " ".join(SPEC.split())  # prose, with line wrapping undone


def test_social_table_is_the_generated_one() -> None:
    assert SOCIAL_TABLE.to_markdown() in SPEC


def test_pacing_constants_match() -> None:
    assert f"pressure >= {gate.PRESSURE_SLOW}" in TEXT
    assert f"clarity <= {gate.CLARITY_SLOW}" in TEXT
    assert f"at least {gate.SLOW_MIN_INTERVAL:g} s between two agent messages" in TEXT
    assert f"bounded in-memory log ({gate.MAX_REFUSALS} entries)" in TEXT


def test_the_refusal_of_an_unauthorised_key_is_the_one_specified() -> None:
    from web4.hcp.builder import NOT_AUTHORIZED, REFUSAL_MARKER, not_authorized_text

    assert f'`["{REFUSAL_MARKER}", "reason:{NOT_AUTHORIZED}"]`' in TEXT
    assert f"`{not_authorized_text('<fingerprint>')}`" in TEXT
