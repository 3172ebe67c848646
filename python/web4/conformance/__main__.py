"""``python -m web4.conformance [ROOT]``: rewrite ``ROOT/docs/conformance/*.json``.

ROOT (default: the current directory) is the repository root; the CIP handshake vectors
are read from its golden transcripts (``tests/unit/cip/golden/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from web4.conformance.cip_envelopes import render_cip_envelopes
from web4.conformance.cip_handshake import render_cip_handshakes
from web4.conformance.hcp_lip_envelopes import render_hcp_envelopes, render_lip_envelopes


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path()
    out = root / "docs" / "conformance"
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "cip_envelopes.json": render_cip_envelopes(),
        "cip_handshakes.json": render_cip_handshakes(root / "tests" / "unit" / "cip" / "golden"),
        "hcp_envelopes.json": render_hcp_envelopes(),
        "lip_envelopes.json": render_lip_envelopes(),
    }
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
