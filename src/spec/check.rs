//! Checks beyond the schema: calendars, templates, exports, references.

use std::collections::HashMap;
use std::path::{Component, Path};
use std::str::FromStr;

use chrono::Duration;

use super::finding::{Code, Finding, Related};
use super::load::Options;
use super::model::{Export, Schedule, TemplateMode, Templates};
use super::spans::Pos;
use super::Catalog;
use crate::calendar::{self, Calendar, CronSpec, Form};

/// How far ahead a calendar must fire at least once (SPEC 2).
const NEVER_FIRES_HORIZON_DAYS: i64 = 5 * 366;

/// A problem with a schedule's `schedule:` block.
#[derive(Debug, Clone)]
pub struct TimingError {
    /// `cron`, `timezone` or `time`.
    pub code: Code,
    /// JSON-pointer path of the offending value.
    pub path: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The calendar of a schedule, or what is wrong with it.
pub fn calendar(s: &Schedule) -> Result<Calendar, TimingError> {
    calendar_of(&s.schedule)
}

/// The IANA name a typo most likely meant: the same name in other case
/// (`europe/london`), else the closest by edit distance (`America/Los_Angles`).
fn timezone_suggestion(name: &str) -> Option<&'static str> {
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    if let Some(n) = names.clone().find(|n| n.eq_ignore_ascii_case(name)) {
        return Some(n);
    }
    let owned: Vec<String> = names.map(str::to_string).collect();
    let best = super::schema::closest(name, &owned)?;
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|t| t.name())
        .find(|n| *n == best)
}

fn calendar_of(t: &super::model::Timing) -> Result<Calendar, TimingError> {
    let tz_name = t.timezone.as_deref().unwrap_or(calendar::DEFAULT_TIMEZONE);
    let tz = calendar::parse_timezone(tz_name).map_err(|e| TimingError {
        code: Code::Timezone,
        path: "/schedule/timezone",
        message: match timezone_suggestion(tz_name) {
            Some(s) => format!("{e}; did you mean `{s}`?"),
            None => e.to_string(),
        },
    })?;
    let time = |at: &str, path: &'static str| {
        calendar::parse_time(at).map_err(|e| TimingError {
            code: Code::Time,
            path,
            message: e.to_string(),
        })
    };
    let form = if let Some(d) = &t.daily {
        Form::Daily(time(&d.at, "/schedule/daily/at")?)
    } else if let Some(w) = &t.weekly {
        Form::Weekly(w.day.weekday(), time(&w.at, "/schedule/weekly/at")?)
    } else if let Some(m) = &t.monthly {
        Form::Monthly(m.day.unwrap_or(1), time(&m.at, "/schedule/monthly/at")?)
    } else if let Some(c) = &t.cron {
        Form::Cron(Box::new(CronSpec::parse(c).map_err(|e| TimingError {
            code: Code::Cron,
            path: "/schedule/cron",
            message: e.to_string(),
        })?))
    } else if let Some(o) = &t.once {
        Form::Once(
            calendar::parse_local_datetime(&o.at).map_err(|e| TimingError {
                code: Code::Time,
                path: "/schedule/once/at",
                message: e.to_string(),
            })?,
        )
    } else {
        // The schema requires exactly one form.
        return Err(TimingError {
            code: Code::Schema,
            path: "/schedule",
            message: "give exactly one of daily, weekly, monthly, cron, once".into(),
        });
    };
    Ok(Calendar::new(form, tz))
}

/// The catch-up window of a schedule (default 1 h).
pub fn catchup_window(s: &Schedule) -> Duration {
    s.schedule
        .catchup_window
        .as_deref()
        .and_then(|w| calendar::parse_duration(w).ok())
        .unwrap_or_else(|| Duration::hours(1))
}

/// How long a run's ads wait for review (`export.review_window`, default 72 h).
pub fn review_window(e: &Export) -> Duration {
    e.review_window
        .as_deref()
        .and_then(|w| calendar::parse_duration(w).ok())
        .unwrap_or_else(|| Duration::hours(72))
}

/// The longest and shortest `schedule.timeout`.
const TIMEOUT_RANGE: (i64, i64) = (1, 24 * 3600);

/// How long one generator call of a schedule may take (default 30 min).
pub fn generator_timeout(s: &Schedule) -> std::time::Duration {
    let secs = s
        .schedule
        .timeout
        .as_deref()
        .and_then(|w| calendar::parse_duration(w).ok())
        .map_or(30 * 60, |d| d.num_seconds())
        .clamp(TIMEOUT_RANGE.0, TIMEOUT_RANGE.1);
    std::time::Duration::from_secs(secs as u64)
}

/// A document id and where it is defined.
#[derive(Debug, Clone)]
pub struct IdRef {
    /// `Product` or `Schedule` (separate namespaces).
    pub kind: String,
    /// The id.
    pub id: String,
    /// File index.
    pub file: usize,
    /// Document index in the file.
    pub index: usize,
}

/// Checks one schedule on its own (references across files come later).
/// Works block by block, so an error in one block does not hide the others':
/// a block with schema errors, or that does not parse, is skipped.
pub(super) fn check_schedule(
    catalog: &mut Catalog,
    file: usize,
    index: usize,
    json: &serde_json::Value,
    schema_errors: &[&str],
    opts: &Options,
) {
    fn block<T: serde::de::DeserializeOwned>(
        json: &serde_json::Value,
        name: &str,
        errors: &[&str],
    ) -> Option<T> {
        let path = format!("/{name}");
        let clean = !errors
            .iter()
            .any(|e| *e == path || e.starts_with(&format!("{path}/")));
        clean
            .then(|| json.get(name).cloned())
            .flatten()
            .and_then(|v| serde_json::from_value(v).ok())
    }
    let src = &catalog.files[file];
    let mut out = Vec::new();
    let at = |path: &str| src.value_pos(index, path);

    if let Some(timing) = block::<super::model::Timing>(json, "schedule", schema_errors) {
        check_timing(&timing, file, &at, opts, &mut out);
    }
    if let Some(templates) = block::<Templates>(json, "templates", schema_errors) {
        check_templates(&templates, file, src, index, opts, &mut out);
    }
    if let Some(export) = block::<Export>(json, "export", schema_errors) {
        check_export(&export, file, &at, opts, &mut out);
    }
    if let Some(alerts) = block::<super::model::Alerts>(json, "alerts", schema_errors) {
        check_alerts(&alerts, file, &at, opts, &mut out);
    }
    catalog.findings.extend(out);
}

fn check_timing(
    timing: &super::model::Timing,
    file: usize,
    at: &dyn Fn(&str) -> Pos,
    opts: &Options,
    out: &mut Vec<Finding>,
) {
    // A bad zone should not hide a bad cron or time: check the form in UTC too.
    let mut in_utc;
    let mut timing = timing;
    if let Err(e) = calendar_of(timing) {
        if e.code == Code::Timezone {
            out.push(Finding::error(e.code, file, at(e.path), e.message));
            in_utc = timing.clone();
            in_utc.timezone = Some("UTC".into());
            timing = &in_utc;
        }
    }
    match calendar_of(timing) {
        Err(e) => out.push(Finding::error(e.code, file, at(e.path), e.message)),
        Ok(cal) => {
            let horizon = opts.now + Duration::days(NEVER_FIRES_HORIZON_DAYS);
            if cal.next_after_within(opts.now, horizon).is_none() {
                match cal.form() {
                    Form::Once(t) => out.push(Finding::warning(
                        Code::OnceInPast,
                        file,
                        at("/schedule/once/at"),
                        format!(
                            "{} ({}) is already in the past: this schedule will not fire (the daemon records it as missed)",
                            t.format("%Y-%m-%dT%H:%M"),
                            cal.timezone().name()
                        ),
                    )),
                    _ => out.push(Finding::error(
                        Code::NeverFires,
                        file,
                        at("/schedule/cron"),
                        format!(
                            "`{}` never fires in the next 5 years (a date that does not exist, such as 31 February?)",
                            timing.cron.as_deref().unwrap_or_default()
                        ),
                    )),
                }
            }
        }
    }
    if let Some(w) = &timing.catchup_window {
        if let Err(e) = calendar::parse_duration(w) {
            out.push(Finding::error(
                Code::Schema,
                file,
                at("/schedule/catchup_window"),
                e.to_string(),
            ));
        }
    }
    if let Some(t) = &timing.timeout {
        let message = match calendar::parse_duration(t) {
            Err(e) => Some(e.to_string()),
            Ok(d) if !(TIMEOUT_RANGE.0..=TIMEOUT_RANGE.1).contains(&d.num_seconds()) => Some(format!(
                "`{t}` is outside the allowed timeout of 1s to 24h; a generator call that takes longer is abandoned"
            )),
            Ok(_) => None,
        };
        if let Some(message) = message {
            out.push(Finding::error(
                Code::Schema,
                file,
                at("/schedule/timeout"),
                message,
            ));
        }
    }
}

fn check_templates(
    templates: &Templates,
    file: usize,
    src: &super::SourceFile,
    index: usize,
    opts: &Options,
    out: &mut Vec<Finding>,
) {
    let at = |path: &str| src.value_pos(index, path);
    let pool = &opts.pool;
    match templates.mode {
        TemplateMode::Unused => {
            let count = templates.count.unwrap_or(0) as usize;
            if count > pool.names.len() {
                out.push(Finding::warning(
                    Code::PoolTooSmall,
                    file,
                    at("/templates/count"),
                    format!(
                        "count {count} is larger than the template pool ({} image{} in {}); runs will use what is left",
                        pool.names.len(),
                        if pool.names.len() == 1 { "" } else { "s" },
                        pool.dir.display()
                    ),
                ));
            }
        }
        TemplateMode::Specific => {
            for (i, id) in templates.ids.iter().flatten().enumerate() {
                if !pool.names.contains(id) {
                    let near: Vec<&String> = pool.names.iter().take(8).collect();
                    out.push(Finding::error(
                        Code::TemplateMissing,
                        file,
                        at(&format!("/templates/ids/{i}")),
                        format!(
                            "template `{id}` is not in the pool {}; available: {}{}",
                            pool.dir.display(),
                            near.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            if pool.names.len() > 8 { ", ..." } else { "" }
                        ),
                    ));
                }
            }
        }
        TemplateMode::Uploaded => {
            let base = src.path.parent().unwrap_or(Path::new("."));
            for (i, rel) in templates.files.iter().flatten().enumerate() {
                let pos = at(&format!("/templates/files/{i}"));
                if let Err((code, message)) = check_uploaded(rel, base, &src.root) {
                    out.push(Finding::error(code, file, pos, message));
                }
            }
        }
    }
}

/// An uploaded template must be a relative path to an existing file that
/// stays inside the schedules folder, symlinks resolved.
pub fn check_uploaded(
    rel: &str,
    base: &Path,
    root: &Path,
) -> Result<std::path::PathBuf, (Code, String)> {
    let p = Path::new(rel);
    let escape = |why: &str| {
        Err((
            Code::PathEscape,
            format!("`{rel}` {why}; an uploaded template is a path relative to this file, inside the schedules folder"),
        ))
    };
    if p.is_absolute() || rel.starts_with('/') || rel.starts_with('\\') {
        return escape("is an absolute path");
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return escape("contains `..`");
    }
    let full = base.join(p);
    let real = match std::fs::canonicalize(&full) {
        Ok(r) => r,
        Err(_) => {
            return Err((
                Code::TemplateMissing,
                format!(
                    "uploaded template `{rel}` does not exist (looked for {})",
                    full.display()
                ),
            ))
        }
    };
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    if !real.starts_with(&real_root) {
        return escape("leads outside the schedules folder through a symlink");
    }
    if !real.is_file() {
        return Err((
            Code::TemplateMissing,
            format!("uploaded template `{rel}` is not a file"),
        ));
    }
    Ok(real)
}

fn check_export(
    e: &Export,
    file: usize,
    at: &dyn Fn(&str) -> Pos,
    opts: &Options,
    out: &mut Vec<Finding>,
) {
    let dest = e.destination;
    if let Some(w) = &e.review_window {
        match calendar::parse_duration(w) {
            Err(err) => out.push(Finding::error(
                Code::Schema,
                file,
                at("/export/review_window"),
                err.to_string(),
            )),
            Ok(d) if d < Duration::minutes(1) => out.push(Finding::error(
                Code::Schema,
                file,
                at("/export/review_window"),
                format!("`{w}` leaves no time to review; give 1m or more, such as 24h or 72h (the default)"),
            )),
            Ok(_) => {}
        }
    }
    if e.review == Some(super::model::ReviewMode::Required)
        && dest == super::model::Destination::None
    {
        out.push(Finding::warning(
            Code::Export,
            file,
            at("/export/review"),
            "`review: required` with `destination: none` has nothing to hold: the ads go nowhere either way",
        ));
    }
    if dest.has_email() && e.email.is_none() {
        out.push(Finding::error(
            Code::Export,
            file,
            at("/export/destination"),
            "destination includes email but `export.email` is missing; add `email: { to: [someone@example.com] }`",
        ));
    }
    if dest.has_slack() && e.slack.is_none() {
        out.push(Finding::error(
            Code::Export,
            file,
            at("/export/destination"),
            "destination includes slack but `export.slack` is missing; add `slack: { channel: C0123ABCD }` or `slack: { webhook_env: NAME }`",
        ));
    }
    if let Some(slack) = &e.slack {
        match (&slack.channel, &slack.webhook_env) {
            (None, None) => out.push(Finding::error(
                Code::Export,
                file,
                at("/export/slack"),
                "`export.slack` needs `channel` (a channel ID such as C0123ABCD) or `webhook_env` (the variable holding a webhook URL)",
            )),
            (Some(_), Some(_)) => out.push(Finding::error(
                Code::Export,
                file,
                at("/export/slack"),
                "`export.slack` has both `channel` and `webhook_env`; give one: the bot posts to a channel, a webhook has its own",
            )),
            (Some(ch), None) => {
                if let Some(allow) = &opts.slack_allow {
                    if !allow.iter().any(|a| a.eq_ignore_ascii_case(ch)) {
                        out.push(Finding::warning(
                            Code::Export,
                            file,
                            at("/export/slack/channel"),
                            format!("channel {ch} is not in ADSCHED_SLACK_ALLOW ({}); the daemon will refuse this export", allow.join(", ")),
                        ));
                    }
                }
            }
            (None, Some(_)) => {}
        }
    }
    if let Some(email) = &e.email {
        for (i, to) in email.to.iter().enumerate() {
            let path = format!("/export/email/to/{i}");
            match lettre::Address::from_str(to) {
                Err(err) => out.push(Finding::error(
                    Code::Email,
                    file,
                    at(&path),
                    format!("`{to}` is not an email address ({err}); write a bare address such as marketing@acme.example"),
                )),
                Ok(addr) => {
                    if let Some(allow) = &opts.email_allow {
                        let domain = addr.domain().to_ascii_lowercase();
                        if !allow.contains(&domain) {
                            out.push(Finding::warning(
                                Code::Export,
                                file,
                                at(&path),
                                format!("domain {domain} is not in ADSCHED_EMAIL_ALLOW ({}); the daemon will refuse this export", allow.join(", ")),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// `alerts` is checked as `export` is: somewhere to send, addresses that
/// parse, and the allow-lists the daemon will apply.
fn check_alerts(
    a: &super::model::Alerts,
    file: usize,
    at: &dyn Fn(&str) -> Pos,
    opts: &Options,
    out: &mut Vec<Finding>,
) {
    if a.slack.is_none() && a.email.is_none() {
        out.push(Finding::error(
            Code::Export,
            file,
            at("/alerts"),
            "`alerts` needs `slack: { channel: C0123ABCD9 }` and/or `email: { to: [ops@example.com] }`; without the block the daemon's ADSCHED_ALERT_SLACK_CHANNEL / ADSCHED_ALERT_EMAIL apply",
        ));
    }
    let as_export = Export {
        destination: crate::spec::model::Destination::None,
        email: a.email.clone(),
        slack: a.slack.as_ref().map(|s| super::model::SlackExport {
            channel: Some(s.channel.clone()),
            webhook_env: None,
        }),
        review: None,
        review_window: None,
    };
    // The same address and allow-list checks, their positions under `alerts`.
    let mut found = Vec::new();
    check_export(
        &as_export,
        file,
        &|path: &str| at(&path.replacen("/export", "/alerts", 1)),
        opts,
        &mut found,
    );
    out.extend(found.into_iter().map(|mut f| {
        f.message = f.message.replace("this export", "these alerts");
        f
    }));
}

/// Checks across documents: duplicate ids and product references.
pub(super) fn cross_check(catalog: &mut Catalog, _opts: &Options) {
    let mut out = Vec::new();
    // Every place of a duplicated id gets its own error naming the others, so
    // the pull request that adds the second copy is annotated on the file it
    // changed (GitHub shows annotations inline only on changed files).
    let mut places: HashMap<(&str, &str), Vec<(usize, usize)>> = HashMap::new();
    let mut order = Vec::new();
    for r in &catalog.ids {
        let key = (r.kind.as_str(), r.id.as_str());
        let seen = places.entry(key).or_default();
        if seen.is_empty() {
            order.push(key);
        }
        seen.push((r.file, r.index));
    }
    for key in order {
        let group = &places[&key];
        if group.len() < 2 {
            continue;
        }
        let (kind, id) = key;
        let pos: Vec<Pos> = group
            .iter()
            .map(|&(file, index)| catalog.files[file].value_pos(index, "/id"))
            .collect();
        for (i, &(file, _)) in group.iter().enumerate() {
            let others: Vec<String> = group
                .iter()
                .zip(&pos)
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (&(f, _), p))| {
                    format!("{}:{}:{}", catalog.files[f].display, p.line, p.column)
                })
                .collect();
            let mut f = Finding::error(
                Code::DuplicateId,
                file,
                pos[i],
                format!(
                    "{kind} id `{id}` is defined {}: here and at {}; ids must be unique",
                    match group.len() {
                        2 => "twice".to_string(),
                        n => format!("{n} times"),
                    },
                    others.join(", ")
                ),
            );
            let j = usize::from(i == 0);
            f.related = Some(Related {
                file: group[j].0,
                pos: pos[j],
                label: "also defined here".into(),
            });
            out.push(f);
        }
    }
    let known: Vec<&str> = catalog
        .ids
        .iter()
        .filter(|r| r.kind == "Product")
        .map(|r| r.id.as_str())
        .collect();
    for (product, file, index) in &catalog.product_refs {
        if !known.contains(&product.as_str()) {
            out.push(Finding::error(
                Code::UnknownProduct,
                *file,
                catalog.files[*file].value_pos(*index, "/product"),
                format!(
                    "product `{product}` is not defined by any Product document{}",
                    if known.is_empty() {
                        " (none were found; add one with `kind: Product`)".to_string()
                    } else {
                        format!("; known products: {}", known.join(", "))
                    }
                ),
            ));
        }
    }
    catalog.findings.extend(out);
}
