//! Benchmark: the API and the dashboard of a daemon holding 10,000
//! schedules and 1,000,000 runs (issue 19). Prints the p50 and p99 of
//! `GET /api/v1/schedules/{id}/runs?limit=50` and of the dashboard's
//! schedule page `/schedules/{id}` over random schedules, each against the
//! floor measured in the same run: `GET /healthz`, an answer that reads
//! nothing, over the same connection.
//!
//! `cargo run --release --example api_latency_bench [SCHEDULES] [RUNS] [--store postgres://...]`
//! (defaults 10000 and 1000000; the runs are spread evenly over the
//! schedules and seeded straight into the store, not timed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use adsched::clock::SystemClock;
use adsched::daemon::{self, Config};
use adsched::records::{Run, RunStatus, Trigger};
use chrono::Utc;

const PER_FILE: usize = 1000;
const REQUESTS: usize = 400;

fn die(msg: &str) -> ! {
    eprintln!("api_latency_bench: {msg}");
    std::process::exit(1);
}

fn write_tree(dir: &std::path::Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("products.yaml"),
        "apiVersion: adsched/v1\nkind: Product\nid: p\nname: P\nbrand: { id: b, name: B }\n",
    )
    .unwrap();
    for f in 0..n.div_ceil(PER_FILE) {
        let mut text = String::new();
        for i in f * PER_FILE..((f + 1) * PER_FILE).min(n) {
            // Paused: loaded, stored and shown, never fired during the run.
            text.push_str(&format!(
                "---\napiVersion: adsched/v1\nkind: Schedule\nid: s-{i}\nname: Schedule {i}\nproduct: p\npaused: true\n\
                 schedule:\n  weekly: {{ day: monday, at: \"09:00\" }}\n\
                 templates:\n  mode: unused\n  count: 1\n"
            ));
        }
        std::fs::write(dir.join(format!("s{f:04}.yaml")), text).unwrap();
    }
}

/// (p50, p99) in ms.
fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.50), at(0.99))
}

fn main() {
    let mut nums = Vec::new();
    let mut store: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => store = args.next().or_else(|| die("--store needs a URL")),
            n => nums.push(n.parse::<usize>().unwrap_or_else(|_| {
                die("usage: api_latency_bench [SCHEDULES] [RUNS] [--store postgres://...]")
            })),
        }
    }
    let schedules = nums.first().copied().unwrap_or(10_000).max(1);
    let runs = nums.get(1).copied().unwrap_or(1_000_000);
    let work = std::env::temp_dir().join(format!("adsched-api-bench-{}", std::process::id()));
    write_tree(&work.join("schedules"), schedules);
    std::fs::create_dir_all(work.join("templates")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kind = if store.is_some() {
        "PostgreSQL"
    } else {
        "sled"
    };
    rt.block_on(async {
        let config = Config {
            schedules: work.join("schedules"),
            templates: work.join("templates"),
            state: work.join("state"),
            store: store.clone(),
            listen: "127.0.0.1:0".into(),
            generator: "local".into(),
            public_url: None,
            grace: daemon::DEFAULT_GRACE,
            retain: None,
            repo: None,
        };
        let t = Instant::now();
        let d = daemon::start(config, Arc::new(SystemClock))
            .await
            .unwrap_or_else(|e| die(&e));
        for _ in 0..6000 {
            if d.ctx.ready.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stored = d.ctx.store.schedule_ids().await.unwrap().len();
        if stored != schedules {
            die(&format!("{stored} schedules stored, expected {schedules}"));
        }
        // Seed the runs, spread over the schedules, oldest first.
        let per = runs / schedules;
        let t0 = Utc::now() - chrono::Duration::days(3650);
        let mut batch = Vec::new();
        let mut made = 0usize;
        for i in 0..schedules {
            let s = d
                .ctx
                .store
                .schedule(&format!("s-{i}"))
                .await
                .unwrap()
                .unwrap_or_else(|| die("a schedule is missing"));
            let extra = usize::from(i < runs % schedules);
            for k in 0..per + extra {
                let at = t0 + chrono::Duration::minutes((k * schedules + i) as i64);
                let mut r = Run::new(d.ctx.store.new_run_id(at), &s, Trigger::Schedule, 1, Some(at), at);
                r.status = RunStatus::Completed;
                r.started_at = Some(at);
                r.completed_at = Some(at + chrono::Duration::seconds(30));
                r.templates_used = vec!["t.png".into()];
                batch.push(r);
                made += 1;
                if batch.len() == 1000 {
                    d.ctx.store.import_runs(std::mem::take(&mut batch)).await.unwrap();
                }
            }
        }
        if !batch.is_empty() {
            d.ctx.store.import_runs(batch).await.unwrap();
        }
        d.ctx.store.flush().await.unwrap();
        println!(
            "api latency bench ({kind}): {schedules} schedules, {made} runs ({per} or so each), seeded in {:.1} s (not timed)",
            t.elapsed().as_secs_f64()
        );

        let http = reqwest::Client::new();
        let base = format!("http://{}", d.addr);
        let get = |path: String| {
            let http = http.clone();
            let url = format!("{base}{path}");
            async move {
                let t = Instant::now();
                let r = http.get(&url).send().await.unwrap_or_else(|e| die(&e.to_string()));
                let status = r.status();
                let body = r.bytes().await.unwrap_or_default();
                if !status.is_success() {
                    die(&format!("{url}: {status}"));
                }
                (t.elapsed().as_secs_f64() * 1000.0, body.len())
            }
        };
        // Warm the connection and the caches a little, as a live daemon is.
        for i in 0..20 {
            get(format!("/api/v1/schedules/s-{i}/runs?limit=50")).await;
        }
        let mut seed = 12345u64;
        let mut pick = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % schedules
        };
        let (mut floor, mut api, mut page) = (Vec::new(), Vec::new(), Vec::new());
        let mut sizes = (0, 0);
        for _ in 0..REQUESTS {
            let id = pick();
            floor.push(get("/healthz".into()).await.0);
            let (ms, n) = get(format!("/api/v1/schedules/s-{id}/runs?limit=50")).await;
            api.push(ms);
            sizes.0 = n;
            let (ms, n) = get(format!("/schedules/s-{id}")).await;
            page.push(ms);
            sizes.1 = n;
        }
        let (f50, f99) = percentiles(floor);
        let (a50, a99) = percentiles(api);
        let (p50, p99) = percentiles(page);
        println!("  {REQUESTS} requests each, random schedules, one keep-alive connection:");
        println!("  GET /healthz (the floor)                       p50 {f50:.2} ms, p99 {f99:.2} ms");
        println!(
            "  GET /api/v1/schedules/{{id}}/runs?limit=50      p50 {a50:.2} ms, p99 {a99:.2} ms = {:.1}x the floor's p99 ({} bytes)",
            a99 / f99,
            sizes.0
        );
        println!(
            "  GET /schedules/{{id}} (dashboard)               p50 {p50:.2} ms, p99 {p99:.2} ms = {:.1}x the floor's p99 ({} bytes)",
            p99 / f99,
            sizes.1
        );
        println!("RESULT api_p99_ms={a99:.3} page_p99_ms={p99:.3} floor_p99_ms={f99:.3}");
        let _ = d.shutdown().await;
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&work);
}
