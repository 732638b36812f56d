//! Benchmark: listing the latest 50 runs of a schedule must not depend on
//! how long its history is (the per-schedule index is read newest first).
//! Compares a schedule with 100,000 runs against one with 50 in the same
//! store, in the same run, and prints the ratio (goal: about 1).
//!
//! It also times what every start asks, the runs a crash left `running`,
//! against reading every run (what that cost before the index).
//!
//! `cargo run --release --example runs_query_bench [RUNS] [--store postgres://...]`
//! (`--store`: an empty PostgreSQL database instead of a fresh sled store;
//! `bench/stores_bench.sh` runs both and prints the ratio).

use std::time::Instant;

use adsched::records::{Run, RunStatus, ScheduleState, Trigger};
use adsched::store::{RunSelect, Store};
use chrono::{Duration, Utc};

fn state(id: &str) -> ScheduleState {
    let mut s = ScheduleState::empty(id);
    s.name = id.into();
    s.timezone = "UTC".into();
    s
}

async fn seed(store: &Store, s: &ScheduleState, n: usize, start: chrono::DateTime<Utc>) {
    const BATCH: usize = 1000;
    let mut made = 0;
    while made < n {
        let runs: Vec<Run> = (made..(made + BATCH).min(n))
            .map(|i| {
                let t = start + Duration::minutes(i as i64);
                let mut r = Run::new(store.new_run_id(t), s, Trigger::Schedule, 1, Some(t), t);
                r.status = RunStatus::Completed;
                r.templates_used = vec!["t.png".into()];
                r
            })
            .collect();
        made += runs.len();
        store.import_runs(runs).await.unwrap();
    }
}

async fn time_query(store: &Store, id: &str) -> f64 {
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        let runs = store
            .runs(RunSelect {
                schedule: Some(id.into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(runs.len(), 50);
    }
    start.elapsed().as_secs_f64() / rounds as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut n: usize = 100_000;
    let mut url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => url = args.next(),
            s => {
                n = s
                    .parse()
                    .expect("usage: runs_query_bench [RUNS] [--store URL]")
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_any(url.as_deref(), dir.path()).await.unwrap();
    let seeding = Instant::now();
    let big = state("big-history");
    let small = state("small-history");
    let t0 = Utc::now() - Duration::days(400);
    // Interleave in time: the big schedule's runs surround the small one's.
    seed(&store, &big, n / 2, t0).await;
    seed(&store, &small, 50, t0 + Duration::minutes(n as i64 / 2)).await;
    seed(&store, &big, n - n / 2, t0 + Duration::minutes(n as i64)).await;
    let seed_s = seeding.elapsed().as_secs_f64();
    let big_t = time_query(&store, "big-history").await;
    let small_t = time_query(&store, "small-history").await;
    println!("store: {} runs", store.run_count().await.unwrap());
    println!(
        "latest 50 of a schedule with {n} runs: {:.3} ms",
        big_t * 1000.0
    );
    println!(
        "latest 50 of a schedule with 50 runs:  {:.3} ms",
        small_t * 1000.0
    );
    println!("ratio (big / small): {:.2}x", big_t / small_t);
    // What every start asks (runs a crash left running), against reading
    // every run, which is what it cost before the store kept them apart.
    let t = Instant::now();
    let running = store.runs_with_status(RunStatus::Running).await.unwrap();
    let running_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(running.is_empty());
    let t = Instant::now();
    let every = store
        .runs(RunSelect {
            limit: usize::MAX,
            ..Default::default()
        })
        .await
        .unwrap();
    let every_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(every.len(), n + 50);
    println!(
        "a start's look for runs left running, {} runs stored: {running_ms:.3} ms (reading every run: {every_ms:.1} ms, {:.0}x more)",
        n + 50,
        every_ms / running_ms
    );
    println!(
        "RESULT store={} big_ms={:.3} small_ms={:.3} seed_s={seed_s:.1} running_ms={running_ms:.3} every_ms={every_ms:.1}",
        store.kind(),
        big_t * 1000.0,
        small_t * 1000.0
    );
}
