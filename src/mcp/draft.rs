//! Drafts: `validate_schedule` and fire times, from YAML text or a known
//! schedule. The checking itself is `spec::draft`, shared with the API.

use chrono::{DateTime, SecondsFormat, Utc};

use super::tools::{DraftSchedule, FindingOut, FireTimes, Validation};
use super::Config;
use crate::client::{Client, Failure};
use crate::records::ScheduleStatus;
use crate::spec::{self, Options, Pool, Severity};

/// `validate_schedule`: the draft with the rest of the schedules folder.
pub(super) fn validate(
    cfg: &Config,
    cache: &std::sync::Mutex<spec::ParseCache>,
    yaml: &str,
    path: Option<&str>,
) -> Result<Validation, String> {
    let now = Utc::now();
    let opts = Options::new(Pool::scan(&cfg.templates), now).allowing(&cfg.settings);
    let draft = {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        spec::draft::check(&cfg.schedules, yaml, path, &opts, &mut cache)
    }
    .map_err(|e| e.to_string())?;
    let out = |sev: Severity| -> Vec<FindingOut> {
        draft
            .findings()
            .filter(|f| f.severity == sev)
            .map(|f| FindingOut {
                severity: match f.severity {
                    Severity::Error => "error".into(),
                    Severity::Warning => "warning".into(),
                },
                code: f.code.as_str().into(),
                line: f.pos.line,
                column: f.pos.column,
                message: f.message.clone(),
            })
            .collect()
    };
    let errors = out(Severity::Error);
    let warnings = out(Severity::Warning);
    let schedules = draft
        .schedules()
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
    let shown = draft.shown().to_string();
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
        documents: draft.documents(),
        errors,
        warnings,
        schedules,
        summary,
    })
}

/// Fire times of a schedule the daemon knows; from the schedules folder when
/// neither the daemon nor its store can be reached.
pub(super) fn known_fire_times(
    cfg: &Config,
    client: Result<&Client, Failure>,
    id: &str,
    after: DateTime<Utc>,
    count: u32,
) -> Result<FireTimes, String> {
    match client {
        Ok(client) => {
            let v = client.schedule(id).map_err(|e| e.message)?;
            let doc: spec::Schedule = serde_json::from_value(v.spec.clone()).map_err(|e| {
                format!("the daemon's copy of schedule `{id}` cannot be read ({e})")
            })?;
            let mut out = fire_times(&doc, after, count)?;
            out.note = match v.status {
                ScheduleStatus::Paused => {
                    Some("the schedule is paused: it does not fire until `paused: false`".into())
                }
                ScheduleStatus::Completed => {
                    Some("the schedule is completed: it does not fire any more".into())
                }
                ScheduleStatus::Removed => {
                    Some("the schedule's file is gone: it does not fire".into())
                }
                ScheduleStatus::Active => v.max_runs.map(|max| {
                    format!(
                        "max_runs {max}: {} done, so at most {} more calendar run(s)",
                        v.runs_completed,
                        max.saturating_sub(v.runs_completed)
                    )
                }),
            };
            out.status = Some(v.status.as_str().to_string());
            out.next_run_at = v.next_run_at;
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
pub(super) fn draft_fire_times(
    yaml: &str,
    id: Option<&str>,
    after: DateTime<Utc>,
    count: u32,
) -> Result<FireTimes, String> {
    // The calendar alone matters: no pool, no references.
    let catalog = spec::load_text(
        spec::draft::DEFAULT_DRAFT_PATH,
        std::path::Path::new("."),
        yaml.as_bytes(),
        &Options::new(Pool::default(), after),
    );
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
    let v = spec::draft::fire_times(doc, after, count as usize)?;
    Ok(FireTimes {
        id: v.id,
        timezone: v.timezone,
        description: v.description,
        times: v.times,
        status: None,
        next_run_at: None,
        note: None,
    })
}
