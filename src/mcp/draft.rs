//! Drafts: `validate_schedule` and fire times, from YAML text or a known schedule.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use super::tools::{DraftSchedule, FindingOut, FireTimes, Validation};
use super::Config;
use crate::client::{Client, Failure};
use crate::records::ScheduleStatus;
use crate::spec::{self, Options, Pool, Severity};

/// A private folder under the system's temp folder, removed when dropped.
pub(super) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(super) fn new() -> Result<ScratchDir, String> {
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
pub(super) fn validate(
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
    let opts = Options::new(Pool::scan(&cfg.templates), Utc::now()).allowing(&cfg.settings);
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
    fn draft_paths_stay_inside_the_schedules_folder() {
        let cfg = Config {
            server: String::new(),
            state: "/nonexistent/state".into(),
            store: None,
            settings: Default::default(),
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
