//! Review before export (SPEC 11): a run of a schedule with
//! `export.review: required` ends with its exports `awaiting_review`; a
//! person approves or rejects each ad, and once every ad is decided (or on
//! `send`) the approved ones go where the schedule says. Unreviewed past
//! the window, the exports expire.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::again::Sender;
use crate::records::{fmt_time, Decision, ExportResult, Run, AWAITING_REVIEW};
use crate::service::QueryError;
use crate::spec::model::{Export, Schedule};
use crate::store::{Reviewed, Store, StoreError};

/// The export entries of a run whose ads wait for review until `due`.
pub fn awaiting(export: &Export, due: DateTime<Utc>, tz: Tz) -> Vec<ExportResult> {
    let mut out = Vec::new();
    let detail = format!(
        "waiting for review until {}; only approved ads are sent",
        fmt_time(due, tz)
    );
    for (wanted, destination) in [
        (export.destination.has_email(), "email"),
        (export.destination.has_slack(), "slack"),
    ] {
        if wanted {
            out.push(ExportResult {
                destination: destination.into(),
                status: AWAITING_REVIEW.into(),
                attempts: 0,
                detail: detail.clone(),
            });
        }
    }
    out
}

/// The body of `POST /api/v1/runs/{run_id}/review`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// Images to approve, as the `image` of the run's ads.
    #[serde(default)]
    pub approve: Vec<String>,
    /// Images to reject.
    #[serde(default)]
    pub reject: Vec<String>,
    /// The reviewer's note.
    #[serde(default)]
    pub note: Option<String>,
    /// Send the approved ads now, even with some undecided.
    #[serde(default)]
    pub send: bool,
}

/// Records the decisions. Returns the run after, and whether this call
/// must now send the approved ads (every ad is decided, or `send`).
pub async fn decide(
    store: &Store,
    run_id: &str,
    req: &ReviewRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Run, bool), QueryError> {
    if req.approve.is_empty() && req.reject.is_empty() && !req.send {
        return Err(QueryError::Invalid(
            "give `approve` and/or `reject` (images as the run's ads name them), or `send: true`"
                .into(),
        ));
    }
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > crate::service::MAX_REASON_CHARS) {
        return Err(QueryError::Invalid(format!(
            "the note is longer than {} characters",
            crate::service::MAX_REASON_CHARS
        )));
    }
    let outcome = store
        .review(
            run_id,
            req.approve.clone(),
            req.reject.clone(),
            note.map(str::to_string),
            req.send,
            actor,
            now,
        )
        .await?;
    match outcome {
        Reviewed::NoRun => Err(QueryError::NoRun(run_id.to_string())),
        Reviewed::NotAwaiting(r) => Err(QueryError::Conflict(format!(
            "run `{run_id}` is not waiting for review (its exports: {})",
            if r.exports.is_empty() {
                "none".to_string()
            } else {
                r.exports
                    .iter()
                    .map(|e| format!("{} {}", e.destination, e.status))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
        Reviewed::BadImages(bad) => Err(QueryError::Invalid(format!(
            "not ads of run `{run_id}`, or both approved and rejected: {}; name images as the run's `ads` give them (`/ads/...`)",
            bad.join(", ")
        ))),
        Reviewed::Recorded { run, send } => {
            store.flush().await?;
            Ok((run, send))
        }
    }
}

/// Sends the approved ads of a reviewed run where its schedule says, and
/// puts the results in place of the waiting entries. Nothing approved:
/// the entries say so, and nothing is sent.
pub async fn send_approved(
    store: &Store,
    sender: &Sender<'_>,
    run: &Run,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ExportResult>, StoreError> {
    let state = store.schedule(&run.schedule_id).await?;
    let export = state
        .as_ref()
        .and_then(|s| serde_json::from_value::<Schedule>(s.spec.clone()).ok())
        .map(|d| d.export);
    let mut approved = run.clone();
    approved.ads.retain(|a| {
        a.status != "rejected"
            && a.review
                .as_ref()
                .is_some_and(|r| r.decision == Decision::Approved)
    });
    let results = match (state, export) {
        (Some(state), Some(export)) if !approved.ads.is_empty() => {
            let summary = super::Summary::of(&approved, &state, sender.public_url);
            super::export_run(sender.settings, &export, &summary).await
        }
        (Some(_), Some(_)) => run
            .exports
            .iter()
            .map(|e| ExportResult {
                destination: e.destination.clone(),
                status: "refused".into(),
                attempts: 0,
                detail: format!("no ad was approved in review (by {actor}); nothing sent"),
            })
            .collect(),
        _ => run
            .exports
            .iter()
            .map(|e| ExportResult {
                destination: e.destination.clone(),
                status: "failed".into(),
                attempts: 0,
                detail: "the schedule is gone; nothing sent".into(),
            })
            .collect(),
    };
    store.set_exports(&run.id, results.clone(), None).await?;
    store.flush().await?;
    let prefix = format!(
        "reviewed by {actor}: {} approved ad(s); ",
        approved.ads.len()
    );
    super::log_results(store, &run.id, &results, now, &prefix).await?;
    Ok(results)
}
