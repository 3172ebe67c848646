"""Hostile and random input: the validator answers with a typed RemoteError, quickly,
and never with anything else."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.cip.builder import CipBuilder
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.validate import Limits, Receiver, decode_json
from web4.errors import InvalidEnvelopeError, RemoteError
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
LIMITS = Limits(max_bytes=256 * 1024, max_depth=8)


def validator() -> Any:
    return cip_validator(BOB.fingerprint, clock=FakeClock(), trust_of=lambda fp: "trusted")


def valid_envelope() -> dict[str, Any]:
    return CipBuilder(ALICE, clock=FakeClock(), rng=SeededRng(3)).build(
        Intent(goal="learn", topic="tides"),
        receiver=Receiver(agent_id="bob", fingerprint=BOB.fingerprint),
        sender_view="trusted",
        state=SenderState(presence="diffuse", lri=3),
    )


HOSTILE = {
    "escaped quotes": b'"' + b'\\"' * 130_000,
    "backslashes": b'"' + b"\\" * 260_000,
    "quotes": b'"' * 260_000,
    "brackets": b"[{" * 130_000,
    "huge integer": b'{"cip":' + b"9" * 200_000 + b"}",
    "long string": b'{"cip":"' + b"a" * 260_000 + b'"}',
    "many keys": b"{" + b",".join(b'"k%d":0' % i for i in range(25_000)) + b"}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bytes_are_refused_quickly(name: str) -> None:
    v = validator()
    start = time.process_time()  # CPU time: the work done, not how loaded the machine is
    with pytest.raises(InvalidEnvelopeError):
        v.validate(HOSTILE[name])
    assert time.process_time() - start < 0.5, name


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"a":"[[[[[[[[[[[["}', True),
        ('{"a":"\\\\"}', True),
        ('{"a":"x\\"[[[[[[[[[[\\""}', True),
        ('{"a":"\\\\\\"[[[[[[[[[[["}', True),
        ("[" * 8 + "]" * 8, True),
        ("[" * 9 + "]" * 9, False),
        ('[{"a":' * 4 + "[]" + "}]" * 4, False),  # depth 9 through mixed brackets
        ("[[]", False),
    ],
)
def test_depth_counting_respects_strings_and_escapes(text: str, ok: bool) -> None:
    if ok:
        decode_json(text.encode(), LIMITS)
    else:
        with pytest.raises(InvalidEnvelopeError):
            decode_json(text.encode(), LIMITS)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    with pytest.raises(RemoteError):
        validator().validate(data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json(value: Any) -> None:
    v = validator()
    with pytest.raises(RemoteError):
        v.validate(json.dumps(value).encode())
    if isinstance(value, dict):
        with pytest.raises(RemoteError):
            v.validate(value)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_envelopes(data: st.DataObject) -> None:
    """Replace or delete one member anywhere in a valid envelope: always a RemoteError."""
    env = copy.deepcopy(valid_envelope())
    target: Any = env
    while True:
        key = data.draw(st.sampled_from(sorted(target)))
        if isinstance(target[key], dict) and target[key] and data.draw(st.booleans()):
            target = target[key]
            continue
        break
    if data.draw(st.booleans()):
        del target[key]
    else:
        target[key] = data.draw(json_values)
    if env == valid_envelope():
        return
    with pytest.raises(RemoteError):
        validator().validate(env)


def test_decode_json_accepts_what_it_should() -> None:
    assert decode_json(b'{"a":[1,2.5,"x",null,true]}', LIMITS) == {"a": [1, 2.5, "x", None, True]}
