"""Language-neutral conformance vectors (``docs/conformance/``), generated from the code.

Theory of operation: each module renders one vector file as deterministic JSON text
(two-space indent, keys in a fixed order, trailing newline) from the real implementation
(``web4.cip.CipBuilder``, ``web4.hcp.build_hcp``, ``web4.lip.build_lip``,
``web4.envelope``); a unit test loads every committed file,
checks the implementation agrees with each case, and checks the file equals what the
generator renders now, so the vectors cannot drift from the code. Run
``python -m web4.conformance [ROOT]`` from the repository root to rewrite them.
"""

from web4.conformance.cip_envelopes import render_cip_envelopes
from web4.conformance.cip_handshake import render_cip_handshakes
from web4.conformance.hcp_lip_envelopes import render_hcp_envelopes, render_lip_envelopes

__all__ = [
    "render_cip_envelopes",
    "render_cip_handshakes",
    "render_hcp_envelopes",
    "render_lip_envelopes",
]
