//! The query commands (`list`, `show`, `runs`, `run`, `logs`, `trigger`,
//! `plan`) and the actions (`pause`, `resume`, `cancel`, `export`,
//! `audit`) as tables, or as the API's JSON with `--format json`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;

use chrono::Utc;
use serde::Serialize;
use serde_json::{json, Value};

use super::{fail, Client, Failure};
use crate::commands::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use crate::export::again::ExportRequest;
use crate::records::{FileError, ScheduleState};
use crate::settings::Settings;
use crate::views::{LogLineView, RunView, ScheduleView};

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

/// A value for a table cell; none is `-`.
fn or_dash<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A serialised enum (status, trigger) as its API name.
fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "-".into(),
    }
}

fn print_json<T: Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("views serialise")
    );
}

fn run_rows(runs: &[RunView]) -> Vec<Vec<String>> {
    runs.iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.schedule_id.clone(),
                name(&r.trigger),
                name(&r.status),
                or_dash(r.scheduled_for.as_deref()),
                or_dash(r.started_at.as_deref()),
                r.duration_seconds
                    .map_or("-".into(), |d| format!("{d:.1}s")),
                r.templates_used.len().to_string(),
                r.ads.len().to_string(),
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

fn file_error(e: &FileError) -> String {
    format!("{}:{}:{}: {}", e.file, e.line, e.column, e.message)
}

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
        OutFormat::Json => print_json(&list),
        OutFormat::Human if list.is_empty() => println!("no schedules"),
        OutFormat::Human => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|v| {
                    vec![
                        v.id.clone(),
                        v.brand.name.clone(),
                        v.product.name.clone(),
                        // The version in force runs; its file needs a fix.
                        if v.error.is_some() {
                            format!("{} (file invalid)", name(&v.status))
                        } else {
                            name(&v.status)
                        },
                        or_dash(v.next_run_at.as_deref()),
                        format!("{}/{}", v.runs_completed, or_dash(v.max_runs)),
                        or_dash(v.last_run.as_ref().map(|r| name(&r.status))),
                        v.description.clone(),
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
            println!("  {}", file_error(&f));
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
            let spec = |k: &str| match sched.spec.get(k) {
                None | Some(Value::Null) => "-".to_string(),
                Some(v) => v.to_string(),
            };
            println!("{} — {}", sched.id, sched.name);
            let status = match &sched.override_ {
                Some(o) => format!(
                    "{} (paused by {} since {}{}{})",
                    name(&sched.status),
                    o.by,
                    o.at,
                    if o.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", o.reason)
                    },
                    o.until
                        .as_ref()
                        .map(|u| format!(", until {u}"))
                        .unwrap_or_default()
                ),
                None => name(&sched.status),
            };
            for (k, v) in [
                ("status", status),
                (
                    "product",
                    format!("{} ({})", sched.product.name, sched.product.id),
                ),
                (
                    "brand",
                    format!("{} ({})", sched.brand.name, sched.brand.id),
                ),
                ("when", sched.description.clone()),
                ("next run", or_dash(sched.next_run_at.as_deref())),
                (
                    "runs",
                    format!(
                        "{} of {}",
                        sched.runs_completed,
                        sched.max_runs.map_or("unlimited".into(), |m| m.to_string())
                    ),
                ),
                ("templates", spec("templates")),
                ("parameters", spec("parameters")),
                ("export", spec("export")),
                (
                    "source",
                    format!("{}:{}", sched.source.file, sched.source.line),
                ),
            ] {
                println!("  {k:<11} {v}");
            }
            if let Some(e) = &sched.error {
                println!("  {:<11} {}", "error", file_error(e));
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
        OutFormat::Json => print_json(&runs),
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
            #[derive(Serialize)]
            struct WithLogs<'a> {
                #[serde(flatten)]
                run: &'a RunView,
                logs: &'a [LogLineView],
            }
            print_json(&WithLogs {
                run: &run,
                logs: &logs,
            });
        }
        OutFormat::Human => {
            println!("run {} of {}", run.id, run.schedule_id);
            for (k, v) in [
                ("status", name(&run.status)),
                ("trigger", name(&run.trigger)),
                ("attempt", run.attempt.to_string()),
                ("scheduled_for", or_dash(run.scheduled_for.as_deref())),
                ("started_at", or_dash(run.started_at.as_deref())),
                ("completed_at", or_dash(run.completed_at.as_deref())),
                ("error_message", or_dash(run.error_message.as_deref())),
                ("templates", run.templates_used.join(", ")),
                ("ad runs", run.ad_run_ids.join(", ")),
            ] {
                println!("  {k:<14} {v}");
            }
            println!("\nads:");
            for a in &run.ads {
                println!(
                    "  {}  {}  {}  {}",
                    a.template, a.ad_run_id, a.status, a.image
                );
            }
            println!("\nexports:");
            for e in &run.exports {
                println!(
                    "  {}  {}  attempts {}  {}",
                    e.destination, e.status, e.attempts, e.detail
                );
            }
            println!("\nlog:");
            print!("{}", log_text(&logs));
        }
    }
    Ok(EXIT_OK)
}

fn log_text(logs: &[LogLineView]) -> String {
    logs.iter()
        .map(|l| format!("{}  {:<5}  {}\n", l.time, l.level, l.message))
        .collect()
}

/// `adsched logs`.
pub fn logs(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    let logs = c.logs(id)?;
    match format {
        OutFormat::Json => print_json(&logs),
        OutFormat::Human => print!("{}", log_text(&logs)),
    }
    Ok(EXIT_OK)
}

/// `adsched trigger`.
pub fn trigger(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    let v = c.trigger(id)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human if v.already_pending => {
            println!("{id} already has a queued run: {}", v.run_id)
        }
        OutFormat::Human => println!("queued run {} for {id}", v.run_id),
    }
    Ok(EXIT_OK)
}

/// One line on a schedule after a pause or a resume.
fn schedule_line(v: &ScheduleView) -> String {
    let mut line = format!("{}: {}", v.id, name(&v.status));
    if let Some(o) = &v.override_ {
        line.push_str(&format!(", paused by {} since {}", o.by, o.at));
        if !o.reason.is_empty() {
            line.push_str(&format!(" ({})", o.reason));
        }
        if let Some(u) = &o.until {
            line.push_str(&format!(" until {u}"));
        }
    }
    if v.spec.get("paused").and_then(Value::as_bool) == Some(true) {
        line.push_str("; its file says `paused: true`, which keeps it paused");
    }
    if let Some(next) = &v.next_run_at {
        line.push_str(&format!("; next run {next}"));
    }
    line
}

/// `adsched pause`.
pub fn pause(
    c: &Client,
    id: &str,
    reason: Option<&str>,
    until: Option<&str>,
    format: OutFormat,
) -> Result<u8, Failure> {
    let v = c.pause(id, reason, until)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human => println!("{}", schedule_line(&v)),
    }
    Ok(EXIT_OK)
}

/// `adsched resume`.
pub fn resume(c: &Client, id: &str, format: OutFormat) -> Result<u8, Failure> {
    let v = c.resume(id)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human => println!("{}", schedule_line(&v)),
    }
    Ok(EXIT_OK)
}

/// `adsched cancel`.
pub fn cancel(
    c: &Client,
    run_id: &str,
    reason: Option<&str>,
    format: OutFormat,
) -> Result<u8, Failure> {
    let v = c.cancel(run_id, reason)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human if v.status == crate::records::RunStatus::Running => println!(
            "run {run_id} stops after its current template and ends cancelled; nothing is exported"
        ),
        OutFormat::Human => println!("run {run_id}: {}", name(&v.status)),
    }
    Ok(EXIT_OK)
}

/// `adsched export`: the run's ads sent again.
pub fn export(
    c: &Client,
    run_id: &str,
    req: &ExportRequest,
    settings: &Settings,
    format: OutFormat,
) -> Result<u8, Failure> {
    let v = c.export(run_id, req, settings)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human if c.is_remote() => println!(
            "the daemon is exporting run {run_id} again; `adsched run {run_id}` shows the result"
        ),
        OutFormat::Human => {
            for e in &v.exports {
                println!("{}: {} ({})", e.destination, e.status, e.detail);
            }
        }
    }
    Ok(EXIT_OK)
}

/// `adsched review`.
pub fn review(
    c: &Client,
    run_id: &str,
    req: &crate::export::review::ReviewRequest,
    settings: &Settings,
    format: OutFormat,
) -> Result<u8, Failure> {
    let v = c.review(run_id, req, settings)?;
    match format {
        OutFormat::Json => print_json(&v),
        OutFormat::Human => {
            let decided = v.ads.iter().filter(|a| a.review.is_some()).count();
            println!("run {run_id}: {decided} of {} ads decided", v.ads.len());
            for e in &v.exports {
                println!("{}: {} ({})", e.destination, e.status, e.detail);
            }
        }
    }
    Ok(EXIT_OK)
}

/// `adsched audit`.
pub fn audit(
    c: &Client,
    schedule: Option<&str>,
    limit: usize,
    format: OutFormat,
) -> Result<u8, Failure> {
    let entries = c.audit(schedule, limit)?;
    match format {
        OutFormat::Json => print_json(&entries),
        OutFormat::Human => {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.time.clone(),
                        e.actor.clone(),
                        e.action.as_str().to_string(),
                        or_dash(e.schedule_id.as_deref()),
                        or_dash(e.run_id.as_deref()),
                        or_dash(e.reason.as_deref()),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["TIME", "ACTOR", "ACTION", "SCHEDULE", "RUN", "REASON"],
                    &rows
                )
            );
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
    let opts = crate::spec::Options::new(crate::spec::Pool::scan(templates), now)
        .allowing(&crate::settings::Settings::from_env());
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

/// A JSON value for a table cell; null is `-`.
fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
