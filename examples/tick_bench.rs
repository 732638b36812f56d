//! Benchmark: what one scheduler look costs with N stored schedules and one
//! due (issue 19: a tick costs what is due, not what is stored). Reads the
//! due schedules and the next wake time from the store's index, as the
//! daemon's tick does, and, for comparison in the same run, what a tick
//! read before the index: every stored schedule, decoded, and the earliest
//! wake time among them.
//!
//! `cargo run --release --example tick_bench [N] [--store postgres://...]`
//! (default N = 100000; `--store`: an empty PostgreSQL database instead of
//! a fresh sled store).

use std::sync::Arc;
use std::time::Instant;

use adsched::reconcile::DesiredSet;
use adsched::scheduler::wake_at;
use adsched::spec::{self, Options, Pool};
use adsched::store::Store;
use chrono::{DateTime, Duration, Utc};

/// Schedules per generated file (files are limited to 1 MiB).
const PER_FILE: usize = 1000;
/// Looks timed on each side; the median is printed.
const LOOKS: usize = 15;

fn die(msg: &str) -> ! {
    eprintln!("tick_bench: {msg}");
    std::process::exit(1);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// N schedule files' text: every schedule `once` in 2099, except `due-0`,
/// `once` at `due` (UTC).
fn write_tree(dir: &std::path::Path, n: usize, due: DateTime<Utc>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("products.yaml"),
        "apiVersion: adsched/v1\nkind: Product\nid: p\nname: P\nbrand: { id: b, name: B }\n",
    )
    .unwrap();
    let at = due.format("%Y-%m-%dT%H:%M:%S").to_string();
    for f in 0..n.div_ceil(PER_FILE) {
        let mut text = String::new();
        for i in f * PER_FILE..((f + 1) * PER_FILE).min(n) {
            let when = if i == 0 {
                at.as_str()
            } else {
                "2099-01-05T09:00"
            };
            text.push_str(&format!(
                "---\napiVersion: adsched/v1\nkind: Schedule\nid: s-{i}\nname: s-{i}\nproduct: p\n\
                 schedule:\n  once: {{ at: \"{when}\" }}\n  timezone: UTC\n\
                 templates:\n  mode: unused\n  count: 1\n"
            ));
        }
        std::fs::write(dir.join(format!("s{f:04}.yaml")), text).unwrap();
    }
}

fn main() {
    let mut n = 100_000usize;
    let mut store_url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => store_url = args.next().or_else(|| die("--store needs a URL")),
            other => {
                n = other
                    .parse()
                    .unwrap_or_else(|_| die("usage: tick_bench [N] [--store postgres://...]"))
            }
        }
    }
    if n < 2 {
        die("N must be 2 or more");
    }
    let work = std::env::temp_dir().join(format!("adsched-tick-bench-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let now = Utc::now();
    let due = now + Duration::minutes(1);
    let look_at = due + Duration::seconds(1);
    let t = Instant::now();
    write_tree(&work.join("schedules"), n, due);
    let catalog = spec::load(
        &[work.join("schedules")],
        &Options::new(Pool::default(), now),
    )
    .unwrap_or_else(|e| die(&e.to_string()));
    if let Some(f) = catalog
        .findings
        .iter()
        .find(|f| f.severity == spec::Severity::Error)
    {
        die(&format!("generated tree invalid: {}", f.message));
    }
    let desired = Arc::new(DesiredSet::from_catalog(&catalog));
    let kind = if store_url.is_some() {
        "PostgreSQL"
    } else {
        "sled"
    };
    let (indexed, scanned, found) = rt.block_on(async {
        let store = Store::open_any(store_url.as_deref(), &work.join("state"))
            .await
            .unwrap_or_else(|e| die(&e.to_string()));
        let ids: Vec<String> = desired.schedules.keys().cloned().collect();
        for batch in ids.chunks(256) {
            store
                .reconcile(batch.to_vec(), desired.clone(), now)
                .await
                .unwrap_or_else(|e| die(&e.to_string()));
        }
        store.flush().await.unwrap();
        println!(
            "tick bench ({kind}): {n} schedules stored in {:.1} s (not timed), one due",
            t.elapsed().as_secs_f64()
        );
        // The index's looks first, then the scans: a scan of every state
        // fills the page cache with them, which a daemon that no longer
        // scans does not suffer.
        let mut indexed = Vec::new();
        let mut found = (0, None);
        for _ in 0..LOOKS {
            // The tick now: the due schedules and the next wake time.
            let t = Instant::now();
            let due_now = store.due_schedules(look_at).await.unwrap();
            let next = store.next_wake(look_at).await.unwrap();
            indexed.push(t.elapsed().as_secs_f64() * 1000.0);
            found = (due_now.len(), next);
        }
        let mut scanned = Vec::new();
        for _ in 0..LOOKS {
            // The tick before the index: every schedule, decoded.
            let t = Instant::now();
            let all = store.schedules().await.unwrap();
            let due_all = all
                .iter()
                .filter(|s| wake_at(s).is_some_and(|w| w <= look_at))
                .count();
            let next_all = all
                .iter()
                .filter_map(wake_at)
                .filter(|w| *w > look_at)
                .min();
            scanned.push(t.elapsed().as_secs_f64() * 1000.0);
            if (due_all, next_all) != found {
                die(&format!(
                    "the index and the scan disagree: {found:?} vs {:?}",
                    (due_all, next_all)
                ));
            }
        }
        let _ = store.close().await;
        (median(indexed), median(scanned), found)
    });
    let _ = std::fs::remove_dir_all(&work);
    if found.0 != 1 {
        die(&format!("{} schedules due, expected 1", found.0));
    }
    println!(
        "  one look, median of {LOOKS}: {indexed:.3} ms from the index ({} due, next wake {}) vs {scanned:.1} ms reading all {n} schedules",
        found.0,
        found.1.map(|t| t.to_rfc3339()).unwrap_or_default()
    );
    println!("  the index is {:.0}x cheaper", scanned / indexed);
    println!("RESULT tick_ms={indexed:.4} scan_ms={scanned:.3} n={n}");
}
