"""Envelope bytes are parsed once, in Rust (``web4._core.parse_envelope``), and verified
from the same parsed tree: the parse gives what ``json.loads`` gave the validator before
(the differential tests), refuses what it refused, keeps what JSON carries and RFC 8785
does not for the check that meets it first, and a router's parse is validated under each
protocol's own limits."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.cip.builder import CipBuilder
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.crypto import canonicalize, sign_envelope
from web4.envelope.validate import (
    Limits,
    ReceivedEnvelope,
    Receiver,
    decode_json,
    parse_envelope,
)
from web4.errors import (
    FingerprintMismatchError,
    IdentityError,
    InvalidEnvelopeError,
    MissingPublicKeyError,
    PayloadSchemaError,
    SignatureMismatchError,
)
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
WIDE = Limits(max_bytes=1 << 20, max_depth=64)


def _strict_loads(text: str) -> Any:
    """What the validator decoded with before parse-once: json.loads refusing duplicate
    keys, NaN/Infinity and overflowing floats."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            raise ValueError("duplicate")
        return obj

    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError("overflow")
        return value

    def constant(name: str) -> Any:
        raise ValueError(name)

    return json.loads(text, object_pairs_hook=pairs, parse_float=finite, parse_constant=constant)


def _same(a: Any, b: Any) -> bool:
    """Equal, with types (1 is not 1.0 here) and -0.0 told from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.booleans())
def test_the_parse_is_what_json_loads_gives(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _same(parse_envelope(text.encode(), WIDE).value, _strict_loads(text))


LITERALS = [
    "0", "-0", "-0.0", "1.5e3", "1E-2", "5e-324", "1e-400", "1.7976931348623157e308",
    "9007199254740993", "-9223372036854775809", "123456789012345678901234567890",
    '"\\ud83d\\ude00"', '"\\ud800"', '"a\\udc00b\\ud800"', '"\\ud800\\ud800"',
    '"\\u00e9\\/\\b\\f\\n\\r\\t"', '"\\u0000"', '"\u00e9\U0001f600"', " [ 1 , {} ] ",
    '{"a":{"b":[]}}', '"\\uDEAD\\uBEEF"',
]  # fmt: skip


@pytest.mark.parametrize("literal", LITERALS)
def test_literals_as_json_loads_reads_them(literal: str) -> None:
    assert _same(parse_envelope(literal.encode(), WIDE).value, _strict_loads(literal))


REFUSED = [
    b"", b"NaN", b"-Infinity", b'{"a":Infinity}', b"1e400", b"-1e400", b"01", b"1.",
    b".5", b"+1", b"[1,]", b'{"a":1,}', b"{a:1}", b'"\x01"', b'"\\x"', b'"\\u12g4"',
    b"[1] [2]", b"\xef\xbb\xbf{}", b"\xff", b'"\xed\xa0\x80"', b'{"a":1,"a":1}',
    b'{"a":{"b":0,"b":0}}', b'{"a":1,"\\u0061":2}', b"1" + b"0" * 4300,
]  # fmt: skip


@pytest.mark.parametrize("data", REFUSED)
def test_refused_as_before(data: bytes) -> None:
    with pytest.raises(InvalidEnvelopeError):
        parse_envelope(data, WIDE)
    try:  # the former decoder refused it too
        _strict_loads(data.decode("utf-8"))
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, or a hook's refusal
        return
    pytest.fail(f"json.loads took {data[:40]!r}")


def test_limits_and_what_the_parse_saw() -> None:
    text = b'{"a":[[{}]]}'
    got = parse_envelope(text, Limits(max_bytes=len(text), max_depth=4))
    assert (got.size, got.depth) == (len(text), 4)
    with pytest.raises(InvalidEnvelopeError, match="nested deeper than 3"):
        parse_envelope(text, Limits(max_bytes=64, max_depth=3))
    with pytest.raises(InvalidEnvelopeError, match="limit"):
        parse_envelope(text, Limits(max_bytes=len(text) - 1, max_depth=4))
    assert decode_json(b"[1]", WIDE) == [1]


def test_a_key_with_a_lone_surrogate_is_refused_at_once() -> None:
    with pytest.raises(InvalidEnvelopeError, match="lone surrogate"):
        parse_envelope(b'{"\\ud800":1}', WIDE)


# --- through the validator ------------------------------------------------------------


def _validator() -> Any:
    return cip_validator(BOB.fingerprint, clock=FakeClock(), trust_of=lambda fp: "trusted")


def _envelope() -> dict[str, Any]:
    return CipBuilder(ALICE, clock=FakeClock(), rng=SeededRng(3)).build(
        Intent(goal="learn", topic="tides"),
        receiver=Receiver(agent_id="bob", fingerprint=BOB.fingerprint),
        sender_view="trusted",
        state=SenderState(presence="diffuse", lri=3),
    )


def test_bytes_dict_and_parsed_give_the_same_envelope() -> None:
    env = _envelope()
    data = canonicalize(env)
    by_bytes = _validator().validate(data)
    assert _validator().validate(env) == by_bytes
    assert _validator().validate(parse_envelope(data, WIDE)) == by_bytes


def test_a_router_parse_is_held_to_the_protocols_own_limits() -> None:
    """The router parses within the largest protocol's limits; CIP's are smaller."""
    env = _envelope()
    deep: Any = 1
    for _ in range(8):
        deep = [deep]
    env["x_deep"] = deep  # an unknown member: signed over, ignored by the schema
    data = canonicalize(sign_envelope(env, ALICE))
    parsed = parse_envelope(data, WIDE)
    assert parsed.depth == 9
    with pytest.raises(InvalidEnvelopeError, match="nested deeper than 8"):
        _validator().validate(parsed)
    padded = canonicalize(_envelope())[:-1] + b" " * (256 * 1024) + b"}"
    with pytest.raises(InvalidEnvelopeError, match="limit 262144"):
        _validator().validate(parse_envelope(padded, Limits(max_bytes=512 * 1024)))


def test_values_rfc8785_cannot_carry_fail_at_the_signature_not_before() -> None:
    """An integer beyond 2^53 (even beyond i64) or a lone surrogate in an unknown
    member passes the schema and is refused where the canonical form is needed
    (check 3, InvalidEnvelopeError); in a payload member the schema refuses it first."""
    for extra in (b'"x_big":123456789012345678901234567890,', b'"x_text":"\\ud800",'):
        data = canonicalize(_envelope()).replace(b'{"cip"', b"{" + extra + b'"cip"', 1)
        parsed = parse_envelope(data, WIDE)
        _validator()._payload(_validator()._structure(parsed.value))  # checks 1-2 pass
        with pytest.raises(InvalidEnvelopeError, match=r"no canonical form|range|surrogate"):
            _validator().validate(data)
    payload_first = canonicalize(_envelope()).replace(b'"goal":"learn"', b'"goal":"\\ud800"')
    with pytest.raises(PayloadSchemaError):
        _validator().validate(payload_first)


def test_verify_is_the_signature_check_over_the_parse() -> None:
    env = _envelope()
    parsed = parse_envelope(canonicalize(env), WIDE)
    assert parsed.verify() is None
    assert parsed.verify(BOB.public_key) is None  # it names its pubkey: that key is used
    tampered = canonicalize(env).replace(b'"tides"', b'"tidez"')
    with pytest.raises(SignatureMismatchError):
        parse_envelope(tampered, WIDE).verify()
    # without pubkey: the transport's key, bound by the fingerprint
    bare = {k: v for k, v in env.items() if k != "sign"}
    bare["sender"] = {k: v for k, v in env["sender"].items() if k != "pubkey"}
    no_pubkey = parse_envelope(canonicalize(sign_envelope(bare, ALICE)), WIDE)
    assert no_pubkey.verify(ALICE.public_key) == base64.b64encode(ALICE.public_key).decode()
    with pytest.raises(MissingPublicKeyError):
        no_pubkey.verify()
    with pytest.raises(FingerprintMismatchError):
        no_pubkey.verify(BOB.public_key)
    with pytest.raises(IdentityError):  # a transport key that is not 32 bytes: our misuse
        no_pubkey.verify(b"short")
    assert ReceivedEnvelope.of(env).verify() is None
