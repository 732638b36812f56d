//! Export a finished run again (SPEC 8): after a fixed token, to another
//! channel, after a failure. Each send is a new entry in the run's
//! `exports`, written with its audit entry; the allow-lists apply as for
//! any export.
//!
//! Two steps, so that the API can answer 202 before the send: [`prepare`]
//! checks the request against the run (every "no" is a [`QueryError`]),
//! [`send`] does the work and records it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::records::{ExportResult, Run, RunStatus, ScheduleState};
use crate::service::QueryError;
use crate::settings::Settings;
use crate::spec::model::{Destination, EmailExport, Export, Schedule, SlackExport};
use crate::store::{Store, StoreError};

/// The body of `POST /api/v1/runs/{run_id}/export`: where to send instead
/// of the schedule's own settings, in the shapes of its `export` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// `{"channel": "C0123ABCD9"}` or `{"webhook_env": "NAME"}`.
    #[schemars(with = "Option<serde_json::Value>")]
    pub slack: Option<SlackExport>,
    /// `{"to": ["someone@example.com"]}`.
    #[schemars(with = "Option<serde_json::Value>")]
    pub email: Option<EmailExport>,
}

/// A checked request: the run, its schedule, and where to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The run as it is.
    pub run: Run,
    /// Its schedule.
    pub state: ScheduleState,
    /// Where its ads go.
    pub export: Export,
}

/// Checks that `run_id` can be exported as `req` asks.
pub async fn prepare(
    store: &Store,
    run_id: &str,
    req: &ExportRequest,
) -> Result<Prepared, QueryError> {
    let run = store
        .run(run_id)
        .await?
        .ok_or_else(|| QueryError::NoRun(run_id.to_string()))?;
    if matches!(run.status, RunStatus::Pending | RunStatus::Running) {
        return Err(QueryError::Conflict(format!(
            "run `{run_id}` is {}; export it once it has finished",
            run.status.as_str()
        )));
    }
    if run.exports.iter().any(|e| e.status == "awaiting_review") {
        return Err(QueryError::Conflict(format!(
            "run `{run_id}` is waiting for review: review its ads, and the approved ones are sent"
        )));
    }
    if !run.ads.iter().any(|a| a.status != "rejected") {
        return Err(QueryError::Conflict(format!(
            "run `{run_id}` has no exportable ads (none were made, or all were rejected)"
        )));
    }
    let state = store
        .schedule(&run.schedule_id)
        .await?
        .ok_or_else(|| QueryError::NoSchedule(run.schedule_id.clone()))?;
    let export = if req.slack.is_none() && req.email.is_none() {
        let doc: Schedule = serde_json::from_value(state.spec.clone())
            .map_err(|e| QueryError::Invalid(format!("the stored schedule does not parse: {e}")))?;
        if doc.export.destination == Destination::None {
            return Err(QueryError::Conflict(format!(
                "schedule `{}` exports nowhere (`destination: none`); give `slack` or `email` in the body",
                state.id
            )));
        }
        doc.export
    } else {
        checked(req)?
    };
    Ok(Prepared { run, state, export })
}

/// The request as an `export` block, each part checked as `validate`
/// checks a schedule's.
fn checked(req: &ExportRequest) -> Result<Export, QueryError> {
    if let Some(slack) = &req.slack {
        match (&slack.channel, &slack.webhook_env) {
            (Some(ch), None) if crate::spec::is_channel_id(ch) => {}
            (Some(ch), None) => {
                return Err(QueryError::Invalid(format!(
                    "slack channel `{ch}` is not a channel ID (C, G or D and 8 or more capitals or digits, such as C0123ABCD9)"
                )))
            }
            (None, Some(_)) => {}
            _ => {
                return Err(QueryError::Invalid(
                    "`slack` takes one of `channel` (a channel ID) or `webhook_env` (a variable holding a webhook URL)".into(),
                ))
            }
        }
    }
    if let Some(email) = &req.email {
        if email.to.is_empty() {
            return Err(QueryError::Invalid(
                "`email.to` is empty; list at least one address".into(),
            ));
        }
        for to in &email.to {
            if to.parse::<lettre::Address>().is_err() {
                return Err(QueryError::Invalid(format!(
                    "`{to}` is not an email address; write a bare address such as marketing@acme.example"
                )));
            }
        }
    }
    let destination = match (&req.email, &req.slack) {
        (Some(_), Some(_)) => Destination::EmailAndSlack,
        (Some(_), None) => Destination::Email,
        (None, Some(_)) => Destination::Slack,
        (None, None) => Destination::None,
    };
    Ok(Export {
        destination,
        email: req.email.clone(),
        slack: req.slack.clone(),
        review: None,
        review_window: None,
    })
}

/// Where an export runs: the settings and the folder holding the images.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    /// Secrets and allow-lists.
    pub settings: &'a Settings,
    /// The dashboard's public URL, for links.
    pub public_url: Option<&'a str>,
    /// The state folder (images; a cache of images kept in the database).
    pub state_dir: &'a Path,
}

/// Sends a prepared export and records each result on the run, with the
/// audit entry, then its log lines. Returns the new results.
pub async fn send(
    store: &Store,
    sender: &Sender<'_>,
    p: Prepared,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ExportResult>, StoreError> {
    let run = with_local_images(store, sender.state_dir, p.run).await;
    let summary = super::Summary::of(&run, &p.state, sender.public_url);
    let results = super::export_run(sender.settings, &p.export, &summary).await;
    store
        .add_exports(&run.id, results.clone(), actor, None, now)
        .await?;
    store.flush().await?;
    let prefix = format!("exported again by {actor}: ");
    super::log_results(store, &run.id, &results, now, &prefix).await?;
    Ok(results)
}

/// The run with every image this process can read: on a shared store an
/// image made by another daemon is fetched from the database into the
/// state folder's cache.
async fn with_local_images(store: &Store, state_dir: &Path, mut run: Run) -> Run {
    if !store.shared() {
        return run;
    }
    for ad in &mut run.ads {
        let here = ad.path.as_ref().is_some_and(|p| Path::new(p).is_file());
        let Some(key) = ad.image.strip_prefix("/ads/") else {
            continue;
        };
        if here
            || key
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            continue;
        }
        if let Ok(Some(bytes)) = store.image(key).await {
            let dest: PathBuf = state_dir.join("ads-cache").join(key);
            let written = async {
                if let Some(dir) = dest.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                tokio::fs::write(&dest, bytes).await
            };
            if written.await.is_ok() {
                ad.path = Some(dest.to_string_lossy().to_string());
            }
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_what_is_allowed() {
        let bad = ExportRequest {
            slack: Some(SlackExport {
                channel: Some("general".into()),
                webhook_env: None,
            }),
            email: None,
        };
        assert!(checked(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a channel ID"));
        let both = ExportRequest {
            slack: Some(SlackExport {
                channel: Some("C0123ABCD9".into()),
                webhook_env: None,
            }),
            email: Some(EmailExport {
                to: vec!["a@acme.example".into()],
            }),
        };
        assert_eq!(
            checked(&both).unwrap().destination,
            Destination::EmailAndSlack
        );
        let mail = ExportRequest {
            slack: None,
            email: Some(EmailExport {
                to: vec!["not an address".into()],
            }),
        };
        assert!(checked(&mail)
            .unwrap_err()
            .to_string()
            .contains("not an email address"));
    }
}
