//! The queries (SPEC 6) and the operators' actions (SPEC 8), once: list,
//! get, runs, logs, audit; trigger, pause, resume, cancel, export again.
//! The API's handlers and the CLI's store mode call these same functions,
//! so a filter or an error message cannot differ between them. Each answers
//! views or a [`QueryError`], which the API maps to a status and the CLI to
//! an exit code.

use chrono::{DateTime, Utc};

use crate::records::{ActorNote, NamedRef, RunStatus, ScheduleState, ScheduleStatus, Trigger};
use crate::store::{Cancelled, RunSelect, Store, StoreError};
use crate::views::{AuditView, LogLineView, RunView, ScheduleView, TriggerView};

/// Runs listed when no limit is given.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page of runs, in the API, the CLI and the MCP tools alike.
pub const MAX_LIMIT: usize = 1000;

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No schedule has this id.
    #[error("no schedule with id `{0}`")]
    NoSchedule(String),
    /// No run has this id.
    #[error("no run with id `{0}`")]
    NoRun(String),
    /// A filter or argument is not allowed; the message says what is.
    #[error("{0}")]
    Invalid(String),
    /// The schedule's document is gone: it cannot run.
    #[error("schedule `{0}` is removed (its document is gone); restore the file to run it")]
    Removed(String),
    /// The daemon is shutting down and takes no new work.
    #[error("the daemon is shutting down")]
    Stopping,
    /// The daemon has not applied the schedules folder yet (`/readyz`
    /// says when it has); it takes actions from then on.
    #[error("the daemon is starting: it takes actions once it has applied the schedules folder (see /readyz); try again")]
    Starting,
    /// The action does not fit the record's state (a run that has ended
    /// cannot be cancelled); the message says why.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// The CLI's exit code: 1 for an answer that is "no", 2 for bad usage or
    /// a store that cannot answer.
    pub fn exit_code(&self) -> u8 {
        match self {
            QueryError::NoSchedule(_)
            | QueryError::NoRun(_)
            | QueryError::Removed(_)
            | QueryError::Conflict(_) => crate::commands::EXIT_INVALID,
            QueryError::Invalid(_)
            | QueryError::Stopping
            | QueryError::Starting
            | QueryError::Store(_) => crate::commands::EXIT_USAGE,
        }
    }
}

impl From<crate::daemon::TriggerError> for QueryError {
    fn from(e: crate::daemon::TriggerError) -> QueryError {
        use crate::daemon::TriggerError as T;
        match e {
            T::NotFound(id) => QueryError::NoSchedule(id),
            T::Removed(id) => QueryError::Removed(id),
            T::Stopping => QueryError::Stopping,
            T::Store(e) => QueryError::Store(e),
        }
    }
}

/// Filters of the schedule list; brand and product match an id or a name.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    /// Brand id or name (any case).
    pub brand: Option<String>,
    /// Product id or name (any case).
    pub product: Option<String>,
    /// Status.
    pub status: Option<ScheduleStatus>,
}

impl ScheduleFilter {
    /// The filter from its text form; empty values filter nothing.
    pub fn parse(
        brand: Option<&str>,
        product: Option<&str>,
        status: Option<&str>,
    ) -> Result<ScheduleFilter, QueryError> {
        Ok(ScheduleFilter {
            brand: non_empty(brand),
            product: non_empty(product),
            status: match non_empty(status) {
                None => None,
                Some(s) => Some(ScheduleStatus::parse(&s).ok_or_else(|| {
                    QueryError::Invalid(format!(
                        "status `{s}` is not one of {}",
                        ScheduleStatus::NAMES.join(", ")
                    ))
                })?),
            },
        })
    }

    /// Whether a schedule passes.
    pub fn matches(&self, s: &ScheduleState) -> bool {
        names(self.brand.as_deref(), &s.brand)
            && names(self.product.as_deref(), &s.product)
            && self.status.is_none_or(|w| w == s.status)
    }
}

fn names(want: Option<&str>, r: &NamedRef) -> bool {
    want.is_none_or(|w| w.eq_ignore_ascii_case(&r.id) || w.eq_ignore_ascii_case(&r.name))
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Filters and page of a run list.
#[derive(Debug, Clone)]
pub struct RunFilter {
    /// Status.
    pub status: Option<RunStatus>,
    /// Why the runs exist.
    pub trigger: Option<Trigger>,
    /// The schedule's brand, id or name.
    pub brand: Option<String>,
    /// The schedule's product, id or name.
    pub product: Option<String>,
    /// Only runs queued at or after this.
    pub since: Option<DateTime<Utc>>,
    /// The page starts after this run (the last `id` of the previous page).
    pub before: Option<String>,
    /// At most this many runs.
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> RunFilter {
        RunFilter {
            status: None,
            trigger: None,
            brand: None,
            product: None,
            since: None,
            before: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// The text form of a run list's filters, as query parameters carry it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RunParams {
    /// `status=`
    pub status: Option<String>,
    /// `trigger=`
    pub trigger: Option<String>,
    /// `brand=`
    pub brand: Option<String>,
    /// `product=`
    pub product: Option<String>,
    /// `since=` a date or an RFC 3339 time
    pub since: Option<String>,
    /// `before=` a run id
    pub before: Option<String>,
    /// `limit=` 1 to [`MAX_LIMIT`]
    pub limit: Option<String>,
}

impl RunParams {
    /// Checks every value, naming what is allowed.
    pub fn parse(&self) -> Result<RunFilter, QueryError> {
        let p = |s: &Option<String>| non_empty(s.as_deref());
        let status = match p(&self.status) {
            None => None,
            Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
                QueryError::Invalid(format!(
                    "status `{s}` is not one of {}",
                    RunStatus::NAMES.join(", ")
                ))
            })?),
        };
        let trigger = match p(&self.trigger) {
            None => None,
            Some(s) => Some(Trigger::parse(&s).ok_or_else(|| {
                QueryError::Invalid(format!(
                    "trigger `{s}` is not one of {}",
                    Trigger::NAMES.join(", ")
                ))
            })?),
        };
        let limit = match p(&self.limit) {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(QueryError::Invalid(format!(
                        "limit `{l}` is not a number from 1 to {MAX_LIMIT}"
                    )))
                }
            },
        };
        let since = match p(&self.since) {
            None => None,
            Some(s) => Some(parse_since(&s).ok_or_else(|| {
                QueryError::Invalid(format!(
                    "since `{s}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
                ))
            })?),
        };
        Ok(RunFilter {
            status,
            trigger,
            brand: p(&self.brand),
            product: p(&self.product),
            since,
            before: p(&self.before),
            limit,
        })
    }
}

/// A date (midnight UTC) or an RFC 3339 instant.
pub fn parse_since(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

async fn view(store: &Store, s: &ScheduleState) -> Result<ScheduleView, QueryError> {
    let last = match s.last_run_id.as_deref() {
        Some(id) => store.run(id).await?,
        None => None,
    };
    Ok(ScheduleView::new(s, last.as_ref()))
}

/// Schedules passing the filter, by id.
pub async fn schedules(store: &Store, f: &ScheduleFilter) -> Result<Vec<ScheduleView>, QueryError> {
    schedules_page(store, f, 0, None).await
}

/// A page of the schedules passing the filter, by id: `offset` skipped,
/// then at most `limit`. Only the page's last runs are read.
pub async fn schedules_page(
    store: &Store,
    f: &ScheduleFilter,
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<ScheduleView>, QueryError> {
    let mut out = Vec::new();
    let all = store.schedules().await?;
    let page = all
        .iter()
        .filter(|s| f.matches(s))
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX));
    for s in page {
        out.push(view(store, s).await?);
    }
    Ok(out)
}

/// `limit` and `offset` of the schedule list, checked: no limit lists all.
pub fn page_params(
    limit: Option<&str>,
    offset: Option<&str>,
) -> Result<(usize, Option<usize>), QueryError> {
    let limit = match non_empty(limit) {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                return Err(QueryError::Invalid(format!(
                    "limit `{l}` is not a number from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let offset = match non_empty(offset) {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            QueryError::Invalid(format!(
                "offset `{o}` is not a number of schedules to skip (0 or more)"
            ))
        })?,
    };
    Ok((offset, limit))
}

/// One schedule.
pub async fn schedule(store: &Store, id: &str) -> Result<ScheduleView, QueryError> {
    let s = store
        .schedule(id)
        .await?
        .ok_or_else(|| QueryError::NoSchedule(id.to_string()))?;
    view(store, &s).await
}

/// Runs newest first: of one schedule, or of all.
pub async fn runs(
    store: &Store,
    schedule: Option<&str>,
    f: &RunFilter,
) -> Result<Vec<RunView>, QueryError> {
    if let Some(id) = schedule {
        if store.schedule(id).await?.is_none() {
            return Err(QueryError::NoSchedule(id.to_string()));
        }
    }
    // A typo in a cursor must not answer the whole list (or none of it) as
    // if it were a page.
    if let Some(id) = f.before.as_deref() {
        if store.run(id).await?.is_none() {
            return Err(QueryError::Invalid(format!(
                "before `{id}` is not a run id; pass the `id` of the last run of the previous page"
            )));
        }
    }
    // Brand and product belong to schedules: the runs of the matching ones.
    let owners: Option<Vec<String>> = if f.brand.is_some() || f.product.is_some() {
        let sf = ScheduleFilter {
            brand: f.brand.clone(),
            product: f.product.clone(),
            status: None,
        };
        Some(
            store
                .schedules()
                .await?
                .into_iter()
                .filter(|s| sf.matches(s))
                .map(|s| s.id)
                .collect(),
        )
    } else {
        None
    };
    let select = RunSelect {
        schedule: schedule.map(str::to_string),
        schedules: owners,
        status: f.status,
        trigger: f.trigger,
        before: f.before.clone(),
        since: f.since,
        limit: f.limit,
    };
    let runs = store.runs(select).await?;
    Ok(runs.iter().map(RunView::from).collect())
}

/// One run.
pub async fn run(store: &Store, id: &str) -> Result<RunView, QueryError> {
    let r = store
        .run(id)
        .await?
        .ok_or_else(|| QueryError::NoRun(id.to_string()))?;
    Ok(RunView::from(&r))
}

/// A run's log, oldest line first, in the run's zone.
pub async fn logs(store: &Store, id: &str) -> Result<Vec<LogLineView>, QueryError> {
    let r = store
        .run(id)
        .await?
        .ok_or_else(|| QueryError::NoRun(id.to_string()))?;
    let tz = r.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    Ok(store
        .logs(id)
        .await?
        .iter()
        .map(|l| LogLineView::new(l, tz))
        .collect())
}

/// Queues a manual run (at most one queued per schedule: a second trigger
/// answers the queued one). `actor` goes to the audit log.
pub async fn trigger(
    store: &Store,
    id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<TriggerView, QueryError> {
    let (run_id, already_pending) = crate::daemon::queue_manual(store, id, actor, now).await?;
    Ok(TriggerView {
        run_id,
        already_pending,
    })
}

/// As [`trigger`], in the daemon: refused while it stops, and the worker
/// woken for the new run.
pub async fn trigger_in(
    ctx: &crate::daemon::Ctx,
    id: &str,
    actor: &str,
) -> Result<TriggerView, QueryError> {
    let (run_id, already_pending) = ctx.trigger_as(id, actor).await?;
    Ok(TriggerView {
        run_id,
        already_pending,
    })
}

/// The longest reason kept, in characters: an audit log is not a file store.
pub const MAX_REASON_CHARS: usize = 500;

fn note(actor: &str, reason: Option<&str>, now: DateTime<Utc>) -> Result<ActorNote, QueryError> {
    let reason = reason.unwrap_or("").trim().to_string();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(QueryError::Invalid(format!(
            "reason is {} characters long; at most {MAX_REASON_CHARS} are kept",
            reason.chars().count()
        )));
    }
    Ok(ActorNote {
        by: actor.to_string(),
        reason,
        at: now,
    })
}

/// Pauses a schedule until resumed, or until `until` (SPEC 8). The pause
/// holds across reloads, edits and restarts.
pub async fn pause(
    store: &Store,
    id: &str,
    actor: &str,
    reason: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ScheduleView, QueryError> {
    let until = match until.map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => {
            let t = DateTime::parse_from_rfc3339(u)
                .map_err(|_| {
                    QueryError::Invalid(format!(
                        "until `{u}` is not an RFC 3339 time such as 2026-12-24T09:00:00-08:00"
                    ))
                })?
                .with_timezone(&Utc);
            if t <= now {
                return Err(QueryError::Invalid(format!(
                    "until `{u}` has already passed; give a time in the future, or no until"
                )));
            }
            Some(t)
        }
    };
    let note = note(actor, reason, now)?;
    let s = store
        .pause(id, note, until)
        .await?
        .ok_or_else(|| QueryError::NoSchedule(id.to_string()))?;
    store.flush().await?;
    view(store, &s).await
}

/// Ends an operator's pause. A file that says `paused: true` keeps the
/// schedule paused.
pub async fn resume(
    store: &Store,
    id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<ScheduleView, QueryError> {
    let s = store
        .resume(id, note(actor, None, now)?)
        .await?
        .ok_or_else(|| QueryError::NoSchedule(id.to_string()))?;
    store.flush().await?;
    view(store, &s).await
}

/// Cancels a run: a pending one at once, a running one after its current
/// template. A run that has ended is a conflict.
pub async fn cancel(
    store: &Store,
    run_id: &str,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<RunView, QueryError> {
    let (r, message) = match store.cancel(run_id, note(actor, reason, now)?).await? {
        Cancelled::NoRun => return Err(QueryError::NoRun(run_id.to_string())),
        Cancelled::Ended(status) => {
            return Err(QueryError::Conflict(format!(
                "run `{run_id}` is {} already; only a pending or running run can be cancelled",
                status.as_str()
            )))
        }
        Cancelled::Now(r) => {
            let message = r.error_message.clone().unwrap_or_default();
            (r, message)
        }
        Cancelled::Requested(r) => (
            r,
            format!("cancel asked by {actor}: the run stops after its current template"),
        ),
    };
    store.flush().await?;
    let line = crate::records::LogLine {
        time: now,
        level: "warn".into(),
        message,
    };
    // The cancel is durable; a log line that cannot be written is not a reason to say it failed.
    let _ = store.log(&r.id, line).await;
    Ok(RunView::from(&r))
}

/// The audit log, newest first: of one schedule, or of all.
pub async fn audit(
    store: &Store,
    schedule: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<AuditView>, QueryError> {
    let limit = match limit.map(str::trim).filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(QueryError::Invalid(format!(
                    "limit `{l}` is not a number from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let schedule = schedule
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(store
        .audit(schedule, limit)
        .await?
        .iter()
        .map(AuditView::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_name_what_is_allowed() {
        let e = RunParams {
            trigger: Some("cron".into()),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "trigger `cron` is not one of schedule, catchup, manual, retry"
        );
        let e = RunParams {
            limit: Some("0".into()),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        assert_eq!(e.to_string(), "limit `0` is not a number from 1 to 1000");
        let e = ScheduleFilter::parse(None, None, Some("done")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "status `done` is not one of active, paused, completed, removed"
        );
        assert_eq!(e.exit_code(), crate::commands::EXIT_USAGE);
        let f = RunParams {
            since: Some("2026-11-30".into()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-11-30T00:00:00+00:00");
        assert_eq!(f.limit, DEFAULT_LIMIT);
    }
}
