//! [`LocalTime`]: a moment on the browser's clock, in its time zone, as the app words
//! times: the hour and minute, and the calendar day, comparable across months and years.

/// A moment on the browser's local clock, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The year, e.g. 2026.
    pub year: i32,
    /// The month, 1 (January) to 12.
    pub month: u32,
    /// The day of the month, from 1.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
}

impl LocalTime {
    /// `at_ms` (since the Unix epoch) in the browser's time zone. Only in a browser.
    pub fn of(at_ms: u64) -> Self {
        let date = js_sys::Date::new(&(at_ms as f64).into());
        Self {
            year: i32::try_from(date.get_full_year()).unwrap_or(i32::MAX),
            month: date.get_month() + 1,
            day: date.get_date(),
            hour: date.get_hours(),
            minute: date.get_minutes(),
        }
    }

    /// Days since 1970-01-01 of this calendar day (proleptic Gregorian), so that days
    /// compare across months and years.
    pub fn day_number(self) -> i64 {
        // Howard Hinnant's days_from_civil: years start in March, so the leap day is last.
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let month_from_march = i64::from((self.month + 9) % 12);
        let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// `HH:MM`.
    pub fn clock(self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }

    /// This moment as the app words it, `now` being the local time now: "today at
    /// 14:05", "yesterday at 09:12", "3 Dec at 10:00" (with the year if it is not this
    /// one's). A moment ahead of now (the clocks differ) is today.
    pub fn spoken(self, now: LocalTime) -> String {
        let clock = self.clock();
        let days_ago = now.day_number() - self.day_number();
        if days_ago <= 0 {
            return format!("today at {clock}");
        }
        if days_ago == 1 {
            return format!("yesterday at {clock}");
        }
        let month = usize::try_from(self.month.saturating_sub(1))
            .ok()
            .and_then(|m| MONTHS.get(m))
            .copied()
            .unwrap_or("?");
        if self.year == now.year {
            format!("{} {month} at {clock}", self.day)
        } else {
            format!("{} {month} {} at {clock}", self.day, self.year)
        }
    }
}

/// Short English month names, as the rest of the app's words.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
