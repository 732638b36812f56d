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

mod actions;
mod draft;
mod files;
mod schema;
mod tools;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool_handler, ServerHandler, ServiceExt};

use crate::client::{Client, Failure};

pub use files::resolve_file;
pub use tools::*;

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
    /// The PostgreSQL store, when the daemon uses one.
    pub store: Option<String>,
    /// Secrets and allow-lists for the sending tools and draft checks.
    pub settings: crate::settings::Settings,
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
        store: config.store,
        settings: config.settings,
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
    /// One query at a time (without a daemon, each opens the locked store),
    /// and the client of the last one while it talks to a daemon: one HTTP
    /// client and runtime for the session, not one per tool call.
    client: Arc<tokio::sync::Mutex<Option<Client>>>,
    /// The schedules folder's files as `validate_schedule` last read them.
    drafts: Arc<std::sync::Mutex<crate::spec::ParseCache>>,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for Adsched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adsched")
            .field("config", &self.config)
            .finish()
    }
}

impl Adsched {
    /// A server with these settings.
    pub fn new(config: Config) -> Adsched {
        let mut tool_router = Self::tool_router() + Self::actions_router();
        for route in tool_router.map.values_mut() {
            schema::for_clients(&mut route.attr);
        }
        Adsched {
            config: Arc::new(config),
            client: Arc::new(tokio::sync::Mutex::new(None)),
            drafts: Arc::default(),
            tool_router,
        }
    }

    /// Runs a query with a [`Client`] (the daemon, or the store) off the async threads.
    async fn query<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: Fn(&Client) -> Result<T, Failure> + Send + 'static,
    {
        self.with_client(move |c| c.and_then(&f).map_err(|e| e.message))
            .await?
    }

    /// Runs `f` with the kept client, or a new one (or why none could be
    /// made). A client that talks to a daemon is kept for the next call; a
    /// store opened directly is closed after each, since holding it would
    /// keep a daemon from starting on it.
    async fn with_client<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: Fn(Result<&Client, Failure>) -> T + Send + 'static,
    {
        let config = self.config.clone();
        let mut slot = self.client.clone().lock_owned().await;
        blocking(move || {
            let connect = || {
                Client::connect(
                    &config.server,
                    &config.state,
                    config.store.as_deref(),
                    config.settings.api_token.clone(),
                )
            };
            if let Some(kept) = slot.take() {
                let out = f(Ok(&kept));
                if kept.alive() {
                    *slot = Some(kept);
                    return out;
                }
                // The daemon stopped answering: connect afresh (to another
                // daemon, or to the store) and ask again.
            }
            match connect() {
                Ok(c) => {
                    let out = f(Ok(&c));
                    if c.is_remote() && c.alive() {
                        *slot = Some(c);
                    }
                    out
                }
                Err(e) => f(Err(e)),
            }
        })
        .await
    }
}

const INSTRUCTIONS: &str = "adsched runs scheduled ad-generation jobs. Schedules are YAML files \
reviewed by pull request; a daemon fires them in their own time zone and records every run. \
Read with list_schedules, get_schedule, next_fire_times, list_runs and get_run; start a run now \
with trigger_run. In an incident, act without a pull request: pause_schedule (with a reason) \
and resume_schedule, cancel_run, export_run to send a run's ads again; list_audit shows who did \
what. To propose a schedule, draft the YAML and check it with validate_schedule \
(fix every error, by line and column) and preview it with next_fire_times before opening the \
pull request. send_email and send_slack deliver ads with the daemon's settings and allow-lists; \
they send only generated ads (`/ads/...` as get_run shows them) and template files. Times are \
RFC 3339 with the schedule's offset.";

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

/// Runs blocking work (the client's own runtime, file I/O) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error in adsched: {e}"))
}
