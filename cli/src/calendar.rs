//! Turns Unix timestamps into UTC calendar dates and times, without a date crate.

/// Milliseconds in one day.
const MILLISECONDS_PER_DAY: u64 = 86_400_000;

/// Formats `unix_milliseconds` (since 1970-01-01 00:00:00 UTC) as `YYYY-MM-DD HH:MM:SS`, in UTC.
/// The milliseconds below a full second are dropped.
#[must_use]
pub fn format_utc_timestamp(unix_milliseconds: u64) -> String {
    let days_since_epoch = unix_milliseconds / MILLISECONDS_PER_DAY;
    let seconds_into_day = (unix_milliseconds % MILLISECONDS_PER_DAY) / 1000;
    // The quotient of a u64 by 86 400 000 is below 2^37, so it always fits an i64.
    let (year, month, day) = civil_from_days(i64::try_from(days_since_epoch).unwrap_or(i64::MAX));
    let (hours, minutes, seconds) = (seconds_into_day / 3600, (seconds_into_day % 3600) / 60, seconds_into_day % 60);
    format!("{year:04}-{month:02}-{day:02} {hours:02}:{minutes:02}:{seconds:02}")
}

/// The proleptic Gregorian date (year, month 1–12, day 1–31) that lies `days_since_epoch` days
/// after 1970-01-01. This is Howard Hinnant's `civil_from_days`: it counts in 400-year eras, each
/// exactly 146 097 days long, and within an era in years that start on 1 March, so that the leap
/// day falls at the end of a year.
#[must_use]
pub fn civil_from_days(days_since_epoch: i64) -> (i64, u32, u32) {
    // Shift the origin from 1970-01-01 to 0000-03-01, the start of an era.
    let days_since_era_zero = days_since_epoch.saturating_add(719_468);
    let era = days_since_era_zero.div_euclid(146_097);
    let day_of_era = days_since_era_zero.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 is March, 11 is February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both values are small and positive by construction (day 1–31, month 1–12).
    (year, u32::try_from(month).unwrap_or(0), u32::try_from(day).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_convert() {
        let cases: &[(u64, &str)] = &[
            (0, "1970-01-01 00:00:00"),
            (999, "1970-01-01 00:00:00"),
            (86_399_999, "1970-01-01 23:59:59"),
            (86_400_000, "1970-01-02 00:00:00"),
            (951_782_400_000, "2000-02-29 00:00:00"),
            (951_868_800_000, "2000-03-01 00:00:00"),
            (1_700_000_000_000, "2023-11-14 22:13:20"),
            (1_709_164_800_000, "2024-02-29 00:00:00"),
            (4_107_542_399_000, "2100-02-28 23:59:59"),
            (4_107_542_400_000, "2100-03-01 00:00:00"),
        ];
        for &(milliseconds, expected) in cases {
            assert_eq!(format_utc_timestamp(milliseconds), expected, "for {milliseconds} ms");
        }
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        let days_in_month = |year: i64, month: u32| match month {
            2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut previous = civil_from_days(-1);
        assert_eq!(previous, (1969, 12, 31));
        for days in 0..200_000 {
            let (year, month, day) = civil_from_days(days);
            let expected = if previous.2 < days_in_month(previous.0, previous.1) {
                (previous.0, previous.1, previous.2 + 1)
            } else if previous.1 < 12 {
                (previous.0, previous.1 + 1, 1)
            } else {
                (previous.0 + 1, 1, 1)
            };
            assert_eq!((year, month, day), expected, "day {days}");
            previous = (year, month, day);
        }
    }
}
