//! The query commands (`list`, `show`, `runs`, `run`, `logs`, `trigger`,
//! `plan`): they ask the running daemon's API, and open the store directly
//! only when no daemon answers. Either way the data has the API's shape.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::commands::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use crate::records::{RunStatus, ScheduleState};
use crate::store::{Store, StoreError};

/// Where the commands get their data.
pub struct Client {
    source: Source,
}

enum Source {
    Api {
        base: String,
        http: reqwest::Client,
        rt: tokio::runtime::Runtime,
    },
    Store(Store),
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
    /// Connects to the daemon at `server`, or opens the store in `state`.
    pub fn connect(server: &str, state: &Path) -> Result<Client, Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(EXIT_USAGE, format!("cannot start the runtime: {e}")))?;
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
                source: Source::Api { base, http, rt },
            });
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
                    source: Source::Store(store),
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
        let Source::Api { base, http, rt } = &self.source else {
            return Err(fail(EXIT_USAGE, "not connected to a daemon"));
        };
        let mut req = http.request(method, format!("{base}{path}"));
        if let Ok(token) = std::env::var("ADSCHED_API_TOKEN") {
            if !token.is_empty() {
                req = req.bearer_auth(token);
            }
        }
        rt.block_on(async {
            let resp = req.send().await.map_err(|e| {
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
    fn invalid_files(&self) -> Vec<Value> {
        let Source::Api { base, http, rt } = &self.source else {
            return Vec::new();
        };
        rt.block_on(async {
            // /readyz answers 503 with the same body while not ready.
            let resp = http.get(format!("{base}/readyz")).send().await.ok()?;
            let body: Value = resp.json().await.ok()?;
            body["invalid_files"].as_array().cloned()
        })
        .unwrap_or_default()
    }

    fn store_err(e: StoreError) -> Failure {
        fail(EXIT_USAGE, e.to_string())
    }

    /// Schedules matching the filters.
    pub fn schedules(
        &self,
        brand: Option<&str>,
        product: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<Value>, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let mut q = Vec::new();
                for (k, v) in [("brand", brand), ("product", product), ("status", status)] {
                    if let Some(v) = v {
                        q.push(format!("{k}={}", urlencode(v)));
                    }
                }
                let path = format!(
                    "/api/v1/schedules{}{}",
                    if q.is_empty() { "" } else { "?" },
                    q.join("&")
                );
                Ok(self
                    .api(reqwest::Method::GET, &path)?
                    .as_array()
                    .cloned()
                    .unwrap_or_default())
            }
            Source::Store(store) => {
                if let Some(s) = status {
                    if !["active", "paused", "completed", "removed"].contains(&s) {
                        return Err(fail(
                            EXIT_USAGE,
                            format!(
                                "status `{s}` is not one of active, paused, completed, removed"
                            ),
                        ));
                    }
                }
                Ok(store
                    .schedules()
                    .map_err(Self::store_err)?
                    .iter()
                    .filter(|s| crate::api::matches_filter(s, brand, product, status))
                    .map(|s| crate::api::schedule_json(store, s))
                    .collect())
            }
        }
    }

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<Value, Failure> {
        match &self.source {
            Source::Api { .. } => self.api(
                reqwest::Method::GET,
                &format!("/api/v1/schedules/{}", urlencode(id)),
            ),
            Source::Store(store) => match store.schedule(id).map_err(Self::store_err)? {
                Some(s) => Ok(crate::api::schedule_json(store, &s)),
                None => Err(fail(EXIT_INVALID, format!("no schedule with id `{id}`"))),
            },
        }
    }

    /// Runs, newest first.
    pub fn runs(
        &self,
        schedule: Option<&str>,
        status: Option<&str>,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Value>, Failure> {
        match &self.source {
            Source::Api { .. } => {
                let mut q = vec![format!("limit={limit}")];
                if let Some(s) = status {
                    q.push(format!("status={}", urlencode(s)));
                }
                if let Some(s) = since {
                    q.push(format!("since={}", urlencode(s)));
                }
                let base = match schedule {
                    Some(id) => format!("/api/v1/schedules/{}/runs", urlencode(id)),
                    None => "/api/v1/runs".to_string(),
                };
                Ok(self
                    .api(reqwest::Method::GET, &format!("{base}?{}", q.join("&")))?
                    .as_array()
                    .cloned()
                    .unwrap_or_default())
            }
            Source::Store(store) => {
                let status = match status {
                    None => None,
                    Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
                        fail(EXIT_USAGE, format!("status `{s}` is not one of pending, running, completed, failed, interrupted, missed"))
                    })?),
                };
                let since = match since {
                    None => None,
                    Some(s) => Some(crate::api::parse_since(s).ok_or_else(|| {
                        fail(
                            EXIT_USAGE,
                            format!("--since `{s}` is not a date (YYYY-MM-DD) or an RFC 3339 time"),
                        )
                    })?),
                };
                if let Some(id) = schedule {
                    if store.schedule(id).map_err(Self::store_err)?.is_none() {
                        return Err(fail(EXIT_INVALID, format!("no schedule with id `{id}`")));
                    }
                }
                Ok(store
                    .runs(schedule, status, None, since, limit)
                    .map_err(Self::store_err)?
                    .iter()
                    .map(|r| r.to_api())
                    .collect())
            }
        }
    }

    /// One run.
    pub fn run(&self, id: &str) -> Result<Value, Failure> {
        match &self.source {
            Source::Api { .. } => self.api(
                reqwest::Method::GET,
                &format!("/api/v1/runs/{}", urlencode(id)),
            ),
            Source::Store(store) => match store.run(id).map_err(Self::store_err)? {
                Some(r) => Ok(r.to_api()),
                None => Err(fail(EXIT_INVALID, format!("no run with id `{id}`"))),
            },
        }
    }

    /// A run's log.
    pub fn logs(&self, id: &str) -> Result<Vec<Value>, Failure> {
        match &self.source {
            Source::Api { .. } => Ok(self
                .api(
                    reqwest::Method::GET,
                    &format!("/api/v1/runs/{}/logs", urlencode(id)),
                )?
                .as_array()
                .cloned()
                .unwrap_or_default()),
            Source::Store(store) => {
                let run = store
                    .run(id)
                    .map_err(Self::store_err)?
                    .ok_or_else(|| fail(EXIT_INVALID, format!("no run with id `{id}`")))?;
                let tz: chrono_tz::Tz = run.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
                Ok(store
                    .logs(id)
                    .map_err(Self::store_err)?
                    .iter()
                    .map(|l| json!({"time": crate::records::fmt_time(l.time, tz), "level": l.level, "message": l.message}))
                    .collect())
            }
        }
    }

    /// Queues a manual run.
    pub fn trigger(&self, id: &str) -> Result<Value, Failure> {
        match &self.source {
            Source::Api { .. } => self.api(reqwest::Method::POST, &format!("/api/v1/schedules/{}/trigger", urlencode(id))),
            Source::Store(store) => match crate::daemon::queue_manual(store, id, Utc::now()) {
                Ok((run_id, already)) => Ok(json!({"run_id": run_id, "already_pending": already})),
                Err(crate::daemon::TriggerError::NotFound) => Err(fail(EXIT_INVALID, format!("no schedule with id `{id}`"))),
                Err(crate::daemon::TriggerError::Removed) => Err(fail(
                    EXIT_INVALID,
                    format!("schedule `{id}` is removed (its document is gone); restore the file to run it"),
                )),
                Err(crate::daemon::TriggerError::Stopping) => Err(fail(EXIT_USAGE, "the daemon is shutting down")),
                Err(crate::daemon::TriggerError::Store(e)) => Err(Self::store_err(e)),
            },
        }
    }

    /// The stored schedule states, for `plan`.
    pub fn states(&self) -> Result<Vec<ScheduleState>, Failure> {
        match &self.source {
            Source::Api { .. } => Ok(self
                .schedules(None, None, None)?
                .iter()
                .filter_map(state_from_api)
                .collect()),
            Source::Store(store) => store.schedules().map_err(Self::store_err),
        }
    }
}

/// Rebuilds enough of a stored state from its API form for `plan`.
fn state_from_api(v: &Value) -> Option<ScheduleState> {
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    Some(ScheduleState {
        id: v["id"].as_str()?.to_string(),
        name: v["name"].as_str().unwrap_or_default().to_string(),
        tenant_id: v["tenant_id"].as_str().map(str::to_string),
        product: serde_json::from_value(v["product"].clone()).ok()?,
        brand: serde_json::from_value(v["brand"].clone()).ok()?,
        status: serde_json::from_value(v["status"].clone()).ok()?,
        timezone: v["timezone"].as_str().unwrap_or("UTC").to_string(),
        description: v["description"].as_str().unwrap_or_default().to_string(),
        next_run_at: v["next_run_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        runs_completed: v["runs_completed"].as_u64().unwrap_or(0) as u32,
        max_runs: v["max_runs"].as_u64().map(|m| m as u32),
        source: serde_json::from_value(v["source"].clone()).unwrap_or_default(),
        calendar_key: crate::reconcile::calendar_key(&spec),
        spec,
        product_spec: Value::Null,
        error: serde_json::from_value(v["error"].clone()).ok().flatten(),
        pending_run: None,
        running_run: None,
        retry: None,
        last_run_id: None,
    })
}

fn urlencode(s: &str) -> String {
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

/// Output formats of the query commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// Tables.
    Human,
    /// JSON, as the API returns it.
    Json,
}

/// Prints rows as an aligned table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON value prints")
    );
}

fn run_rows(runs: &[Value]) -> Vec<Vec<String>> {
    runs.iter()
        .map(|r| {
            vec![
                s(&r["id"]),
                s(&r["schedule_id"]),
                s(&r["trigger"]),
                s(&r["status"]),
                s(&r["scheduled_for"]),
                s(&r["started_at"]),
                r["duration_seconds"]
                    .as_f64()
                    .map_or("-".into(), |d| format!("{d:.1}s")),
                r["templates_used"]
                    .as_array()
                    .map_or(0, Vec::len)
                    .to_string(),
                r["ads"].as_array().map_or(0, Vec::len).to_string(),
            ]
        })
        .collect()
}

const RUN_HEADERS: [&str; 9] = [
    "RUN",
    "SCHEDULE",
    "TRIGGER",
    "STATUS",
    "SCHEDULED FOR",
    "STARTED",
    "TOOK",
    "TEMPLATES",
    "ADS",
];

/// `adsched list`.
pub fn list(
    c: &Client,
    brand: Option<&str>,
    product: Option<&str>,
    status: Option<&str>,
    format: OutFormat,
) -> Result<u8, Failure> {
    let list = c.schedules(brand, product, status)?;
    match format {
        OutFormat::Json => print_json(&Value::Array(list)),
        OutFormat::Human if list.is_empty() => println!("no schedules"),
        OutFormat::Human => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|v| {
                    vec![
                        s(&v["id"]),
                        s(&v["brand"]["name"]),
                        s(&v["product"]["name"]),
                        // The version in force runs; its file needs a fix.
                        if v["error"].is_object() {
                            format!("{} (file invalid)", s(&v["status"]))
                        } else {
                            s(&v["status"])
                        },
                        s(&v["next_run_at"]),
                        format!(
                            "{}/{}",
                            s(&v["runs_completed"]),
                            v["max_runs"].as_u64().map_or("-".into(), |m| m.to_string())
                        ),
                        s(&v["last_run"]["status"]),
                        s(&v["description"]),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["ID", "BRAND", "PRODUCT", "STATUS", "NEXT RUN", "RUNS", "LAST", "WHEN"],
                    &rows
                )
            );
        }
    }
    if format == OutFormat::Human {
        let invalid = c.invalid_files();
        if !invalid.is_empty() {
            println!("\nfiles with errors (their schedules are not applied; the last valid version stays in force):");
        }
        for f in invalid {
            println!(
                "  {}:{}:{}: {}",
                s(&f["file"]),
                s(&f["line"]),
                s(&f["column"]),
                s(&f["message"])
            );
        }
    }
    Ok(EXIT_OK)
}

/// `adsched show`.
pub fn show(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    if id.trim().is_empty() {
        return Err(fail(
            EXIT_USAGE,
            "the schedule id is empty; `adsched list` shows the ids",
        ));
    }
    let sched = c.schedule(id)?;
    let runs = c.runs(Some(id), None, None, 10)?;
    match format {
        OutFormat::Json => print_json(&json!({"schedule": sched, "runs": runs})),
        OutFormat::Human => {
            let spec = &sched["spec"];
            println!("{} — {}", s(&sched["id"]), s(&sched["name"]));
            for (k, v) in [
                ("status", s(&sched["status"])),
                (
                    "product",
                    format!(
                        "{} ({})",
                        s(&sched["product"]["name"]),
                        s(&sched["product"]["id"])
                    ),
                ),
                (
                    "brand",
                    format!(
                        "{} ({})",
                        s(&sched["brand"]["name"]),
                        s(&sched["brand"]["id"])
                    ),
                ),
                ("when", s(&sched["description"])),
                ("next run", s(&sched["next_run_at"])),
                (
                    "runs",
                    format!(
                        "{} of {}",
                        s(&sched["runs_completed"]),
                        sched["max_runs"]
                            .as_u64()
                            .map_or("unlimited".into(), |m| m.to_string())
                    ),
                ),
                ("templates", s(&spec["templates"])),
                ("parameters", s(&spec["parameters"])),
                ("export", s(&spec["export"])),
                (
                    "source",
                    format!(
                        "{}:{}",
                        s(&sched["source"]["file"]),
                        s(&sched["source"]["line"])
                    ),
                ),
            ] {
                println!("  {k:<11} {v}");
            }
            if let Some(e) = sched["error"].as_object() {
                println!(
                    "  {:<11} {}:{}:{}: {}",
                    "error",
                    s(&e["file"]),
                    s(&e["line"]),
                    s(&e["column"]),
                    s(&e["message"])
                );
            }
            println!();
            if runs.is_empty() {
                println!("no runs yet");
            } else {
                print!("{}", table(&RUN_HEADERS, &run_rows(&runs)));
            }
        }
    }
    Ok(EXIT_OK)
}

/// `adsched runs`.
pub fn runs(
    c: &Client,
    id: Option<&str>,
    status: Option<&str>,
    since: Option<&str>,
    limit: usize,
    format: OutFormat,
) -> Result<u8, Failure> {
    let runs = c.runs(id, status, since, limit)?;
    match format {
        OutFormat::Json => print_json(&Value::Array(runs)),
        OutFormat::Human => print!("{}", table(&RUN_HEADERS, &run_rows(&runs))),
    }
    Ok(EXIT_OK)
}

/// `adsched run`.
pub fn run(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    let run = c.run(id)?;
    let logs = c.logs(id)?;
    match format {
        OutFormat::Json => {
            let mut v = run.clone();
            v["logs"] = Value::Array(logs);
            print_json(&v);
        }
        OutFormat::Human => {
            println!("run {} of {}", s(&run["id"]), s(&run["schedule_id"]));
            for k in [
                "status",
                "trigger",
                "attempt",
                "scheduled_for",
                "started_at",
                "completed_at",
                "error_message",
            ] {
                println!("  {k:<14} {}", s(&run[k]));
            }
            println!(
                "  {:<14} {}",
                "templates",
                run["templates_used"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            );
            println!(
                "  {:<14} {}",
                "ad runs",
                run["ad_run_ids"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            );
            println!("\nads:");
            for a in run["ads"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {}  {}  {}",
                    s(&a["template"]),
                    s(&a["ad_run_id"]),
                    s(&a["status"]),
                    s(&a["image"])
                );
            }
            println!("\nexports:");
            for e in run["exports"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {}  attempts {}  {}",
                    s(&e["destination"]),
                    s(&e["status"]),
                    s(&e["attempts"]),
                    s(&e["detail"])
                );
            }
            println!("\nlog:");
            print!("{}", log_text(&logs));
        }
    }
    Ok(EXIT_OK)
}

fn log_text(logs: &[Value]) -> String {
    logs.iter()
        .map(|l| {
            format!(
                "{}  {:<5}  {}\n",
                s(&l["time"]),
                s(&l["level"]),
                s(&l["message"])
            )
        })
        .collect()
}

/// `adsched logs`.
pub fn logs(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    let logs = c.logs(id)?;
    match format {
        OutFormat::Json => print_json(&Value::Array(logs)),
        OutFormat::Human => print!("{}", log_text(&logs)),
    }
    Ok(EXIT_OK)
}

/// `adsched trigger`.
pub fn trigger(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    let v = c.trigger(id)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human => {
            if v["already_pending"] == true {
                println!("{id} already has a queued run: {}", s(&v["run_id"]));
            } else {
                println!("queued run {} for {id}", s(&v["run_id"]));
            }
        }
    }
    Ok(EXIT_OK)
}

/// `adsched plan`: what the daemon would change, and the next times.
pub fn plan(
    c: Option<&Client>,
    schedules: &Path,
    templates: &Path,
    format: OutFormat,
) -> Result<u8, Failure> {
    let now = Utc::now();
    let opts = crate::spec::Options::new(crate::spec::Pool::scan(templates), now);
    let catalog = crate::spec::load(&[schedules.to_path_buf()], &opts)
        .map_err(|e| fail(EXIT_USAGE, e.to_string()))?;
    let desired = crate::reconcile::DesiredSet::from_catalog(&catalog);
    let stored: BTreeMap<String, ScheduleState> = match c {
        Some(c) => c.states()?.into_iter().map(|s| (s.id.clone(), s)).collect(),
        None => BTreeMap::new(),
    };
    let changes = crate::reconcile::plan(&desired, &stored, now);
    let mut items = Vec::new();
    for (id, change) in &changes {
        let (action, st) = match change {
            crate::reconcile::Change::Added(s) => ("add", s),
            crate::reconcile::Change::Removed(s) => ("remove", s),
            crate::reconcile::Change::Updated { before, after } => {
                // The API does not carry the product document: ignore that difference.
                let mut b = before.as_ref().clone();
                b.product_spec = after.product_spec.clone();
                // The same file spelled differently (absolute vs relative) is no change.
                let same_file = std::fs::canonicalize(&b.source.file)
                    .ok()
                    .is_some_and(|x| std::fs::canonicalize(&after.source.file).ok() == Some(x));
                if same_file {
                    b.source.file = after.source.file.clone();
                }
                if b == **after {
                    continue;
                }
                (
                    if after.error.is_some() {
                        "keep (file invalid)"
                    } else {
                        "update"
                    },
                    after.as_ref(),
                )
            }
        };
        items.push(json!({
            "id": id, "action": action, "status": st.status,
            "next_run_at": st.next_run_at.map(|t| crate::records::fmt_time(t, st.tz())),
            "description": st.description,
            "error": st.error,
        }));
    }
    let unchanged = desired.schedules.len() + stored.len();
    let invalid: Vec<Value> = desired.invalid_files.values().map(|e| json!(e)).collect();
    match format {
        OutFormat::Json => print_json(&json!({"changes": items, "invalid_files": invalid})),
        OutFormat::Human => {
            if items.is_empty() {
                println!(
                    "no changes ({} schedules in force)",
                    unchanged.min(desired.schedules.len().max(stored.len()))
                );
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|i| {
                        vec![
                            s(&i["action"]),
                            s(&i["id"]),
                            s(&i["status"]),
                            s(&i["next_run_at"]),
                            s(&i["description"]),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["ACTION", "ID", "STATUS", "NEXT RUN", "WHEN"], &rows)
                );
            }
            for e in &invalid {
                println!(
                    "invalid: {}:{}:{}: {}",
                    s(&e["file"]),
                    s(&e["line"]),
                    s(&e["column"]),
                    s(&e["message"])
                );
            }
        }
    }
    Ok(if invalid.is_empty() {
        EXIT_OK
    } else {
        EXIT_INVALID
    })
}
