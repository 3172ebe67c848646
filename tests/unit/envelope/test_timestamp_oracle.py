"""The timestamp check runs in Rust (``web4_proto::rfc3339``); the former pure-Python
parser is kept here as the oracle: for every text, both accept with the same float or
both refuse with ``TimestampError`` (random RFC 3339-shaped text, offsets, leap seconds,
years 0000-9999, fractions up to the length bound)."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.envelope.validate import TIMESTAMP_MAX_LENGTH, parse_timestamp
from web4.errors import TimestampError

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def oracle(value: str) -> float | None:
    """The former ``parse_timestamp``: None where it raised ``TimestampError``."""
    match = _RFC3339.fullmatch(value) if len(value) <= TIMESTAMP_MAX_LENGTH else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, sign, off_h, off_m = match.groups()[6:]
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    offset = 0
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = (int(off_h) * 3600 + int(off_m) * 60) * (1 if sign == "+" else -1)
    utc = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
    utc = utc - offset + min(second, 59)
    if second == 60:
        utc_day, utc_second = divmod(utc, 86400)
        y, m, d = _civil_from_days(utc_day)
        if utc_second != 86399 or d != _days_in_month(y, m):
            return None
        utc += 1
    if not fraction:
        return float(utc)
    return float(utc + Fraction(int(fraction), 10 ** len(fraction)))


def _agree(text: str) -> None:
    want = oracle(text)
    if want is None:
        with pytest.raises(TimestampError):
            parse_timestamp(text)
    else:
        assert parse_timestamp(text) == want, text


def _two(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda n: f"{n:02d}")


timestamps = st.builds(
    lambda y, mo, d, t, h, mi, s, frac, off: f"{y:04d}-{mo}-{d}{t}{h}:{mi}:{s}{frac}{off}",
    st.integers(0, 9999) | st.sampled_from([0, 1969, 1970, 2000, 2024, 2100]),
    _two(0, 13),
    _two(0, 32),
    st.sampled_from(["T", "t", " ", "x"]),
    _two(0, 24),
    _two(0, 60),
    _two(55, 61) | _two(0, 61),
    st.just("") | st.text("0123456789", max_size=45).map(lambda f: "." + f),
    st.sampled_from(["Z", "z", "", "Zz"])
    | st.builds(lambda sg, h, m: f"{sg}{h}:{m}", st.sampled_from("+-"), _two(0, 25), _two(0, 61)),
)


@settings(max_examples=3000, deadline=None)
@given(timestamps)
def test_rust_agrees_with_the_former_python_parser(text: str) -> None:
    _agree(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=70))
def test_any_text_is_parsed_or_a_timestamp_error(text: str) -> None:
    _agree(text)


@pytest.mark.parametrize(
    "text",
    [
        "1969-12-31T23:59:59.75Z",
        "0000-01-01T00:00:00.000000000000000000000000000000000001Z",
        "0000-03-01T00:00:00.9999999999999999999999999999999999+23:59",
        "1969-12-31T23:59:60.5Z",
        "1972-06-30T23:59:60.999999999Z",
        "9999-12-31T23:59:60.1-00:01",
        "2026-01-01T00:00:00.100000000000000005551115123125782702118158340454101562Z",
    ],
)
def test_edges(text: str) -> None:
    _agree(text)
