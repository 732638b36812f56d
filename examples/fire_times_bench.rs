//! Benchmark: fire-time computation with adsched's calendar, the code behind
//! `adsched next` and the daemon (`Calendar::next_after`, cron through
//! saffron, cronie's daylight-saving rules). Its peer is
//! `bench/fire_times_croniter.py` (Python's croniter), which runs the same
//! cases the same way and prints the same checksums; `bench/run_all.sh`
//! compares the two.
//!
//! ```text
//! cargo build --release --example fire_times_bench
//! target/release/examples/fire_times_bench [K] [--min-seconds S] [--dump DIR]
//! ```
//!
//! Each case starts at 2026-01-01T00:00:00Z and asks for the next fire time
//! after the previous one, K times (default 20,000 per case). A fire time at
//! or after 2090-01-01T00:00:00Z wraps the iteration back to the start, so
//! every case stays inside the years where the bundled time-zone tables
//! (chrono-tz's end in 2099) and the system's agree. All cases are
//! repeated until at least `--min-seconds` (default 1) have passed; the
//! figure is the mean cost per fire time. `--dump DIR` writes each case's
//! fire times (Unix seconds, one a line) to `DIR/case-N.txt` for comparison.

use std::fmt::Write as _;
use std::time::Instant;

use adsched::calendar::{parse_timezone, Calendar, CronSpec, Form};
use chrono::{DateTime, SecondsFormat, Utc};

/// (cron expression, time zone, why it is here)
const CASES: [(&str, &str, &str); 7] = [
    (
        "0 9 * * 1",
        "America/Los_Angeles",
        "the product's Monday 09:00 Los Angeles",
    ),
    ("*/15 * * * *", "Europe/London", "every 15 minutes"),
    (
        "30 2 * * *",
        "America/Los_Angeles",
        "02:30 daily: inside the spring-forward gap once a year",
    ),
    (
        "0 1 * * *",
        "America/Los_Angeles",
        "01:00 daily: the repeated fall-back hour once a year",
    ),
    ("0 0 1 * *", "UTC", "monthly, no daylight saving"),
    (
        "0 12 * * 1-5",
        "Asia/Kolkata",
        "weekdays, no daylight saving",
    ),
    (
        "*/30 * * * *",
        "America/Los_Angeles",
        "every 30 minutes through both transitions",
    ),
];

const START: &str = "2026-01-01T00:00:00Z";
const END: &str = "2090-01-01T00:00:00Z";
const FIRST_SHOWN: usize = 5;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a valid RFC 3339 constant")
        .with_timezone(&Utc)
}

/// The next `k` fire times from `start`, wrapping back to `start` at `end`.
fn fire_times(
    cal: &Calendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    k: usize,
    out: &mut Vec<DateTime<Utc>>,
) {
    out.clear();
    let mut prev = start;
    while out.len() < k {
        let t = match cal.next_after(prev) {
            Some(t) if t < end => t,
            _ => cal
                .next_after(start)
                .expect("every benchmark case fires after the start"),
        };
        out.push(t);
        prev = t;
    }
}

/// FNV-1a 64 over the little-endian bytes of each Unix second, in order.
fn fnv(times: &[DateTime<Utc>]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in times {
        for b in t.timestamp().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn usage() -> ! {
    eprintln!("usage: fire_times_bench [K] [--min-seconds S] [--dump DIR]");
    std::process::exit(2);
}

fn main() {
    let mut k: usize = 20_000;
    let mut min_seconds: f64 = 1.0;
    let mut dump: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--min-seconds" => {
                min_seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--dump" => dump = Some(args.next().unwrap_or_else(|| usage()).into()),
            "-h" | "--help" => usage(),
            n => k = n.parse().ok().filter(|&k| k > 0).unwrap_or_else(|| usage()),
        }
    }

    let cals: Vec<Calendar> = CASES
        .iter()
        .map(|(expr, tz, _)| {
            let spec = CronSpec::parse(expr).expect("a valid cron expression");
            let tz = parse_timezone(tz).expect("a valid time zone");
            Calendar::new(Form::Cron(Box::new(spec)), tz)
        })
        .collect();
    let (start, end) = (utc(START), utc(END));

    println!(
        "fire-times bench, adsched calendar (Calendar::next_after): {} cases x K={k} fire times from {START}, wrapping at {END}",
        CASES.len()
    );

    // Round one keeps its results for the checksums; later rounds only time.
    let mut kept: Vec<Vec<DateTime<Utc>>> = vec![Vec::with_capacity(k); CASES.len()];
    let mut scratch: Vec<DateTime<Utc>> = Vec::with_capacity(k);
    let mut rounds = 0u64;
    let t0 = Instant::now();
    loop {
        for (i, cal) in cals.iter().enumerate() {
            let out = if rounds == 0 {
                &mut kept[i]
            } else {
                &mut scratch
            };
            fire_times(cal, start, end, k, out);
        }
        rounds += 1;
        if t0.elapsed().as_secs_f64() >= min_seconds {
            break;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    std::hint::black_box(&scratch);

    let (mut all_count, mut all_sum) = (0usize, 0i128);
    for (i, ((expr, tz, why), times)) in CASES.iter().zip(&kept).enumerate() {
        let sum: i128 = times.iter().map(|t| i128::from(t.timestamp())).sum();
        all_count += times.len();
        all_sum += sum;
        println!(
            "CASE {} `{expr}` {tz}: count={} sum={sum} fnv={:016x}  ({why})",
            i + 1,
            times.len(),
            fnv(times)
        );
        let mut first = String::new();
        for t in times.iter().take(FIRST_SHOWN) {
            let _ = write!(first, " {}", t.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        println!("  first:{first}");
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).expect("create the dump folder");
            let mut text = String::with_capacity(times.len() * 12);
            for t in times {
                let _ = writeln!(text, "{}", t.timestamp());
            }
            std::fs::write(dir.join(format!("case-{}.txt", i + 1)), text)
                .expect("write the dump file");
        }
    }
    let fires = all_count as u64 * rounds;
    let ns = elapsed * 1e9 / fires as f64;
    println!("CHECKSUM count={all_count} sum={all_sum}");
    println!(
        "timed: {fires} fire times ({rounds} round(s) of {all_count}) in {elapsed:.3} s = {ns:.0} ns/fire, {:.0} fire times/s",
        fires as f64 / elapsed
    );
    println!("RESULT ns_per_fire={ns:.1}");
}
