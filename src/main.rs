//! The `adsched` command line: definitions and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use adsched::client::{self, Client, Failure, OutFormat};
use adsched::commands::{self, NextFormat};
use adsched::settings::Settings;
use adsched::spec::report::Format;

#[derive(Parser)]
#[command(
    name = "adsched",
    version = commands::VERSION_LINE,
    about = "Scheduled ad-generation jobs, GitOps style"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check schedule files: YAML, schema, calendars, templates, exports, references.
    Validate {
        /// Files or folders to check (default ./schedules).
        paths: Vec<PathBuf>,
        /// The whole schedules tree, for product references and duplicate ids
        /// (default ./schedules, used when the paths are inside it).
        #[arg(long)]
        schedules: Option<PathBuf>,
        /// The template pool (default ./templates).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Preview the next fire times of a schedule.
    Next {
        /// A file holding one Schedule, or a schedule id in --schedules.
        file_or_id: String,
        /// Where to look up a schedule id.
        #[arg(long, default_value = "./schedules")]
        schedules: PathBuf,
        /// How many times to list.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// List times strictly after this RFC 3339 instant (default now).
        #[arg(long)]
        after: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: NextFormat,
    },
    /// Print the JSON Schema of schedule documents.
    Schema,
    /// Version, commit, build date and the document apiVersions this build reads.
    Version {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: NextFormat,
    },
    /// List schedules.
    List {
        /// Only this brand (id or name).
        #[arg(long)]
        brand: Option<String>,
        /// Only this product (id or name).
        #[arg(long)]
        product: Option<String>,
        /// Only this status: active, paused, completed, removed.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// A schedule's configuration and recent runs.
    Show {
        /// Schedule id.
        schedule_id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Run history, newest first.
    Runs {
        /// Only this schedule.
        schedule_id: Option<String>,
        /// Only this status: pending, running, completed, failed, interrupted, missed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only runs queued since this date (YYYY-MM-DD) or RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        conn: Conn,
    },
    /// One run: templates, ads, exports, log.
    Run {
        /// Run id.
        run_id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// A run's log.
    Logs {
        /// Run id.
        run_id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Run a schedule now (trigger manual; not counted toward max_runs).
    Trigger {
        /// Schedule id.
        schedule_id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Pause a schedule without a commit, until resumed (or until --until).
    Pause {
        /// Schedule id.
        schedule_id: String,
        /// Why: shown on the dashboard and kept in the audit log.
        #[arg(long)]
        reason: String,
        /// End the pause by itself at this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// End a pause made with `adsched pause` (a file's `paused: true` still holds).
    Resume {
        /// Schedule id.
        schedule_id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Cancel a run: a pending one at once, a running one after its current template.
    Cancel {
        /// Run id.
        run_id: String,
        /// Why: kept on the run and in the audit log.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Send a finished run's ads again: where its schedule says, or where these say.
    Export {
        /// Run id.
        run_id: String,
        /// Post to this Slack channel ID instead.
        #[arg(long)]
        slack_channel: Option<String>,
        /// Email these addresses instead (repeat for several).
        #[arg(long)]
        email_to: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Approve or reject a run's ads (export.review: required); the approved ones are sent once all are decided.
    Review {
        /// Run id.
        run_id: String,
        /// An image to approve, as the run's ads name it (/ads/...); repeat for several.
        #[arg(long)]
        approve: Vec<String>,
        /// An image to reject; repeat for several.
        #[arg(long)]
        reject: Vec<String>,
        /// A note kept with each decision and in the audit log.
        #[arg(long)]
        note: Option<String>,
        /// Send the approved ads now, even with some undecided.
        #[arg(long)]
        send: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// The audit log: who triggered, paused, resumed, cancelled or exported what.
    Audit {
        /// Only this schedule.
        #[arg(long)]
        schedule: Option<String>,
        /// At most this many entries, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        conn: Conn,
    },
    /// What the daemon would change for the files in --schedules, and the next times.
    Plan {
        /// The schedules folder.
        #[arg(long, default_value = "./schedules")]
        schedules: PathBuf,
        /// The template pool.
        #[arg(long, default_value = "./templates")]
        templates: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Send files by email or to Slack with the daemon's settings, to check them.
    Send {
        #[command(subcommand)]
        what: Send,
    },
    /// Serve adsched's tools to AI agents over MCP on stdin/stdout (logs on stderr).
    Mcp {
        /// The daemon's API, for the reading tools and trigger_run.
        #[arg(long, env = "ADSCHED_SERVER", default_value = "http://127.0.0.1:8787")]
        server: String,
        /// The daemon's state folder: the store when no daemon answers, and the ads that may be sent.
        #[arg(long, env = "ADSCHED_STATE", default_value = "./state")]
        state: PathBuf,
        /// PostgreSQL store, postgres://USER:PASS@HOST:PORT/DB[?sslmode=...] (default: sled in --state).
        #[arg(long, env = "ADSCHED_STORE", hide_env_values = true)]
        store: Option<String>,
        /// The template pool: checked by validate_schedule; its files may be sent.
        #[arg(long, env = "ADSCHED_TEMPLATES", default_value = "./templates")]
        templates: PathBuf,
        /// The schedules folder: products and ids for validate_schedule.
        #[arg(long, env = "ADSCHED_SCHEDULES", default_value = "./schedules")]
        schedules: PathBuf,
    },
    /// Create or upgrade the PostgreSQL tables, then exit.
    Migrate {
        /// postgres://USER:PASS@HOST:PORT/DB[?sslmode=disable|prefer|require]
        #[arg(long, env = "ADSCHED_STORE", hide_env_values = true)]
        store: String,
    },
    /// Run the scheduler: watch the schedules, fire due jobs, serve the API.
    Daemon {
        /// The schedules folder to watch.
        #[arg(long, env = "ADSCHED_SCHEDULES", default_value = "./schedules")]
        schedules: PathBuf,
        /// The template pool.
        #[arg(long, env = "ADSCHED_TEMPLATES", default_value = "./templates")]
        templates: PathBuf,
        /// Where the embedded store (sled) and generated ads live.
        #[arg(long, env = "ADSCHED_STATE", default_value = "./state")]
        state: PathBuf,
        /// PostgreSQL store, postgres://USER:PASS@HOST:PORT/DB[?sslmode=...] (default: sled in --state).
        #[arg(long, env = "ADSCHED_STORE", hide_env_values = true)]
        store: Option<String>,
        /// API and dashboard address.
        #[arg(long, env = "ADSCHED_LISTEN", default_value = "127.0.0.1:8787")]
        listen: String,
        /// local, http(s)://URL or cmd:PROGRAM.
        #[arg(long, env = "ADSCHED_GENERATOR", default_value = "local")]
        generator: String,
        /// Public base URL of the dashboard, for links in exports.
        #[arg(long, env = "ADSCHED_PUBLIC_URL")]
        public_url: Option<String>,
        /// Seconds a shutdown waits for the current template.
        #[arg(long, env = "ADSCHED_GRACE_SECONDS", default_value_t = 30)]
        grace_seconds: u64,
        /// Delete runs that ended longer ago than this (e.g. 90d), with their logs and images; default: keep everything.
        #[arg(long, env = "ADSCHED_RETAIN", value_parser = parse_retain)]
        retain: Option<chrono::Duration>,
        /// The schedules repository, https://github.com/OWNER/REPO: the form's "Propose on GitHub" links.
        #[arg(long, env = "ADSCHED_REPO_URL")]
        repo_url: Option<String>,
        /// The branch pull requests target.
        #[arg(long, env = "ADSCHED_REPO_BRANCH", default_value = "main")]
        repo_branch: String,
        /// Log format: human or json.
        #[arg(long, env = "ADSCHED_LOG_FORMAT", value_enum, default_value = "human")]
        log_format: commands::LogFormat,
    },
}

#[derive(Subcommand)]
enum Send {
    /// Email files (ADSCHED_SMTP_URL, ADSCHED_EMAIL_FROM, ADSCHED_EMAIL_ALLOW).
    Email {
        /// Recipient (repeat for several).
        #[arg(long, required = true)]
        to: Vec<String>,
        /// Subject line.
        #[arg(long)]
        subject: String,
        /// Body text.
        #[arg(long)]
        text: Option<String>,
        /// Files to attach.
        files: Vec<PathBuf>,
    },
    /// Upload files to a Slack channel (ADSCHED_SLACK_TOKEN, ADSCHED_SLACK_API_URL, ADSCHED_SLACK_ALLOW).
    Slack {
        /// Channel ID, e.g. C0123ABCD.
        #[arg(long)]
        channel: String,
        /// Message text.
        #[arg(long)]
        text: Option<String>,
        /// Files to upload.
        files: Vec<PathBuf>,
    },
}

/// How query commands reach the data.
#[derive(clap::Args)]
struct Conn {
    /// The daemon's API.
    #[arg(long, env = "ADSCHED_SERVER", default_value = "http://127.0.0.1:8787")]
    server: String,
    /// The store, opened directly when no daemon answers.
    #[arg(long, env = "ADSCHED_STATE", default_value = "./state")]
    state: PathBuf,
    /// PostgreSQL store, read directly when no daemon answers (default: sled in --state).
    #[arg(long, env = "ADSCHED_STORE", hide_env_values = true)]
    store: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: OutFormat,
}

/// `--retain`: a duration of the file format (`90d`, `12h`, `3s`), 1s or more.
fn parse_retain(s: &str) -> Result<chrono::Duration, String> {
    match adsched::calendar::parse_duration(s) {
        Ok(d) if d >= chrono::Duration::seconds(1) => Ok(d),
        Ok(_) => Err("give 1s or more (e.g. 90d); without --retain every run is kept".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn connect(conn: &Conn) -> Result<Client, Failure> {
    let token = Settings::from_env().api_token;
    Client::connect(&conn.server, &conn.state, conn.store.as_deref(), token)
}

fn query(conn: &Conn, f: impl FnOnce(&Client, OutFormat) -> Result<u8, Failure>) -> u8 {
    let result = connect(conn).and_then(|c| f(&c, conn.format));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("adsched: {}", e.message);
            e.code
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate {
            paths,
            schedules,
            templates,
            format,
        } => commands::validate(&paths, schedules.as_deref(), templates.as_deref(), format),
        Command::Next {
            file_or_id,
            schedules,
            count,
            after,
            format,
        } => commands::next(&file_or_id, &schedules, count, after.as_deref(), format),
        Command::List {
            brand,
            product,
            status,
            conn,
        } => query(&conn, |c, f| {
            client::list(
                c,
                brand.as_deref(),
                product.as_deref(),
                status.as_deref(),
                f,
            )
        }),
        Command::Show { schedule_id, conn } => {
            query(&conn, |c, f| client::show(c, &schedule_id, f))
        }
        Command::Runs {
            schedule_id,
            status,
            since,
            limit,
            conn,
        } => query(&conn, |c, f| {
            client::runs(
                c,
                schedule_id.as_deref(),
                status.as_deref(),
                since.as_deref(),
                limit,
                f,
            )
        }),
        Command::Run { run_id, conn } => query(&conn, |c, f| client::run(c, &run_id, f)),
        Command::Logs { run_id, conn } => query(&conn, |c, f| client::logs(c, &run_id, f)),
        Command::Trigger { schedule_id, conn } => {
            query(&conn, |c, f| client::trigger(c, &schedule_id, f))
        }
        Command::Pause {
            schedule_id,
            reason,
            until,
            conn,
        } => query(&conn, |c, f| {
            client::pause(c, &schedule_id, Some(&reason), until.as_deref(), f)
        }),
        Command::Resume { schedule_id, conn } => {
            query(&conn, |c, f| client::resume(c, &schedule_id, f))
        }
        Command::Cancel {
            run_id,
            reason,
            conn,
        } => query(&conn, |c, f| {
            client::cancel(c, &run_id, reason.as_deref(), f)
        }),
        Command::Export {
            run_id,
            slack_channel,
            email_to,
            conn,
        } => {
            let req = adsched::export::again::ExportRequest {
                slack: slack_channel.map(|channel| adsched::spec::model::SlackExport {
                    channel: Some(channel),
                    webhook_env: None,
                }),
                email: (!email_to.is_empty())
                    .then_some(adsched::spec::model::EmailExport { to: email_to }),
            };
            let settings = Settings::from_env();
            query(&conn, |c, f| client::export(c, &run_id, &req, &settings, f))
        }
        Command::Review {
            run_id,
            approve,
            reject,
            note,
            send,
            conn,
        } => {
            let req = adsched::export::review::ReviewRequest {
                approve,
                reject,
                note,
                send,
            };
            let settings = Settings::from_env();
            query(&conn, |c, f| client::review(c, &run_id, &req, &settings, f))
        }
        Command::Audit {
            schedule,
            limit,
            conn,
        } => query(&conn, |c, f| {
            client::audit(c, schedule.as_deref(), limit, f)
        }),
        Command::Plan {
            schedules,
            templates,
            conn,
        } => {
            // With neither a daemon nor a store, everything would be added.
            let c = connect(&conn).ok();
            match client::plan(c.as_ref(), &schedules, &templates, conn.format) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("adsched: {}", e.message);
                    e.code
                }
            }
        }
        Command::Send { what } => match what {
            Send::Email {
                to,
                subject,
                text,
                files,
            } => commands::send_email(&to, &subject, text.as_deref(), &files),
            Send::Slack {
                channel,
                text,
                files,
            } => commands::send_slack(&channel, text.as_deref(), &files),
        },
        Command::Daemon {
            schedules,
            templates,
            state,
            store,
            listen,
            generator,
            public_url,
            grace_seconds,
            retain,
            repo_url,
            repo_branch,
            log_format,
        } => {
            let repo = match repo_url
                .as_deref()
                .filter(|u| !u.trim().is_empty())
                .map(|u| adsched::dashboard::RepoLink::parse(u, &repo_branch))
                .transpose()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("adsched daemon: {e}");
                    return ExitCode::from(commands::EXIT_USAGE);
                }
            };
            commands::daemon(
                adsched::daemon::Config {
                    schedules,
                    templates,
                    state,
                    store,
                    listen,
                    generator,
                    public_url,
                    grace: std::time::Duration::from_secs(grace_seconds),
                    retain,
                    repo,
                },
                log_format,
            )
        }
        Command::Mcp {
            server,
            state,
            store,
            templates,
            schedules,
        } => adsched::mcp::run(adsched::mcp::Config {
            server,
            state,
            store,
            settings: Settings::from_env(),
            templates,
            schedules,
        }),
        Command::Version { format } => commands::version(format),
        Command::Migrate { store } => commands::migrate(&store),
        Command::Schema => {
            print!("{}", adsched::spec::schema::SCHEMA_JSON);
            0
        }
    };
    ExitCode::from(code)
}
