//! RFC 3339 `date-time` to POSIX seconds: the validator's timestamp check (step 5).
//!
//! Theory of operation: the syntax is RFC 3339 section 5.6 (any fractional precision or
//! none, `T`/`t`, `Z`/`z` or a numeric offset, `-00:00` being UTC), at most
//! [`MAX_LEN`] bytes; the ranges are then checked (month, day of that month, hour,
//! minute, second, offset up to 23:59). A leap second (`60`) is accepted only where one
//! can be, at 23:59:60 UTC on the last day of a month, and counts as POSIX time does, as
//! the first second of the next day. The result is the exact instant rounded once to a
//! double (the decimal is built exactly, then parsed with correct rounding), so every
//! rendering of one instant gives the same number. Dates use the proleptic Gregorian
//! calendar, year 0000 included.

use crate::error::TimestampError;

/// Longest accepted timestamp: 19 + "." + 38 fraction digits + "Z" (32 with an offset
/// leaves room for 31 digits).
pub const MAX_LEN: usize = 64;

/// Seconds since the epoch (POSIX time, UTC) of an RFC 3339 `date-time`.
pub fn parse(value: &str) -> Result<f64, TimestampError> {
    let not = || TimestampError::NotRfc3339(value.chars().take(80).collect());
    let b = value.as_bytes();
    if b.len() > MAX_LEN || b.len() < 20 {
        return Err(not());
    }
    let num = |at: usize, n: usize| -> Option<i64> {
        let digits = b.get(at..at + n)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    let fields = (|| {
        let year = num(0, 4)?;
        let month = num(5, 2)?;
        let day = num(8, 2)?;
        let hour = num(11, 2)?;
        let minute = num(14, 2)?;
        let second = num(17, 2)?;
        let shape =
            sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":");
        shape.then_some([year, month, day, hour, minute, second])
    })()
    .ok_or_else(not)?;
    let [year, month, day, hour, minute, second] = fields;
    let mut i = 19;
    let mut fraction: &str = "";
    if sep(i, b".") {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return Err(not());
        }
        fraction = &value[start..end];
        i = end;
    }
    let offset_minutes = match b.get(i..) {
        Some(b"Z" | b"z") => None,
        Some([sign @ (b'+' | b'-'), ..]) if b.len() == i + 6 && sep(i + 3, b":") => {
            let (h, m) = num(i + 1, 2).zip(num(i + 4, 2)).ok_or_else(not)?;
            Some((if *sign == b'+' { 1 } else { -1 }, h, m))
        }
        _ => return Err(not()),
    };
    let owned = || value.to_owned();
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err(TimestampError::NotRealDate(owned()));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimestampError::NotRealTime(owned()));
    }
    let mut offset = 0;
    if let Some((sign, h, m)) = offset_minutes {
        if h > 23 || m > 59 {
            return Err(TimestampError::OffsetBeyond(owned()));
        }
        offset = sign * (h * 3600 + m * 60);
    }
    let local = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60;
    let mut utc = local - offset + second.min(59);
    if second == 60 {
        let (utc_day, utc_second) = (utc.div_euclid(86400), utc.rem_euclid(86400));
        let (y, m, d) = civil_from_days(utc_day);
        if utc_second != 86399 || d != days_in_month(y, m) {
            return Err(TimestampError::LeapSecond(owned()));
        }
        utc += 1;
    }
    Ok(exact(utc, fraction))
}

/// `utc + 0.fraction` rounded once: its exact decimal text, parsed (correctly rounded).
fn exact(utc: i64, fraction: &str) -> f64 {
    if fraction.bytes().all(|d| d == b'0') {
        return utc as f64; // |utc| < 2^53: exact
    }
    let text = if utc >= 0 {
        format!("{utc}.{fraction}")
    } else {
        // utc + 0.f = -((-utc - 1) + (1 - 0.f)), and 1 - 0.f is the ten's complement
        let mut digits: Vec<u8> = fraction.bytes().map(|d| b'9' - d + b'0').collect();
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                break;
            }
        }
        let complement = String::from_utf8(digits).unwrap_or_default();
        format!("-{}.{complement}", -utc - 1)
    };
    text.parse().unwrap_or(f64::NAN)
}

fn leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_767_225_600.0; // 2026-01-01T00:00:00Z

    #[test]
    fn renderings_of_one_instant_agree() {
        for (text, want) in [
            ("2026-01-01T00:00:00Z", T0),
            ("2026-01-01T00:00:00.5Z", T0 + 0.5),
            ("2026-01-01T00:00:00.050000000Z", T0 + 0.05),
            ("2026-01-01t02:00:00.050+02:00", T0 + 0.05),
            ("2025-12-31T19:30:00-04:30", T0),
            ("2026-01-01T00:00:00-00:00", T0),
            ("2026-01-01T23:59:00+23:59", T0),
            ("2025-12-31T23:59:60Z", T0),
            ("2025-12-31T23:59:60.250Z", T0 + 0.25),
            ("2026-01-01T01:59:60+02:00", T0),
            ("0000-01-01T00:00:00Z", -62_167_219_200.0),
            ("9999-12-31T23:59:59Z", 253_402_300_799.0),
            ("1969-12-31T23:59:59.75Z", -0.25),
            ("1969-12-31T23:59:59.000Z", -1.0),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refused() {
        for text in [
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0200",
            "2026-01-01T00:00:00+02",
            "2026-1-01T00:00:00Z",
            "2026-01-01T00:00:00Z\n",
            "2026-01-01T00:00:00UTC",
            "２026-01-01T00:00:00Z",
        ] {
            assert!(
                matches!(parse(text), Err(TimestampError::NotRfc3339(_))),
                "{text}"
            );
        }
        let long = format!("2026-01-01T00:00:00.{}Z", "0".repeat(60));
        assert!(matches!(parse(&long), Err(TimestampError::NotRfc3339(_))));
        assert!(matches!(
            parse("2026-02-29T00:00:00Z"),
            Err(TimestampError::NotRealDate(_))
        ));
        assert!(matches!(
            parse("2026-01-01T24:00:00Z"),
            Err(TimestampError::NotRealTime(_))
        ));
        assert!(matches!(
            parse("2026-01-01T00:00:00-00:60"),
            Err(TimestampError::OffsetBeyond(_))
        ));
        assert!(matches!(
            parse("2026-06-30T23:59:60+01:00"),
            Err(TimestampError::LeapSecond(_))
        ));
    }
}
