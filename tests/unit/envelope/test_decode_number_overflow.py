"""Review: bounded decoding refuses what JSON cannot carry, including a number literal
that overflows a double (``1e400`` would otherwise decode to infinity)."""

from __future__ import annotations

import pytest

from web4.envelope.validate import Limits, decode_json
from web4.errors import InvalidEnvelopeError


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"1" + b"0" * 400 + b".0"])
def test_overflowing_number_is_not_json(literal: bytes) -> None:
    with pytest.raises(InvalidEnvelopeError):
        decode_json(b'{"x":' + literal + b"}", Limits())


def test_ordinary_floats_still_decode() -> None:
    assert decode_json(b'{"x":-0.0,"y":1e308,"z":5e-324}', Limits()) == {
        "x": -0.0,
        "y": 1e308,
        "z": 5e-324,
    }
