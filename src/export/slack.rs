//! Slack: the Web API with a bot token (`ADSCHED_SLACK_TOKEN`, base URL
//! `ADSCHED_SLACK_API_URL`), or an incoming webhook whose URL is read from
//! the variable a schedule names. Images are uploaded with
//! `files.getUploadURLExternal`, a POST of the bytes to the returned URL, and
//! one `files.completeUploadExternal` to the channel carrying the Block Kit
//! summary. Slack reports errors as HTTP 200 `{"ok": false, "error": ...}`
//! and rate limits as 429 with `Retry-After`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{refused, with_retries, Failure, Summary};
use crate::records::ExportResult;
use crate::run::http::retry_after;
use crate::settings::Settings;
use crate::spec::model::SlackExport;

/// The public Slack Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Escapes text for Slack mrkdwn, so a product name cannot `@channel` or link.
/// Not `dashboard::esc`: Slack decodes only these three entities and would
/// show `&quot;` or `&#39;` literally.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Why a Slack post failed. `what` names the step (`uploading a.png`,
/// `chat.postMessage`). The messages hold the underlying error's text, so
/// it is not also a `source`: a report walking the chain would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// reqwest could not set up its client (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    /// No bot token in the settings.
    #[error("ADSCHED_SLACK_TOKEN is not set (a bot token with files:write and chat:write)")]
    NoToken,
    /// The channel is not in the allow-list.
    #[error("channel {channel} is not in ADSCHED_SLACK_ALLOW ({})", .allow.join(", "))]
    NotAllowed {
        /// The channel asked for.
        channel: String,
        /// `ADSCHED_SLACK_ALLOW`.
        allow: Vec<String>,
    },
    /// No connection, or it broke.
    #[error("{what}: cannot reach Slack: {error}")]
    Unreachable {
        /// The step.
        what: String,
        /// reqwest's error.
        error: reqwest::Error,
    },
    /// HTTP 429.
    #[error("{what}: rate limited by Slack (429)")]
    RateLimited {
        /// The step.
        what: String,
    },
    /// HTTP 5xx.
    #[error("{what}: Slack answered {status}")]
    ServerError {
        /// The step.
        what: String,
        /// The status.
        status: StatusCode,
    },
    /// Another HTTP status that is not a success.
    #[error("{what}: Slack answered {status}: {body}")]
    Refused {
        /// The step.
        what: String,
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// A success status whose body is not JSON.
    #[error("{what}: Slack's answer is not JSON: {error}")]
    NotJson {
        /// The step.
        what: String,
        /// reqwest's error.
        error: reqwest::Error,
    },
    /// `{"ok": false, "error": code}`, with a hint for the codes a setup mistake gives.
    #[error("{what}: Slack error {code}{}", api_hint(.code))]
    Api {
        /// The step.
        what: String,
        /// Slack's error code.
        code: String,
    },
    /// `files.getUploadURLExternal` answered without a field it must have.
    #[error("{what}: no {field}")]
    MissingField {
        /// The step.
        what: String,
        /// `upload_url` or `file_id`.
        field: &'static str,
    },
    /// No connection to the webhook; the error is without its URL (the secret).
    #[error("cannot reach the webhook: {0}")]
    WebhookUnreachable(reqwest::Error),
    /// The webhook answered 429.
    #[error("webhook rate limited (429)")]
    WebhookRateLimited,
    /// The webhook answered another status that is not a success.
    #[error("webhook answered {status}: {body}")]
    WebhookStatus {
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The variable `webhook_env` names is not set.
    #[error("the webhook variable {0} is not set in the daemon's environment")]
    WebhookUnset(String),
    /// An image file of the run cannot be read.
    #[error("reading {}: {error}", .path.display())]
    ReadImage {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// What to do about a Web API error code, after the code.
fn api_hint(code: &str) -> &'static str {
    match code {
        "not_in_channel" => " (invite the bot to the channel)",
        "channel_not_found" => {
            " (use a channel ID such as C0123ABCD, and check the bot can see it)"
        }
        "invalid_auth" | "not_authed" => " (check ADSCHED_SLACK_TOKEN)",
        "missing_scope" => " (the bot needs the files:write and chat:write scopes)",
        _ => "",
    }
}

/// A Web API client.
pub struct SlackClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn client() -> Result<reqwest::Client, SlackError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(SlackError::Client)
}

/// Classifies an HTTP answer: 429 and 5xx are transient.
async fn check(
    resp: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<reqwest::Response, Failure<SlackError>> {
    let what = what.to_string();
    let resp = match resp {
        Ok(r) => r,
        Err(error) => {
            return Err(Failure::Transient(
                SlackError::Unreachable { what, error },
                None,
            ))
        }
    };
    let status = resp.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::Transient(
            SlackError::RateLimited { what },
            retry_after(&resp),
        ));
    }
    if status.is_server_error() {
        return Err(Failure::Transient(
            SlackError::ServerError { what, status },
            None,
        ));
    }
    if !status.is_success() {
        let body = body_start(resp).await;
        return Err(Failure::Permanent(SlackError::Refused {
            what,
            status,
            body,
        }));
    }
    Ok(resp)
}

/// Reads a Web API answer, turning `ok: false` into its error code.
async fn ok_json(resp: reqwest::Response, what: &str) -> Result<Value, Failure<SlackError>> {
    let v: Value = match resp.json().await {
        Ok(v) => v,
        Err(error) => {
            let what = what.to_string();
            return Err(Failure::Transient(
                SlackError::NotJson { what, error },
                None,
            ));
        }
    };
    if v["ok"] == true {
        return Ok(v);
    }
    let code = v["error"].as_str().unwrap_or("unknown_error").to_string();
    let transient = code == "ratelimited";
    let e = SlackError::Api {
        what: what.to_string(),
        code,
    };
    Err(if transient {
        Failure::Transient(e, None)
    } else {
        Failure::Permanent(e)
    })
}

impl SlackClient {
    /// The client of `ADSCHED_SLACK_TOKEN` and `ADSCHED_SLACK_API_URL`.
    pub fn new(settings: &Settings) -> Result<SlackClient, SlackError> {
        let token = settings
            .slack_token
            .as_ref()
            .map(|t| t.expose().to_string())
            .ok_or(SlackError::NoToken)?;
        let base = settings
            .slack_api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        Ok(SlackClient {
            http: client()?,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Uploads one file; returns its id.
    async fn upload(&self, name: &str, bytes: &[u8]) -> Result<String, Failure<SlackError>> {
        let what = format!("uploading {name}");
        let resp = self
            .http
            .post(format!("{}/files.getUploadURLExternal", self.base))
            .bearer_auth(&self.token)
            .form(&[
                ("filename", name.to_string()),
                ("length", bytes.len().to_string()),
            ])
            .send()
            .await;
        let v = ok_json(check(resp, &what).await?, &what).await?;
        let missing = |field| {
            Failure::Permanent(SlackError::MissingField {
                what: what.clone(),
                field,
            })
        };
        let url = v["upload_url"]
            .as_str()
            .ok_or_else(|| missing("upload_url"))?;
        let id = v["file_id"].as_str().ok_or_else(|| missing("file_id"))?;
        let resp = self.http.post(url).body(bytes.to_vec()).send().await;
        check(resp, &what).await?;
        Ok(id.to_string())
    }

    /// Uploads files to a channel with one Block Kit message. Returns attempts used.
    pub async fn post(
        &self,
        channel: &str,
        files: &[(String, Vec<u8>)],
        blocks: &Value,
        text: &str,
    ) -> (Result<(), SlackError>, u32) {
        let mut total_attempts = 0;
        let mut ids = Vec::new();
        for (name, bytes) in files {
            let (r, a) = with_retries(|| self.upload(name, bytes)).await;
            total_attempts = total_attempts.max(a);
            match r {
                Ok(id) => ids.push(json!({"id": id, "title": name})),
                Err(e) => return (Err(e), total_attempts),
            }
        }
        let (r, a) = with_retries(|| async {
            let (method, body) = if ids.is_empty() {
                (
                    "chat.postMessage",
                    json!({"channel": channel, "text": text, "blocks": blocks}),
                )
            } else {
                (
                    "files.completeUploadExternal",
                    json!({"files": ids, "channel_id": channel, "blocks": blocks}),
                )
            };
            let resp = self
                .http
                .post(format!("{}/{method}", self.base))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await;
            ok_json(check(resp, method).await?, method)
                .await
                .map(|_| ())
        })
        .await;
        (r, total_attempts.max(a))
    }
}

/// Checks a channel against `ADSCHED_SLACK_ALLOW`.
pub fn check_allowed(settings: &Settings, channel: &str) -> Result<(), SlackError> {
    match &settings.slack_allow {
        Some(allow) if !allow.iter().any(|a| a.eq_ignore_ascii_case(channel)) => {
            Err(SlackError::NotAllowed {
                channel: channel.to_string(),
                allow: allow.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// The Block Kit summary of a run.
pub fn blocks(summary: &Summary, with_links: bool) -> (Value, String) {
    let text = format!(
        "{} new ads for {} ({}) from {}",
        summary.images.len(),
        escape(&summary.product),
        escape(&summary.brand),
        escape(&summary.schedule_name)
    );
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Schedule*\n{} (`{}`)", escape(&summary.schedule_name), escape(&summary.schedule_id))}),
        json!({"type": "mrkdwn", "text": format!("*Product*\n{} ({})", escape(&summary.product), escape(&summary.brand))}),
        json!({"type": "mrkdwn", "text": format!("*Ran*\n{}", escape(&summary.when))}),
        json!({"type": "mrkdwn", "text": format!("*Templates / ads*\n{} / {}", summary.templates.len(), summary.images.len())}),
    ];
    let flagged = summary
        .images
        .iter()
        .filter(|i| i.status == "flagged")
        .count();
    if flagged > 0 {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Flagged for review*\n{flagged}")}));
    }
    let mut out = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("New ads: {}", summary.product).chars().take(150).collect::<String>()}}),
        json!({"type": "section", "fields": fields}),
    ];
    if with_links {
        let links: Vec<String> = summary
            .images
            .iter()
            .filter_map(|i| {
                i.url
                    .as_ref()
                    .map(|u| format!("<{}|{}>", escape(u), escape(&i.template)))
            })
            .collect();
        if !links.is_empty() {
            let joined: String = links.join(" · ").chars().take(2900).collect();
            out.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": joined}}));
        }
    }
    if let Some(u) = &summary.run_url {
        out.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("<{}|Open the run on the dashboard>", escape(u))}}));
    }
    (Value::Array(out), text)
}

/// Posts text and blocks to an incoming webhook (no files: webhooks cannot upload).
pub async fn post_webhook(url: &str, blocks: &Value, text: &str) -> (Result<(), SlackError>, u32) {
    let http = match client() {
        Ok(c) => c,
        Err(e) => return (Err(e), 0),
    };
    with_retries(|| async {
        let resp = http
            .post(url)
            .json(&json!({"text": text, "blocks": blocks}))
            .send()
            .await;
        // Webhook errors are plain text with a status code; never echo the URL (it is the secret).
        let resp = resp.map_err(|e| {
            Failure::Transient(SlackError::WebhookUnreachable(e.without_url()), None)
        })?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::Transient(
                SlackError::WebhookRateLimited,
                retry_after(&resp),
            ));
        }
        let body = body_start(resp).await;
        if status.is_server_error() {
            Err(Failure::Transient(
                SlackError::WebhookStatus { status, body },
                None,
            ))
        } else if !status.is_success() {
            Err(Failure::Permanent(SlackError::WebhookStatus {
                status,
                body,
            }))
        } else {
            Ok(())
        }
    })
    .await
}

/// Sends a run's ads to Slack as the schedule says.
pub async fn send_run(
    settings: &Settings,
    export: &SlackExport,
    summary: &Summary,
) -> ExportResult {
    let result = |status: &str, attempts: u32, detail: String| ExportResult {
        destination: "slack".into(),
        status: status.into(),
        attempts,
        detail,
    };
    if let Some(var) = &export.webhook_env {
        let Some(url) = Settings::webhook_url(var) else {
            return result(
                "failed",
                0,
                SlackError::WebhookUnset(var.clone()).to_string(),
            );
        };
        let (blocks, text) = blocks(summary, true);
        let (r, attempts) = post_webhook(url.expose(), &blocks, &text).await;
        return match r {
            Ok(()) => result(
                "sent",
                attempts,
                format!(
                    "summary with {} image links posted to the webhook in {var}",
                    summary.images.len()
                ),
            ),
            Err(e) => result("failed", attempts, e.to_string()),
        };
    }
    let Some(channel) = &export.channel else {
        return refused("slack", "`export.slack` needs `channel` or `webhook_env`");
    };
    if let Err(e) = check_allowed(settings, channel) {
        return refused("slack", e.to_string());
    }
    let client = match SlackClient::new(settings) {
        Ok(c) => c,
        Err(e) => return result("failed", 0, e.to_string()),
    };
    let mut files = Vec::new();
    for (i, img) in summary.images.iter().enumerate() {
        if let Some(p) = &img.path {
            match std::fs::read(p) {
                Ok(bytes) => {
                    let name = p.file_name().map_or_else(
                        || format!("{}.png", i + 1),
                        |n| format!("{}-{}-{}", img.template, i + 1, n.to_string_lossy()),
                    );
                    files.push((name, bytes));
                }
                Err(error) => {
                    let e = SlackError::ReadImage {
                        path: p.clone(),
                        error,
                    };
                    return result("failed", 0, e.to_string());
                }
            }
        }
    }
    let with_links = files.len() < summary.images.len();
    let (blocks, text) = blocks(summary, with_links);
    let (r, attempts) = client.post(channel, &files, &blocks, &text).await;
    match r {
        Ok(()) => result(
            "sent",
            attempts,
            format!(
                "{} image{} uploaded to {channel} with a summary",
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => result("failed", attempts, e.to_string()),
    }
}

/// The start of an answer's body, for an error message.
async fn body_start(resp: reqwest::Response) -> String {
    resp.text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}
