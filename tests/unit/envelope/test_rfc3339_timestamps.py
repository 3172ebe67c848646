"""Inbound timestamps: any RFC 3339 ``date-time`` the original specifications allow
(``format: date-time``) is accepted, normalised to UTC for the ±120 s skew check, and
signed as written; what RFC 3339 refuses is refused. What this runtime sends stays
``YYYY-MM-DDTHH:MM:SS.mmmZ`` (docs/CIP_SPEC.md §1, §5, §10 D4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, get_type_hints

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.cip.builder import CipBuilder
from web4.cip.messages import CIP_SPEC, Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng, rfc3339
from web4.envelope import sign_envelope
from web4.envelope.validate import Receiver, Timestamp, parse_timestamp
from web4.errors import InvalidEnvelopeError, SignatureMismatchError, TimestampError
from web4.hcp.messages import HCP_SPEC
from web4.identity import Identity
from web4.lip.messages import LIP_SPEC, Source

ALICE = Identity(SeededRng(31).bytes(32), "alice")
BOB = Identity(SeededRng(32).bytes(32), "bob")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
STRICT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def envelope(timestamp: str | None = None, *, now: float = T0, seed: int = 1) -> dict[str, Any]:
    """A signed CIP INTENT from ALICE to BOB whose ``timestamp`` is ``timestamp``, signed
    over exactly that text."""
    builder = CipBuilder(ALICE, clock=FakeClock(now), rng=SeededRng(seed))
    env = builder.build(
        Intent(goal="learn", topic="physics"),
        receiver=Receiver(agent_id=BOB.agent_id, fingerprint=BOB.fingerprint),
        sender_view="probing",
        state=SenderState(presence="focused", lri=1),
    )
    if timestamp is None:
        return env
    env["timestamp"] = timestamp
    return sign_envelope({k: v for k, v in env.items() if k != "sign"}, ALICE)


def validate(env: dict[str, Any], now: float = T0) -> Any:
    validator = cip_validator(BOB.fingerprint, clock=FakeClock(now), trust_of=lambda _: "trusted")
    return validator.validate(env)


# --- what is accepted -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-01T00:00:00Z", T0),  # no fraction
        ("2026-01-01T00:00:00.5Z", T0 + 0.5),  # one digit
        ("2026-01-01T00:00:00.050000Z", T0 + 0.05),  # microseconds
        ("2026-01-01T00:00:00.050000000Z", T0 + 0.05),  # nanoseconds
        ("2026-01-01T00:00:00.0500000000000000000000000000Z", T0 + 0.05),
        ("2026-01-01t00:00:00.050z", T0 + 0.05),  # lower case t and z (RFC 3339 §5.6 note)
        ("2026-01-01T02:00:00.050+02:00", T0 + 0.05),  # numeric offset
        ("2025-12-31T19:30:00-04:30", T0),
        ("2026-01-01T00:00:00+00:00", T0),
        ("2026-01-01T00:00:00-00:00", T0),  # unknown local offset (§4.3): still UTC
        ("2026-01-01T23:59:00+23:59", T0),  # the largest offset
        ("2025-12-31T23:59:60Z", T0),  # a leap second counts as POSIX time does
        ("2025-12-31T23:59:60.250Z", T0 + 0.25),
        ("2026-01-01T01:59:60+02:00", T0),  # the same leap second in local time
    ],
)
def test_any_rfc3339_rendering_is_accepted(text: str, instant: float) -> None:
    assert parse_timestamp(text) == instant
    env = envelope(text)
    msg = validate(env)
    assert msg.timestamp == text  # kept as written, never re-serialised


def test_leap_year_day_and_year_bounds() -> None:
    assert parse_timestamp("2024-02-29T00:00:00Z") == datetime(2024, 2, 29, tzinfo=UTC).timestamp()
    assert parse_timestamp("0000-01-01T00:00:00Z") == -62_167_219_200.0
    assert parse_timestamp("9999-12-31T23:59:59Z") == 253_402_300_799.0


def test_the_signature_covers_the_literal_text() -> None:
    """Two renderings of one instant are different signed messages: swapping one for the
    other without re-signing breaks the signature."""
    env = envelope("2026-01-01T02:00:00+02:00")
    env["timestamp"] = "2026-01-01T00:00:00Z"
    with pytest.raises(SignatureMismatchError):
        validate(env)


def test_an_offset_timestamp_is_skew_checked_in_utc() -> None:
    # 02:00+02:00 is 00:00Z: fresh at T0, two hours stale if the offset were ignored.
    assert validate(envelope("2026-01-01T02:00:00+02:00")).type == "INTENT"
    with pytest.raises(TimestampError):
        validate(envelope("2026-01-01T00:00:00+02:00"))  # 22:00Z the day before


def test_hcp_and_lip_share_the_timestamp_type() -> None:
    for spec in (CIP_SPEC, HCP_SPEC, LIP_SPEC):
        assert get_type_hints(spec.envelope, include_extras=True)["timestamp"] == Timestamp
    retrieved = "2026-01-01t01:00:00.5+01:00"
    source = {"uri": "https://example.org/", "trust_tier": "low", "retrieved_at": retrieved}
    assert msgspec.convert(source, Source).retrieved_at == retrieved


# --- what is refused ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00",  # no offset: a local time RFC 3339 does not allow
        "2026-01-01T00:00:00.050",
        "2026-01-01 00:00:00Z",  # space separator: RFC 3339 prose allows it, §5.6 does not
        "2026-01-01T00:00:00.Z",  # a dot without digits
        "2026-01-01T00:00Z",  # no seconds
        "2026-01-01T00:00:00+0200",  # offset without a colon (ISO 8601 basic)
        "2026-01-01T00:00:00+02",
        "2026-1-01T00:00:00Z",
        "20260101T000000Z",
        "2026-01-01T00:00:00UTC",
        "2026-01-01T00:00:00Z\n",  # Python's `$` would let this through
        "2026-01-01T00:00:00." + "0" * 60 + "Z",  # over the 64-character bound
    ],
)
def test_not_rfc3339_is_a_structure_error(text: str) -> None:
    with pytest.raises(InvalidEnvelopeError):
        validate(envelope(text))
    with pytest.raises(TimestampError):
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-13-01T00:00:00Z", "real date"),
        ("2026-00-01T00:00:00Z", "real date"),
        ("2026-02-29T00:00:00Z", "real date"),  # 2026 is not a leap year
        ("2100-02-29T00:00:00Z", "real date"),
        ("2026-04-31T00:00:00Z", "real date"),
        ("2026-01-00T00:00:00Z", "real date"),
        ("2026-01-01T24:00:00Z", "real time"),
        ("2026-01-01T00:60:00Z", "real time"),
        ("2026-01-01T00:00:61Z", "real time"),
        ("2026-01-01T00:00:00+24:00", "offset"),
        ("2026-01-01T00:00:00-00:60", "offset"),
        ("2026-06-15T23:59:60Z", "second 60"),  # not a month's last day
        ("2026-06-30T22:59:60Z", "second 60"),  # not 23:59 UTC
        ("2026-06-30T23:59:60+01:00", "second 60"),  # 22:59:60 UTC
    ],
)
def test_out_of_range_fields_are_timestamp_errors(text: str, reason: str) -> None:
    with pytest.raises(TimestampError, match=reason):
        parse_timestamp(text)
    with pytest.raises(TimestampError, match=reason):
        validate(envelope(text))


# --- strict in what we send -----------------------------------------------------------


@pytest.mark.parametrize("now", [T0, T0 + 0.0005, T0 + 59.999, 1_700_000_000.25])
def test_we_send_only_the_millisecond_utc_form(now: float) -> None:
    text = envelope(now=now)["timestamp"]
    assert STRICT.fullmatch(text), text
    assert text == rfc3339(now)


# --- every rendering of one instant passes the skew check identically ----------------


def _render(
    utc_seconds: int, digits: str, offset_minutes: int, pad: int, lower: bool, zero: str
) -> str:
    local = datetime.fromtimestamp(utc_seconds, UTC) + timedelta(minutes=offset_minutes)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = digits + "0" * pad
    if fraction:
        text += "." + fraction
    if offset_minutes == 0 and zero != "numeric":
        text += zero
    else:
        sign = "+" if offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        text += f"{sign}{hours:02d}:{minutes:02d}"
    return text.replace("T", "t").replace("Z", "z") if lower else text


renderings = st.tuples(
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59) | st.just(0),
    st.integers(min_value=0, max_value=6),
    st.booleans(),
    st.sampled_from(["Z", "-00:00", "numeric"]),
)


@settings(max_examples=60, deadline=None)
@given(
    second=st.integers(min_value=-300, max_value=300),
    digits=st.text(alphabet="0123456789", max_size=9),
    delta=st.sampled_from([-120.5, -120.0, -119.999, 0.0, 119.999, 120.0, 120.001, 121.0])
    | st.floats(min_value=-200, max_value=200),
    forms=st.lists(renderings, min_size=2, max_size=4),
)
def test_every_rendering_of_an_instant_is_skew_checked_alike(
    second: int, digits: str, delta: float, forms: list[tuple[int, int, bool, str]]
) -> None:
    utc_seconds = int(T0) + second
    texts = [_render(utc_seconds, digits, *form) for form in forms]
    instants = {parse_timestamp(t) for t in texts}
    assert len(instants) == 1, texts
    (instant,) = instants
    now = instant + delta
    outcomes = []
    for i, text in enumerate(texts):
        try:
            validate(envelope(text, seed=i), now=now)
            outcomes.append("accepted")
        except TimestampError:
            outcomes.append("skewed")
    assert len(set(outcomes)) == 1, list(zip(texts, outcomes, strict=True))
    assert outcomes[0] == ("accepted" if abs(now - instant) <= 120 else "skewed")
