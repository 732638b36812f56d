//! The tools: their arguments and results (which give their JSON Schemas) and
//! what each does.
//!
//! Long because each tool's arguments, result type and description (what an
//! agent reads) sit next to its body; splitting them would put a tool's
//! contract in one file and its behaviour in another.

use chrono::{DateTime, Utc};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::draft;
use super::files::{self, html_to_text};
use super::schema;
use super::{blocking, Adsched, MAX_BODY_BYTES, MAX_EMAIL_ATTACHED_BYTES, MAX_SLACK_TEXT_CHARS};
use crate::export::{email, slack};
use crate::views::{RunView, ScheduleView, TriggerView};

// ---------------------------------------------------------------- inputs

/// Fire times `next_fire_times` lists when not told.
const DEFAULT_COUNT: i64 = 5;
/// The most fire times `next_fire_times` lists.
const MAX_COUNT: i64 = 100;
/// Runs `list_runs` lists when not told.
const DEFAULT_LIMIT: i64 = 20;
/// The most runs `list_runs` lists: as many as the JSON API gives in one page.
const MAX_LIMIT: i64 = crate::service::MAX_LIMIT as i64;

/// A schedule's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleStatusArg {
    /// Fires on its calendar.
    Active,
    /// `paused: true` in its file.
    Paused,
    /// `max_runs` reached, or a `once` that ran or was missed.
    Completed,
    /// Its file is gone; its history is kept.
    Removed,
}

impl ScheduleStatusArg {
    fn as_str(self) -> &'static str {
        match self {
            ScheduleStatusArg::Active => "active",
            ScheduleStatusArg::Paused => "paused",
            ScheduleStatusArg::Completed => "completed",
            ScheduleStatusArg::Removed => "removed",
        }
    }
}

/// Filters for `list_schedules`; all optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListSchedulesArgs {
    /// Only schedules of this brand (its id or name, case-insensitive).
    #[serde(default)]
    pub brand: Option<String>,
    /// Only schedules of this product (its id or name, case-insensitive).
    #[serde(default)]
    pub product: Option<String>,
    /// Only schedules with this status.
    #[serde(default)]
    pub status: Option<ScheduleStatusArg>,
}

/// One schedule.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScheduleIdArgs {
    /// The schedule id, e.g. `acme-collagen-weekly` (see list_schedules).
    pub schedule_id: String,
}

/// What to preview.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NextFireTimesArgs {
    /// The id of a schedule the daemon knows (see list_schedules). Give this or `yaml`.
    #[serde(default)]
    pub schedule_id: Option<String>,
    /// A draft schedule file as YAML text, to preview before proposing it. Give this or
    /// `schedule_id` (with both, `schedule_id` picks a schedule among the draft's documents).
    #[serde(default)]
    pub yaml: Option<String>,
    /// How many fire times to list, 1 to 100 (default 5).
    #[serde(default, deserialize_with = "schema::lenient_int")]
    #[schemars(range(min = 1, max = MAX_COUNT), extend("default" = DEFAULT_COUNT))]
    pub count: Option<i64>,
    /// List times strictly after this RFC 3339 instant, e.g. `2026-03-01T00:00:00Z` (default: now).
    #[serde(default)]
    pub after: Option<String>,
}

/// Filters for `list_runs`; all optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListRunsArgs {
    /// Only runs of this schedule.
    #[serde(default)]
    pub schedule_id: Option<String>,
    /// Only runs with this status.
    #[serde(default)]
    pub status: Option<crate::records::RunStatus>,
    /// Only runs queued since this date (`YYYY-MM-DD`) or RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    /// At most this many runs, newest first, 1 to 1000 (default 20).
    #[serde(default, deserialize_with = "schema::lenient_int")]
    #[schemars(range(min = 1, max = MAX_LIMIT), extend("default" = DEFAULT_LIMIT))]
    pub limit: Option<i64>,
}

/// One run.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunIdArgs {
    /// The run id (a ULID, as list_runs or trigger_run give it).
    pub run_id: String,
}

/// A draft schedule file.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ValidateScheduleArgs {
    /// The whole file as YAML text: one or more documents (`kind: Schedule` or
    /// `kind: Product`, `apiVersion: adsched/v1`) separated by `---`.
    pub yaml: String,
    /// Where the file would live, relative to the schedules folder, e.g.
    /// `acme/collagen-weekly.yaml`. When a file is already there, the draft
    /// replaces it (so editing a schedule does not report its own id as a
    /// duplicate), and uploaded-template paths resolve from its folder.
    /// Default: a new file `schedule.yaml`.
    #[serde(default)]
    pub path: Option<String>,
}

/// An email.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendEmailArgs {
    /// Recipient addresses, e.g. `["marketing@acme.example"]`. When
    /// ADSCHED_EMAIL_ALLOW is set, every domain must be in it.
    pub to: Vec<String>,
    /// The subject: one line.
    pub subject: String,
    /// The body as HTML.
    pub html: String,
    /// A plain-text alternative to the HTML body (default: the HTML's text).
    #[serde(default)]
    pub text: Option<String>,
    /// Files to attach (at most 20, 14 MiB in all): ad images as get_run shows
    /// them (`/ads/...`), template file names (as in `templates_used`), or
    /// absolute paths inside the state folder's ads or the template folder.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// A Slack message.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendSlackArgs {
    /// A channel ID such as `C0123ABCD9` (not its name). When ADSCHED_SLACK_ALLOW
    /// is set, the channel must be in it. The bot must be invited to the channel.
    pub channel: String,
    /// The message text (Slack mrkdwn, at most 3000 characters).
    pub text: String,
    /// Images to upload with the message (at most 20): ad images as get_run
    /// shows them (`/ads/...`), template file names, or absolute paths inside
    /// the state folder's ads or the template folder.
    #[serde(default)]
    pub images: Vec<String>,
}

// --------------------------------------------------------------- outputs

/// Schedules, compact (get_schedule has the full configuration).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduleList {
    /// How many matched.
    pub count: usize,
    /// id, name, brand, product, status, description, timezone, next_run_at,
    /// runs_completed, max_runs, last_run (id, status, times), error, source file.
    pub schedules: Vec<Value>,
}

/// One schedule with its recent runs.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduleDetail {
    /// The schedule as the API shows it, with `spec` (its document as JSON).
    pub schedule: Value,
    /// Its 10 newest runs, compact.
    pub recent_runs: Vec<Value>,
}

/// Fire times from the calendar.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FireTimes {
    /// The schedule id.
    pub id: String,
    /// Its IANA time zone.
    pub timezone: String,
    /// The calendar in words, e.g. "every Monday at 09:00 (America/Los_Angeles)".
    pub description: String,
    /// The next fire times, RFC 3339 with the zone's offset, oldest first.
    pub times: Vec<String>,
    /// The schedule's status in the daemon (absent for a draft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The daemon's next planned run (absent for a draft or when none is planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    /// What limits these times (paused, completed, max_runs), if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Runs, newest first, compact (get_run has ads and logs).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunList {
    /// How many are listed.
    pub count: usize,
    /// id, schedule_id, trigger, attempt, status, times, duration_seconds,
    /// error_message, templates_used, ad_count, exports.
    pub runs: Vec<Value>,
}

/// One run in full.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunDetail {
    /// The run as the API shows it: templates_used, ads (template, ad_run_id,
    /// image, status), exports (destination, status, attempts, detail), error_message.
    pub run: Value,
    /// Its log: time, level, message.
    pub logs: Vec<Value>,
}

/// A queued run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Triggered {
    /// The run id (watch it with get_run).
    pub run_id: String,
    /// True when the schedule already had a queued run: this is that run.
    pub already_pending: bool,
    /// What happened, in words.
    pub message: String,
}

/// One validation finding.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FindingOut {
    /// `error` (the file is invalid) or `warning`.
    #[schemars(extend("enum" = ["error", "warning"]))]
    pub severity: String,
    /// A stable code: yaml-syntax, schema, unknown-field, cron, timezone, time,
    /// duplicate-id, unknown-product, template-missing, path-escape, email,
    /// export, file-too-large, never-fires, once-in-past, pool-too-small.
    pub code: String,
    /// 1-based line in the YAML text.
    #[schemars(range(min = 1))]
    pub line: usize,
    /// 1-based column in the YAML text.
    #[schemars(range(min = 1))]
    pub column: usize,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// A valid schedule in the draft.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DraftSchedule {
    /// Its id.
    pub id: String,
    /// The product it references.
    pub product: String,
    /// Its calendar in words.
    pub description: String,
    /// Its next fire time, RFC 3339 in its zone, if any.
    pub next_fire_time: Option<String>,
}

/// The result of checking a draft.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Validation {
    /// True when there is no error (warnings allowed).
    pub valid: bool,
    /// The draft's path as given (or `schedule.yaml`).
    pub file: String,
    /// Non-empty documents read.
    pub documents: usize,
    /// Errors, by position.
    pub errors: Vec<FindingOut>,
    /// Warnings, by position.
    pub warnings: Vec<FindingOut>,
    /// The valid schedules of the draft.
    pub schedules: Vec<DraftSchedule>,
    /// One line: how it went.
    pub summary: String,
}

/// A sent email.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmailSent {
    /// The recipients.
    pub to: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The attached file names.
    pub attachments: Vec<String>,
    /// SMTP attempts made (transient failures are retried).
    pub attempts: u32,
    /// What happened, in words.
    pub message: String,
}

/// A posted Slack message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SlackPosted {
    /// The channel ID.
    pub channel: String,
    /// The uploaded file names.
    pub files: Vec<String>,
    /// Attempts made (rate limits and server errors are retried).
    pub attempts: u32,
    /// What happened, in words.
    pub message: String,
}

// ----------------------------------------------------------------- tools

#[tool_router(router = tool_router, vis = "pub(super)")]
impl Adsched {
    #[tool(
        description = "List the ad-generation schedules the daemon knows, with status (active, paused, completed, removed), next run time, runs done out of max_runs, the last run's result and any error in the schedule's file. Filter by brand, product (id or name) or status. Use get_schedule for one schedule's full configuration.",
        annotations(
            title = "List schedules",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_schedules(
        &self,
        Parameters(args): Parameters<ListSchedulesArgs>,
    ) -> Result<Json<ScheduleList>, String> {
        let status = args.status.map(|s| s.as_str());
        let (brand, product) = (args.brand, args.product);
        let list = self
            .query(move |c| c.schedules(brand.as_deref(), product.as_deref(), status))
            .await?;
        let schedules: Vec<Value> = list.iter().map(compact_schedule).collect();
        Ok(Json(ScheduleList {
            count: schedules.len(),
            schedules,
        }))
    }

    #[tool(
        description = "Get one schedule in full: its configuration (`spec`: calendar, templates, generation parameters, export), product and brand, status, next run, runs done, source file and line, any error in its file, plus its 10 most recent runs.",
        annotations(
            title = "Get a schedule",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_schedule(
        &self,
        Parameters(args): Parameters<ScheduleIdArgs>,
    ) -> Result<Json<ScheduleDetail>, String> {
        let id = args.schedule_id;
        let (schedule, runs) = self
            .query(move |c| Ok((c.schedule(&id)?, c.runs(Some(&id), None, None, 10)?)))
            .await?;
        Ok(Json(ScheduleDetail {
            schedule: value(&schedule),
            recent_runs: runs.iter().map(compact_run).collect(),
        }))
    }

    #[tool(
        description = "Preview the next fire times of a schedule from its calendar, in its own time zone (daylight-saving changes included): either a schedule the daemon knows (`schedule_id`) or a draft file (`yaml`). Times are RFC 3339 with the zone's offset. For a known schedule the result also gives its status and the daemon's next planned run; a paused or completed schedule does not fire at these times.",
        annotations(
            title = "Next fire times",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn next_fire_times(
        &self,
        Parameters(args): Parameters<NextFireTimesArgs>,
    ) -> Result<Json<FireTimes>, String> {
        let count = args.count.unwrap_or(DEFAULT_COUNT);
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(format!("count must be 1 to {MAX_COUNT}, not {count}"));
        }
        let count = count as u32;
        let after = match args.after.as_deref() {
            None | Some("") => Utc::now(),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    format!(
                        "`after` `{s}` is not an RFC 3339 time ({e}); e.g. 2026-03-01T00:00:00Z"
                    )
                })?
                .with_timezone(&Utc),
        };
        let id = args.schedule_id.filter(|s| !s.is_empty());
        match (args.yaml.filter(|y| !y.trim().is_empty()), id) {
            (Some(yaml), id) => {
                let result = blocking(move || draft::draft_fire_times(&yaml, id.as_deref(), after, count))
                    .await?;
                Ok(Json(result?))
            }
            (None, Some(id)) => {
                let cfg = self.config.clone();
                let result = self
                    .with_client(move |c| draft::known_fire_times(&cfg, c, &id, after, count))
                    .await?;
                Ok(Json(result?))
            }
            (None, None) => Err("give `schedule_id` (a schedule the daemon knows) or `yaml` (a draft schedule file)".into()),
        }
    }

    #[tool(
        description = "List runs, newest first: trigger (schedule, catchup, retry, manual), status (pending, running, completed, failed, interrupted, missed), times, duration, templates used, number of ads, export results and error message. Filter by schedule, status or date. Use get_run for a run's ads and log.",
        annotations(title = "List runs", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_runs(
        &self,
        Parameters(args): Parameters<ListRunsArgs>,
    ) -> Result<Json<RunList>, String> {
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!("limit must be 1 to {MAX_LIMIT}, not {limit}"));
        }
        let status = args.status.map(|s| s.as_str());
        let (schedule, since) = (args.schedule_id, args.since);
        let runs = self
            .query(move |c| {
                c.runs(
                    schedule.as_deref().filter(|s| !s.is_empty()),
                    status,
                    since.as_deref().filter(|s| !s.is_empty()),
                    limit as usize,
                )
            })
            .await?;
        let runs: Vec<Value> = runs.iter().map(compact_run).collect();
        Ok(Json(RunList {
            count: runs.len(),
            runs,
        }))
    }

    #[tool(
        description = "Get one run in full: status, trigger, times, templates used, every ad (template, generator ad_run_id, image, status approved/flagged), export results (email, slack: sent, failed or refused, with detail), error message, and the run's log. An ad's `image` (`/ads/...`) can be passed to send_email or send_slack.",
        annotations(title = "Get a run", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_run(
        &self,
        Parameters(args): Parameters<RunIdArgs>,
    ) -> Result<Json<RunDetail>, String> {
        let id = args.run_id;
        let (run, logs) = self.query(move |c| Ok((c.run(&id)?, c.logs(&id)?))).await?;
        Ok(Json(RunDetail {
            run: value(&run),
            logs: logs.iter().map(value).collect(),
        }))
    }

    #[tool(
        description = "Run a schedule now: queues a manual run (it does not count toward max_runs) and returns its id at once; the run generates ads and exports them as the schedule says. One run at a time for the whole daemon, so it may wait behind another. If the schedule already has a queued run, that run's id is returned instead. Follow it with get_run.",
        annotations(
            title = "Trigger a run",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn trigger_run(
        &self,
        Parameters(args): Parameters<ScheduleIdArgs>,
    ) -> Result<Json<Triggered>, String> {
        let id = args.schedule_id;
        let id2 = id.clone();
        let TriggerView {
            run_id,
            already_pending,
        } = self.query(move |c| c.trigger(&id2)).await?;
        let message = if already_pending {
            format!("{id} already had a queued run: {run_id}")
        } else {
            format!("queued run {run_id} for {id}")
        };
        Ok(Json(Triggered {
            run_id,
            already_pending,
            message,
        }))
    }

    #[tool(
        description = "Check a draft schedule file (YAML text) exactly as `adsched validate` does in CI: YAML syntax, schema and unknown fields, calendar (cron, time zone, times), templates against the template pool, export settings, duplicate ids and product references against the schedules folder. Returns every error and warning with its line and column in the text, and a stable code. Draft a file for a pull request, call this, fix each error at its line, and call it again until `valid` is true. See list_schedules and get_schedule for examples of valid configurations.",
        annotations(
            title = "Validate a schedule file",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn validate_schedule(
        &self,
        Parameters(args): Parameters<ValidateScheduleArgs>,
    ) -> Result<Json<Validation>, String> {
        let (cfg, cache) = (self.config.clone(), self.drafts.clone());
        let result =
            blocking(move || draft::validate(&cfg, &cache, &args.yaml, args.path.as_deref()))
                .await?;
        Ok(Json(result?))
    }

    #[tool(
        description = "Send an email with the daemon's SMTP settings (ADSCHED_SMTP_URL, ADSCHED_EMAIL_FROM): an HTML body, an optional plain-text alternative, and attachments taken only from the generated ads (`/ads/...` as get_run shows them) or the template folder. Recipients' domains must be in ADSCHED_EMAIL_ALLOW when it is set; anything else is refused. Limits: 20 files, 14 MiB of attachments.",
        annotations(
            title = "Send an email",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn send_email(
        &self,
        Parameters(args): Parameters<SendEmailArgs>,
    ) -> Result<Json<EmailSent>, String> {
        if args.to.is_empty() {
            return Err("`to` is empty: give at least one recipient address".into());
        }
        email::no_newlines("the subject", &args.subject).map_err(|e| e.to_string())?;
        if args.subject.trim().is_empty() {
            return Err("the subject is empty".into());
        }
        if args.html.len() > MAX_BODY_BYTES
            || args.text.as_ref().is_some_and(|t| t.len() > MAX_BODY_BYTES)
        {
            return Err(format!(
                "the body is larger than {} KiB",
                MAX_BODY_BYTES / 1024
            ));
        }
        email::check_allowed(&self.config.settings, &args.to).map_err(|e| e.to_string())?;
        let files = files::read_files(&self.config, &args.attachments, "attachments")?;
        let encoded: usize = files.iter().map(|f| f.bytes.len().div_ceil(3) * 4).sum();
        if encoded > MAX_EMAIL_ATTACHED_BYTES {
            return Err(format!(
                "the attachments come to {:.1} MiB once encoded, over the {} MiB an email may carry; send fewer files, or use send_slack",
                encoded as f64 / (1024.0 * 1024.0),
                MAX_EMAIL_ATTACHED_BYTES / (1024 * 1024)
            ));
        }
        let mailer = email::Mailer::new(&self.config.settings).map_err(|e| e.to_string())?;
        let text = args
            .text
            .clone()
            .unwrap_or_else(|| html_to_text(&args.html));
        let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        let attachments = files
            .into_iter()
            .map(|f| email::File {
                name: f.name,
                bytes: f.bytes,
                content_type: f.content_type,
            })
            .collect();
        let (result, attempts) = mailer
            .send(
                &args.to,
                &args.subject,
                &args.html,
                &text,
                Vec::new(),
                attachments,
            )
            .await;
        result.map_err(|e| format!("the email was not sent after {attempts} attempt(s): {e}"))?;
        tracing::info!(to = %args.to.join(", "), files = names.len(), "mcp: email sent");
        Ok(Json(EmailSent {
            message: format!(
                "sent to {} with {} attachment(s)",
                args.to.join(", "),
                names.len()
            ),
            to: args.to,
            subject: args.subject,
            attachments: names,
            attempts,
        }))
    }

    #[tool(
        description = "Post a message to a Slack channel with the daemon's bot token (ADSCHED_SLACK_TOKEN), uploading images taken only from the generated ads (`/ads/...` as get_run shows them) or the template folder. The channel is an ID such as C0123ABCD9 and must be in ADSCHED_SLACK_ALLOW when it is set; anything else is refused. Limits: 20 images, 3000 characters of text.",
        annotations(
            title = "Post to Slack",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn send_slack(
        &self,
        Parameters(args): Parameters<SendSlackArgs>,
    ) -> Result<Json<SlackPosted>, String> {
        let channel = args.channel.trim().to_string();
        if channel.is_empty() {
            return Err("`channel` is empty: give a channel ID such as C0123ABCD9".into());
        }
        if args.text.chars().count() > MAX_SLACK_TEXT_CHARS {
            return Err(format!(
                "the text is longer than Slack's {MAX_SLACK_TEXT_CHARS} characters"
            ));
        }
        slack::check_allowed(&self.config.settings, &channel).map_err(|e| e.to_string())?;
        let files = files::read_files(&self.config, &args.images, "images")?;
        let client = slack::SlackClient::new(&self.config.settings).map_err(|e| e.to_string())?;
        let text = slack::escape(if args.text.trim().is_empty() {
            "(no text)"
        } else {
            &args.text
        });
        let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]);
        let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes)).collect();
        let (result, attempts) = client.post(&channel, &files, &blocks, &text).await;
        result
            .map_err(|e| format!("the message was not posted after {attempts} attempt(s): {e}"))?;
        tracing::info!(channel = %channel, files = names.len(), "mcp: Slack message posted");
        Ok(Json(SlackPosted {
            message: format!("posted to {channel} with {} file(s)", names.len()),
            channel,
            files: names,
            attempts,
        }))
    }
}

/// A view as the JSON the tools answer.
fn value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A schedule for lists: without its `spec`, the last run shortened.
fn compact_schedule(v: &ScheduleView) -> Value {
    let mut v = value(v);
    if let Some(o) = v.as_object_mut() {
        o.remove("spec");
        if let Some(last) = o.get("last_run").filter(|l| l.is_object()) {
            let short = json!({
                "id": last["id"],
                "status": last["status"],
                "trigger": last["trigger"],
                "started_at": last["started_at"],
                "completed_at": last["completed_at"],
                "error_message": last["error_message"],
            });
            o.insert("last_run".into(), short);
        }
    }
    v
}

/// A run for lists: the ads counted, not listed.
fn compact_run(v: &RunView) -> Value {
    let mut v = value(v);
    if let Some(o) = v.as_object_mut() {
        let ads = o
            .remove("ads")
            .and_then(|a| a.as_array().map(Vec::len))
            .unwrap_or(0);
        o.remove("ad_run_ids");
        o.insert("ad_count".into(), json!(ads));
    }
    v
}
