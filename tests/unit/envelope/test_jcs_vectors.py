"""RFC 8785 canonicalization against the reference vectors (tests/vectors/jcs)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from web4.envelope import canonicalize
from web4.errors import CanonicalizationError

JCS = Path(__file__).parents[2] / "vectors" / "jcs"
NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_pairs_byte_for_byte(name: str) -> None:
    source = json.loads((JCS / "input" / f"{name}.json").read_text(encoding="utf-8"))
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    expected_hex = bytes.fromhex((JCS / "outhex" / f"{name}.txt").read_text().replace(" ", ""))
    assert expected == expected_hex
    assert canonicalize(source) == expected


def test_ten_thousand_number_lines() -> None:
    lines = (JCS / "es6testfile_first10000.txt").read_text(encoding="ascii").splitlines()
    assert len(lines) == 10_000
    failures = []
    for line in lines:
        bits, expected = line.split(",")
        value = struct.unpack(">d", bytes.fromhex(bits.zfill(16)))[0]
        got = canonicalize(value).decode("ascii")
        if got != expected:
            failures.append((bits, expected, got))
    assert failures == []


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (math.nan, "NaN"),
        (math.inf, "NaN and infinities"),
        (-math.inf, "NaN and infinities"),
        (2**53, "outside the range"),
        (-(2**53), "outside the range"),
        (2**64, "outside the range"),
        ({1: "x"}, "keys must be strings"),
        ({"a": "\ud800"}, "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
        ({"a": {1, 2}}, "no JSON form"),
        (b"bytes", "no JSON form"),
    ],
)
def test_values_json_cannot_carry_raise_typed_error(value: object, needle: str) -> None:
    with pytest.raises(CanonicalizationError, match=needle):
        canonicalize(value)


def test_safe_integer_bounds_are_accepted() -> None:
    assert canonicalize([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


def test_deep_nesting_is_refused_not_recursed() -> None:
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(CanonicalizationError, match="nesting deeper"):
        canonicalize(deep)


def test_bool_is_not_an_integer_and_tuples_are_arrays() -> None:
    assert canonicalize({"t": True, "f": False, "n": None, "l": (1, 2)}) == (
        b'{"f":false,"l":[1,2],"n":null,"t":true}'
    )
