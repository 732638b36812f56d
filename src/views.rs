//! What the API answers (SPEC 6), as types: the API serialises them, the
//! CLI and the MCP server read them back, the dashboard renders them. One
//! shape for every edge, so a field cannot be spelled two ways.
//!
//! Times are strings: RFC 3339 with the schedule zone's offset at that
//! instant, whole seconds, exactly as SPEC 6 shows them.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::records::{
    fmt_time, AuditAction, AuditEntry, ExportResult, FileError, LogLine, NamedRef, Run, RunStatus,
    ScheduleState, ScheduleStatus, SourceRef, Trigger,
};

/// A schedule (`GET /api/v1/schedules/{id}`, each element of the list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleView {
    /// Schedule id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Tenant, or null.
    pub tenant_id: Option<String>,
    /// The product.
    pub product: NamedRef,
    /// The product's brand.
    pub brand: NamedRef,
    /// active, paused, completed or removed.
    pub status: ScheduleStatus,
    /// The calendar in plain English, with its zone.
    pub description: String,
    /// IANA zone of the calendar.
    pub timezone: String,
    /// The next calendar time, or null.
    pub next_run_at: Option<String>,
    /// Calendar runs so far.
    pub runs_completed: u32,
    /// Limit of calendar runs, or null for none.
    pub max_runs: Option<u32>,
    /// Where the document in force is.
    pub source: SourceRef,
    /// The current error of its file, or null.
    pub error: Option<FileError>,
    /// The most recent run, or null.
    pub last_run: Option<Box<RunView>>,
    /// The queued run's id, or null.
    pub pending_run: Option<String>,
    /// The id of the run being worked on, or null.
    pub running_run: Option<String>,
    /// A retry waiting for its time, or null.
    pub retry: Option<RetryView>,
    /// An operator's pause (SPEC 8), or null.
    #[serde(rename = "override")]
    pub override_: Option<OverrideView>,
    /// The schedule document in force, as JSON.
    pub spec: Value,
}

/// An operator's pause of a schedule, made without a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OverrideView {
    /// Always true: the override pauses.
    pub paused: bool,
    /// Who paused (a token's name, or `local`).
    pub by: String,
    /// Why.
    pub reason: String,
    /// Since when.
    pub at: String,
    /// When the pause ends by itself, or null.
    pub until: Option<String>,
}

/// One entry of the audit log (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditView {
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Who: a token's name, `local`, or `adsched` for the daemon itself.
    pub actor: String,
    /// trigger, pause, resume, cancel, export or review.
    pub action: AuditAction,
    /// The schedule concerned, or null.
    pub schedule_id: Option<String>,
    /// The run concerned, or null.
    pub run_id: Option<String>,
    /// Why, as given, or null.
    pub reason: Option<String>,
}

impl From<&AuditEntry> for AuditView {
    fn from(e: &AuditEntry) -> AuditView {
        AuditView {
            time: fmt_time(e.time, Tz::UTC),
            actor: e.actor.clone(),
            action: e.action,
            schedule_id: e.schedule_id.clone(),
            run_id: e.run_id.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// A retry waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetryView {
    /// The attempt number the retry will have.
    pub attempt: u32,
    /// When it may start.
    pub at: String,
}

impl ScheduleView {
    /// The view of a stored schedule, with its last run when known.
    pub fn new(s: &ScheduleState, last_run: Option<&Run>) -> ScheduleView {
        let tz = s.tz();
        ScheduleView {
            id: s.id.clone(),
            name: s.name.clone(),
            tenant_id: s.tenant_id.clone(),
            product: s.product.clone(),
            brand: s.brand.clone(),
            status: s.status,
            description: s.description.clone(),
            timezone: s.timezone.clone(),
            next_run_at: s.next_run_at.map(|t| fmt_time(t, tz)),
            runs_completed: s.runs_completed,
            max_runs: s.max_runs,
            source: s.source.clone(),
            error: s.error.clone(),
            last_run: last_run.map(|r| Box::new(RunView::from(r))),
            pending_run: s.pending_run.clone(),
            running_run: s.running_run.clone(),
            retry: s.retry.as_ref().map(|r| RetryView {
                attempt: r.attempt,
                at: fmt_time(r.at, tz),
            }),
            override_: s.pause.as_ref().map(|p| OverrideView {
                paused: true,
                by: p.note.by.clone(),
                reason: p.note.reason.clone(),
                at: fmt_time(p.note.at, tz),
                until: p.until.map(|t| fmt_time(t, tz)),
            }),
            spec: s.spec.clone(),
        }
    }

    /// `next_run_at` as an instant.
    pub fn next_run(&self) -> Option<DateTime<Utc>> {
        parse_time(self.next_run_at.as_deref()?)
    }
}

/// A run (`GET /api/v1/runs/{run_id}`, each element of the lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunView {
    /// Time-ordered id.
    pub id: String,
    /// The schedule.
    pub schedule_id: String,
    /// Tenant, or null.
    pub tenant_id: Option<String>,
    /// schedule, catchup, manual or retry.
    pub trigger: Trigger,
    /// 1, then 2.. for retries of the same calendar time.
    pub attempt: u32,
    /// pending, running, completed, failed, interrupted, missed or cancelled.
    pub status: RunStatus,
    /// The calendar time it is for, or null for a manual run.
    pub scheduled_for: Option<String>,
    /// When it was queued.
    pub queued_at: String,
    /// When work started, or null.
    pub started_at: Option<String>,
    /// When it ended, or null.
    pub completed_at: Option<String>,
    /// Seconds from start to end, or null.
    pub duration_seconds: Option<f64>,
    /// Why it failed, or null.
    pub error_message: Option<String>,
    /// Templates that made ads.
    pub templates_used: Vec<String>,
    /// The generator's ad runs.
    pub ad_run_ids: Vec<String>,
    /// Generated images.
    pub ads: Vec<AdView>,
    /// Export results.
    pub exports: Vec<ExportResult>,
    /// For a `missed` record: how many times were missed.
    pub missed_count: u32,
}

/// One generated image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdView {
    /// The template it was made from.
    pub template: String,
    /// The generator's ad run.
    pub ad_run_id: String,
    /// A URL path the daemon serves (`/ads/...`) or the generator's URL.
    pub image: String,
    /// approved, flagged or rejected.
    pub status: String,
    /// The ad copy on it (its hook), or null when the generator did not say.
    pub text: Option<String>,
    /// A person's decision on it (`review: required`), or null.
    pub review: Option<crate::records::AdReview>,
}

impl From<&Run> for RunView {
    fn from(r: &Run) -> RunView {
        let tz: Tz = r.timezone.parse().unwrap_or(Tz::UTC);
        RunView {
            id: r.id.clone(),
            schedule_id: r.schedule_id.clone(),
            tenant_id: r.tenant_id.clone(),
            trigger: r.trigger,
            attempt: r.attempt,
            status: r.status,
            scheduled_for: r.scheduled_for.map(|t| fmt_time(t, tz)),
            queued_at: fmt_time(r.queued_at, tz),
            started_at: r.started_at.map(|t| fmt_time(t, tz)),
            completed_at: r.completed_at.map(|t| fmt_time(t, tz)),
            duration_seconds: match (r.started_at, r.completed_at) {
                (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
                _ => None,
            },
            error_message: r.error_message.clone(),
            templates_used: r.templates_used.clone(),
            ad_run_ids: r.ad_run_ids.clone(),
            ads: r
                .ads
                .iter()
                .map(|a| AdView {
                    template: a.template.clone(),
                    ad_run_id: a.ad_run_id.clone(),
                    image: a.image.clone(),
                    status: a.status.clone(),
                    text: a.text.clone(),
                    review: a.review.clone(),
                })
                .collect(),
            exports: r.exports.clone(),
            missed_count: r.missed_count,
        }
    }
}

/// One log line of a run (`GET /api/v1/runs/{run_id}/logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogLineView {
    /// When, in the run's zone.
    pub time: String,
    /// info, warn or error.
    pub level: String,
    /// What happened.
    pub message: String,
}

impl LogLineView {
    /// A stored line, its time in the zone `tz`.
    pub fn new(l: &LogLine, tz: Tz) -> LogLineView {
        LogLineView {
            time: fmt_time(l.time, tz),
            level: l.level.clone(),
            message: l.message.clone(),
        }
    }
}

/// The answer to a trigger (`POST /api/v1/schedules/{id}/trigger`, 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TriggerView {
    /// The queued run.
    pub run_id: String,
    /// Whether that run was already queued (no new one was made).
    pub already_pending: bool,
}

/// An RFC 3339 time of a view, as an instant.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::<FixedOffset>::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn a_run_view_has_the_spec_fields_and_round_trips() {
        let t = |s: &str| parse_time(s).unwrap();
        let run = Run {
            id: "01J".into(),
            schedule_id: "s".into(),
            tenant_id: None,
            trigger: Trigger::Schedule,
            attempt: 1,
            status: RunStatus::Completed,
            scheduled_for: Some(t("2026-11-30T17:00:00Z")),
            queued_at: t("2026-11-30T17:00:00Z"),
            started_at: Some(t("2026-11-30T17:00:01Z")),
            completed_at: Some(t("2026-11-30T17:00:03.5Z")),
            error_message: None,
            templates_used: vec!["t1.png".into()],
            ad_run_ids: vec!["ar".into()],
            ads: vec![crate::records::Ad {
                template: "t1.png".into(),
                ad_run_id: "ar".into(),
                image: "/ads/01J/0/1.png".into(),
                path: Some("ads/01J/0/1.png".into()),
                status: "approved".into(),
                text: Some("Glow".into()),
                review: None,
            }],
            exports: vec![],
            missed_count: 0,
            timezone: "America/Los_Angeles".into(),
            product_id: "p".into(),
            cancel: None,
            review_due: None,
        };
        let view = RunView::from(&run);
        assert_eq!(
            view.scheduled_for.as_deref(),
            Some("2026-11-30T09:00:00-08:00")
        );
        assert_eq!(view.duration_seconds, Some(2.5));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            names(&json),
            [
                "ad_run_ids",
                "ads",
                "attempt",
                "completed_at",
                "duration_seconds",
                "error_message",
                "exports",
                "id",
                "missed_count",
                "queued_at",
                "schedule_id",
                "scheduled_for",
                "started_at",
                "status",
                "templates_used",
                "tenant_id",
                "trigger"
            ]
        );
        // The state-folder path of an ad is not for clients.
        assert_eq!(
            names(&json["ads"][0]),
            ["ad_run_id", "image", "review", "status", "template", "text"]
        );
        let back: RunView = serde_json::from_value(json).unwrap();
        assert_eq!(back, view);
    }
}

/// The next fire times of a calendar (SPEC 3.1: `adsched next --format
/// json`, `POST /api/v1/preview`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FireTimesView {
    /// The schedule id.
    pub id: String,
    /// Its IANA time zone.
    pub timezone: String,
    /// The calendar in words, e.g. "every Monday at 09:00 (America/Los_Angeles)".
    pub description: String,
    /// The next fire times, RFC 3339 with the zone's offset, oldest first.
    pub times: Vec<String>,
}
