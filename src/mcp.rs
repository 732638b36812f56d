//! `adsched mcp`: the Model Context Protocol server, over stdio, built with
//! the official Rust SDK (`rmcp`). An AI agent gets typed tools with
//! structured results:
//!
//! - reading, from the running daemon's API (or the store when no daemon
//!   answers, as the query commands do): `list_schedules`, `get_schedule`,
//!   `next_fire_times`, `list_runs`, `get_run`; and `trigger_run`;
//! - drafting: `validate_schedule` checks YAML text as `adsched validate`
//!   would, against the products and ids of the schedules folder;
//! - sending: `send_email` and `send_slack` use the export services with the
//!   daemon's environment (`ADSCHED_SMTP_URL`, `ADSCHED_EMAIL_ALLOW`,
//!   `ADSCHED_SLACK_TOKEN`, `ADSCHED_SLACK_ALLOW`, ...), and send only files
//!   from the state folder's ads or the template folder.
//!
//! stdout carries MCP frames only; logs go to stderr. A failing tool answers
//! with an MCP tool error (`isError: true`) whose text says what to do.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, Json, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::{Client, Failure};
use crate::export::{email, slack};
use crate::spec::{self, Options, Pool, Severity};

/// At most this many files in one message.
pub const MAX_FILES: usize = 20;

/// Attachments of one email, base64-encoded, stay under this: the cap the
/// email export uses (under the 20 MiB the users asked for, with room for the body).
pub const MAX_EMAIL_ATTACHED_BYTES: usize = 14 * 1024 * 1024;

/// No single file sent may be larger than this.
pub const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// An email body (HTML or text) may be at most this long.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Slack's limit for the text of one section block.
pub const MAX_SLACK_TEXT_CHARS: usize = 3000;

/// Where the tools find things: the flags of `adsched mcp`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The daemon's API, e.g. `http://127.0.0.1:8787`.
    pub server: String,
    /// The daemon's state folder (store and generated ads).
    pub state: PathBuf,
    /// The template pool.
    pub templates: PathBuf,
    /// The schedules folder (products and ids for `validate_schedule`).
    pub schedules: PathBuf,
}

/// Runs the server on stdin/stdout until the client closes stdin. Returns an exit code.
pub fn run(config: Config) -> u8 {
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adsched mcp: cannot start the runtime: {e}");
            return crate::commands::EXIT_USAGE;
        }
    };
    let result = rt.block_on(serve_stdio(config));
    // The stdin reader may sit in a blocking read: do not wait for it.
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => crate::commands::EXIT_OK,
        Err(e) => {
            eprintln!("adsched mcp: {e}");
            crate::commands::EXIT_INVALID
        }
    }
}

/// Logs on stderr only (stdout is the protocol's); `RUST_LOG` filters.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn,rmcp=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Serves MCP on this process's stdin and stdout.
pub async fn serve_stdio(config: Config) -> anyhow::Result<()> {
    let config = Config {
        server: config.server,
        state: absolute(&config.state),
        templates: absolute(&config.templates),
        schedules: absolute(&config.schedules),
    };
    tracing::info!(
        server = %config.server,
        state = %config.state.display(),
        templates = %config.templates.display(),
        schedules = %config.schedules.display(),
        "adsched mcp: serving MCP on stdio"
    );
    let service = Adsched::new(config)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("the MCP handshake failed: {e}"))?;
    let reason = service.waiting().await?;
    tracing::info!("adsched mcp: the client closed the connection ({reason:?})");
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The MCP server: the adsched tools.
#[derive(Clone)]
pub struct Adsched {
    config: Arc<Config>,
    /// One query at a time: without a daemon, each opens the (locked) store.
    query_lock: Arc<tokio::sync::Mutex<()>>,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for Adsched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adsched")
            .field("config", &self.config)
            .finish()
    }
}

// ---------------------------------------------------------------- inputs

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
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub count: Option<u32>,
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
    /// At most this many runs, newest first, 1 to 200 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
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
    pub severity: String,
    /// A stable code: yaml-syntax, schema, unknown-field, cron, timezone, time,
    /// duplicate-id, unknown-product, template-missing, path-escape, email,
    /// export, file-too-large, never-fires, once-in-past, pool-too-small.
    pub code: String,
    /// 1-based line in the YAML text.
    pub line: usize,
    /// 1-based column in the YAML text.
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

const INSTRUCTIONS: &str = "adsched runs scheduled ad-generation jobs. Schedules are YAML files \
reviewed by pull request; a daemon fires them in their own time zone and records every run. \
Read with list_schedules, get_schedule, next_fire_times, list_runs and get_run; start a run now \
with trigger_run. To propose a schedule, draft the YAML and check it with validate_schedule \
(fix every error, by line and column) and preview it with next_fire_times before opening the \
pull request. send_email and send_slack deliver ads with the daemon's settings and allow-lists; \
they send only generated ads (`/ads/...` as get_run shows them) and template files. Times are \
RFC 3339 with the schedule's offset.";

#[tool_router(router = tool_router)]
impl Adsched {
    /// A server with these settings.
    pub fn new(config: Config) -> Adsched {
        Adsched {
            config: Arc::new(config),
            query_lock: Arc::new(tokio::sync::Mutex::new(())),
            tool_router: Self::tool_router(),
        }
    }

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
            schedule,
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
        let count = args.count.unwrap_or(5);
        if !(1..=100).contains(&count) {
            return Err(format!("count must be 1 to 100, not {count}"));
        }
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
                let dir = ScratchDir::new()?;
                let result = blocking(move || draft_fire_times(&dir, &yaml, id.as_deref(), after, count))
                    .await?;
                Ok(Json(result?))
            }
            (None, Some(id)) => {
                let cfg = self.config.clone();
                let _guard = self.query_lock.lock().await;
                let result =
                    blocking(move || known_fire_times(&cfg, &id, after, count)).await?;
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
        let limit = args.limit.unwrap_or(20);
        if !(1..=200).contains(&limit) {
            return Err(format!("limit must be 1 to 200, not {limit}"));
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
        Ok(Json(RunDetail { run, logs }))
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
        let v = self.query(move |c| c.trigger(&id2)).await?;
        let run_id = v["run_id"].as_str().unwrap_or_default().to_string();
        let already_pending = v["already_pending"] == true;
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
        let cfg = self.config.clone();
        let dir = ScratchDir::new()?;
        let result =
            blocking(move || validate(&cfg, &dir, &args.yaml, args.path.as_deref())).await?;
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
        crate::export::no_newlines("the subject", &args.subject)?;
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
        email::check_allowed(&args.to)?;
        let files = self.read_files(&args.attachments, "attachments")?;
        let encoded: usize = files.iter().map(|f| f.bytes.len().div_ceil(3) * 4).sum();
        if encoded > MAX_EMAIL_ATTACHED_BYTES {
            return Err(format!(
                "the attachments come to {:.1} MiB once encoded, over the {} MiB an email may carry; send fewer files, or use send_slack",
                encoded as f64 / (1024.0 * 1024.0),
                MAX_EMAIL_ATTACHED_BYTES / (1024 * 1024)
            ));
        }
        let mailer = email::Mailer::from_env()?;
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
        slack::check_allowed(&channel)?;
        let files = self.read_files(&args.images, "images")?;
        let client = slack::SlackClient::from_env()?;
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

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Adsched {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("adsched", env!("CARGO_PKG_VERSION"))
                    .with_title("adsched: scheduled ad generation"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

// --------------------------------------------------------------- helpers

impl Adsched {
    /// Runs a query with a [`Client`] (the daemon, or the store) off the async threads.
    async fn query<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Client) -> Result<T, Failure> + Send + 'static,
    {
        let server = self.config.server.clone();
        let state = self.config.state.clone();
        let _guard = self.query_lock.lock().await;
        blocking(move || {
            let client = Client::connect(&server, &state).map_err(|e| e.message)?;
            f(&client).map_err(|e| e.message)
        })
        .await?
    }

    /// Resolves and reads files to send, refusing any outside the allowed folders.
    fn read_files(&self, given: &[String], what: &str) -> Result<Vec<FileToSend>, String> {
        if given.len() > MAX_FILES {
            return Err(format!(
                "{} {what} given; at most {MAX_FILES} can be sent in one message",
                given.len()
            ));
        }
        given
            .iter()
            .map(|g| {
                let path = resolve_file(&self.config, g)?;
                let len = std::fs::metadata(&path)
                    .map_err(|e| format!("`{g}`: {e}"))?
                    .len();
                if len > MAX_FILE_BYTES {
                    return Err(format!(
                        "`{g}` is {} MiB, over the {} MiB a file may have",
                        len / (1024 * 1024),
                        MAX_FILE_BYTES / (1024 * 1024)
                    ));
                }
                let bytes = std::fs::read(&path).map_err(|e| format!("`{g}`: {e}"))?;
                let name = path
                    .file_name()
                    .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
                Ok(FileToSend {
                    content_type: crate::media::content_type(&path).to_string(),
                    name,
                    bytes,
                })
            })
            .collect()
    }
}

/// Runs blocking work (the client's own runtime, file I/O) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error in adsched: {e}"))
}

struct FileToSend {
    name: String,
    bytes: Vec<u8>,
    content_type: String,
}

/// The folders files may be sent from: the state folder's `ads` and the templates.
fn allowed_roots(cfg: &Config) -> Vec<PathBuf> {
    [cfg.state.join("ads"), cfg.templates.clone()]
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect()
}

/// Finds a file to send: `/ads/...` (an ad image as the API shows it) or a
/// path relative to the state folder, a template name, or an absolute path.
/// Symlinks are resolved; the real file must be inside an allowed folder.
pub fn resolve_file(cfg: &Config, given: &str) -> Result<PathBuf, String> {
    let given = given.trim();
    if given.is_empty() {
        return Err("an empty file path was given".into());
    }
    let p = Path::new(given);
    let rel = given.trim_start_matches('/');
    let mut candidates = Vec::new();
    if p.is_absolute() {
        candidates.push(p.to_path_buf());
    }
    if !rel.is_empty() {
        candidates.push(cfg.state.join(rel));
        candidates.push(cfg.templates.join(rel));
    }
    if !p.is_absolute() {
        candidates.push(p.to_path_buf());
    }
    let roots = allowed_roots(cfg);
    let mut outside = false;
    for c in candidates {
        let Ok(real) = std::fs::canonicalize(&c) else {
            continue;
        };
        if !real.is_file() {
            continue;
        }
        if roots.iter().any(|r| real.starts_with(r)) {
            return Ok(real);
        }
        outside = true;
    }
    if outside {
        Err(format!(
            "`{given}` is outside the folders files may be sent from ({} and {}); only generated ads and templates can be sent",
            cfg.state.join("ads").display(),
            cfg.templates.display()
        ))
    } else {
        Err(format!(
            "`{given}` does not exist: give an ad image as get_run shows it (`/ads/...`), a template file name, or an absolute path inside {} or {}",
            cfg.state.join("ads").display(),
            cfg.templates.display()
        ))
    }
}

/// A crude plain-text rendering of an HTML body, for the text alternative.
fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut tag = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "table"
                ) {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
    lines.join("\n").trim().to_string()
}

/// A schedule for lists: without its `spec`, the last run shortened.
fn compact_schedule(v: &Value) -> Value {
    let mut v = v.clone();
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
fn compact_run(v: &Value) -> Value {
    let mut v = v.clone();
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

/// A private folder under the system's temp folder, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<ScratchDir, String> {
        let dir = std::env::temp_dir().join(format!("adsched-mcp-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create a scratch folder in {}: {e}", dir.display()))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The draft's place relative to the schedules folder: a plain relative `.yaml` path.
fn draft_path(cfg: &Config, path: Option<&str>) -> Result<PathBuf, String> {
    let Some(given) = path.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(PathBuf::from("schedule.yaml"));
    };
    let bad = || {
        format!(
            "`path` `{given}` must be a relative path inside the schedules folder ending in .yaml or .yml, without `..` or hidden names, e.g. acme/collagen-weekly.yaml"
        )
    };
    let p = Path::new(given);
    let plain = p.components().all(|c| match c {
        Component::Normal(n) => !n.to_string_lossy().starts_with('.'),
        Component::CurDir => true,
        _ => false,
    });
    let yaml = p
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml");
    if !plain || !yaml {
        return Err(bad());
    }
    let mut rel: PathBuf = p
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    // Accept the path as seen from the repository (`schedules/acme/x.yaml`) too.
    if let (Some(folder), Some(Component::Normal(first))) =
        (cfg.schedules.file_name(), rel.components().next())
    {
        if first == folder && !cfg.schedules.join(first).exists() {
            rel = rel.components().skip(1).collect();
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(bad());
    }
    Ok(rel)
}

/// `validate_schedule`: the draft with the rest of the schedules folder.
fn validate(
    cfg: &Config,
    scratch: &ScratchDir,
    yaml: &str,
    path: Option<&str>,
) -> Result<Validation, String> {
    let rel = draft_path(cfg, path)?;
    let shown = rel.to_string_lossy().to_string();
    let draft = scratch.0.join(&rel);
    if let Some(parent) = draft.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("scratch folder: {e}"))?;
    }
    std::fs::write(&draft, yaml).map_err(|e| format!("scratch file: {e}"))?;
    // The other files give products and ids; the draft comes last, so a
    // duplicate id is reported on the draft. A file the draft replaces is left out.
    let replaced = std::fs::canonicalize(cfg.schedules.join(&rel)).ok();
    let mut paths: Vec<PathBuf> = if cfg.schedules.is_dir() {
        spec::discover(&cfg.schedules)
            .into_iter()
            .filter(|f| replaced.is_none() || std::fs::canonicalize(f).ok() != replaced)
            .collect()
    } else {
        Vec::new()
    };
    paths.push(draft.clone());
    let opts = Options::new(Pool::scan(&cfg.templates), Utc::now());
    let catalog = spec::load(&paths, &opts).map_err(|e| e.to_string())?;
    let Some(file) = catalog.files.iter().position(|f| f.path == draft) else {
        return Err("internal error: the draft was not read".into());
    };
    let scratch_prefix = format!("{}/", scratch.0.display());
    let mut findings: Vec<(Severity, spec::Code, usize, usize, String)> = catalog
        .findings
        .iter()
        .filter(|f| f.file == file)
        .map(|f| {
            (
                f.severity,
                f.code,
                f.pos.line,
                f.pos.column,
                f.message.replace(&scratch_prefix, ""),
            )
        })
        .collect();
    recheck_uploaded(cfg, &catalog, file, &rel, yaml, &mut findings);
    let out = |sev: Severity| -> Vec<FindingOut> {
        findings
            .iter()
            .filter(|f| f.0 == sev)
            .map(|f| FindingOut {
                severity: match f.0 {
                    Severity::Error => "error".into(),
                    Severity::Warning => "warning".into(),
                },
                code: f.1.as_str().into(),
                line: f.2,
                column: f.3,
                message: f.4.clone(),
            })
            .collect()
    };
    let errors = out(Severity::Error);
    let warnings = out(Severity::Warning);
    let now = Utc::now();
    let schedules = catalog
        .schedules
        .iter()
        .filter(|d| d.file == file)
        .filter_map(|d| {
            let cal = spec::check::calendar(&d.doc).ok()?;
            let tz = cal.timezone();
            Some(DraftSchedule {
                id: d.doc.id.clone(),
                product: d.doc.product.clone(),
                description: cal.describe(),
                next_fire_time: cal.next_after(now).map(|t| {
                    t.with_timezone(&tz)
                        .to_rfc3339_opts(SecondsFormat::Secs, false)
                }),
            })
        })
        .collect();
    let documents = count_documents(yaml);
    let valid = errors.is_empty();
    let summary = if valid {
        format!(
            "{shown} is valid ({} warning{})",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        )
    } else {
        let first = &errors[0];
        format!(
            "{shown} has {} error{} and {} warning{}; first at line {}, column {}: {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" },
            first.line,
            first.column,
            first.message
        )
    };
    Ok(Validation {
        valid,
        file: shown,
        documents,
        errors,
        warnings,
        schedules,
        summary,
    })
}

/// Non-empty YAML documents in `yaml` (up to a syntax error).
fn count_documents(yaml: &str) -> usize {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(yaml)
        .map_while(|de| serde_yaml::Value::deserialize(de).ok())
        .filter(|v| !v.is_null())
        .count()
}

/// Uploaded templates are paths relative to the file: the draft sits in a
/// scratch folder, so check them again from where it would live.
fn recheck_uploaded(
    cfg: &Config,
    catalog: &spec::Catalog,
    file: usize,
    rel: &Path,
    yaml: &str,
    findings: &mut Vec<(Severity, spec::Code, usize, usize, String)>,
) {
    use serde::Deserialize as _;
    let base = cfg.schedules.join(rel.parent().unwrap_or(Path::new("")));
    for (index, de) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
        let Ok(doc) = serde_yaml::Value::deserialize(de) else {
            return;
        };
        let templates = &doc["templates"];
        if templates["mode"].as_str() != Some("uploaded") {
            continue;
        }
        let Some(files) = templates["files"].as_sequence() else {
            continue;
        };
        for (i, f) in files.iter().enumerate() {
            let Some(name) = f.as_str() else { continue };
            let pos = catalog.files[file].value_pos(index, &format!("/templates/files/{i}"));
            let Some(at) = findings.iter().position(|x| {
                matches!(x.1, spec::Code::TemplateMissing | spec::Code::PathEscape)
                    && (x.2, x.3) == (pos.line, pos.column)
            }) else {
                continue;
            };
            match spec::check::check_uploaded(name, &base, &cfg.schedules) {
                Ok(_) => {
                    findings.remove(at);
                }
                Err((code, message)) => {
                    findings[at].1 = code;
                    findings[at].4 = message;
                }
            }
        }
    }
}

/// Fire times of a schedule the daemon knows; from the schedules folder when
/// neither the daemon nor its store can be reached.
fn known_fire_times(
    cfg: &Config,
    id: &str,
    after: DateTime<Utc>,
    count: u32,
) -> Result<FireTimes, String> {
    match Client::connect(&cfg.server, &cfg.state) {
        Ok(client) => {
            let v = client.schedule(id).map_err(|e| e.message)?;
            let doc: spec::Schedule = serde_json::from_value(v["spec"].clone()).map_err(|e| {
                format!("the daemon's copy of schedule `{id}` cannot be read ({e})")
            })?;
            let mut out = fire_times(&doc, after, count)?;
            let status = v["status"].as_str().unwrap_or_default().to_string();
            out.note = match status.as_str() {
                "paused" => {
                    Some("the schedule is paused: it does not fire until `paused: false`".into())
                }
                "completed" => Some("the schedule is completed: it does not fire any more".into()),
                "removed" => Some("the schedule's file is gone: it does not fire".into()),
                _ => match (v["max_runs"].as_u64(), v["runs_completed"].as_u64()) {
                    (Some(max), Some(done)) => Some(format!(
                        "max_runs {max}: {done} done, so at most {} more calendar run(s)",
                        max.saturating_sub(done)
                    )),
                    _ => None,
                },
            };
            out.status = Some(status);
            out.next_run_at = v["next_run_at"].as_str().map(str::to_string);
            Ok(out)
        }
        Err(e) => {
            if !cfg.schedules.is_dir() {
                return Err(e.message);
            }
            let catalog = spec::load(
                std::slice::from_ref(&cfg.schedules),
                &Options::new(Pool::default(), after),
            )
            .map_err(|e| e.to_string())?;
            let doc = catalog.schedule(id).ok_or_else(|| {
                format!(
                    "{}; and there is no valid schedule `{id}` in {}",
                    e.message,
                    cfg.schedules.display()
                )
            })?;
            let mut out = fire_times(&doc.doc, after, count)?;
            out.note = Some(format!(
                "from {} (no daemon answered at {})",
                catalog.display(doc.file),
                cfg.server
            ));
            Ok(out)
        }
    }
}

/// Fire times of a schedule in a draft.
fn draft_fire_times(
    scratch: &ScratchDir,
    yaml: &str,
    id: Option<&str>,
    after: DateTime<Utc>,
    count: u32,
) -> Result<FireTimes, String> {
    let draft = scratch.0.join("schedule.yaml");
    std::fs::write(&draft, yaml).map_err(|e| format!("scratch file: {e}"))?;
    // The calendar alone matters: no pool, no references.
    let catalog =
        spec::load(&[draft], &Options::new(Pool::default(), after)).map_err(|e| e.to_string())?;
    let doc = match (id, catalog.schedules.as_slice()) {
        (Some(id), all) => all.iter().find(|d| d.doc.id == id),
        (None, [one]) => Some(one),
        (None, []) => None,
        (None, _) => {
            return Err(format!(
                "the draft holds several schedules ({}); pass `schedule_id` to pick one",
                catalog
                    .schedules
                    .iter()
                    .map(|d| d.doc.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    let Some(doc) = doc else {
        let first = catalog
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map(|f| {
                format!(
                    "; first error at line {}, column {}: {}",
                    f.pos.line, f.pos.column, f.message
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "the draft holds no valid schedule{}{first} (validate_schedule lists every problem)",
            id.map(|i| format!(" with id `{i}`")).unwrap_or_default()
        ));
    };
    fire_times(&doc.doc, after, count)
}

fn fire_times(doc: &spec::Schedule, after: DateTime<Utc>, count: u32) -> Result<FireTimes, String> {
    let cal = spec::check::calendar(doc).map_err(|e| {
        format!(
            "schedule `{}` has no usable calendar: {}",
            doc.id, e.message
        )
    })?;
    let tz = cal.timezone();
    Ok(FireTimes {
        id: doc.id.clone(),
        timezone: tz.name().to_string(),
        description: cal.describe(),
        times: cal
            .upcoming(after, count as usize)
            .into_iter()
            .map(|t| {
                t.with_timezone(&tz)
                    .to_rfc3339_opts(SecondsFormat::Secs, false)
            })
            .collect(),
        status: None,
        next_run_at: None,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        assert_eq!(
            html_to_text("<h2>New ads</h2><p>Hello &amp; welcome<br>two</p>"),
            "New ads\n\nHello & welcome\ntwo"
        );
    }

    #[test]
    fn draft_paths_stay_inside_the_schedules_folder() {
        let cfg = Config {
            server: String::new(),
            state: "/nonexistent/state".into(),
            templates: "/nonexistent/templates".into(),
            schedules: "/nonexistent/schedules".into(),
        };
        assert_eq!(draft_path(&cfg, None).unwrap(), Path::new("schedule.yaml"));
        assert_eq!(
            draft_path(&cfg, Some("acme/x.yaml")).unwrap(),
            Path::new("acme/x.yaml")
        );
        assert_eq!(
            draft_path(&cfg, Some("schedules/acme/x.yml")).unwrap(),
            Path::new("acme/x.yml")
        );
        for bad in [
            "../x.yaml",
            "/etc/x.yaml",
            "acme/.x.yaml",
            "x.txt",
            "schedules",
        ] {
            assert!(draft_path(&cfg, Some(bad)).is_err(), "{bad}");
        }
    }
}
