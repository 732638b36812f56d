//! The records adsched keeps (SPEC 6): schedule state, runs, log lines,
//! template usage. Plain data; `store` persists them, `api` shows them.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Status of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleStatus {
    /// Fires on its calendar.
    Active,
    /// `paused: true` in its file.
    Paused,
    /// `max_runs` reached, or a `once` that ran or was missed.
    Completed,
    /// Its document is gone; history kept.
    Removed,
}

impl ScheduleStatus {
    /// Every status, as in the API.
    pub const NAMES: [&'static str; 4] = ["active", "paused", "completed", "removed"];

    /// Parses an API filter value.
    pub fn parse(s: &str) -> Option<ScheduleStatus> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }

    /// The status as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleStatus::Active => "active",
            ScheduleStatus::Paused => "paused",
            ScheduleStatus::Completed => "completed",
            ScheduleStatus::Removed => "removed",
        }
    }
}

/// Status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Queued behind another run.
    Pending,
    /// Being worked on.
    Running,
    /// At least one template made ads.
    Completed,
    /// No template made ads, or the run could not start its work.
    Failed,
    /// The daemon stopped while it ran.
    Interrupted,
    /// Times passed outside the catch-up window; nothing ran.
    Missed,
    /// Someone cancelled it (SPEC 8): before it started, or after the
    /// template it was making; nothing was exported.
    Cancelled,
}

impl RunStatus {
    /// Every status, as in the API.
    pub const NAMES: [&'static str; 7] = [
        "pending",
        "running",
        "completed",
        "failed",
        "interrupted",
        "missed",
        "cancelled",
    ];

    /// The status as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Missed => "missed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses an API filter value.
    pub fn parse(s: &str) -> Option<RunStatus> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Its calendar time came.
    Schedule,
    /// Its time was missed (daemon down or busy) but within the catch-up window.
    Catchup,
    /// Someone asked for it.
    Manual,
    /// A failed calendar run, tried again.
    Retry,
}

impl Trigger {
    /// Every trigger, as in the API.
    pub const NAMES: [&'static str; 4] = ["schedule", "catchup", "manual", "retry"];

    /// Parses an API filter value.
    pub fn parse(s: &str) -> Option<Trigger> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }

    /// Whether the run counts toward `max_runs`.
    pub fn counts(self) -> bool {
        matches!(self, Trigger::Schedule | Trigger::Catchup)
    }
}

/// An id and a display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct NamedRef {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Where a schedule is defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SourceRef {
    /// The file, as shown by `validate`.
    pub file: String,
    /// The first line of its document.
    pub line: usize,
}

/// An error in a schedule's file, shown until the file is fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The finding's message.
    pub message: String,
}

/// A retry waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPlan {
    /// The attempt number the retry will have (2 for the first retry).
    pub attempt: u32,
    /// When it may start.
    pub at: DateTime<Utc>,
    /// The calendar slot being retried.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// Who did something, why and when: a pause, a cancel request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorNote {
    /// The token's name, or `local` for a loopback caller without tokens.
    pub by: String,
    /// Why, as given (may be empty).
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A pause made without a commit (SPEC 8): it holds across reloads, edits
/// and restarts until a resume or until `until` passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseOverride {
    /// Who paused, why and when.
    #[serde(flatten)]
    pub note: ActorNote,
    /// When the pause ends by itself, if it does.
    pub until: Option<DateTime<Utc>>,
}

impl PauseOverride {
    /// Whether the pause still holds at `now`.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }
}

/// The stored state of one schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Schedule id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Tenant, copied to every record.
    pub tenant_id: Option<String>,
    /// The product.
    pub product: NamedRef,
    /// The product's brand.
    pub brand: NamedRef,
    /// Status.
    pub status: ScheduleStatus,
    /// IANA zone of the calendar.
    pub timezone: String,
    /// The calendar in plain English.
    pub description: String,
    /// The next calendar time (UTC instant); None when completed, removed or paused.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Calendar runs started so far.
    pub runs_completed: u32,
    /// Limit of calendar runs.
    pub max_runs: Option<u32>,
    /// Where the document in force is.
    pub source: SourceRef,
    /// The schedule document in force.
    pub spec: Value,
    /// The product document in force, shared by the states of its
    /// schedules (a copy for each of 10,000 states was a twentieth of a
    /// first start).
    pub product_spec: std::sync::Arc<Value>,
    /// What decides fire times (form and zone); a change recomputes `next_run_at`.
    pub calendar_key: String,
    /// The current error of its file, if the file is invalid.
    pub error: Option<FileError>,
    /// The queued run, if any (at most one per schedule).
    pub pending_run: Option<String>,
    /// The run being worked on, if any.
    pub running_run: Option<String>,
    /// A retry waiting for its time.
    pub retry: Option<RetryPlan>,
    /// The most recent run.
    pub last_run_id: Option<String>,
    /// An operator's pause, if any (absent in records written before SPEC 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseOverride>,
    /// When an operator's pause ended that held back a `once`'s time: the
    /// time is kept due so that the scheduler records it, `missed` whatever
    /// the catch-up window (paused time is never caught up, and a `once` is
    /// never dropped silently). Cleared once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<DateTime<Utc>>,
}

impl ScheduleState {
    /// A state with nothing but its id, active: what a schedule's documents
    /// fill in (`reconcile`), or a test's or a benchmark's own record.
    pub fn empty(id: &str) -> ScheduleState {
        ScheduleState {
            id: id.to_string(),
            name: String::new(),
            tenant_id: None,
            product: NamedRef::default(),
            brand: NamedRef::default(),
            status: ScheduleStatus::Active,
            timezone: String::new(),
            description: String::new(),
            next_run_at: None,
            runs_completed: 0,
            max_runs: None,
            source: SourceRef::default(),
            spec: Value::Null,
            product_spec: Default::default(),
            calendar_key: String::new(),
            error: None,
            pending_run: None,
            running_run: None,
            retry: None,
            last_run_id: None,
            pause: None,
            resumed_at: None,
        }
    }

    /// The zone, falling back to UTC for a name chrono-tz no longer knows.
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }
}

/// One generated image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ad {
    /// The template it was made from.
    pub template: String,
    /// The generator's ad run.
    pub ad_run_id: String,
    /// URL path served by the daemon (`/ads/...`) or the generator's URL.
    pub image: String,
    /// The file under the state folder, when adsched holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// approved, flagged or rejected (rejected ones are never exported).
    pub status: String,
    /// The ad copy on it (its hook), when the generator said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A person's decision on it (SPEC 11), when its run is reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<AdReview>,
}

/// A person's decision on one ad (SPEC 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AdReview {
    /// `approved` or `rejected`.
    pub decision: Decision,
    /// Who decided (a token's name, or `local`).
    pub by: String,
    /// When (RFC 3339 in the run's zone, as the API shows times).
    pub at: String,
    /// The reviewer's note, or null.
    pub note: Option<String>,
}

/// A review decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// It may go out.
    Approved,
    /// It must not.
    Rejected,
}

/// The result of one export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportResult {
    /// email or slack.
    pub destination: String,
    /// sent, failed, refused, awaiting_review or expired.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// What happened (never a secret).
    pub detail: String,
}

impl ExportResult {
    /// One line for the run's log: an export that never got to try (no
    /// token, no settings, refused) says so instead of "after 0 attempts".
    pub fn log_line(&self) -> String {
        match self.attempts {
            0 if self.status == "refused" => {
                format!("export to {}: refused: {}", self.destination, self.detail)
            }
            0 => format!(
                "export to {}: not sent, it could not start: {}",
                self.destination, self.detail
            ),
            1 => format!(
                "export to {}: {} after 1 attempt: {}",
                self.destination, self.status, self.detail
            ),
            n => format!(
                "export to {}: {} after {n} attempts: {}",
                self.destination, self.status, self.detail
            ),
        }
    }
}

/// One run of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Time-ordered id (ULID).
    pub id: String,
    /// The schedule.
    pub schedule_id: String,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// Why it exists.
    pub trigger: Trigger,
    /// 1, then 2.. for retries of the same slot.
    pub attempt: u32,
    /// Status.
    pub status: RunStatus,
    /// The calendar time it is for (None for manual runs).
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When work started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Templates that made ads.
    pub templates_used: Vec<String>,
    /// The generator's ad runs.
    pub ad_run_ids: Vec<String>,
    /// Generated images.
    pub ads: Vec<Ad>,
    /// Export results.
    pub exports: Vec<ExportResult>,
    /// For `missed` records: how many times were missed.
    pub missed_count: u32,
    /// The schedule's zone when the run was made, for display.
    pub timezone: String,
    /// The product.
    pub product_id: String,
    /// A cancel asked for while the run was working: it stops after its
    /// current template (absent in records written before SPEC 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<ActorNote>,
    /// While its exports wait for review (SPEC 11): when they expire.
    /// Cleared when the review sends them (or they expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_due: Option<DateTime<Utc>>,
}

impl Run {
    /// Whether its exports wait for a person's review.
    pub fn awaiting_review(&self) -> bool {
        self.exports.iter().any(|e| e.status == AWAITING_REVIEW)
    }
}

/// The export status of ads waiting for review.
pub const AWAITING_REVIEW: &str = "awaiting_review";

impl Run {
    /// A new run record for a schedule.
    pub fn new(
        id: String,
        state: &ScheduleState,
        trigger: Trigger,
        attempt: u32,
        scheduled_for: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Run {
        Run {
            id,
            schedule_id: state.id.clone(),
            tenant_id: state.tenant_id.clone(),
            trigger,
            attempt,
            status: RunStatus::Pending,
            scheduled_for,
            queued_at: now,
            started_at: None,
            completed_at: None,
            error_message: None,
            templates_used: Vec::new(),
            ad_run_ids: Vec::new(),
            ads: Vec::new(),
            exports: Vec::new(),
            missed_count: 0,
            timezone: state.timezone.clone(),
            product_id: state.product.id.clone(),
            cancel: None,
            review_due: None,
        }
    }
}

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When.
    pub time: DateTime<Utc>,
    /// info, warn or error.
    pub level: String,
    /// What happened.
    pub message: String,
}

/// A template used for a product (unique per pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Product id.
    pub product: String,
    /// Template name.
    pub template: String,
    /// When.
    pub used_at: DateTime<Utc>,
    /// The generator's ad run.
    pub ad_run_id: String,
    /// The run.
    pub run_id: String,
    /// Tenant.
    pub tenant_id: Option<String>,
}

/// What an operator did (SPEC 8's audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    /// Queued a manual run.
    Trigger,
    /// Paused a schedule.
    Pause,
    /// Resumed a schedule (or its pause's `until` passed).
    Resume,
    /// Cancelled a run.
    Cancel,
    /// Exported a run again.
    Export,
    /// Reviewed a run's ads.
    Review,
}

impl AuditAction {
    /// The action as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Trigger => "trigger",
            AuditAction::Pause => "pause",
            AuditAction::Resume => "resume",
            AuditAction::Cancel => "cancel",
            AuditAction::Export => "export",
            AuditAction::Review => "review",
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Time-ordered id (a ULID, like run ids).
    pub id: String,
    /// When.
    pub time: DateTime<Utc>,
    /// The token's name, `local`, or `adsched` for the daemon itself.
    pub actor: String,
    /// What was done.
    pub action: AuditAction,
    /// The schedule concerned.
    pub schedule_id: Option<String>,
    /// The run concerned.
    pub run_id: Option<String>,
    /// Why, as given.
    pub reason: Option<String>,
}

/// RFC 3339 with the zone's offset at that instant, whole seconds.
pub fn fmt_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_that_never_started_says_what_was_missing() {
        let r = ExportResult {
            destination: "slack".into(),
            status: "failed".into(),
            attempts: 0,
            detail: "ADSCHED_SLACK_TOKEN is not set".into(),
        };
        let line = r.log_line();
        assert!(!line.contains("0 attempt"), "{line}");
        assert!(
            line.contains("could not start: ADSCHED_SLACK_TOKEN is not set"),
            "{line}"
        );
        let r = ExportResult {
            attempts: 2,
            status: "sent".into(),
            ..r
        };
        assert!(r.log_line().contains("sent after 2 attempts"));
    }
}
