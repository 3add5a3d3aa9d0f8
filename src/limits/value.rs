//! Limit values as people write them: sizes (`256M`), durations (`30`,
//! `1.5s`, `2m`) and counts, parsed strictly and printed back the same way.

use std::time::Duration;

/// Why a limit value was refused; the text says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl ValueError {
    fn new(text: &str, why: impl std::fmt::Display) -> ValueError {
        ValueError(format!("`{text}`: {why}"))
    }
}

const SIZE_HELP: &str = "expected a number of bytes, optionally followed by K, M, G or T \
                         (powers of 1024), e.g. 256M";
const SECONDS_HELP: &str = "expected a number of seconds, optionally with a fraction and a unit \
                            (ms, s, m, h), e.g. 30, 1.5, 2m";
const COUNT_HELP: &str = "expected a whole number, e.g. 64";

/// A size in bytes: digits, then optionally `K`, `M`, `G` or `T` (powers of
/// 1024, upper or lower case, `KiB` spelling accepted). At least one byte.
///
/// ```
/// use fdbroker::limits::parse_size;
/// assert_eq!(parse_size("256M"), Ok(256 << 20));
/// assert_eq!(parse_size("2G"), Ok(2 << 30));
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert!(parse_size("1.5G").is_err());
/// assert!(parse_size("256MB").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, ValueError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(ValueError::new(text, SIZE_HELP));
    }
    let shift = match unit {
        "" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        "T" | "t" | "TiB" => 40,
        u if u.starts_with('.') => {
            return Err(ValueError::new(
                text,
                "no fractions: write a smaller unit (1536M, not 1.5G)",
            ));
        }
        u => {
            return Err(ValueError::new(
                text,
                format!("unknown unit `{u}`; {SIZE_HELP}"),
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| ValueError::new(text, "too large"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| ValueError::new(text, "too large"))?;
    if bytes == 0 {
        return Err(ValueError::new(text, "must be at least 1 byte"));
    }
    Ok(bytes)
}

/// A duration: a decimal number (at most 9 places after the point) with an
/// optional unit `ms`, `s` (the default), `m` or `h`. More than zero.
///
/// ```
/// use std::time::Duration;
/// use fdbroker::limits::parse_seconds;
/// assert_eq!(parse_seconds("30"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_seconds("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_seconds("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_seconds("0").is_err());
/// assert!(parse_seconds("-1").is_err());
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, ValueError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit {
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        u => {
            return Err(ValueError::new(
                text,
                format!("unknown unit `{u}`; {SECONDS_HELP}"),
            ));
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(ValueError::new(text, SECONDS_HELP));
    }
    if number.ends_with('.') {
        return Err(ValueError::new(text, SECONDS_HELP));
    }
    if fraction.len() > 9 {
        return Err(ValueError::new(text, "at most 9 digits after the point"));
    }
    let whole: u128 = whole
        .parse()
        .map_err(|_| ValueError::new(text, "too large"))?;
    // Nanoseconds per unit times the fraction, with the fraction as a
    // count of 10^-9 units: exact for every unit but `ms`, which loses
    // digits below a nanosecond only.
    let fraction_units: u128 = format!("{fraction:0<9}").parse().unwrap_or(0);
    let nanos = whole
        .checked_mul(unit_nanos)
        .and_then(|n| n.checked_add(fraction_units * unit_nanos / 1_000_000_000))
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| ValueError::new(text, "too large"))?;
    if nanos == 0 {
        return Err(ValueError::new(text, "must be more than zero"));
    }
    Ok(Duration::from_nanos(nanos))
}

/// A count: digits only, at least 1.
///
/// ```
/// assert_eq!(fdbroker::limits::parse_count("64"), Ok(64));
/// assert!(fdbroker::limits::parse_count("0").is_err());
/// ```
pub fn parse_count(text: &str) -> Result<u64, ValueError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(text, COUNT_HELP));
    }
    let n: u64 = text
        .parse()
        .map_err(|_| ValueError::new(text, "too large"))?;
    if n == 0 {
        return Err(ValueError::new(text, "must be at least 1"));
    }
    Ok(n)
}

/// `bytes` in the largest unit that divides it exactly: `256M`, `1536M`, `1000`.
///
/// ```
/// assert_eq!(fdbroker::limits::format_size(256 << 20), "256M");
/// assert_eq!(fdbroker::limits::format_size(1000), "1000");
/// ```
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes != 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A duration in seconds, as short as exact: `30s`, `1.5s`, `0.001s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(fdbroker::limits::format_seconds(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(fdbroker::limits::format_seconds(Duration::from_secs(120)), "120s");
/// ```
pub fn format_seconds(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    let fraction = format!("{nanos:09}");
    format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("3T"), Ok(3 << 40));
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
        for bad in [
            "",
            "M",
            "0",
            "0K",
            "-1",
            " 1",
            "1 ",
            "1.5G",
            "256MB",
            "2X",
            "1e6",
            "16777216T",
            "99999999999999999999",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let e = parse_size("12X").unwrap_err().to_string();
        assert!(e.starts_with("`12X`: unknown unit `X`"), "{e}");
        assert!(
            parse_size("1.5G")
                .unwrap_err()
                .to_string()
                .contains("1536M")
        );
    }

    #[test]
    fn seconds() {
        let s = |t| parse_seconds(t).map(|d| d.as_nanos());
        assert_eq!(s("1"), Ok(1_000_000_000));
        assert_eq!(s("0.5"), Ok(500_000_000));
        assert_eq!(s("250ms"), Ok(250_000_000));
        assert_eq!(s("1.000000001"), Ok(1_000_000_001));
        assert_eq!(s("1.5m"), Ok(90_000_000_000));
        assert_eq!(s("2h"), Ok(7_200_000_000_000));
        for bad in [
            "",
            "s",
            ".5",
            "1.",
            "0",
            "0.0",
            "0ms",
            "-1",
            "1.2.3",
            "1e3",
            "1 s",
            "1d",
            "1.0000000001",
            "99999999999h",
        ] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1"), Ok(1));
        assert_eq!(parse_count("00064"), Ok(64));
        for bad in ["", "0", "-3", "+3", "1.0", "2k", "99999999999999999999"] {
            assert!(parse_count(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for n in [
            1u64,
            1000,
            1024,
            1536 << 20,
            256 << 20,
            2 << 30,
            5 << 40,
            4097,
        ] {
            assert_eq!(parse_size(&format_size(n)), Ok(n), "{n}");
        }
        for ns in [
            1u64,
            1_000_000,
            1_500_000_000,
            60_000_000_000,
            123_456_789_012,
        ] {
            let d = Duration::from_nanos(ns);
            assert_eq!(parse_seconds(&format_seconds(d)), Ok(d), "{ns}");
        }
        assert_eq!(format_seconds(Duration::from_millis(250)), "0.25s");
    }
}
