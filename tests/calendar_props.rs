//! Calendar invariants across DST changes, checked against a brute-force
//! minute-by-minute scan that shares no code with the calendar.
//!
//! The scan walks UTC minutes and fires at instant `u` when the local clock
//! reaches, or jumps past, a matching local time it has never shown before.
//! That is SPEC 3.2 stated without any mapping of local times to instants:
//! a time skipped by spring-forward fires when the clock jumps past it, a
//! repeated time fires only the first time the clock shows it.

use adsched::calendar::{Calendar, CronSpec, Form};
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use proptest::prelude::*;

const ZONES: [&str; 6] = [
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe", // 30-minute shift
    "Pacific/Chatham",     // +12:45 / +13:45
    "Asia/Kolkata",        // no DST
    "America/Sao_Paulo",   // DST abolished in 2019
];

/// Instants around which DST changes in some of the zones in 2026.
const AROUND: [&str; 8] = [
    "2026-03-08T09:00:00Z", // Los Angeles spring forward
    "2026-11-01T08:00:00Z", // Los Angeles fall back
    "2026-03-29T00:30:00Z", // London forward
    "2026-10-25T00:30:00Z", // London back
    "2026-04-04T14:30:00Z", // Lord Howe back (02:00 -> 01:30)
    "2026-10-03T15:30:00Z", // Lord Howe forward
    "2026-04-04T13:45:00Z", // Chatham back
    "2026-09-26T13:45:00Z", // Chatham forward
];

// ---- an independent crontab(5) matcher ---------------------------------

struct Field {
    set: Vec<bool>,
    star: bool,
}

fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Field {
    let mut set = vec![false; (max + 2) as usize];
    let value = |s: &str| -> u32 {
        s.parse().unwrap_or_else(|_| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .map(|i| i as u32 + min)
                .unwrap()
        })
    };
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().unwrap()),
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a), value(b))
        } else {
            (value(range), value(range))
        };
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Field {
        set,
        star: text.starts_with('*'),
    }
}

struct Cron {
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

fn cron(expr: &str) -> Cron {
    let f: Vec<&str> = expr.split_whitespace().collect();
    let months = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    Cron {
        minute: field(f[0], 0, 59, &[]),
        hour: field(f[1], 0, 23, &[]),
        dom: field(f[2], 1, 31, &[]),
        month: field(f[3], 1, 12, &months),
        dow: field(f[4], 0, 7, &days),
    }
}

fn cron_matches(c: &Cron, t: NaiveDateTime) -> bool {
    let dow = t.weekday().num_days_from_sunday() as usize;
    let dow_ok = c.dow.set[dow] || (dow == 0 && c.dow.set[7]);
    let dom_ok = c.dom.set[t.day() as usize];
    let day_ok = if c.dom.star || c.dow.star {
        dom_ok && dow_ok
    } else {
        dom_ok || dow_ok
    };
    c.minute.set[t.minute() as usize]
        && c.hour.set[t.hour() as usize]
        && c.month.set[t.month() as usize]
        && day_ok
}

// ---- the scan -----------------------------------------------------------

fn brute_force(
    matches: &dyn Fn(NaiveDateTime) -> bool,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    // Start a day early so the "highest local time shown" is known at `after`.
    let mut u = after - Duration::days(1);
    let mut shown = u.with_timezone(&tz).naive_local();
    let mut fires = Vec::new();
    while u < until {
        u += Duration::minutes(1);
        let local = u.with_timezone(&tz).naive_local();
        if local > shown {
            let mut c = shown + Duration::minutes(1);
            let mut fired = false;
            while c <= local {
                fired |= matches(c);
                c += Duration::minutes(1);
            }
            shown = local;
            // Both sides list fires in (after, until).
            if fired && u > after && u < until {
                fires.push(u);
            }
        }
    }
    fires
}

fn calendar_until(
    cal: &Calendar,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = after;
    while let Some(next) = cal.next_after(t) {
        if next >= until {
            break;
        }
        out.push(next);
        t = next;
    }
    out
}

fn check(cal: &Calendar, matches: &dyn Fn(NaiveDateTime) -> bool, after: DateTime<Utc>, days: i64) {
    let until = after + Duration::days(days);
    let tz = cal.timezone();
    let got = calendar_until(cal, after, until);
    let want = brute_force(matches, tz, after, until);
    let show = |v: &[DateTime<Utc>]| -> Vec<String> {
        v.iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect()
    };
    assert_eq!(show(&got), show(&want), "{} after {after}", cal.describe());
    // Strictly increasing, and never two fires for one local wall time.
    for w in got.windows(2) {
        assert!(w[0] < w[1]);
        assert_ne!(
            w[0].with_timezone(&tz).naive_local(),
            w[1].with_timezone(&tz).naive_local()
        );
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn arb_cron() -> impl Strategy<Value = String> {
    let minute = prop::sample::select(vec!["0", "30", "*/15", "0,30", "*/20", "45", "15-17"]);
    let hour = prop::sample::select(vec!["*", "1", "2", "1-3", "*/2", "9", "0,2,4", "23"]);
    let dom = prop::sample::select(vec!["*", "*", "1", "13", "1-7", "*/2", "25-31"]);
    let month = prop::sample::select(vec!["*", "*", "3,4", "9-11", "MAR", "*/3"]);
    let dow = prop::sample::select(vec![
        "*", "*", "0", "1", "1-5", "5-7", "7", "SUN", "mon,fri", "*/2", "6",
    ]);
    (minute, hour, dom, month, dow).prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn cron_agrees_with_brute_force(
        expr in arb_cron(),
        zone in prop::sample::select(ZONES.to_vec()),
        around in prop::sample::select(AROUND.to_vec()),
        offset_min in -1500i64..60,
    ) {
        let tz: Tz = zone.parse().unwrap();
        let spec = CronSpec::parse(&expr).unwrap();
        let cal = Calendar::new(Form::Cron(Box::new(spec)), tz);
        let c = cron(&expr);
        check(&cal, &|t| cron_matches(&c, t), utc(around) + Duration::minutes(offset_min), 3);
    }

    #[test]
    fn presets_agree_with_brute_force(
        kind in 0u8..4,
        hour in prop::sample::select(vec![0u32, 1, 2, 3, 9, 23]),
        minute in prop::sample::select(vec![0u32, 15, 30, 45, 59]),
        day in 1u32..=28,
        weekday in 0u32..7,
        zone in prop::sample::select(ZONES.to_vec()),
        around in prop::sample::select(AROUND.to_vec()),
        offset_min in -2000i64..60,
    ) {
        let tz: Tz = zone.parse().unwrap();
        let at = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
        let wd = Weekday::try_from(weekday as u8).unwrap();
        let after = utc(around) + Duration::minutes(offset_min);
        let once = after.with_timezone(&tz).date_naive().and_time(at) + Duration::days(1);
        let form = match kind {
            0 => Form::Daily(at),
            1 => Form::Weekly(wd, at),
            2 => Form::Monthly(day, at),
            _ => Form::Once(once),
        };
        let matches = move |t: NaiveDateTime| -> bool {
            t.time() == at && match kind {
                0 => true,
                1 => t.weekday() == wd,
                2 => t.day() == day,
                _ => t == once,
            }
        };
        let days = if kind == 2 { 40 } else { 9 };
        check(&Calendar::new(form, tz), &matches, after, days);
    }
}

#[test]
fn a_year_of_weekly_mondays_in_los_angeles_stays_at_nine_local() {
    let tz: Tz = "America/Los_Angeles".parse().unwrap();
    let cal = Calendar::new(
        Form::Cron(Box::new(CronSpec::parse("0 9 * * 1").unwrap())),
        tz,
    );
    let times = cal.upcoming(utc("2026-01-01T00:00:00Z"), 52);
    assert_eq!(times.len(), 52);
    for t in times {
        let local = t.with_timezone(&tz);
        assert_eq!(local.weekday(), Weekday::Mon, "{local}");
        assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");
    }
    // And the Python version's bug, one hour off after the change, would show here:
    let march = cal.upcoming(utc("2026-03-01T00:00:00Z"), 2);
    assert_eq!(march[1], utc("2026-03-09T16:00:00Z"));
}

#[test]
fn every_zone_in_the_list_has_a_reachable_year() {
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    for zone in ZONES {
        let tz: Tz = zone.parse().unwrap();
        let cal = Calendar::new(Form::Daily(NaiveTime::from_hms_opt(2, 30, 0).unwrap()), tz);
        let times = cal.upcoming(first.and_hms_opt(0, 0, 0).unwrap().and_utc(), 365);
        // A daily job never silently drops a day: 365 fires on 365 distinct local dates.
        let mut dates: Vec<NaiveDate> = times
            .iter()
            .map(|t| t.with_timezone(&tz).date_naive())
            .collect();
        dates.dedup();
        assert_eq!(dates.len(), 365, "{zone}");
    }
}
