"""docs/CIP_SPEC.md section 7 carries the TrustFSM table generated from the code."""

from __future__ import annotations

from pathlib import Path

from web4.trust import TRUST_TABLE

SPEC = Path(__file__).resolve().parents[3] / "docs" / "CIP_SPEC.md"


def test_spec_copy_of_the_trust_table_is_current() -> None:
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("## 7. Trust FSM") : text.index("## 8. Knowledge exchange")]
    assert TRUST_TABLE.to_markdown() in section, (
        "regenerate the table in docs/CIP_SPEC.md section 7 from TRUST_TABLE.to_markdown()"
    )
