//! Where the query commands get their data: the running daemon's API, or
//! the store directly when no daemon answers. Either way the answers are
//! the API's views ([`crate::views`]); `render` prints them.

mod render;

pub use render::{
    audit, cancel, export, list, logs, pause, plan, resume, review, run, runs, show, table,
    trigger, OutFormat,
};

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use crate::commands::{EXIT_INVALID, EXIT_USAGE};
use crate::daemon::LOCAL_ACTOR;
use crate::export::again::{self, ExportRequest};
use crate::export::review::{self, ReviewRequest};
use crate::records::{FileError, ScheduleState};
use crate::service::{self, QueryError, RunParams, ScheduleFilter};
use crate::settings::{Secret, Settings};
use crate::store::{Store, StoreError};
use crate::views::{AuditView, LogLineView, RunView, ScheduleView, TriggerView};

/// Where the commands get their data.
pub struct Client {
    /// Drives the HTTP calls and the store's operations: the commands are
    /// synchronous, both are async.
    rt: Rt,
    source: Source,
    /// The token sent on the daemon's mutating requests (`ADSCHED_API_TOKEN`).
    token: Option<Secret>,
    /// The state folder: images for an export made without a daemon.
    state: std::path::PathBuf,
    /// A call to the daemon failed to reach it.
    lost: std::sync::atomic::AtomicBool,
}

enum Source {
    Api { base: String, http: reqwest::Client },
    Store(Store),
}

/// The client's own runtime. Dropped without waiting for its tasks, so a
/// client may be dropped anywhere, inside another runtime's tasks too (the
/// MCP server keeps one).
struct Rt(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for Rt {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0
            .as_ref()
            .expect("the runtime lives as long as the client")
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A failed query, with the exit code it deserves.
pub struct Failure {
    /// 1 for "not found" and the like, 2 for usage or connection problems.
    pub code: u8,
    /// What to print.
    pub message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

impl Client {
    /// Connects to the daemon at `server`, or opens the store: the database
    /// at `store` when given, else the embedded one in `state`. `token` goes
    /// with the daemon's mutating requests.
    pub fn connect(
        server: &str,
        state: &Path,
        store: Option<&str>,
        token: Option<Secret>,
    ) -> Result<Client, Failure> {
        let mut c = Client::connect_to(server, state, store)?;
        c.token = token;
        c.state = state.to_path_buf();
        Ok(c)
    }

    /// Whether this client asks a daemon (not a store opened directly).
    pub fn is_remote(&self) -> bool {
        matches!(self.source, Source::Api { .. })
    }

    /// Whether every call so far reached the daemon (or the store).
    pub fn alive(&self) -> bool {
        !self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn connect_to(server: &str, state: &Path, store: Option<&str>) -> Result<Client, Failure> {
        let rt = Rt(Some(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| fail(EXIT_USAGE, format!("cannot start the runtime: {e}")))?,
        ));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| fail(EXIT_USAGE, e.to_string()))?;
        let base = server.trim_end_matches('/').to_string();
        let alive = rt.block_on(async {
            http.get(format!("{base}/healthz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if alive {
            eprintln!("(from the daemon at {base})");
            return Ok(Client {
                rt,
                source: Source::Api { base, http },
                token: None,
                state: state.to_path_buf(),
                lost: Default::default(),
            });
        }
        if let Some(url) = store.filter(|u| !u.trim().is_empty()) {
            let opened = rt.block_on(Store::open_any(Some(url), state));
            return match opened {
                Ok(store) if store.failure().is_none() => {
                    eprintln!("(from {}; no daemon answers at {base})", store.location());
                    Ok(Client {
                        rt,
                        source: Source::Store(store),
                        token: None,
                        state: state.to_path_buf(),
                        lost: Default::default(),
                    })
                }
                Ok(store) => Err(fail(
                    EXIT_USAGE,
                    format!(
                        "no daemon answers at {base}, and {}",
                        store.failure().unwrap_or_default()
                    ),
                )),
                Err(e) => Err(fail(EXIT_USAGE, e.to_string())),
            };
        }
        if !state.join("db").exists() && !state.join("conf").exists() {
            return Err(fail(
                EXIT_USAGE,
                format!(
                    "no daemon answers at {base}, and there is no store in {}; start `adsched daemon` or pass --server / --state",
                    state.display()
                ),
            ));
        }
        match Store::open(state) {
            Ok(store) => {
                eprintln!("(from the store in {}; no daemon answers at {base})", state.display());
                Ok(Client {
                    rt,
                    source: Source::Store(store),
                    token: None,
                    state: state.to_path_buf(),
                    lost: Default::default(),
                })
            }
            Err(StoreError::Locked(dir)) => Err(fail(
                EXIT_USAGE,
                format!("a daemon holds the store in {dir} but does not answer at {base}; pass its address with --server"),
            )),
            Err(e) => Err(fail(EXIT_USAGE, e.to_string())),
        }
    }

    fn api(&self, method: reqwest::Method, path: &str) -> Result<Value, Failure> {
        self.api_with(method, path, None)
    }

    fn api_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let rt = &self.rt;
        let Source::Api { base, http } = &self.source else {
            return Err(fail(EXIT_USAGE, "not connected to a daemon"));
        };
        let mut req = http.request(method, format!("{base}{path}"));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        rt.block_on(async {
            let resp = req.send().await.map_err(|e| {
                self.lost.store(true, std::sync::atomic::Ordering::Relaxed);
                fail(
                    EXIT_USAGE,
                    format!("the daemon at {base} did not answer: {e}"),
                )
            })?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                Ok(body)
            } else {
                let msg = body["error"].as_str().map_or_else(
                    || format!("the daemon answered {status} to {path}"),
                    str::to_string,
                );
                let code = if status.is_client_error() && status != reqwest::StatusCode::BAD_REQUEST
                {
                    EXIT_INVALID
                } else {
                    EXIT_USAGE
                };
                Err(fail(code, msg))
            }
        })
    }

    /// The files the daemon could not apply (from `/readyz`); none in store
    /// mode, where no daemon has read the folder.
    fn invalid_files(&self) -> Vec<FileError> {
        let rt = &self.rt;
        let Source::Api { base, http } = &self.source else {
            return Vec::new();
        };
        rt.block_on(async {
            // /readyz answers 503 with the same body while not ready.
            let resp = http.get(format!("{base}/readyz")).send().await.ok()?;
            let body: Value = resp.json().await.ok()?;
            serde_json::from_value(body.get("invalid_files")?.clone()).ok()
        })
        .unwrap_or_default()
    }

    /// Schedules matching the filters.
    pub fn schedules(
        &self,
        brand: Option<&str>,
        product: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<ScheduleView>, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let q = query(&[("brand", brand), ("product", product), ("status", status)]);
                self.get(&format!("/api/v1/schedules{q}"))
            }
            Source::Store(store) => {
                let f = ScheduleFilter::parse(brand, product, status).map_err(Failure::from)?;
                Ok(self.rt.block_on(service::schedules(store, &f))?)
            }
        }
    }

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<ScheduleView, Failure> {
        match &self.source {
            Source::Api { .. } => self.get(&format!("/api/v1/schedules/{}", urlencode(id))),
            Source::Store(store) => Ok(self.rt.block_on(service::schedule(store, id))?),
        }
    }

    /// Runs, newest first.
    pub fn runs(
        &self,
        schedule: Option<&str>,
        status: Option<&str>,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunView>, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let limit = limit.to_string();
                let q = query(&[
                    ("limit", Some(&limit)),
                    ("status", status),
                    ("since", since),
                ]);
                match schedule {
                    Some(id) => self.get(&format!("/api/v1/schedules/{}/runs{q}", urlencode(id))),
                    None => self.get(&format!("/api/v1/runs{q}")),
                }
            }
            Source::Store(store) => {
                let f = RunParams {
                    status: status.map(str::to_string),
                    since: since.map(str::to_string),
                    limit: Some(limit.to_string()),
                    ..Default::default()
                }
                .parse()?;
                Ok(self.rt.block_on(service::runs(store, schedule, &f))?)
            }
        }
    }

    /// One run.
    pub fn run(&self, id: &str) -> Result<RunView, Failure> {
        match &self.source {
            Source::Api { .. } => self.get(&format!("/api/v1/runs/{}", urlencode(id))),
            Source::Store(store) => Ok(self.rt.block_on(service::run(store, id))?),
        }
    }

    /// A run's log.
    pub fn logs(&self, id: &str) -> Result<Vec<LogLineView>, Failure> {
        match &self.source {
            Source::Api { .. } => self.get(&format!("/api/v1/runs/{}/logs", urlencode(id))),
            Source::Store(store) => Ok(self.rt.block_on(service::logs(store, id))?),
        }
    }

    /// Queues a manual run.
    pub fn trigger(&self, id: &str) -> Result<TriggerView, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let v = self.api(
                    reqwest::Method::POST,
                    &format!("/api/v1/schedules/{}/trigger", urlencode(id)),
                )?;
                decode(v, "trigger")
            }
            Source::Store(store) => {
                Ok(self
                    .rt
                    .block_on(service::trigger(store, id, LOCAL_ACTOR, Utc::now()))?)
            }
        }
    }

    /// Pauses a schedule (SPEC 8).
    pub fn pause(
        &self,
        id: &str,
        reason: Option<&str>,
        until: Option<&str>,
    ) -> Result<ScheduleView, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let body = serde_json::json!({"reason": reason, "until": until});
                let path = format!("/api/v1/schedules/{}/pause", urlencode(id));
                decode(
                    self.api_with(reqwest::Method::POST, &path, Some(body))?,
                    &path,
                )
            }
            Source::Store(store) => Ok(self.rt.block_on(service::pause(
                store,
                id,
                LOCAL_ACTOR,
                reason,
                until,
                Utc::now(),
            ))?),
        }
    }

    /// Ends an operator's pause.
    pub fn resume(&self, id: &str) -> Result<ScheduleView, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let path = format!("/api/v1/schedules/{}/resume", urlencode(id));
                decode(self.api(reqwest::Method::POST, &path)?, &path)
            }
            Source::Store(store) => {
                Ok(self
                    .rt
                    .block_on(service::resume(store, id, LOCAL_ACTOR, Utc::now()))?)
            }
        }
    }

    /// Cancels a run.
    pub fn cancel(&self, run_id: &str, reason: Option<&str>) -> Result<RunView, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let body = serde_json::json!({ "reason": reason });
                let path = format!("/api/v1/runs/{}/cancel", urlencode(run_id));
                decode(
                    self.api_with(reqwest::Method::POST, &path, Some(body))?,
                    &path,
                )
            }
            Source::Store(store) => Ok(self.rt.block_on(service::cancel(
                store,
                run_id,
                LOCAL_ACTOR,
                reason,
                Utc::now(),
            ))?),
        }
    }

    /// Exports a finished run again: through the daemon (which answers at
    /// once and sends in the background), or here, with this process's
    /// settings, when no daemon answers. Returns the run as it then is.
    pub fn export(
        &self,
        run_id: &str,
        req: &ExportRequest,
        settings: &Settings,
    ) -> Result<RunView, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let body = serde_json::to_value(req).unwrap_or(Value::Null);
                let path = format!("/api/v1/runs/{}/export", urlencode(run_id));
                decode(
                    self.api_with(reqwest::Method::POST, &path, Some(body))?,
                    &path,
                )
            }
            Source::Store(store) => self.rt.block_on(async {
                let prepared = again::prepare(store, run_id, req).await?;
                let sender = again::Sender {
                    settings,
                    public_url: None,
                    state_dir: &self.state,
                };
                again::send(store, &sender, prepared, LOCAL_ACTOR, Utc::now())
                    .await
                    .map_err(QueryError::from)?;
                Ok(service::run(store, run_id).await?)
            }),
        }
    }

    /// Records review decisions on a run's ads (SPEC 11); once every ad is
    /// decided (or on `send`) the approved ones are sent: by the daemon in
    /// the background, or here without one. Returns the run as it then is.
    pub fn review(
        &self,
        run_id: &str,
        req: &ReviewRequest,
        settings: &Settings,
    ) -> Result<RunView, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let body = serde_json::to_value(req).unwrap_or(Value::Null);
                let path = format!("/api/v1/runs/{}/review", urlencode(run_id));
                decode(
                    self.api_with(reqwest::Method::POST, &path, Some(body))?,
                    &path,
                )
            }
            Source::Store(store) => self.rt.block_on(async {
                let now = Utc::now();
                let (run, send) = review::decide(store, run_id, req, LOCAL_ACTOR, now).await?;
                if send {
                    let sender = again::Sender {
                        settings,
                        public_url: None,
                        state_dir: &self.state,
                    };
                    review::send_approved(store, &sender, &run, LOCAL_ACTOR, now)
                        .await
                        .map_err(QueryError::from)?;
                }
                Ok(service::run(store, run_id).await?)
            }),
        }
    }

    /// The audit log, newest first.
    pub fn audit(&self, schedule: Option<&str>, limit: usize) -> Result<Vec<AuditView>, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let limit = limit.to_string();
                let q = query(&[("schedule", schedule), ("limit", Some(&limit))]);
                self.get(&format!("/api/v1/audit{q}"))
            }
            Source::Store(store) => {
                Ok(self
                    .rt
                    .block_on(service::audit(store, schedule, Some(&limit.to_string())))?)
            }
        }
    }

    /// The stored schedule states, for `plan`.
    pub fn states(&self) -> Result<Vec<ScheduleState>, Failure> {
        match &self.source {
            Source::Api { .. } => Ok(self
                .schedules(None, None, None)?
                .iter()
                .map(state_from_view)
                .collect()),
            Source::Store(store) => self
                .rt
                .block_on(store.schedules())
                .map_err(|e| Failure::from(QueryError::from(e))),
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let v = self.api(reqwest::Method::GET, path)?;
        decode(v, path)
    }
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Failure {
        fail(e.exit_code(), e.to_string())
    }
}

/// An answer of the daemon as a view; a daemon of another version may
/// answer another shape, and that is said rather than half-printed.
fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(|e| {
        fail(
            EXIT_USAGE,
            format!("the daemon's answer to {what} is not what this adsched reads ({e}); is it another version? `adsched version` shows this one's"),
        )
    })
}

/// `?k=v&...` of the values given (empty ones left out), or nothing.
pub(crate) fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", urlencode(v)))
        })
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Rebuilds enough of a stored state from its view for `plan`.
fn state_from_view(v: &ScheduleView) -> ScheduleState {
    ScheduleState {
        id: v.id.clone(),
        name: v.name.clone(),
        tenant_id: v.tenant_id.clone(),
        product: v.product.clone(),
        brand: v.brand.clone(),
        status: v.status,
        timezone: v.timezone.clone(),
        description: v.description.clone(),
        next_run_at: v.next_run(),
        runs_completed: v.runs_completed,
        max_runs: v.max_runs,
        source: v.source.clone(),
        calendar_key: crate::reconcile::calendar_key(&v.spec),
        spec: v.spec.clone(),
        error: v.error.clone(),
        // What a view does not carry (the product document, the queue,
        // a pause's details) stays empty.
        ..ScheduleState::empty(&v.id)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a
/// path segment or a query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
