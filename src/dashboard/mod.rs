//! The web dashboard: server-rendered HTML, readable on a laptop and a
//! phone, and without JavaScript. Schedules change by pull request, not
//! here; the operators' buttons (SPEC 8) are in `actions`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::Value;

use crate::daemon::Ctx;
use crate::records::{fmt_time, ScheduleState};

mod actions;
mod form;
mod history;
mod layout;
mod repo;

pub use actions::audit;
pub use form::{edit_schedule, new_schedule};
pub use history::{runs, week};
use layout::{
    badge, brand_and_product_choices, choices, internal, not_found, options, page, trigger_name,
    NONE,
};
pub use repo::RepoLink;

/// Escapes text for HTML element content and quoted attribute values
/// (either quote), for the HTML built outside the dashboard (the email
/// export, command output). The dashboard's pages are maud templates, which
/// escape on their own; maud quotes attributes with `"` only, so it leaves
/// `'` alone, which this must not.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Query of the schedule list.
#[derive(Deserialize)]
pub struct Filters {
    brand: Option<String>,
    product: Option<String>,
    status: Option<String>,
    /// 1-based page of [`LIST_PAGE`] schedules.
    page: Option<usize>,
}

/// Schedules on one page of the list: each row reads its last run.
const LIST_PAGE: usize = 100;

/// An optional time in a zone as people read it, or the empty-cell mark.
fn when(
    t: Option<chrono::DateTime<chrono::Utc>>,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    match t {
        Some(t) => layout::human_time(t, tz, now),
        None => html! { (NONE) },
    }
}

/// `/`: schedules with filters; invalid files first.
pub async fn index(State(ctx): State<Arc<Ctx>>, Query(f): Query<Filters>) -> Response {
    let now = ctx.clock.now();
    let all = match ctx.store.schedules().await {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let (brands, products) = brand_and_product_choices(&all);
    let statuses = choices(&crate::records::ScheduleStatus::NAMES);
    // An unknown status matches nothing, as a filter on a typed URL would.
    let filter = crate::service::ScheduleFilter::parse(
        f.brand.as_deref(),
        f.product.as_deref(),
        f.status.as_deref(),
    );
    let matching: Vec<&ScheduleState> = all
        .iter()
        .filter(|s| filter.as_ref().is_ok_and(|f| f.matches(s)))
        .collect();
    let pages = matching.len().div_ceil(LIST_PAGE).max(1);
    let at = f.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<&ScheduleState> = matching
        .iter()
        .skip((at - 1) * LIST_PAGE)
        .take(LIST_PAGE)
        .copied()
        .collect();
    // The other pages keep the filters.
    let page_href = |n: usize| {
        let n = n.to_string();
        format!(
            "/{}",
            crate::client::query(&[
                ("brand", f.brand.as_deref()),
                ("product", f.product.as_deref()),
                ("status", f.status.as_deref()),
                ("page", Some(&n)),
            ])
        )
    };
    // Each row's last run, read before rendering: a template cannot await.
    let mut lasts = Vec::with_capacity(shown.len());
    for s in &shown {
        lasts.push(match s.last_run_id.as_deref() {
            Some(id) => ctx.store.run(id).await.ok().flatten(),
            None => None,
        });
    }
    let awaiting = ctx.store.runs_awaiting_review().await.unwrap_or_default();
    let names: std::collections::HashMap<String, String> =
        all.iter().map(|s| (s.id.clone(), s.name.clone())).collect();
    let body = html! {
        h1 { "Schedules" }
        (actions::to_review(&awaiting, &names, now))
        @for e in ctx.invalid_files() {
            div.error {
                b { "Invalid file" } " " (e.file) ":" (e.line) ":" (e.column) ": " (e.message) " "
                span.muted { "(the last valid version stays in force)" }
            }
        }
        form.filters method="get" action="/" {
            (options("brand", "all brands", &brands, f.brand.as_deref()))
            (options("product", "all products", &products, f.product.as_deref()))
            (options("status", "all statuses", &statuses, f.status.as_deref()))
            button type="submit" { "Filter" }
        }
        div.wrap { table.cards {
            thead { tr {
                th { "Schedule" } th { "Brand" } th { "Product" } th.opt { "When" }
                th { "Next run" } th { "Status" } th.opt { "Runs" } th.opt { "Last run" }
            } }
            tbody {
                @for (s, last) in shown.iter().zip(&lasts) {
                    tr.schedule {
                        td {
                            a href={ "/schedules/" (s.id) } { (s.name) }
                            br;
                            span.muted { (s.id) }
                            @if s.error.is_some() { " " span.badge.failed { "file invalid" } }
                        }
                        td { (s.brand.name) }
                        td { (s.product.name) }
                        td.opt { (s.description) }
                        td { (when(s.next_run_at, s.tz(), now)) }
                        td.status {
                            (badge(s.status.as_str()))
                            @if let Some(p) = &s.pause { " " span.muted { "by " (p.note.by) } }
                        }
                        td.opt {
                            (s.runs_completed) " / "
                            @match s.max_runs { Some(m) => (m), None => "\u{221e}" }
                        }
                        td.opt {
                            @match last {
                                Some(r) => {
                                    a href={ "/runs/" (r.id) } { (badge(r.status.as_str())) }
                                    (export_state(r))
                                }
                                None => span.muted { "none yet" },
                            }
                        }
                    }
                }
            }
        } }
        @if shown.is_empty() { p.muted { "No schedules match." } }
        @if pages > 1 {
            nav.pages aria-label="schedule pages" {
                @if at > 1 { a rel="prev" href=(page_href(at - 1)) { "\u{2190} Previous" } " " }
                span.muted { "Page " (at) " of " (pages) " (" (matching.len()) " schedules)" }
                @if at < pages { " " a rel="next" href=(page_href(at + 1)) { "Next \u{2192}" } }
            }
        }
    };
    page("Schedules", body).into_response()
}

/// What became of a run's export, beside its status: a run whose export
/// failed is never shown as plainly done.
fn export_state(r: &crate::records::Run) -> Markup {
    let worst = [
        "expired",
        "failed",
        "refused",
        crate::records::AWAITING_REVIEW,
    ]
    .into_iter()
    .find(|s| r.exports.iter().any(|e| e.status == *s));
    html! {
        @match worst {
            Some("awaiting_review") => { " " span.badge.awaiting_review { "awaiting review" } }
            Some(s) => { " " span.badge.(s) { "not sent: " (s) } }
            None if !r.exports.is_empty() => { " " span.badge.sent { "sent" } }
            None => {}
        }
    }
}

/// A JSON value of the spec for people: an object as `key: value` lines.
fn json_summary(v: &Value) -> Markup {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    html! {
        @match v {
            Value::Null => (NONE),
            Value::Object(m) => {
                @for (i, (k, v)) in m.iter().enumerate() {
                    @if i > 0 { br; }
                    (k) ": " (text(v))
                }
            }
            other => (other.to_string()),
        }
    }
}

/// `/schedules/{id}`: configuration, next times, history.
pub async fn schedule(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> Response {
    let s = match ctx.store.schedule(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(&format!("No schedule with id `{id}`.")),
        Err(e) => return internal(e),
    };
    let tz = s.tz();
    let now = ctx.clock.now();
    // The calendar's next times, but no more than `max_runs` leaves.
    let left = s
        .max_runs
        .map_or(5, |m| m.saturating_sub(s.runs_completed).min(5) as usize);
    let next: Vec<chrono::DateTime<chrono::Utc>> = match serde_json::from_value::<
        crate::spec::Schedule,
    >(s.spec.clone())
    .ok()
    .and_then(|d| crate::spec::check::calendar(&d).ok())
    {
        Some(cal) if s.status == crate::records::ScheduleStatus::Active => cal.upcoming(now, left),
        _ => Vec::new(),
    };
    let runs = match ctx
        .store
        .runs(crate::store::RunSelect {
            schedule: Some(id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let spec = &s.spec;
    let body = html! {
        h1 { (s.name) " " (badge(s.status.as_str())) }
        (actions::schedule_buttons(&s))
        (actions::override_notice(&s))
        @if let Some(e) = &s.error {
            div.error {
                b { "Its file is invalid" } " " (e.file) ":" (e.line) ":" (e.column) ": " (e.message)
            }
        }
        dl {
            dt { "Id" } dd { (s.id) }
            dt { "Product" } dd { (s.product.name) " (" (s.product.id) ")" }
            dt { "Brand" } dd { (s.brand.name) }
            dt { "When" } dd { (s.description) }
            dt { "Runs" }
            dd {
                (s.runs_completed) " of "
                @match s.max_runs { Some(m) => (m), None => "unlimited" }
            }
            dt { "Templates" } dd { (json_summary(&spec["templates"])) }
            dt { "Parameters" } dd { (json_summary(&spec["parameters"])) }
            dt { "Export" } dd { (json_summary(&spec["export"])) }
            dt { "Source" } dd { (s.source.file) ":" (s.source.line) }
        }
        p {
            a href={ "/schedules/" (s.id) "/edit" } { "Change it in the form" }
            " · "
            a href={ "/audit?schedule=" (s.id) } { "Who acted on this schedule" }
        }
        h2 { "Next times" }
        @if next.is_empty() {
            p.muted { "None: the schedule is " (s.status.as_str()) "." }
        } @else {
            ul.next { @for t in &next { li { (layout::human_time(*t, tz, now)) } } }
        }
        h2 { "Runs" }
        @if runs.is_empty() {
            p.muted { "No runs yet." }
        } @else {
            div.wrap { table {
                thead { tr {
                    th { "Run" } th { "Status" } th { "Trigger" } th.opt { "Scheduled for" }
                    th { "Started" } th.opt { "Took" } th { "Templates" } th { "Ads" }
                } }
                tbody {
                    @for r in &runs {
                        tr.run {
                            td { a href={ "/runs/" (r.id) } { (r.id) } }
                            td { (badge(r.status.as_str())) }
                            td {
                                (trigger_name(r.trigger))
                                @if r.attempt > 1 { " #" (r.attempt) }
                            }
                            td.opt { (when(r.scheduled_for, tz, now)) }
                            td { (when(r.started_at, tz, now)) }
                            td.opt {
                                @match (r.started_at, r.completed_at) {
                                    (Some(a), Some(b)) => {
                                        (format!("{:.1}", (b - a).num_milliseconds() as f64 / 1000.0)) "s"
                                    }
                                    _ => (NONE),
                                }
                            }
                            td { (r.templates_used.len()) }
                            td { (r.ads.len()) }
                        }
                    }
                }
            } }
        }
    };
    page(&s.name, body).into_response()
}

/// `/runs/{id}`: the ads as a gallery, exports, the log, the error.
pub async fn run(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> Response {
    let r = match ctx.store.run(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&format!("No run with id `{id}`.")),
        Err(e) => return internal(e),
    };
    let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    let now = ctx.clock.now();
    let logs = ctx.store.logs(&r.id).await;
    let body = html! {
        h1 { "Run " (r.id) " " (badge(r.status.as_str())) (export_state(&r)) }
        p { a href={ "/schedules/" (r.schedule_id) } { "\u{2190} " (r.schedule_id) } }
        (actions::run_buttons(&r))
        @if let Some(e) = &r.error_message { div.error #error { (e) } }
        (actions::review_form(&r, tz, now))
        dl {
            dt { "Trigger" } dd { (trigger_name(r.trigger)) " (attempt " (r.attempt) ")" }
            dt { "Scheduled for" } dd { (when(r.scheduled_for, tz, now)) }
            dt { "Started" } dd { (when(r.started_at, tz, now)) }
            dt { "Completed" } dd { (when(r.completed_at, tz, now)) }
            dt { "Templates" } dd { (r.templates_used.join(", ")) }
            dt { "Ad runs" } dd { (r.ad_run_ids.join(", ")) }
        }
        h2 #ads { "Ads (" (r.ads.len()) ")" }
        @if !r.ads.is_empty() {
            p { a href={ "/runs/" (r.id) "/ads.zip" } download { "Download all (ZIP)" } }
        }
        @if r.ads.is_empty() {
            p.muted { "No ads." }
        } @else {
            div.gallery {
                @for (i, a) in r.ads.iter().enumerate() {
                    figure {
                        // Opens a large view on this page (no script needed).
                        a href={ "#ad-" (i + 1) } {
                            img src=(a.image) alt={ "ad " (i + 1) " from " (a.template) } loading="lazy";
                        }
                        figcaption {
                            @if let Some(t) = &a.text { span.hook { "\u{201c}" (t) "\u{201d}" } br; }
                            (a.template)
                            @if a.status != "approved" { " " (badge(&a.status)) }
                        }
                    }
                }
            }
            @for (i, a) in r.ads.iter().enumerate() {
                div.lightbox id={ "ad-" (i + 1) } role="dialog" aria-label={ "ad " (i + 1) " from " (a.template) } {
                    img src=(a.image) alt={ "ad " (i + 1) " from " (a.template) } loading="lazy";
                    p {
                        @if let Some(t) = &a.text { "\u{201c}" (t) "\u{201d} \u{b7} " }
                        (a.template) " \u{b7} "
                        a href=(a.image) download { "download" } " \u{b7} "
                        a href="#ads" { "close" }
                    }
                }
            }
        }
        h2 { "Exports" }
        @if r.exports.is_empty() {
            p.muted { "None." }
        } @else {
            div.wrap { table {
                thead { tr { th { "Destination" } th { "Result" } th { "Attempts" } th { "Detail" } } }
                tbody {
                    @for e in &r.exports {
                        tr {
                            td { (e.destination) }
                            td { (badge(&e.status)) }
                            td { (e.attempts) }
                            td { (e.detail) }
                        }
                    }
                }
            } }
        }
        h2 { "Log" }
        pre.log #log {
            @match &logs {
                Ok(lines) => {
                    @for l in lines {
                        (format!("{}  {:<5}  {}\n", fmt_time(l.time, tz), l.level, l.message))
                    }
                }
                Err(e) => (e),
            }
        }
    };
    let live = matches!(
        r.status,
        crate::records::RunStatus::Pending | crate::records::RunStatus::Running
    )
    .then(|| format!("/api/v1/runs/{}", r.id));
    layout::page_live(&format!("Run {}", r.id), live.as_deref(), body).into_response()
}

/// `/runs/{run_id}/ads.zip`: every ad of a run in one ZIP ("download all"),
/// named by order and template; images the generator keeps at its own URL
/// are listed in `links.txt` instead.
pub async fn run_zip(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> Response {
    let r = match ctx.store.run(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&format!("No run with id `{id}`.")),
        Err(e) => return internal(e),
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut links = Vec::new();
    for (i, a) in r.ads.iter().enumerate() {
        let stem = std::path::Path::new(&a.template)
            .file_stem()
            .map_or_else(|| "ad".to_string(), |s| s.to_string_lossy().to_string());
        let ext = std::path::Path::new(&a.image)
            .extension()
            .map_or_else(|| "png".to_string(), |e| e.to_string_lossy().to_string());
        let name = format!("{:03}-{stem}.{ext}", i + 1);
        let on_disk = match &a.path {
            Some(p) => tokio::fs::read(p).await.ok(),
            None => None,
        };
        let bytes = match (on_disk, a.image.strip_prefix("/ads/")) {
            (Some(b), _) => Some(b),
            (None, Some(key)) if ctx.store.shared() => ctx.store.image(key).await.ok().flatten(),
            _ => None,
        };
        match bytes {
            Some(b) => files.push((name, b)),
            None => links.push(format!("{name}\t{}", a.image)),
        }
    }
    let zipped = tokio::task::spawn_blocking(move || -> zip::result::ZipResult<Vec<u8>> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in files {
            zip.start_file(name, options)?;
            zip.write_all(&bytes)?;
        }
        if !links.is_empty() {
            zip.start_file("links.txt", options)?;
            zip.write_all((links.join("\n") + "\n").as_bytes())?;
        }
        Ok(zip.finish()?.into_inner())
    })
    .await;
    match zipped {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}-{}.zip\"", r.schedule_id, r.id),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScheduleLabel {
    schedule_id: String,
}

/// `/metrics` in Prometheus text format: the daemon's counters, then gauges
/// read from the store for this scrape.
pub async fn metrics(State(ctx): State<Arc<Ctx>>) -> Response {
    let mut out = String::new();
    ctx.metrics.render(&mut out);
    let schedules = ctx.store.schedules().await.unwrap_or_default();
    let by_status = Family::<StatusLabel, Gauge>::default();
    // Every status has a sample, zero included, so a query never sees gaps.
    for status in ["active", "paused", "completed", "removed"] {
        by_status.get_or_create(&StatusLabel { status }).set(0);
    }
    let next_run = Family::<ScheduleLabel, Gauge>::default();
    for s in &schedules {
        by_status
            .get_or_create(&StatusLabel {
                status: s.status.as_str(),
            })
            .inc();
        if let Some(t) = s.next_run_at {
            next_run
                .get_or_create(&ScheduleLabel {
                    schedule_id: s.id.clone(),
                })
                .set(t.timestamp());
        }
    }
    let mut r = Registry::default();
    r.register("adsched_schedules", "Schedules by status", by_status);
    r.register(
        "adsched_schedule_next_run_timestamp_seconds",
        "Next fire time per active schedule",
        next_run,
    );
    r.register(
        "adsched_invalid_files",
        "Schedule files with errors",
        ConstGauge::new(ctx.invalid_files().len() as i64),
    );
    r.register(
        "adsched_reloads",
        "Reconciles of the schedules folder",
        ConstCounter::new(ctx.stats.reloads.load(Ordering::Relaxed)),
    );
    r.register(
        "adsched_last_reload_success",
        "Whether the last reload succeeded",
        ConstGauge::new(i64::from(ctx.stats.last_reload_ok.load(Ordering::Relaxed))),
    );
    if let Ok(bytes) = ctx.store.size_bytes().await {
        r.register(
            "adsched_store_bytes",
            "The store's size: on disk (sled) or in the database (PostgreSQL)",
            ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX)),
        );
    }
    r.register(
        "adsched_store_flushes",
        "Waits for the store's disk (sled flushes, PostgreSQL synchronous commits) since start",
        ConstCounter::new(ctx.store.flushes()),
    );
    r.register(
        "adsched_leader",
        "1 on the daemon that leads (fires and works), 0 on a standby",
        ConstGauge::new(i64::from(ctx.is_leader())),
    );
    // The text format 0.0.4 has no end marker: these families simply follow
    // the counters in the same exposition.
    let _ = prometheus_text::encode(&mut out, &r);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn esc_covers_the_five_html_characters() {
        assert_eq!(
            esc(r#"<a href="x" title='y'>Tom & Jerry</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Tom &amp; Jerry&lt;/a&gt;"
        );
        // Escaping is not idempotent on purpose: `&amp;` in the input is text.
        assert_eq!(esc("&amp;"), "&amp;amp;");
        assert_eq!(esc("café ☕"), "café ☕");
        assert_eq!(esc(""), "");
    }
}
