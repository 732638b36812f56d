//! The read-only web dashboard: server-rendered HTML, no JavaScript, readable
//! on a laptop and a phone. Schedules change by pull request, not here.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::Value;

use crate::daemon::Ctx;
use crate::records::{fmt_time, ScheduleState};

mod history;

pub use history::{runs, week};

/// Escapes text for HTML element content and quoted attribute values
/// (either quote). The one HTML escaper: the dashboard and the email export
/// both call it.
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

const CSS: &str = "
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{background:#0f766e;color:#fff;padding:.7rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline}header a{color:#fff;text-decoration:none;font-weight:600}header nav{display:flex;gap:.8rem}header nav a{font-weight:400}
main{padding:1rem;max-width:1200px;margin:auto}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.45rem .6rem;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;font-size:.85rem}.wrap{overflow-x:auto}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;background:#e5e7eb}
.active,.completed,.sent{background:#d1fae5}.paused,.pending,.running{background:#fef3c7}.failed,.interrupted,.refused{background:#fee2e2}.removed,.missed{background:#e5e7eb}
.error{background:#fef2f2;border:1px solid #fecaca;padding:.6rem .8rem;margin:.5rem 0;border-radius:.4rem}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;margin-bottom:1rem}form.filters select,form.filters input,form.filters button{padding:.35rem .5rem;font-size:.95rem}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.6rem}.gallery figure{margin:0;background:#fff;padding:.4rem;border:1px solid #e5e7eb;border-radius:.4rem}
.gallery img{width:100%;height:auto;display:block}.gallery figcaption{font-size:.8rem;color:#475569;margin-top:.3rem;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;padding:.8rem;margin:0}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
pre.log{background:#0f172a;color:#e2e8f0;padding:.8rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap}
.muted{color:#64748b}
@media (max-width:640px){th.opt,td.opt{display:none}main{padding:.5rem}}
";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · adsched</title><style>{CSS}</style></head><body><header><a href=\"/\">adsched</a><nav aria-label=\"pages\"><a href=\"/\">Schedules</a><a href=\"/runs\">Runs</a><a href=\"/week\">Week</a></nav></header><main>{body}</main></body></html>",
        esc(title)
    ))
}

fn badge(status: &str) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", esc(status))
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            &format!(
                "<h1>Not found</h1><p>{}</p><p><a href=\"/\">All schedules</a></p>",
                esc(what)
            ),
        ),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "Error",
            &format!("<h1>Error</h1><p>{}</p>", esc(&e.to_string())),
        ),
    )
        .into_response()
}

/// Query of the schedule list.
#[derive(Deserialize)]
pub struct Filters {
    brand: Option<String>,
    product: Option<String>,
    status: Option<String>,
}

/// Filter choices: (value, label) pairs.
type Choices = Vec<(String, String)>;

/// The brands and the products of these schedules, as filter choices
/// (id, name), each once, by id.
fn brand_and_product_choices(all: &[ScheduleState]) -> (Choices, Choices) {
    let choices = |f: fn(&ScheduleState) -> &crate::records::NamedRef| {
        let mut v: Vec<(String, String)> = all
            .iter()
            .map(|s| (f(s).id.clone(), f(s).name.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    (choices(|s| &s.brand), choices(|s| &s.product))
}

fn options(name: &str, values: &[(String, String)], selected: Option<&str>) -> String {
    let plural = if name.ends_with('s') {
        format!("{name}es")
    } else {
        format!("{name}s")
    };
    let mut s = format!(
        "<select name=\"{name}\" aria-label=\"{name}\"><option value=\"\">all {plural}</option>"
    );
    for (v, label) in values {
        let sel = if selected == Some(v.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            s,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(v),
            esc(label)
        );
    }
    s.push_str("</select>");
    s
}

/// `/`: schedules with filters; invalid files first.
pub async fn index(State(ctx): State<Arc<Ctx>>, Query(f): Query<Filters>) -> Response {
    let all = match ctx.store.schedules().await {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let mut body = String::from("<h1>Schedules</h1>");
    for e in ctx.invalid_files() {
        let _ = write!(
            body,
            "<div class=\"error\"><b>Invalid file</b> {}:{}:{}: {} <span class=\"muted\">(the last valid version stays in force)</span></div>",
            esc(&e.file), e.line, e.column, esc(&e.message)
        );
    }
    let (brands, products) = brand_and_product_choices(&all);
    let statuses: Vec<(String, String)> = crate::records::ScheduleStatus::NAMES
        .iter()
        .map(|s| (s.to_string(), s.to_string()))
        .collect();
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/\">{}{}{}<button type=\"submit\">Filter</button></form>",
        options("brand", &brands, f.brand.as_deref()),
        options("product", &products, f.product.as_deref()),
        options("status", &statuses, f.status.as_deref()),
    );
    // An unknown status matches nothing, as a filter on a typed URL would.
    let filter = crate::service::ScheduleFilter::parse(
        f.brand.as_deref(),
        f.product.as_deref(),
        f.status.as_deref(),
    );
    let shown: Vec<&ScheduleState> = all
        .iter()
        .filter(|s| filter.as_ref().is_ok_and(|f| f.matches(s)))
        .collect();
    body.push_str("<div class=\"wrap\"><table><thead><tr><th>Schedule</th><th>Brand</th><th>Product</th><th class=\"opt\">When</th><th>Next run</th><th>Status</th><th class=\"opt\">Runs</th><th class=\"opt\">Last run</th></tr></thead><tbody>");
    for s in &shown {
        let last = match s.last_run_id.as_deref() {
            Some(id) => ctx.store.run(id).await.ok().flatten(),
            None => None,
        };
        let last = last
            .map(|r| {
                format!(
                    "<a href=\"/runs/{}\">{}</a>",
                    esc(&r.id),
                    badge(r.status.as_str())
                )
            })
            .unwrap_or_else(|| "<span class=\"muted\">none yet</span>".into());
        let _ = write!(
            body,
            "<tr class=\"schedule\"><td><a href=\"/schedules/{0}\">{1}</a><br><span class=\"muted\">{0}</span>{2}</td><td>{3}</td><td>{4}</td><td class=\"opt\">{5}</td><td>{6}</td><td>{7}</td><td class=\"opt\">{8} / {9}</td><td class=\"opt\">{10}</td></tr>",
            esc(&s.id),
            esc(&s.name),
            if s.error.is_some() { " <span class=\"badge failed\">file invalid</span>" } else { "" },
            esc(&s.brand.name),
            esc(&s.product.name),
            esc(&s.description),
            s.next_run_at.map(|t| esc(&fmt_time(t, s.tz()))).unwrap_or_else(|| "&mdash;".into()),
            badge(s.status.as_str()),
            s.runs_completed,
            s.max_runs.map_or("&infin;".to_string(), |m| m.to_string()),
            last
        );
    }
    body.push_str("</tbody></table></div>");
    if shown.is_empty() {
        body.push_str("<p class=\"muted\">No schedules match.</p>");
    }
    page("Schedules", &body).into_response()
}

fn json_summary(v: &Value) -> String {
    match v {
        Value::Null => "&mdash;".into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}: {}",
                    esc(k),
                    match v {
                        Value::String(s) => esc(s),
                        other => esc(&other.to_string()),
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("<br>"),
        other => esc(&other.to_string()),
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
    let mut body = format!("<h1>{} {}</h1>", esc(&s.name), badge(s.status.as_str()));
    if let Some(e) = &s.error {
        let _ = write!(
            body,
            "<div class=\"error\"><b>Its file is invalid</b> {}:{}:{}: {}</div>",
            esc(&e.file),
            e.line,
            e.column,
            esc(&e.message)
        );
    }
    let spec = &s.spec;
    let _ = write!(
        body,
        "<dl><dt>Id</dt><dd>{}</dd><dt>Product</dt><dd>{} ({})</dd><dt>Brand</dt><dd>{}</dd><dt>When</dt><dd>{}</dd>\
         <dt>Runs</dt><dd>{} of {}</dd><dt>Templates</dt><dd>{}</dd><dt>Parameters</dt><dd>{}</dd><dt>Export</dt><dd>{}</dd><dt>Source</dt><dd>{}:{}</dd></dl>",
        esc(&s.id),
        esc(&s.product.name),
        esc(&s.product.id),
        esc(&s.brand.name),
        esc(&s.description),
        s.runs_completed,
        s.max_runs.map_or("unlimited".to_string(), |m| m.to_string()),
        json_summary(&spec["templates"]),
        json_summary(&spec["parameters"]),
        json_summary(&spec["export"]),
        esc(&s.source.file),
        s.source.line
    );
    body.push_str("<h2>Next times</h2>");
    let next: Vec<String> = match serde_json::from_value::<crate::spec::Schedule>(s.spec.clone())
        .ok()
        .and_then(|d| crate::spec::check::calendar(&d).ok())
    {
        Some(cal) if s.status == crate::records::ScheduleStatus::Active => cal
            .upcoming(ctx.clock.now(), 5)
            .into_iter()
            .map(|t| fmt_time(t, tz))
            .collect(),
        _ => Vec::new(),
    };
    if next.is_empty() {
        let _ = write!(
            body,
            "<p class=\"muted\">None: the schedule is {}.</p>",
            s.status.as_str()
        );
    } else {
        body.push_str("<ul class=\"next\">");
        for t in next {
            let _ = write!(body, "<li>{}</li>", esc(&t));
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Runs</h2>");
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
    if runs.is_empty() {
        body.push_str("<p class=\"muted\">No runs yet.</p>");
    } else {
        body.push_str("<div class=\"wrap\"><table><thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th class=\"opt\">Scheduled for</th><th>Started</th><th class=\"opt\">Took</th><th>Templates</th><th>Ads</th></tr></thead><tbody>");
        for r in &runs {
            let took = match (r.started_at, r.completed_at) {
                (Some(a), Some(b)) => format!("{:.1}s", (b - a).num_milliseconds() as f64 / 1000.0),
                _ => "&mdash;".into(),
            };
            let _ = write!(
                body,
                "<tr class=\"run\"><td><a href=\"/runs/{0}\">{0}</a></td><td>{1}</td><td>{2}{3}</td><td class=\"opt\">{4}</td><td>{5}</td><td class=\"opt\">{6}</td><td>{7}</td><td>{8}</td></tr>",
                esc(&r.id),
                badge(r.status.as_str()),
                esc(serde_json::to_value(r.trigger).ok().and_then(|v| v.as_str().map(str::to_string)).as_deref().unwrap_or("")),
                if r.attempt > 1 { format!(" #{}", r.attempt) } else { String::new() },
                r.scheduled_for.map(|t| esc(&fmt_time(t, tz))).unwrap_or_else(|| "&mdash;".into()),
                r.started_at.map(|t| esc(&fmt_time(t, tz))).unwrap_or_else(|| "&mdash;".into()),
                took,
                r.templates_used.len(),
                r.ads.len()
            );
        }
        body.push_str("</tbody></table></div>");
    }
    page(&s.name, &body).into_response()
}

/// `/runs/{id}`: the ads as a gallery, exports, the log, the error.
pub async fn run(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> Response {
    let r = match ctx.store.run(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&format!("No run with id `{id}`.")),
        Err(e) => return internal(e),
    };
    let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    let t = |x: Option<chrono::DateTime<chrono::Utc>>| {
        x.map(|t| esc(&fmt_time(t, tz)))
            .unwrap_or_else(|| "&mdash;".into())
    };
    let mut body = format!(
        "<h1>Run {} {}</h1><p><a href=\"/schedules/{}\">&larr; {}</a></p>",
        esc(&r.id),
        badge(r.status.as_str()),
        esc(&r.schedule_id),
        esc(&r.schedule_id)
    );
    if let Some(e) = &r.error_message {
        let _ = write!(body, "<div class=\"error\" id=\"error\">{}</div>", esc(e));
    }
    let _ = write!(
        body,
        "<dl><dt>Trigger</dt><dd>{} (attempt {})</dd><dt>Scheduled for</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Completed</dt><dd>{}</dd>\
         <dt>Templates</dt><dd>{}</dd><dt>Ad runs</dt><dd>{}</dd></dl>",
        esc(serde_json::to_value(r.trigger).ok().and_then(|v| v.as_str().map(str::to_string)).as_deref().unwrap_or("")),
        r.attempt,
        t(r.scheduled_for),
        t(r.started_at),
        t(r.completed_at),
        esc(&r.templates_used.join(", ")),
        esc(&r.ad_run_ids.join(", "))
    );
    let _ = write!(body, "<h2>Ads ({})</h2>", r.ads.len());
    if r.ads.is_empty() {
        body.push_str("<p class=\"muted\">No ads.</p>");
    } else {
        body.push_str("<div class=\"gallery\">");
        for a in &r.ads {
            let _ = write!(
                body,
                "<figure><a href=\"{0}\"><img src=\"{0}\" alt=\"ad from {1}\" loading=\"lazy\"></a><figcaption>{1} {2}</figcaption></figure>",
                esc(&a.image),
                esc(&a.template),
                if a.status == "approved" { String::new() } else { badge(&a.status) }
            );
        }
        body.push_str("</div>");
    }
    body.push_str("<h2>Exports</h2>");
    if r.exports.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        body.push_str("<div class=\"wrap\"><table><thead><tr><th>Destination</th><th>Result</th><th>Attempts</th><th>Detail</th></tr></thead><tbody>");
        for e in &r.exports {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.destination),
                badge(&e.status),
                e.attempts,
                esc(&e.detail)
            );
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("<h2>Log</h2><pre class=\"log\" id=\"log\">");
    match ctx.store.logs(&r.id).await {
        Ok(lines) => {
            for l in lines {
                let _ = writeln!(
                    body,
                    "{}  {:<5}  {}",
                    esc(&fmt_time(l.time, tz)),
                    esc(&l.level),
                    esc(&l.message)
                );
            }
        }
        Err(e) => body.push_str(&esc(&e.to_string())),
    }
    body.push_str("</pre>");
    page(&format!("Run {}", r.id), &body).into_response()
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
