//! Counters for `/metrics` (Prometheus text format). Counters count since
//! the process started, as Prometheus expects; gauges are read from the store
//! when scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the run duration histogram: ad runs take
/// seconds to many minutes.
const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// The daemon's counters.
#[derive(Default)]
pub struct Metrics {
    runs: Mutex<std::collections::BTreeMap<String, u64>>,
    exports: Mutex<std::collections::BTreeMap<(String, String), u64>>,
    /// Generator calls.
    pub generator_calls: AtomicU64,
    /// Generator calls that failed.
    pub generator_failures: AtomicU64,
    duration_buckets: [AtomicU64; DURATION_BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_ms: AtomicU64,
    start_delay_count: AtomicU64,
    start_delay_sum_ms: AtomicU64,
    start_delay_max_ms: AtomicU64,
}

impl Metrics {
    /// A run ended (or was recorded missed) with `status`.
    pub fn run_finished(&self, status: &str, duration: Option<f64>) {
        *self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status.to_string())
            .or_default() += 1;
        if let Some(d) = duration {
            for (i, b) in DURATION_BUCKETS.iter().enumerate() {
                if d <= *b {
                    self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            self.duration_count.fetch_add(1, Ordering::Relaxed);
            self.duration_sum_ms
                .fetch_add((d * 1000.0) as u64, Ordering::Relaxed);
        }
    }

    /// An export ended.
    pub fn export(&self, destination: &str, status: &str) {
        *self
            .exports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((destination.to_string(), status.to_string()))
            .or_default() += 1;
    }

    /// A calendar run started this late after its time.
    pub fn start_delay(&self, seconds: f64) {
        let ms = (seconds.max(0.0) * 1000.0) as u64;
        self.start_delay_count.fetch_add(1, Ordering::Relaxed);
        self.start_delay_sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.start_delay_max_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP adsched_runs_total Runs ended since start, by status.\n# TYPE adsched_runs_total counter");
        for (status, n) in self.runs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "adsched_runs_total{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP adsched_run_duration_seconds Duration of finished runs.\n# TYPE adsched_run_duration_seconds histogram");
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "adsched_run_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.duration_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "adsched_run_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "adsched_run_duration_seconds_sum {}",
            self.duration_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "adsched_run_duration_seconds_count {count}");
        let _ = writeln!(out, "# HELP adsched_generator_calls_total Generator calls (one per template).\n# TYPE adsched_generator_calls_total counter");
        let _ = writeln!(
            out,
            "adsched_generator_calls_total {}",
            self.generator_calls.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP adsched_generator_failures_total Generator calls that failed.\n# TYPE adsched_generator_failures_total counter");
        let _ = writeln!(
            out,
            "adsched_generator_failures_total {}",
            self.generator_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP adsched_exports_total Exports by destination and result.\n# TYPE adsched_exports_total counter");
        for ((d, s), n) in self
            .exports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "adsched_exports_total{{destination=\"{d}\",status=\"{s}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP adsched_run_start_delay_seconds How late calendar runs started after their time.\n# TYPE adsched_run_start_delay_seconds summary");
        let _ = writeln!(
            out,
            "adsched_run_start_delay_seconds_sum {}",
            self.start_delay_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "adsched_run_start_delay_seconds_count {}",
            self.start_delay_count.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP adsched_run_start_delay_max_seconds The latest start seen.\n# TYPE adsched_run_start_delay_max_seconds gauge");
        let _ = writeln!(
            out,
            "adsched_run_start_delay_max_seconds {}",
            self.start_delay_max_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
    }
}

/// Escapes a Prometheus label value.
pub fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
