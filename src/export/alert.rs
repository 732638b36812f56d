//! Alerts (SPEC 8): one message per failed, missed or interrupted run, or
//! failed export, to the schedule's `alerts` targets or the daemon-wide
//! defaults. Slack through `chat.postMessage` with the bot token, email
//! through the export's mailer; the export allow-lists apply. What came of
//! each send is returned for the run's log: an alert never changes a run.

use crate::records::{fmt_time, Run, ScheduleState};
use crate::settings::Settings;
use crate::spec::model::{AlertEvent, AlertSlack, Alerts, EmailExport, Schedule};

use super::{email, slack};

/// Where a schedule's alerts go: its own `alerts` block, or else the
/// daemon's `ADSCHED_ALERT_SLACK_CHANNEL` / `ADSCHED_ALERT_EMAIL`. None
/// when neither says anything.
pub fn targets(state: &ScheduleState, settings: &Settings) -> Option<Alerts> {
    let own = serde_json::from_value::<Schedule>(state.spec.clone())
        .ok()
        .and_then(|s| s.alerts);
    if own.is_some() {
        return own;
    }
    let slack = settings
        .alert_slack_channel
        .clone()
        .map(|channel| AlertSlack { channel });
    let email = settings
        .alert_email
        .clone()
        .filter(|to| !to.is_empty())
        .map(|to| EmailExport { to });
    (slack.is_some() || email.is_some()).then_some(Alerts {
        on: None,
        slack,
        email,
    })
}

/// One alert's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The email subject; the first line of the Slack message.
    pub title: String,
    /// The rest: the run, the reason, the link.
    pub body: String,
}

/// What an alert says about `run` of `state`.
pub fn message(
    event: AlertEvent,
    state: &ScheduleState,
    run: &Run,
    reason: &str,
    public_url: Option<&str>,
) -> Message {
    let what = match event {
        AlertEvent::Failed => "a run failed",
        AlertEvent::Missed => "scheduled times were missed",
        AlertEvent::ExportFailed => "an export failed",
        AlertEvent::Interrupted => "a run was interrupted",
    };
    let title = format!("adsched: {what} in {} ({})", state.name, state.id);
    let when = run
        .scheduled_for
        .or(run.started_at)
        .map(|t| fmt_time(t, state.tz()))
        .unwrap_or_else(|| fmt_time(run.queued_at, state.tz()));
    let mut body = format!(
        "Schedule: {} ({})\nRun: {} ({}, {})\nReason: {reason}",
        state.name,
        state.id,
        run.id,
        run.status.as_str(),
        when
    );
    if let Some(base) = public_url {
        body.push_str(&format!(
            "\nRun page: {}/runs/{}",
            base.trim_end_matches('/'),
            run.id
        ));
    }
    Message { title, body }
}

/// Sends `msg` to every target; one line per target for the run's log,
/// with whether it went out.
pub async fn send(settings: &Settings, targets: &Alerts, msg: &Message) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    if let Some(s) = &targets.slack {
        out.push(match to_slack(settings, &s.channel, msg).await {
            Ok(()) => (true, format!("alert sent to Slack channel {}", s.channel)),
            Err(e) => (
                false,
                format!("alert to Slack channel {} not sent: {e}", s.channel),
            ),
        });
    }
    if let Some(e) = &targets.email {
        let to = e.to.join(", ");
        out.push(match to_email(settings, &e.to, msg).await {
            Ok(()) => (true, format!("alert emailed to {to}")),
            Err(err) => (false, format!("alert email to {to} not sent: {err}")),
        });
    }
    out
}

async fn to_slack(settings: &Settings, channel: &str, msg: &Message) -> Result<(), String> {
    slack::check_allowed(settings, channel).map_err(|e| e.to_string())?;
    let client = slack::SlackClient::new(settings).map_err(|e| e.to_string())?;
    let text = format!(
        "*{}*\n{}",
        slack::escape(&msg.title),
        slack::escape(&msg.body)
    );
    let blocks = serde_json::json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    ]);
    let (r, _attempts) = client.post(channel, &[], &blocks, &text).await;
    r.map_err(|e| e.to_string())
}

async fn to_email(settings: &Settings, to: &[String], msg: &Message) -> Result<(), String> {
    email::check_allowed(settings, to).map_err(|e| e.to_string())?;
    let mailer = email::Mailer::new(settings).map_err(|e| e.to_string())?;
    let html = format!(
        "<p><strong>{}</strong></p><pre>{}</pre>",
        crate::dashboard::esc(&msg.title),
        crate::dashboard::esc(&msg.body)
    );
    let (r, _attempts) = mailer
        .send(to, &msg.title, &html, &msg.body, Vec::new(), Vec::new())
        .await;
    r.map_err(|e| e.to_string())
}
