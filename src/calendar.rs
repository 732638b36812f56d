//! Fire times of a schedule in a time zone.
//!
//! A calendar produces local wall-clock *candidates* (from the schedule form;
//! cron through saffron, evaluated on local time as if it were UTC) and maps
//! each to an instant by cronie's rules for fixed-time jobs (SPEC 3.2):
//!
//! - a local time inside a spring-forward gap fires at the first instant after
//!   the gap;
//! - a local time that occurs twice fires at its first occurrence.
//!
//! That mapping is monotone, so keeping only strictly increasing instants
//! means "skip candidates that map to an instant already fired". The result:
//! never two fires for one local time, never two at one instant, never a
//! silently dropped day.
//!
//! Long (about 560 lines of code, the rest tests) because the DST rules,
//! the forms and their plain-English descriptions must agree, and are read
//! together when one changes; their error messages are part of that text.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

/// The default zone of every schedule (the users' plan: "all times in PST").
pub const DEFAULT_TIMEZONE: &str = "America/Los_Angeles";

/// How far before a local time a candidate may lie and still map after it.
/// Backward clock shifts in the tz database are at most a few hours; three
/// hours covers all of them with a margin while keeping the scan short.
const LOOKBACK: i64 = 3 * 60;

/// One of the schedule forms of SPEC 1, already parsed.
#[derive(Debug, Clone)]
pub enum Form {
    /// Every day at a time.
    Daily(NaiveTime),
    /// One weekday at a time.
    Weekly(Weekday, NaiveTime),
    /// One day of every month (1..=28) at a time.
    Monthly(u32, NaiveTime),
    /// A crontab(5) expression.
    Cron(Box<CronSpec>),
    /// One local date-time.
    Once(NaiveDateTime),
}

/// A schedule form in a time zone: the thing that yields fire times.
#[derive(Debug, Clone)]
pub struct Calendar {
    form: Form,
    tz: Tz,
}

impl Calendar {
    /// A calendar for `form` in `tz`.
    pub fn new(form: Form, tz: Tz) -> Self {
        Calendar { form, tz }
    }

    /// The zone the calendar is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The schedule form.
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The first fire time strictly after `after`, or `None` if there is none
    /// before `horizon` (a `once` in the past, a cron that never matches).
    pub fn next_after_within(
        &self,
        after: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let local_after = after.with_timezone(&self.tz).naive_local();
        let mut candidate = local_after - Duration::minutes(LOOKBACK);
        loop {
            // A candidate is a local wall time: compare against the horizon in
            // local time too, with a day of slack for the zone offset.
            let next = self.next_local_candidate(candidate)?;
            if next > horizon.naive_utc() + Duration::days(1) {
                return None;
            }
            let instant = map_local(&self.tz, next);
            if instant > after {
                return (instant <= horizon).then_some(instant);
            }
            candidate = next;
        }
    }

    /// The first fire time strictly after `after`, looking up to 10 years
    /// ahead (a cron that matches less often than that never fires), or for
    /// a `once`, whenever it is: one candidate costs nothing to look at.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let years = match self.form {
            Form::Once(_) => 200,
            _ => 10,
        };
        self.next_after_within(after, after + Duration::days(366 * years))
    }

    /// The next `count` fire times strictly after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count.min(1024));
        let mut t = after;
        while out.len() < count {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The local wall-clock candidate strictly after `local`.
    fn next_local_candidate(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        match &self.form {
            Form::Daily(at) => {
                let today = local.date().and_time(*at);
                Some(if today > local {
                    today
                } else {
                    local.date().succ_opt()?.and_time(*at)
                })
            }
            Form::Weekly(day, at) => {
                let mut date = local.date();
                loop {
                    if date.weekday() == *day && date.and_time(*at) > local {
                        return Some(date.and_time(*at));
                    }
                    date = date.succ_opt()?;
                }
            }
            Form::Monthly(day, at) => {
                let (mut y, mut m) = (local.year(), local.month());
                loop {
                    let t = NaiveDate::from_ymd_opt(y, m, *day)?.and_time(*at);
                    if t > local {
                        return Some(t);
                    }
                    (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                }
            }
            Form::Once(at) => (*at > local).then_some(*at),
            Form::Cron(spec) => spec.next_after(local),
        }
    }

    /// Plain English, e.g. "every Monday at 09:00 (America/Los_Angeles)".
    pub fn describe(&self) -> String {
        let what = match &self.form {
            Form::Daily(at) => format!("every day at {}", at.format("%H:%M")),
            Form::Weekly(day, at) => format!("every {} at {}", day_name(*day), at.format("%H:%M")),
            Form::Monthly(day, at) => format!(
                "on the {} of every month at {}",
                ordinal(*day),
                at.format("%H:%M")
            ),
            Form::Once(at) => format!("once on {}", at.format("%Y-%m-%d at %H:%M")),
            Form::Cron(spec) => spec.describe(),
        };
        format!("{what} ({})", self.tz.name())
    }
}

/// Maps a local wall time to an instant (SPEC 3.2).
pub fn map_local(tz: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => first.min(second).with_timezone(&Utc),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The first instant after the gap that swallowed `local`: the instant at
/// which local time jumped past it. Found by bisection between a minute
/// before (in the old offset) and after, since chrono-tz has no transition API.
fn gap_end(tz: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // Every instant maps to one local time; the instants around the gap are
    // within a day of `local` read as UTC shifted by any real offset.
    let mut lo = local.and_utc() - Duration::hours(36);
    let mut hi = local.and_utc() + Duration::hours(36);
    // Invariant: local(lo) < local, local(hi) > local.
    while hi - lo > Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if mid.with_timezone(tz).naive_local() < local {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // Transitions happen on whole seconds.
    hi.with_nanosecond(0).unwrap_or(hi)
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Why a time, zone, cron expression or duration was refused. The messages
/// are what `validate` prints: they say what is allowed, with an example.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Not `HH:MM` on a 24-hour clock.
    #[error("`{0}` is not a time: use HH:MM on a 24-hour clock, e.g. \"09:00\"")]
    Time(String),
    /// Not `YYYY-MM-DDTHH:MM[:SS]`.
    #[error(
        "`{0}` is not a local date-time: use YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, \
         e.g. \"2026-12-24T09:00\" (no offset: the schedule's timezone applies)"
    )]
    LocalDateTime(String),
    /// Not an IANA zone name.
    #[error("`{0}` is not an IANA time zone name; use a name such as America/Los_Angeles, Europe/London or UTC")]
    Timezone(String),
    /// A cron expression without exactly five fields.
    #[error(
        "`{expr}` has {count} field{}; a cron expression has 5: minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1\" (Mondays 09:00)",
        plural_s(*.count)
    )]
    CronFieldCount {
        /// The expression as written.
        expr: String,
        /// How many fields it has.
        count: usize,
    },
    /// One of the first four cron fields does not parse.
    #[error("the {field} field `{value}` of `{expr}` is not valid: allowed are {allowed}, lists (1,15), ranges (1-5) and steps (*/15)")]
    CronField {
        /// The expression as written.
        expr: String,
        /// `minute`, `hour`, `day-of-month` or `month`.
        field: &'static str,
        /// The field's text.
        value: String,
        /// The values the field takes.
        allowed: &'static str,
    },
    /// The day-of-week field does not parse.
    #[error("the day-of-week field `{value}` of `{expr}` is not valid: {why}; allowed are {allowed}, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)", allowed = FIELD_RANGES[4])]
    CronDayOfWeek {
        /// The expression as written.
        expr: String,
        /// The field's text.
        value: String,
        /// What is wrong in it.
        why: DayOfWeekError,
    },
    /// saffron refused the expression as a whole.
    #[error("`{0}` is not a valid cron expression")]
    Cron(String),
    /// Not `0` or number-and-unit pairs.
    #[error(
        "`{0}` is not a duration: use a number with s, m, h or d, e.g. 30m, 1h, 2h30m, 1d, or 0"
    )]
    Duration(String),
}

/// What is wrong in a crontab(5) day-of-week field; the detail of
/// [`CalendarError::CronDayOfWeek`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayOfWeekError {
    /// The text after `/` is not 1 to 7.
    #[error("`{0}` is not a step of 1 to 7")]
    Step(String),
    /// `a-b` with `a` after `b`.
    #[error("the range `{0}` runs backwards")]
    Backwards(String),
    /// `n/step`: a step on a single day.
    #[error("a step needs a range or `*`, not `{0}`")]
    StepWithoutRange(String),
    /// A number above 7.
    #[error("`{0}` is out of range 0-7")]
    OutOfRange(String),
    /// Nothing between two commas (or around a `-`).
    #[error("an item is empty")]
    EmptyItem,
    /// Neither a number nor a day name.
    #[error("`{0}` is not a weekday number or name")]
    NotWeekday(String),
}

/// The plural ending for `n` things.
fn plural_s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Parses `HH:MM` (24 h).
pub fn parse_time(s: &str) -> Result<NaiveTime, CalendarError> {
    let bad = || CalendarError::Time(s.to_string());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

/// Parses a local date-time `YYYY-MM-DDTHH:MM[:SS]`.
pub fn parse_local_datetime(s: &str) -> Result<NaiveDateTime, CalendarError> {
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| CalendarError::LocalDateTime(s.to_string()))
}

/// Parses an IANA zone name.
pub fn parse_timezone(s: &str) -> Result<Tz, CalendarError> {
    s.parse::<Tz>()
        .map_err(|_| CalendarError::Timezone(s.to_string()))
}

/// A crontab(5) expression compiled for saffron.
///
/// saffron numbers day-of-week from Sunday = 1 and ORs the two day fields
/// only when both are restricted. crontab(5) numbers Sunday = 0 or 7 and
/// treats a day field that starts with `*` (also `*/2`) as unrestricted, so
/// the fields are ANDed then. We hand saffron day-of-week as names, and for
/// the AND case give saffron `*` and filter by our own day set.
#[derive(Clone)]
pub struct CronSpec {
    source: String,
    cron: saffron::Cron,
    description: String,
    /// Days (bit 0 = Sunday) to keep when saffron was given `*` for
    /// day-of-week but the expression restricts it (the AND case).
    dow_filter: Option<u8>,
}

impl fmt::Debug for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSpec({:?})", self.source)
    }
}

const DOW_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELD_RANGES: [&str; 5] = [
    "0-59",
    "0-23",
    "1-31",
    "1-12 or JAN-DEC",
    "0-7 (0 and 7 = Sunday) or SUN-SAT",
];

impl CronSpec {
    /// Parses a 5-field crontab(5) expression.
    pub fn parse(expr: &str) -> Result<CronSpec, CalendarError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CalendarError::CronFieldCount {
                expr: expr.to_string(),
                count: fields.len(),
            });
        }
        // Check field by field so the message can name the culprit.
        for i in 0..4 {
            let mut probe = ["*"; 5];
            probe[i] = fields[i];
            if probe.join(" ").parse::<saffron::Cron>().is_err() {
                return Err(CalendarError::CronField {
                    expr: expr.to_string(),
                    field: FIELD_NAMES[i],
                    value: fields[i].to_string(),
                    allowed: FIELD_RANGES[i],
                });
            }
        }
        let days = parse_dow(fields[4]).map_err(|why| CalendarError::CronDayOfWeek {
            expr: expr.to_string(),
            value: fields[4].to_string(),
            why,
        })?;
        let dom_star = fields[2].starts_with('*');
        let dow_star = fields[4].starts_with('*');
        let dow_names = if days == 0x7f && dow_star {
            "*".to_string()
        } else {
            (0..7)
                .filter(|d| days & (1 << d) != 0)
                .map(|d| DOW_NAMES[d])
                .collect::<Vec<_>>()
                .join(",")
        };
        let full = format!(
            "{} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], dow_names
        );
        let (saffron_expr, dow_filter) = if !dom_star && !dow_star {
            // Both restricted: either day field matches, as saffron does.
            (full.clone(), None)
        } else if fields[4] == "*" {
            (full.clone(), None)
        } else {
            let any_dow = format!("{} {} {} {} *", fields[0], fields[1], fields[2], fields[3]);
            (any_dow, Some(days))
        };
        let cron: saffron::Cron = saffron_expr
            .parse()
            .map_err(|_| CalendarError::Cron(expr.to_string()))?;
        let description = full
            .parse::<saffron::parse::CronExpr>()
            .map(|e| {
                let mut english = saffron::parse::English::new();
                english.hour = saffron::parse::HourFormat::Hour24;
                e.describe(english).to_string()
            })
            .unwrap_or_else(|_| format!("cron `{expr}`"));
        Ok(CronSpec {
            source: expr.to_string(),
            cron,
            description: format!("{description} (cron `{}`)", fields.join(" ")),
            dow_filter,
        })
    }

    /// English text for the expression.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// Whether the expression can ever match (e.g. not `0 0 31 2 *`).
    pub fn can_match(&self) -> bool {
        self.cron.any()
    }

    fn next_after(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut t = local.and_utc();
        loop {
            let next = self.cron.next_after(t)?;
            match self.dow_filter {
                Some(days) if days & (1 << next.weekday().num_days_from_sunday()) == 0 => {
                    // Jump to the start of the next day rather than scanning
                    // every minute of a day that cannot match.
                    let tomorrow = next.date_naive().succ_opt()?.and_hms_opt(0, 0, 0)?;
                    t = tomorrow.and_utc() - Duration::minutes(1);
                }
                _ => return Some(next.naive_utc()),
            }
        }
    }
}

/// Parses a crontab(5) day-of-week field into a bit set (bit 0 = Sunday).
fn parse_dow(field: &str) -> Result<u8, DayOfWeekError> {
    let mut days = 0u8;
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| (1..=7).contains(s))
                    .ok_or_else(|| DayOfWeekError::Step(s.to_string()))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (dow_value(a)?, dow_value(b)?);
            if a > b {
                return Err(DayOfWeekError::Backwards(range.to_string()));
            }
            (a, b)
        } else {
            let v = dow_value(range)?;
            if step != 1 {
                return Err(DayOfWeekError::StepWithoutRange(item.to_string()));
            }
            (v, v)
        };
        for d in (lo..=hi).step_by(step as usize) {
            days |= 1 << (d % 7);
        }
    }
    Ok(days)
}

fn dow_value(s: &str) -> Result<u32, DayOfWeekError> {
    if let Ok(n) = s.parse::<u32>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(DayOfWeekError::OutOfRange(s.to_string()))
        };
    }
    DOW_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(s))
        .map(|i| i as u32)
        .ok_or_else(|| {
            if s.is_empty() {
                DayOfWeekError::EmptyItem
            } else {
                DayOfWeekError::NotWeekday(s.to_string())
            }
        })
}

/// Parses a duration such as `30m`, `1h`, `2h30m`, `1d` or `0`: `0`, or
/// number-and-unit pairs (`s`, `m`, `h`, `d`) with no spaces, as
/// docs/file-format.md documents. Hand-written rather than `humantime`,
/// which also accepts `1h 30m`, `1 hour`, `30min`, `1w` and `10ms`:
/// `validate` would start taking files that older builds reject.
pub fn parse_duration(s: &str) -> Result<Duration, CalendarError> {
    let bad = || CalendarError::Duration(s.to_string());
    if s == "0" {
        return Ok(Duration::zero());
    }
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let part = match c {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&part).ok_or_else(bad)?;
    }
    if !digits.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn la() -> Tz {
        "America/Los_Angeles".parse().unwrap()
    }

    fn cron(expr: &str, tz: Tz) -> Calendar {
        Calendar::new(Form::Cron(Box::new(CronSpec::parse(expr).unwrap())), tz)
    }

    fn fmt(cal: &Calendar, after: &str, n: usize) -> Vec<String> {
        cal.upcoming(utc(after), n)
            .into_iter()
            .map(|t| {
                t.with_timezone(&cal.timezone())
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            })
            .collect()
    }

    #[test]
    fn crontab_monday_is_monday_not_sunday() {
        let cal = cron("0 9 * * 1", la());
        for t in cal.upcoming(utc("2026-01-01T00:00:00Z"), 60) {
            let local = t.with_timezone(&la());
            assert_eq!(local.weekday(), Weekday::Mon, "{local}");
            assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");
        }
        assert!(cal.describe().contains("Monday"), "{}", cal.describe());
        assert!(!cal.describe().contains("Sunday"), "{}", cal.describe());
    }

    #[test]
    fn crontab_day_of_week_numbering() {
        let days = |expr: &str| {
            let cal = cron(expr, Tz::UTC);
            let mut set: Vec<Weekday> = cal
                .upcoming(utc("2026-01-01T00:00:00Z"), 21)
                .into_iter()
                .map(|t| t.weekday())
                .collect();
            set.sort_by_key(|d| d.num_days_from_monday());
            set.dedup();
            set
        };
        use Weekday::*;
        assert_eq!(days("0 9 * * 1-5"), vec![Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(days("0 9 * * 0"), vec![Sun]);
        assert_eq!(days("0 9 * * 7"), vec![Sun]);
        assert_eq!(days("0 9 * * 5-7"), vec![Fri, Sat, Sun]);
        assert_eq!(days("0 9 * * SUN,wed"), vec![Wed, Sun]);
        assert_eq!(days("0 9 * * */2"), vec![Tue, Thu, Sat, Sun]);
    }

    #[test]
    fn both_day_fields_restricted_either_matches() {
        // 13th of the month OR a Friday.
        let cal = cron("0 0 13 * 5", Tz::UTC);
        let times = cal.upcoming(utc("2026-03-01T00:00:00Z"), 10);
        for t in &times {
            assert!(t.day() == 13 || t.weekday() == Weekday::Fri, "{t}");
        }
        assert!(times
            .iter()
            .any(|t| t.day() == 13 && t.weekday() != Weekday::Fri));
        // A day field starting with `*` is unrestricted: then both must hold.
        let cal = cron("0 0 */2 * 1", Tz::UTC);
        for t in cal.upcoming(utc("2026-03-01T00:00:00Z"), 10) {
            assert!(t.day() % 2 == 1 && t.weekday() == Weekday::Mon, "{t}");
        }
    }

    #[test]
    fn a_once_decades_ahead_still_has_its_time() {
        let at = parse_local_datetime("2099-01-05T09:00").unwrap();
        let cal = Calendar::new(Form::Once(at), la());
        assert_eq!(
            fmt(&cal, "2026-12-05T00:00:00Z", 2),
            ["2099-01-05T09:00:00-08:00"]
        );
    }

    #[test]
    fn weekly_across_2026_la_transitions_keeps_nine_local() {
        let cal = Calendar::new(
            Form::Weekly(Weekday::Mon, NaiveTime::from_hms_opt(9, 0, 0).unwrap()),
            la(),
        );
        assert_eq!(
            fmt(&cal, "2026-03-01T00:00:00Z", 2),
            ["2026-03-02T09:00:00-08:00", "2026-03-09T09:00:00-07:00"]
        );
        assert_eq!(
            fmt(&cal, "2026-10-26T00:00:00Z", 2),
            ["2026-10-26T09:00:00-07:00", "2026-11-02T09:00:00-08:00"]
        );
        assert_eq!(
            cal.describe(),
            "every Monday at 09:00 (America/Los_Angeles)"
        );
    }

    #[test]
    fn spring_forward_gap_fires_at_gap_end_once() {
        let cal = Calendar::new(
            Form::Daily(NaiveTime::from_hms_opt(2, 30, 0).unwrap()),
            la(),
        );
        assert_eq!(
            fmt(&cal, "2026-03-07T00:00:00Z", 3),
            [
                "2026-03-07T02:30:00-08:00",
                "2026-03-08T03:00:00-07:00",
                "2026-03-09T02:30:00-07:00"
            ]
        );
        let cal = cron("*/30 * * * *", la());
        assert_eq!(
            fmt(&cal, "2026-03-08T09:00:00Z", 4), // 01:00 PST
            [
                "2026-03-08T01:30:00-08:00",
                "2026-03-08T03:00:00-07:00",
                "2026-03-08T03:30:00-07:00",
                "2026-03-08T04:00:00-07:00"
            ]
        );
    }

    #[test]
    fn fall_back_repeated_hour_fires_once_at_first_occurrence() {
        let cal = cron("*/30 * * * *", la());
        assert_eq!(
            fmt(&cal, "2026-11-01T07:45:00Z", 4), // 00:45 PDT
            [
                "2026-11-01T01:00:00-07:00",
                "2026-11-01T01:30:00-07:00",
                "2026-11-01T02:00:00-08:00",
                "2026-11-01T02:30:00-08:00"
            ]
        );
        let cal = Calendar::new(
            Form::Daily(NaiveTime::from_hms_opt(1, 30, 0).unwrap()),
            la(),
        );
        assert_eq!(
            fmt(&cal, "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T01:30:00-07:00", "2026-11-02T01:30:00-08:00"]
        );
        // Asking from inside the second 01:xx does not fire 01:30 again.
        assert_eq!(
            fmt(&cal, "2026-11-01T09:10:00Z", 1), // 01:10 PST
            ["2026-11-02T01:30:00-08:00"]
        );
    }

    #[test]
    fn monthly_and_once() {
        let at = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let cal = Calendar::new(Form::Monthly(1, at), la());
        assert_eq!(
            fmt(&cal, "2026-11-15T00:00:00Z", 2),
            ["2026-12-01T09:00:00-08:00", "2027-01-01T09:00:00-08:00"]
        );
        assert_eq!(
            cal.describe(),
            "on the 1st of every month at 09:00 (America/Los_Angeles)"
        );
        let once = parse_local_datetime("2026-12-24T09:00").unwrap();
        let cal = Calendar::new(Form::Once(once), la());
        assert_eq!(
            fmt(&cal, "2026-11-15T00:00:00Z", 5),
            ["2026-12-24T09:00:00-08:00"]
        );
        assert!(cal.next_after(utc("2026-12-25T00:00:00Z")).is_none());
    }

    #[test]
    fn cron_errors_name_the_field() {
        let err = |expr: &str| CronSpec::parse(expr).unwrap_err().to_string();
        assert!(err("0 25 * * *").contains("hour"));
        assert!(err("0 9 * * 8").contains("day-of-week"));
        assert!(err("0 9 * *").contains("4 fields"));
        assert!(err("61 * * * *").contains("minute"));
        assert!(!CronSpec::parse("0 0 31 2 *").unwrap().can_match());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_duration("2h30m").unwrap(), Duration::minutes(150));
        assert_eq!(parse_duration("0").unwrap(), Duration::zero());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        // The documented syntax only (what humantime would also take).
        for s in [
            "1h 30m", "1 hour", "30min", "1w", "10ms", " 1h", "1h ", "", "-1h",
        ] {
            assert!(parse_duration(s).is_err(), "`{s}` was accepted");
        }
        assert_eq!(
            parse_duration("30min").unwrap_err().to_string(),
            "`30min` is not a duration: use a number with s, m, h or d, e.g. 30m, 1h, 2h30m, 1d, or 0"
        );
    }

    #[test]
    fn times_are_strict() {
        assert!(parse_time("09:00").is_ok());
        for bad in ["9:00", "24:00", "09:60", "0900", "09:00:00", ""] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_those_validate_printed_before_the_error_type() {
        let cases: [(Result<(), CalendarError>, &str); 14] = [
            (parse_time("9:00").map(drop), "`9:00` is not a time: use HH:MM on a 24-hour clock, e.g. \"09:00\""),
            (parse_local_datetime("2026-12-24").map(drop), "`2026-12-24` is not a local date-time: use YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, e.g. \"2026-12-24T09:00\" (no offset: the schedule's timezone applies)"),
            (parse_timezone("Mars/Base").map(drop), "`Mars/Base` is not an IANA time zone name; use a name such as America/Los_Angeles, Europe/London or UTC"),
            (CronSpec::parse("0").map(drop), "`0` has 1 field; a cron expression has 5: minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1\" (Mondays 09:00)"),
            (CronSpec::parse("0 9 * *").map(drop), "`0 9 * *` has 4 fields; a cron expression has 5: minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1\" (Mondays 09:00)"),
            (CronSpec::parse("0 9 * 13 *").map(drop), "the month field `13` of `0 9 * 13 *` is not valid: allowed are 1-12 or JAN-DEC, lists (1,15), ranges (1-5) and steps (*/15)"),
            (CronSpec::parse("0 9 * * */9").map(drop), "the day-of-week field `*/9` of `0 9 * * */9` is not valid: `9` is not a step of 1 to 7; allowed are 0-7 (0 and 7 = Sunday) or SUN-SAT, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)"),
            (CronSpec::parse("0 9 * * 5-1").map(drop), "the day-of-week field `5-1` of `0 9 * * 5-1` is not valid: the range `5-1` runs backwards; allowed are 0-7 (0 and 7 = Sunday) or SUN-SAT, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)"),
            (CronSpec::parse("0 9 * * 1/2").map(drop), "the day-of-week field `1/2` of `0 9 * * 1/2` is not valid: a step needs a range or `*`, not `1/2`; allowed are 0-7 (0 and 7 = Sunday) or SUN-SAT, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)"),
            (CronSpec::parse("0 9 * * 8").map(drop), "the day-of-week field `8` of `0 9 * * 8` is not valid: `8` is out of range 0-7; allowed are 0-7 (0 and 7 = Sunday) or SUN-SAT, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)"),
            (CronSpec::parse("0 9 * * 1,").map(drop), "the day-of-week field `1,` of `0 9 * * 1,` is not valid: an item is empty; allowed are 0-7 (0 and 7 = Sunday) or SUN-SAT, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)"),
            (CronSpec::parse("0 9 * * FUN").map(drop), "the day-of-week field `FUN` of `0 9 * * FUN` is not valid: `FUN` is not a weekday number or name; allowed are 0-7 (0 and 7 = Sunday) or SUN-SAT, lists (1,3,5), ranges (1-5 = Monday to Friday) and steps (*/2)"),
            (Err(CalendarError::Cron("0 9 * * *".into())), "`0 9 * * *` is not a valid cron expression"),
            (parse_duration("1w").map(drop), "`1w` is not a duration: use a number with s, m, h or d, e.g. 30m, 1h, 2h30m, 1d, or 0"),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap_err().to_string(), want);
        }
    }
}
