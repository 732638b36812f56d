//! Sending a run's ads where its schedule says (SPEC 5, Exports): email
//! through SMTP, Slack through the Web API or an incoming webhook. The
//! services stand alone (`adsched send ...` uses them too); secrets come
//! only from the environment and never appear in results.

pub mod again;
pub mod alert;
pub mod email;
pub mod review;
pub mod slack;

use std::path::PathBuf;
use std::time::Duration;

use crate::records::{Ad, ExportResult, Run, ScheduleState};
use crate::spec::model::Export;

/// Transient export failures are tried this many times in all.
pub const EXPORT_ATTEMPTS: u32 = 3;

/// The first retry waits this long, doubling.
pub const EXPORT_BACKOFF: Duration = Duration::from_secs(2);

/// What an export says about a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Schedule id and name.
    pub schedule_id: String,
    /// Schedule name.
    pub schedule_name: String,
    /// Product name.
    pub product: String,
    /// Brand name.
    pub brand: String,
    /// Run id.
    pub run_id: String,
    /// When it ran, in the schedule's zone.
    pub when: String,
    /// Templates used.
    pub templates: Vec<String>,
    /// Images to send (rejected ones left out).
    pub images: Vec<Image>,
    /// Link to the run on the dashboard, when `--public-url` is set.
    pub run_url: Option<String>,
}

/// One image to send.
#[derive(Debug, Clone)]
pub struct Image {
    /// The template it came from.
    pub template: String,
    /// The file, when adsched holds it.
    pub path: Option<PathBuf>,
    /// A URL for it (the generator's, or the dashboard's when public).
    pub url: Option<String>,
    /// approved or flagged.
    pub status: String,
}

impl Summary {
    /// Builds the summary of a finished run.
    pub fn of(run: &Run, state: &ScheduleState, public_url: Option<&str>) -> Summary {
        let base = public_url.map(|u| u.trim_end_matches('/').to_string());
        let images = run
            .ads
            .iter()
            .filter(|a| a.status != "rejected")
            .map(|a: &Ad| Image {
                template: a.template.clone(),
                path: a.path.as_ref().map(PathBuf::from),
                url: if a.image.starts_with("http://") || a.image.starts_with("https://") {
                    Some(a.image.clone())
                } else {
                    base.as_ref().map(|b| format!("{b}{}", a.image))
                },
                status: a.status.clone(),
            })
            .collect();
        Summary {
            schedule_id: state.id.clone(),
            schedule_name: state.name.clone(),
            product: state.product.name.clone(),
            brand: state.brand.name.clone(),
            run_id: run.id.clone(),
            when: run
                .started_at
                .map(|t| crate::records::fmt_time(t, state.tz()))
                .unwrap_or_default(),
            templates: run.templates_used.clone(),
            images,
            run_url: base.map(|b| format!("{b}/runs/{}", run.id)),
        }
    }

    /// A one-line subject.
    pub fn subject(&self) -> String {
        format!(
            "{} ads for {} ({}) — {}",
            self.images.len(),
            self.product,
            self.brand,
            self.schedule_name
        )
    }
}

/// Exports a finished run to every destination of its schedule.
pub async fn export_run(
    settings: &crate::settings::Settings,
    export: &Export,
    summary: &Summary,
) -> Vec<ExportResult> {
    let mut out = Vec::new();
    if export.destination.has_email() {
        out.push(match &export.email {
            Some(e) => email::send_run(settings, &e.to, summary).await,
            None => refused("email", "the schedule has no `export.email` settings"),
        });
    }
    if export.destination.has_slack() {
        out.push(match &export.slack {
            Some(s) => slack::send_run(settings, s, summary).await,
            None => refused("slack", "the schedule has no `export.slack` settings"),
        });
    }
    out
}

/// Writes one log line per export result on the run, each after `prefix`.
pub async fn log_results(
    store: &crate::store::Store,
    run_id: &str,
    results: &[ExportResult],
    now: chrono::DateTime<chrono::Utc>,
    prefix: &str,
) -> Result<(), crate::store::StoreError> {
    let lines = results
        .iter()
        .map(|r| {
            let line = crate::records::LogLine {
                time: now,
                level: if r.status == "sent" { "info" } else { "error" }.into(),
                message: format!("{prefix}{}", r.log_line()),
            };
            (run_id.to_string(), line)
        })
        .collect();
    store.append_logs(lines).await
}

/// A refused export (allow-list, missing settings).
pub fn refused(destination: &str, detail: impl Into<String>) -> ExportResult {
    ExportResult {
        destination: destination.into(),
        status: "refused".into(),
        attempts: 0,
        detail: detail.into(),
    }
}

/// An attempt's error `E`, with whether another attempt is worth making.
#[derive(Debug)]
pub enum Failure<E> {
    /// Try again (after this long, if the server said).
    Transient(E, Option<Duration>),
    /// Do not.
    Permanent(E),
}

impl<E> Failure<E> {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient(..))
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Transient(_, wait) => *wait,
            Failure::Permanent(_) => None,
        }
    }

    /// What went wrong.
    pub fn error(&self) -> &E {
        match self {
            Failure::Transient(e, _) | Failure::Permanent(e) => e,
        }
    }

    /// What went wrong, the classification dropped.
    pub fn into_error(self) -> E {
        match self {
            Failure::Transient(e, _) | Failure::Permanent(e) => e,
        }
    }
}

/// No export waits longer than this between attempts, `Retry-After` included.
const EXPORT_MAX_WAIT: Duration = Duration::from_secs(60);

/// The export backoff: [`EXPORT_BACKOFF`], doubling, for
/// [`EXPORT_ATTEMPTS`] in all; no jitter (one export per run, nothing to
/// spread).
fn export_backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::new()
        .with_min_delay(EXPORT_BACKOFF)
        .with_factor(2.0)
        .with_max_delay(EXPORT_MAX_WAIT)
        .with_max_times(EXPORT_ATTEMPTS as usize - 1)
}

/// The wait before the next attempt: the server's `Retry-After` in place of
/// the backoff's `next`, capped; `None` (no attempts left) stays `None`.
fn export_wait<E>(f: &Failure<E>, next: Option<Duration>) -> Option<Duration> {
    next.map(|d| f.retry_after().unwrap_or(d).min(EXPORT_MAX_WAIT))
}

/// Runs `f` up to [`EXPORT_ATTEMPTS`] times while it fails transiently.
/// Returns the result (the last error when every attempt failed) and the
/// attempts made.
pub async fn with_retries<T, E, F, Fut>(mut f: F) -> (Result<T, E>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure<E>>>,
{
    use backon::Retryable;
    let mut attempts = 0;
    let result = (|| {
        attempts += 1;
        f()
    })
    .retry(export_backoff())
    .when(Failure::is_transient)
    .adjust(export_wait)
    .await;
    (result.map_err(Failure::into_error), attempts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn exports_wait_2_then_4_seconds_or_retry_after_capped() {
        let mut b = export_backoff().build();
        let t = Failure::Transient("x", None);
        assert_eq!(export_wait(&t, b.next()), Some(Duration::from_secs(2)));
        assert_eq!(export_wait(&t, b.next()), Some(Duration::from_secs(4)));
        assert_eq!(export_wait(&t, b.next()), None, "three attempts in all");
        let slow = Failure::Transient("429", Some(Duration::from_secs(1)));
        assert_eq!(
            export_wait(&slow, Some(Duration::from_secs(4))),
            Some(Duration::from_secs(1))
        );
        let slower = Failure::Transient("429", Some(Duration::from_secs(900)));
        assert_eq!(
            export_wait(&slower, Some(Duration::from_secs(2))),
            Some(EXPORT_MAX_WAIT)
        );
    }

    #[tokio::test]
    async fn with_retries_counts_attempts_and_stops_on_permanent() {
        let mut calls = 0;
        let (r, n) = with_retries(|| {
            calls += 1;
            let c = calls;
            async move {
                if c == 1 {
                    Err(Failure::Transient("busy", Some(Duration::ZERO)))
                } else {
                    Err::<(), _>(Failure::Permanent("no"))
                }
            }
        })
        .await;
        assert_eq!((r.unwrap_err(), n), ("no", 2));
        let (r, n) = with_retries(|| async {
            Err::<(), _>(Failure::Transient("down", Some(Duration::ZERO)))
        })
        .await;
        assert_eq!((r.unwrap_err(), n), ("down", EXPORT_ATTEMPTS));
    }
}
