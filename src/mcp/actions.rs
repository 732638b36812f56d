//! The operators' actions as tools (SPEC 8): pause, resume, cancel, export
//! again, and the audit log. They go through the daemon like the CLI's,
//! with `ADSCHED_API_TOKEN` as the token, so the audit log names the agent's
//! token; without a daemon they act on the store, as `local`.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema;
use super::Adsched;
use crate::export::again::ExportRequest;
use crate::spec::model::{EmailExport, SlackExport};

/// A pause.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PauseArgs {
    /// The schedule id (see list_schedules).
    pub schedule_id: String,
    /// Why: shown on the dashboard and kept in the audit log.
    pub reason: String,
    /// End the pause by itself at this RFC 3339 time, e.g. `2026-12-08T09:00:00-08:00`.
    #[serde(default)]
    pub until: Option<String>,
}

/// A resume.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResumeArgs {
    /// The schedule id.
    pub schedule_id: String,
}

/// A cancel.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CancelArgs {
    /// The run id (see list_runs).
    pub run_id: String,
    /// Why: kept on the run and in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An export again.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExportArgs {
    /// The run id of a finished run with ads.
    pub run_id: String,
    /// Post to this Slack channel ID instead of the schedule's export, e.g. `C0123ABCD9`.
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// Email these addresses instead of the schedule's export.
    #[serde(default)]
    pub email_to: Option<Vec<String>>,
}

/// A review: the run, and the body of `POST /api/v1/runs/{run_id}/review`
/// (its fields spelt out: flattening would let a misspelt one through).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewArgs {
    /// The run id of a run whose exports are `awaiting_review`.
    pub run_id: String,
    /// Images to approve, as the run's `ads` give them (`/ads/...`).
    #[serde(default)]
    pub approve: Vec<String>,
    /// Images to reject.
    #[serde(default)]
    pub reject: Vec<String>,
    /// A note kept with each decision.
    #[serde(default)]
    pub note: Option<String>,
    /// Send the approved ads now, even with some undecided.
    #[serde(default)]
    pub send: bool,
}

impl From<ReviewArgs> for crate::export::review::ReviewRequest {
    fn from(a: ReviewArgs) -> Self {
        crate::export::review::ReviewRequest {
            approve: a.approve,
            reject: a.reject,
            note: a.note,
            send: a.send,
        }
    }
}

/// What the audit log lists.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AuditArgs {
    /// Only this schedule's entries.
    #[serde(default)]
    pub schedule_id: Option<String>,
    /// At most this many entries, newest first, 1 to 1000 (default 50).
    #[serde(default, deserialize_with = "schema::lenient_int")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

/// A schedule after a pause or a resume.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduleAfter {
    /// The schedule as the API shows it: `status`, `override` (who paused, why, since, until), `next_run_at`.
    pub schedule: Value,
    /// What happened, in words.
    pub message: String,
}

/// A run after a cancel or an export request.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunAfter {
    /// The run as the API shows it.
    pub run: Value,
    /// What happened, in words.
    pub message: String,
}

/// The audit log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditList {
    /// How many are listed.
    pub count: usize,
    /// time, actor, action, schedule_id, run_id, reason; newest first.
    pub entries: Vec<Value>,
}

fn value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[tool_router(router = actions_router, vis = "pub(super)")]
impl Adsched {
    #[tool(
        description = "Pause a schedule now, without a pull request: it fires nothing (and retries nothing) until resume_schedule or until `until` passes. The pause holds across edits of the file and restarts. A run already queued or running is left alone (cancel_run it). Recorded in the audit log with the reason.",
        annotations(
            title = "Pause a schedule",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn pause_schedule(
        &self,
        Parameters(args): Parameters<PauseArgs>,
    ) -> Result<Json<ScheduleAfter>, String> {
        let v = self
            .query(move |c| c.pause(&args.schedule_id, Some(&args.reason), args.until.as_deref()))
            .await?;
        let message = format!("{} is {}", v.id, v.status.as_str());
        Ok(Json(ScheduleAfter {
            schedule: value(&v),
            message,
        }))
    }

    #[tool(
        description = "End a pause made with pause_schedule: the schedule fires again from its next future time (paused time is never caught up). A schedule whose file says `paused: true` stays paused until the file changes.",
        annotations(
            title = "Resume a schedule",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn resume_schedule(
        &self,
        Parameters(args): Parameters<ResumeArgs>,
    ) -> Result<Json<ScheduleAfter>, String> {
        let v = self.query(move |c| c.resume(&args.schedule_id)).await?;
        let file_paused = v.spec.get("paused").and_then(Value::as_bool) == Some(true);
        let message = if file_paused {
            format!("{} stays paused: its file says `paused: true`", v.id)
        } else {
            format!("{} is {}", v.id, v.status.as_str())
        };
        Ok(Json(ScheduleAfter {
            schedule: value(&v),
            message,
        }))
    }

    #[tool(
        description = "Cancel a run: a pending one at once; a running one stops after the template it is making and exports nothing. It ends `cancelled`. A cancelled calendar run counts toward max_runs and is not retried. A run that has ended cannot be cancelled.",
        annotations(
            title = "Cancel a run",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn cancel_run(
        &self,
        Parameters(args): Parameters<CancelArgs>,
    ) -> Result<Json<RunAfter>, String> {
        let v = self
            .query(move |c| c.cancel(&args.run_id, args.reason.as_deref()))
            .await?;
        let message = match v.status {
            crate::records::RunStatus::Running => {
                format!("run {} stops after its current template", v.id)
            }
            s => format!("run {} is {}", v.id, s.as_str()),
        };
        Ok(Json(RunAfter {
            run: value(&v),
            message,
        }))
    }

    #[tool(
        description = "Send a finished run's ads again: where its schedule's export says, or to `slack_channel` / `email_to` instead (after a fixed token, to another channel, after a failed export). Each send is a new entry in the run's `exports`; the allow-lists apply. Through the daemon the send happens in the background: check it with get_run.",
        annotations(
            title = "Export a run again",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn export_run(
        &self,
        Parameters(args): Parameters<ExportArgs>,
    ) -> Result<Json<RunAfter>, String> {
        let req = ExportRequest {
            slack: args.slack_channel.map(|channel| SlackExport {
                channel: Some(channel),
                webhook_env: None,
            }),
            email: args
                .email_to
                .filter(|to| !to.is_empty())
                .map(|to| EmailExport { to }),
        };
        let settings = self.config.settings.clone();
        let id = args.run_id.clone();
        let (v, remote) = self
            .query(move |c| Ok((c.export(&id, &req, &settings)?, c.is_remote())))
            .await?;
        let message = if remote {
            format!(
                "the daemon is exporting run {} again; get_run shows the result",
                v.id
            )
        } else {
            format!("run {} exported again; see its exports", v.id)
        };
        Ok(Json(RunAfter {
            run: value(&v),
            message,
        }))
    }

    #[tool(
        description = "Review a run's ads before they go out (schedules with `export.review: required`): approve and/or reject images (as get_run lists them). Once every ad is decided, or with `send: true`, the approved ones are sent where the schedule says and the run's exports become sent or failed. Unreviewed ads expire after the schedule's review window. Recorded in the audit log.",
        annotations(
            title = "Review a run's ads",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn review_run(
        &self,
        Parameters(args): Parameters<ReviewArgs>,
    ) -> Result<Json<RunAfter>, String> {
        let id = args.run_id.clone();
        let req = crate::export::review::ReviewRequest::from(args);
        let settings = self.config.settings.clone();
        let v = self.query(move |c| c.review(&id, &req, &settings)).await?;
        let decided = v.ads.iter().filter(|a| a.review.is_some()).count();
        let message = format!(
            "run {}: {decided} of {} ads decided; exports: {}",
            v.id,
            v.ads.len(),
            v.exports
                .iter()
                .map(|e| format!("{} {}", e.destination, e.status))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Json(RunAfter {
            run: value(&v),
            message,
        }))
    }

    #[tool(
        description = "The audit log, newest first: who triggered, paused, resumed, cancelled or exported what, when, and why. The actor is a token's name, `local` (no tokens set), or `adsched` (a pause that ended at its `until`).",
        annotations(title = "Audit log", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_audit(
        &self,
        Parameters(args): Parameters<AuditArgs>,
    ) -> Result<Json<AuditList>, String> {
        let limit = args.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(format!("`limit` {limit} is not from 1 to 1000"));
        }
        let entries = self
            .query(move |c| c.audit(args.schedule_id.as_deref(), limit as usize))
            .await?;
        Ok(Json(AuditList {
            count: entries.len(),
            entries: entries.iter().map(value).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::ReviewArgs;

    #[test]
    fn review_args_take_the_run_and_the_api_body_and_refuse_strangers() {
        let a: ReviewArgs = serde_json::from_value(serde_json::json!({
            "run_id": "01J", "approve": ["/ads/a.png"], "note": "ok", "send": true
        }))
        .unwrap();
        assert_eq!(a.run_id, "01J");
        assert_eq!(a.approve, ["/ads/a.png"]);
        assert!(a.send && a.reject.is_empty());
        let bad = serde_json::from_value::<ReviewArgs>(serde_json::json!({
            "run_id": "01J", "aprove": ["/ads/a.png"]
        }));
        assert!(bad.is_err(), "a misspelt field is refused");
        let schema = serde_json::to_value(schemars::schema_for!(ReviewArgs)).unwrap();
        for field in ["run_id", "approve", "reject", "note", "send"] {
            assert!(
                schema["properties"].get(field).is_some(),
                "{field}: {schema}"
            );
        }
    }
}
