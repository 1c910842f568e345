//! Calendar days as people in the Netherlands count them (Europe/Amsterdam, summer time included).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::error::Invalid;

static NETHERLANDS: LazyLock<TimeZone> =
    LazyLock::new(|| TimeZone::get("Europe/Amsterdam").expect("the time zone database is built in"));

/// A day in the Netherlands, "YYYY-MM-DD".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalDate(Date);

impl LocalDate {
    /// The Dutch calendar day at an instant (µs since the epoch).
    pub fn of_micros(micros: i64) -> Self {
        let at = Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH);
        Self(at.to_zoned(NETHERLANDS.clone()).date())
    }

    /// The first moment of the day in the Netherlands, in µs since the epoch.
    pub fn start_micros(self) -> i64 {
        self.0.to_zoned(NETHERLANDS.clone()).map_or(0, |z| z.timestamp().as_microsecond())
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: LocalDate) -> i64 {
        self.0.duration_until(later.0).as_secs() / 86_400
    }

    /// The day `days` later (earlier when negative); the same day when that leaves the calendar.
    pub fn plus_days(self, days: i64) -> Self {
        self.0.checked_add(days.days()).map_or(self, Self)
    }
}

impl FromStr for LocalDate {
    type Err = Invalid;

    /// Exactly "YYYY-MM-DD", a day that exists.
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let shape = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let bad = || Invalid::new("must be a date, \"YYYY-MM-DD\"");
        if !shape {
            return Err(bad());
        }
        s.parse::<Date>().map(Self).map_err(|_| bad())
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_dutch_time_with_summer_time() {
        let winter: LocalDate = "2026-12-01".parse().unwrap();
        // Midnight in winter is 23:00 UTC the day before (UTC+1).
        assert_eq!(LocalDate::of_micros(winter.start_micros()), winter);
        assert_eq!(winter.start_micros(), 1_796_079_600_000_000);
        let summer: LocalDate = "2026-07-01".parse().unwrap();
        // Midnight in summer is 22:00 UTC the day before (UTC+2).
        assert_eq!(summer.start_micros(), 1_782_856_800_000_000);
        assert_eq!(LocalDate::of_micros(summer.start_micros() - 1), "2026-06-30".parse().unwrap());
        assert_eq!(winter.plus_days(14).to_string(), "2026-12-15");
        assert_eq!(summer.days_until(winter), 153);
        assert_eq!(winter.days_until(summer), -153);
    }

    #[test]
    fn only_real_days_in_one_shape() {
        for bad in ["2026-02-30", "2026-13-01", "20261201", "2026-1-01", " 2026-12-01", "01-12-2026", ""] {
            assert!(bad.parse::<LocalDate>().is_err(), "{bad:?}");
        }
        assert!("2028-02-29".parse::<LocalDate>().is_ok());
    }
}
