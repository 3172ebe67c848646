"""Inbound envelope benchmark: validating one signed CIP envelope from its bytes.

Measures, interleaved in the same run, on a signed FACT_PROPOSE of the published
conformance vectors (``docs/conformance/cip_envelopes.json``):

- ``parse_once``: what the node does now: ``Validator.validate(bytes)`` (the bytes parsed
  once in Rust; schema checks on the parsed value; the signature verified from the same
  parsed tree) and the router's path (``ProtocolRouter``: parse to route, then validate
  that parse);
- ``baseline_python_parse``: the path it replaced, kept callable here: ``json.loads``
  with duplicate-key/NaN/overflow hooks after regex depth passes, the schema checks on
  that dict, then the dict converted to a Rust tree to canonicalize and verify, and the
  timestamp parsed in Python (``Fraction``); and the router's former path (that
  decoding, then ``validate(dict)``, which walked the dict again and re-encoded it for
  the size check);
- where the time goes: each step alone, ``msgspec.json.decode`` alone (the fastest
  Python JSON parse, no checks) and the bare Ed25519 verification (the floor of any
  path that verifies).

The replay check is left out of every path (it only records state). Writes JSON
(``--out``) with microseconds per envelope, the steps, and the ratio.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import platform
import re
import statistics
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec

from bench_common import per_call_us, write_result
from web4 import _core
from web4.cip.validator import cip_validator
from web4.clock import FakeClock
from web4.conformance.cip_envelopes import IDENTITIES
from web4.envelope.crypto import canonicalize
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import (
    Limits,
    ReceivedEnvelope,
    Validator,
    _check_tree,
    parse_envelope,
)
from web4.errors import InvalidEnvelopeError, ReceiverMismatchError, TimestampError

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "docs" / "conformance" / "cip_envelopes.json"
CASE = "fact_propose_from_probing"


# --- the replaced decoding (web4.envelope.validate before parse-once), verbatim --------

_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def _check_text_depth(text: str, max_depth: int) -> None:
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", unescaped))
    for _ in range(max_depth):
        if not brackets:
            return
        brackets = _INNERMOST.sub("", brackets)
    if brackets:
        raise InvalidEnvelopeError(f"nested deeper than {max_depth} (or unbalanced)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidEnvelopeError("duplicate object key")
    return obj


def _refuse_constant(name: str) -> Any:
    raise InvalidEnvelopeError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidEnvelopeError(f"number {literal[:32]} overflows a double")
    return value


def python_decode(data: bytes, limits: Limits) -> Any:
    if len(data) > limits.max_bytes:
        raise InvalidEnvelopeError("too large")
    text = data.decode("utf-8")
    _check_text_depth(text, limits.max_depth)
    return json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_constant=_refuse_constant,
        parse_float=_finite_float,
    )


_TS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def python_timestamp(value: str) -> float:
    """The former parse_timestamp's work for a valid timestamp (range checks kept; the
    leap-second branch left out: the benchmark's timestamp has none)."""
    m = _TS.fullmatch(value) if len(value) <= 64 else None
    if m is None:
        raise TimestampError(value)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.groups()[6:]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
    if not (1 <= month <= 12 and 1 <= day <= days) or hour > 23 or minute > 59 or second > 60:
        raise TimestampError(value)
    offset = 0
    if sign is not None:
        offset = (int(off_h) * 3600 + int(off_m) * 60) * (1 if sign == "+" else -1)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    civil = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    utc = civil * 86400 + hour * 3600 + minute * 60 - offset + min(second, 59)
    if not fraction:
        return float(utc)
    return float(utc + Fraction(int(fraction), 10 ** len(fraction)))


def python_rest(v: Validator[Any], head: Any, now: float) -> None:
    """Steps 4, 5 and 7 as they ran before (step 6, the replay cache, is left out)."""
    if head.receiver.fingerprint != v.our_fingerprint:
        raise ReceiverMismatchError("not for us")
    if abs(now - python_timestamp(head.timestamp)) > v.max_skew:
        raise TimestampError("skew")
    if v._gate(head.sender.fingerprint, head.type) is not None:
        raise AssertionError("gate")


# --- the paths ----------------------------------------------------------------------


class _NoReplay(ReplayCache):
    def check_and_add(self, sender: str, msg_id: str, sent: float, now: float) -> None:
        return None


def setup() -> tuple[Validator[Any], bytes, float]:
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    case = next(c for c in doc["cases"] if c["name"] == CASE)
    trust: dict[str, str] = case["trust"]
    validator = cip_validator(
        IDENTITIES[doc["receiver"]["identity"]].fingerprint,
        clock=FakeClock(case["now"]),
        trust_of=lambda fp: trust.get(fp, "untrusted"),
        replay=_NoReplay(window=600),
    )
    data = case["wire"].encode("utf-8")
    validator.validate(data)  # it is a valid envelope
    return validator, data, case["now"]


def paths(v: Validator[Any], data: bytes, now: float) -> dict[str, Callable[[], object]]:
    limits = v.spec.limits
    received = parse_envelope(data, limits)
    raw = python_decode(data, limits)
    head = v._structure(received.value)
    typed = v._payload(head)
    sender = raw["sender"]
    key, sig = base64.b64decode(sender["pubkey"]), base64.b64decode(raw["sign"]["signature"])
    signed = canonicalize({k: x for k, x in raw.items() if k != "sign"})

    def old_validate_bytes() -> object:
        d = python_decode(data, limits)
        h = v._payload(v._structure(d))
        ReceivedEnvelope.of(d).verify(None)  # the dict converted to a tree, as before
        python_rest(v, h, now)
        return h

    def old_router_path() -> object:
        d = python_decode(data, limits)
        _check_tree(d, limits)  # validate(dict) walked and re-encoded it
        h = v._payload(v._structure(d))
        ReceivedEnvelope.of(d).verify(None)
        python_rest(v, h, now)
        return h

    return {
        # what runs now
        "new_validate_bytes": lambda: v.validate(data),
        "new_router_path": lambda: v.validate(parse_envelope(data, limits)),
        # what it replaced
        "old_validate_bytes": old_validate_bytes,
        "old_router_path": old_router_path,
        # the steps
        "step_parse_once_rust": lambda: parse_envelope(data, limits),
        "step_python_decode_old": lambda: python_decode(data, limits),
        "step_msgspec_decode_only": lambda: msgspec.json.decode(data),
        "step_schema_structure": lambda: v._structure(received.value),
        "step_schema_payload": lambda: v._payload(head),
        "step_verify_parsed_tree": lambda: received.verify(None),
        "step_verify_dict_old": lambda: ReceivedEnvelope.of(raw).verify(None),
        "step_ed25519_verify_only": lambda: _core.verify(key, signed, sig),
        "step_rest_receiver_time_gate": lambda: v._rest(typed, now),
        "step_rest_old_python_timestamp": lambda: python_rest(v, typed, now),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()

    v, data, now = setup()
    fns = paths(v, data, now)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm every path first (the first one measured paid for it)
        per_call_us(fn, 0.05)
    for _ in range(args.rounds):  # interleave so drift affects all alike
        for name, fn in fns.items():
            samples[name].append(per_call_us(fn, args.seconds))
    us = {name: round(statistics.median(s), 2) for name, s in samples.items()}
    result = {
        "benchmark": "validate one signed CIP envelope from its bytes",
        "unit": "microseconds per envelope (median of rounds, each the best of 5 slices)",
        "envelope": {"case": CASE, "bytes": len(data)},
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "parse_once": {
            "validate_bytes_us": us["new_validate_bytes"],
            "router_path_us": us["new_router_path"],
        },
        "baseline_python_parse": {
            "validate_bytes_us": us["old_validate_bytes"],
            "router_path_us": us["old_router_path"],
        },
        "speedup_vs_baseline": {
            "validate_bytes": round(us["old_validate_bytes"] / us["new_validate_bytes"], 2),
            "router_path": round(us["old_router_path"] / us["new_router_path"], 2),
        },
        "steps_us": {k.removeprefix("step_"): x for k, x in us.items() if k.startswith("step_")},
        "note": (
            "Ed25519 verification is the floor of any path that verifies; parse_once "
            "minus ed25519_verify_only is what parsing, schema and the other checks cost"
        ),
        "rounds": {name: [round(x, 2) for x in s] for name, s in samples.items()},
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
