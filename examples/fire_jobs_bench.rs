//! Benchmark: the real daemon firing N due no-op jobs. Its peer is
//! `bench/fire_jobs_apscheduler.py` (APScheduler 3 with its SQLite job
//! store); `bench/run_all.sh` runs both and prints the ratio.
//!
//! ```text
//! cargo build --release --example fire_jobs_bench
//! target/release/examples/fire_jobs_bench [N] [--lead SECONDS] [--keep] [--store postgres://...]
//! ```
//!
//! `--store` runs the daemon on an (empty) PostgreSQL database instead of
//! a fresh sled store; `bench/stores_bench.sh` runs both and prints the ratio.
//!
//! What it does:
//!
//! - writes N `kind: Schedule` files (default 10,000) and one products file
//!   into a temp folder, each `once` at the same instant T (UTC, a whole
//!   second), template mode `specific` with one pool template,
//!   `num_variations: 1`, `export: none`, `retries: 0`;
//! - serves a no-op generator: a tiny axum server on 127.0.0.1, on its own
//!   thread, answering every POST with one image given as a `url` (nothing
//!   is rendered, downloaded or written);
//! - starts the real daemon in-process (`adsched::daemon::start`, the
//!   system clock, a fresh sled store, the `http://` generator, logs at
//!   `info` to a file as `adsched daemon 2>file` would), waits for T;
//! - from T, polls the daemon's own run counters every 10 ms until N runs
//!   have ended, and reports the time from T and runs/s;
//! - checks in the store: N runs, one per schedule, all completed, each
//!   scheduled for T, and N generator calls.
//!
//! Everything the daemon does per run is in the figure: the run recorded
//! and flushed before any work, the generator call, the ad and usage
//! records, the run's log lines (each flushed), the final record flushed.
//! One run at a time, by design.
//!
//! `--lead` is how long after writing the files T lies (default 5 s + 2 ms
//! per schedule); the daemon must be ready before T or the run is refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adsched::clock::SystemClock;
use adsched::daemon::{self, Config};
use adsched::records::{RunStatus, Trigger};
use chrono::{DateTime, SubsecRound, Utc};

const TEMPLATE: &str = "minimal-01.png";
const PRODUCT: &str = "bench-product";

fn usage() -> ! {
    eprintln!("usage: fire_jobs_bench [N] [--lead SECONDS] [--keep] [--timeout SECONDS] [--store postgres://...]");
    std::process::exit(2);
}

fn die(msg: &str) -> ! {
    eprintln!("fire_jobs_bench: {msg}");
    std::process::exit(1);
}

fn write_schedules(dir: &Path, n: usize, at: DateTime<Utc>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("products.yaml"),
        format!(
            "apiVersion: adsched/v1\nkind: Product\nid: {PRODUCT}\nname: Bench Product\n\
             brand: {{ id: bench, name: Bench Brand }}\nhooks:\n  - \"No-op hook\"\n\
             colors: {{ primary: \"#0F766E\", accent: \"#F59E0B\", text: \"#FFFFFF\" }}\n"
        ),
    )?;
    let when = at.format("%Y-%m-%dT%H:%M:%S");
    for i in 1..=n {
        std::fs::write(
            dir.join(format!("s-{i:05}.yaml")),
            format!(
                "apiVersion: adsched/v1\nkind: Schedule\nid: fire-{i:05}\nname: Fire bench {i}\n\
                 product: {PRODUCT}\nschedule:\n  once: {{ at: \"{when}\" }}\n  timezone: UTC\n  retries: 0\n\
                 templates:\n  mode: specific\n  ids: [{TEMPLATE}]\nparameters:\n  num_variations: 1\n\
                 export:\n  destination: none\n"
            ),
        )?;
    }
    Ok(())
}

/// The no-op generator: every POST gets one image as a URL.
fn spawn_generator(calls: Arc<AtomicU64>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("noop-generator".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the generator");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the generator");
                tx.send(listener.local_addr().expect("its address"))
                    .expect("report the address");
                let app = axum::Router::new().route(
                    "/",
                    axum::routing::post(move |_body: axum::body::Bytes| {
                        let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
                        async move {
                            axum::Json(serde_json::json!({
                                "ad_run_id": format!("noop-{n}"),
                                "images": [{"url": "https://ads.invalid/noop.png"}],
                            }))
                        }
                    }),
                );
                axum::serve(listener, app)
                    .await
                    .expect("serve the generator");
            });
        })
        .expect("spawn the generator thread");
    rx.recv().expect("the generator's address")
}

/// Runs ended so far, by status, from the daemon's `/metrics` counters.
fn ended(metrics: &adsched::metrics::Metrics) -> (u64, u64) {
    let mut text = String::new();
    metrics.render(&mut text);
    let (mut completed, mut other) = (0, 0);
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("adsched_runs_total{status=\"") else {
            continue;
        };
        let Some((status, n)) = rest.split_once("\"} ") else {
            continue;
        };
        let n: u64 = n.trim().parse().unwrap_or(0);
        if status == "completed" {
            completed += n;
        } else {
            other += n;
        }
    }
    (completed, other)
}

fn secs(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

fn main() {
    let mut n: usize = 10_000;
    let mut lead: Option<f64> = None;
    let mut keep = false;
    let mut timeout = 7200.0;
    let mut store: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lead" => lead = args.next().and_then(|s| s.parse().ok()).or_else(|| usage()),
            "--timeout" => {
                timeout = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--keep" => keep = true,
            "--store" => store = Some(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            s => {
                n = s
                    .parse()
                    .ok()
                    .filter(|&n| (1..=99_999).contains(&n))
                    .unwrap_or_else(|| usage())
            }
        }
    }
    let lead = lead.unwrap_or(5.0 + 0.002 * n as f64);

    let work = std::env::temp_dir().join(format!(
        "adsched-fire-jobs.{}.{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    ));
    let schedules = work.join("schedules");
    let state = work.join("state");
    let log_path = work.join("daemon.log");
    let templates: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    if !templates.join(TEMPLATE).is_file() {
        die(&format!(
            "no template {TEMPLATE} in {}",
            templates.display()
        ));
    }

    // The daemon's logging, as `adsched daemon` sets it up, into a file.
    std::fs::create_dir_all(&work).unwrap_or_else(|e| die(&format!("{}: {e}", work.display())));
    let log_file = std::fs::File::create(&log_path)
        .unwrap_or_else(|e| die(&format!("{}: {e}", log_path.display())));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,sled=warn"))
        .with_writer(Mutex::new(log_file))
        .with_ansi(false)
        .try_init();

    let t_written = Instant::now();
    let due = (Utc::now() + chrono::Duration::milliseconds((lead * 1000.0) as i64))
        .trunc_subsecs(0)
        + chrono::Duration::seconds(1);
    write_schedules(&schedules, n, due).unwrap_or_else(|e| die(&format!("writing: {e}")));
    let write_s = t_written.elapsed().as_secs_f64();

    let calls = Arc::new(AtomicU64::new(0));
    let gen_addr = spawn_generator(calls.clone());

    let store_kind = if store.is_some() {
        "an empty PostgreSQL database"
    } else {
        "a fresh sled store"
    };
    println!(
        "fire-jobs bench, adsched daemon in-process (adsched::daemon::start, system clock, {store_kind}): \
         N={n} `once` schedules due at T={}",
        due.to_rfc3339()
    );
    println!(
        "  each run: template `{TEMPLATE}` (specific), num_variations 1, export none, retries 0; \
         generator http://{gen_addr}/ = a no-op axum server on its own thread (one image as a url per POST)"
    );
    println!("  daemon logs at info to {}", log_path.display());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = rt.block_on(async {
        let config = Config {
            schedules: schedules.clone(),
            templates: templates.clone(),
            state: state.clone(),
            store: store.clone(),
            listen: "127.0.0.1:0".into(),
            generator: format!("http://{gen_addr}/"),
            public_url: None,
            grace: daemon::DEFAULT_GRACE,
            retain: None,
            repo: None,
        };
        let t_start = Instant::now();
        let d = daemon::start(config, Arc::new(SystemClock))
            .await
            .unwrap_or_else(|e| die(&format!("daemon start: {e}")));
        let ready_s = t_start.elapsed().as_secs_f64();
        let invalid = d.ctx.invalid_files();
        if let Some(first) = invalid.first() {
            die(&format!(
                "{} invalid files, first: {}:{}: {}",
                invalid.len(),
                first.file,
                first.line,
                first.message
            ));
        }
        let stored = d.ctx.store.schedule_ids().await.map(|v| v.len()).unwrap_or(0);
        if stored != n {
            die(&format!("the daemon stored {stored} schedules, expected {n}"));
        }
        let margin = secs(due - Utc::now());
        println!(
            "  setup (not timed): files written in {write_s:.2} s; daemon ready in {ready_s:.2} s \
             (first reconcile stored {stored} schedules); T is {margin:.2} s away"
        );
        if margin < 0.5 {
            die(&format!(
                "the daemon was ready only {margin:.2} s before T; pass a larger --lead (was {lead} s)"
            ));
        }

        // Wait for T, then watch the run counters.
        tokio::time::sleep((due - Utc::now()).to_std().unwrap_or_default()).await;
        let flushes_before = d.ctx.store.flushes();
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        let (mut completed, mut other);
        loop {
            (completed, other) = ended(&d.ctx.metrics);
            if completed + other >= n as u64 {
                break;
            }
            if Instant::now() > deadline {
                die(&format!(
                    "only {completed} completed and {other} other runs after {timeout} s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let done = Utc::now();
        let total = secs(done - due);
        let flushes = d.ctx.store.flushes() - flushes_before;

        // Verify in the store.
        let runs = d
            .ctx
            .store
            .latest_runs(None, usize::MAX).await
            .unwrap_or_else(|e| die(&format!("reading runs: {e}")));
        let mut problems = Vec::new();
        if runs.len() != n {
            problems.push(format!("{} run records, expected {n}", runs.len()));
        }
        let mut ids: Vec<&str> = runs.iter().map(|r| r.schedule_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != n {
            problems.push(format!("{} distinct schedules ran, expected {n}", ids.len()));
        }
        let not_completed: Vec<_> = runs
            .iter()
            .filter(|r| r.status != RunStatus::Completed)
            .collect();
        if let Some(r) = not_completed.first() {
            problems.push(format!(
                "{} runs not completed, first {} {}: {}",
                not_completed.len(),
                r.id,
                r.status.as_str(),
                r.error_message.as_deref().unwrap_or("")
            ));
        }
        let wrong_time = runs.iter().filter(|r| r.scheduled_for != Some(due)).count();
        if wrong_time > 0 {
            problems.push(format!("{wrong_time} runs not scheduled for T"));
        }
        let on_time = runs.iter().filter(|r| r.trigger == Trigger::Schedule).count();
        let catchup = runs.iter().filter(|r| r.trigger == Trigger::Catchup).count();
        if on_time + catchup != n {
            problems.push(format!(
                "{} runs with another trigger",
                n - on_time - catchup
            ));
        }
        let gen_calls = calls.load(Ordering::Relaxed);
        if gen_calls != n as u64 {
            problems.push(format!("{gen_calls} generator calls, expected {n}"));
        }
        let last = |f: &dyn Fn(&adsched::records::Run) -> Option<DateTime<Utc>>| {
            runs.iter().filter_map(f).max().map(|t| secs(t - due))
        };
        let first = |f: &dyn Fn(&adsched::records::Run) -> Option<DateTime<Utc>>| {
            runs.iter().filter_map(f).min().map(|t| secs(t - due))
        };
        let first_started = first(&|r| r.started_at).unwrap_or(f64::NAN);
        let last_completed = last(&|r| r.completed_at).unwrap_or(f64::NAN);

        let shut = d.shutdown().await;
        (
            ready_s,
            total,
            completed,
            other,
            problems,
            (first_started, last_completed),
            (on_time, catchup, flushes),
            shut,
        )
    });
    let (
        ready_s,
        total,
        completed,
        other,
        problems,
        (started, last_done),
        (on_time, catchup, flushes),
        shut,
    ) = outcome;
    // The daemon's blocking tasks (watcher, sleeps) need not be waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Err(e) = shut {
        eprintln!("fire_jobs_bench: shutdown: {e}");
    }
    let log_bytes = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "  from T: first run started at {started:.2} s (the scheduler records and flushes every due run, then wakes \
         the worker), last run recorded completed at {last_done:.2} s"
    );
    println!(
        "  runs ended: {completed} completed, {other} other; triggers: {on_time} schedule, {catchup} catchup; \
         daemon log {:.1} MiB",
        log_bytes as f64 / 1048576.0
    );
    let rate = n as f64 / total;
    if problems.is_empty() {
        println!(
            "  verified: {n} run records, {n} distinct schedules each run once, all completed, all scheduled for T, {n} generator calls"
        );
    } else {
        for p in &problems {
            println!("  PROBLEM: {p}");
        }
    }
    let per_run = flushes as f64 / n as f64;
    println!(
        "  store flushes from T to the last run: {flushes} = {per_run:.3} per run (goal: at most 2; the floor is 1)"
    );
    println!("fired {n} due no-op jobs in {total:.2} s from T = {rate:.1} runs/s");
    println!(
        "RESULT seconds={total:.3} runs_per_s={rate:.2} ready_s={ready_s:.3} flushes_per_run={per_run:.3}"
    );
    if keep {
        println!("kept {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    if !problems.is_empty() {
        std::process::exit(1);
    }
}
