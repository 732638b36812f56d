//! Counters for `/metrics`, encoded by `prometheus-client` in the Prometheus
//! text format 0.0.4 (SPEC 6 promises that format; OpenMetrics would rename
//! the counter families and end with `# EOF`). Counters count since the
//! process started, as Prometheus expects; gauges are read from the store
//! when scraped (see `dashboard::metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the run duration histogram: ad runs take
/// seconds to many minutes.
const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExportLabels {
    destination: String,
    status: String,
}

/// The daemon's counters.
pub struct Metrics {
    runs: Family<RunLabels, Counter>,
    exports: Family<ExportLabels, Counter>,
    durations: Histogram,
    /// Generator calls. A plain atomic, not a `Counter`, because the runner
    /// counts with `fetch_add`; exported as a counter at scrape time.
    pub generator_calls: AtomicU64,
    /// Generator calls that failed (a plain atomic, like `generator_calls`).
    pub generator_failures: AtomicU64,
    // prometheus-client has no summary type: the start delay keeps its own
    // atomics and `render` writes its two samples.
    start_delay_count: AtomicU64,
    start_delay_sum_ms: AtomicU64,
    start_delay_max_ms: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            runs: Family::default(),
            exports: Family::default(),
            durations: Histogram::new(DURATION_BUCKETS),
            generator_calls: AtomicU64::new(0),
            generator_failures: AtomicU64::new(0),
            start_delay_count: AtomicU64::new(0),
            start_delay_sum_ms: AtomicU64::new(0),
            start_delay_max_ms: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// A run ended (or was recorded missed) with `status`.
    pub fn run_finished(&self, status: &str, duration: Option<f64>) {
        self.runs
            .get_or_create(&RunLabels {
                status: status.to_string(),
            })
            .inc();
        if let Some(d) = duration {
            // A clock step can make a run look negative; count it as instant.
            self.durations.observe(d.max(0.0));
        }
    }

    /// An export ended.
    pub fn export(&self, destination: &str, status: &str) {
        self.exports
            .get_or_create(&ExportLabels {
                destination: destination.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// A calendar run started this late after its time.
    pub fn start_delay(&self, seconds: f64) {
        let ms = (seconds.max(0.0) * 1000.0) as u64;
        self.start_delay_count.fetch_add(1, Ordering::Relaxed);
        self.start_delay_sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.start_delay_max_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Appends the counters in Prometheus text format 0.0.4. The format has
    /// no end marker, so a caller may append more families after them.
    pub fn render(&self, out: &mut String) {
        // A registry per scrape: the families are shared handles (cheap
        // clones) and the plain atomics become constant samples.
        let mut r = Registry::default();
        // prometheus-client adds the `_total` suffix to counters and a full
        // stop to help texts.
        r.register(
            "adsched_runs",
            "Runs ended since start, by status",
            self.runs.clone(),
        );
        r.register(
            "adsched_run_duration_seconds",
            "Duration of finished runs",
            self.durations.clone(),
        );
        r.register(
            "adsched_generator_calls",
            "Generator calls (one per template)",
            ConstCounter::new(self.generator_calls.load(Ordering::Relaxed)),
        );
        r.register(
            "adsched_generator_failures",
            "Generator calls that failed",
            ConstCounter::new(self.generator_failures.load(Ordering::Relaxed)),
        );
        r.register(
            "adsched_exports",
            "Exports by destination and result",
            self.exports.clone(),
        );
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(out, &r);
        let seconds = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(
            out,
            "# HELP adsched_run_start_delay_seconds How late calendar runs started after their time.\n\
             # TYPE adsched_run_start_delay_seconds summary\n\
             adsched_run_start_delay_seconds_sum {}\n\
             adsched_run_start_delay_seconds_count {}",
            seconds(&self.start_delay_sum_ms),
            self.start_delay_count.load(Ordering::Relaxed)
        );
        let mut r = Registry::default();
        r.register(
            "adsched_run_start_delay_max_seconds",
            "The latest start seen",
            ConstGauge::new(seconds(&self.start_delay_max_ms)),
        );
        let _ = prometheus_text::encode(out, &r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_same_families() {
        let m = Metrics::default();
        m.run_finished("completed", Some(12.5));
        m.run_finished("completed", Some(0.5));
        m.run_finished("missed", None);
        m.export("email", "sent");
        m.generator_calls.fetch_add(3, Ordering::Relaxed);
        m.start_delay(2.0);
        m.start_delay(0.5);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "# HELP adsched_runs_total Runs ended since start, by status.",
            "# TYPE adsched_runs_total counter",
            "adsched_runs_total{status=\"completed\"} 2",
            "adsched_runs_total{status=\"missed\"} 1",
            "# TYPE adsched_run_duration_seconds histogram",
            "adsched_run_duration_seconds_bucket{le=\"1\"} 1",
            "adsched_run_duration_seconds_bucket{le=\"15\"} 2",
            "adsched_run_duration_seconds_bucket{le=\"3600\"} 2",
            "adsched_run_duration_seconds_bucket{le=\"+Inf\"} 2",
            "adsched_run_duration_seconds_sum 13.0",
            "adsched_run_duration_seconds_count 2",
            "# TYPE adsched_generator_calls_total counter",
            "adsched_generator_calls_total 3",
            "adsched_generator_failures_total 0",
            "adsched_exports_total{destination=\"email\",status=\"sent\"} 1",
            "# TYPE adsched_run_start_delay_seconds summary",
            "adsched_run_start_delay_seconds_sum 2.5",
            "adsched_run_start_delay_seconds_count 2",
            "# TYPE adsched_run_start_delay_max_seconds gauge",
            "adsched_run_start_delay_max_seconds 2.0",
        ] {
            assert!(out.lines().any(|l| l == line), "no `{line}` in:\n{out}");
        }
        assert!(!out.contains("# EOF"), "{out}");
        assert!(!out.contains("_total_total"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.export("a\"b\\c\nd", "sent");
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains(r#"adsched_exports_total{destination="a\"b\\c\nd",status="sent"} 1"#),
            "{out}"
        );
    }
}
