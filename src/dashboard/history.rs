//! `/runs` (every schedule's runs, filtered and paged) and `/week` (the next
//! seven days of fires, by day and hour).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use super::{badge, brand_and_product_choices, esc, internal, options, page};
use crate::daemon::Ctx;
use crate::records::{RunStatus, ScheduleStatus, Trigger};
use crate::service::{self, QueryError, RunParams};
use crate::views::RunView;

/// Runs on one page of `/runs`.
const PAGE: usize = 100;
/// Fires listed per schedule on `/week`: an every-minute cron would list
/// ten thousand; past this the day says "and more".
const MAX_FIRES: usize = 500;

fn choices(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.to_string(), n.to_string()))
        .collect()
}

/// A cell's text for an optional time.
fn time(t: Option<&str>) -> String {
    t.map(esc).unwrap_or_else(|| "&mdash;".into())
}

/// `/runs`: runs of every schedule, newest first, with the API's filters.
pub async fn runs(State(ctx): State<Arc<Ctx>>, Query(mut p): Query<RunParams>) -> Response {
    // The page size is the dashboard's; `before` pages back as in the API.
    p.limit = Some(PAGE.to_string());
    let filter = match p.parse() {
        Ok(f) => f,
        Err(e) => return bad_request(&e),
    };
    let answer = async {
        let runs = service::runs(&ctx.store, None, &filter).await?;
        let schedules = ctx.store.schedules().await?;
        Ok::<_, QueryError>((runs, schedules))
    };
    let (runs, schedules) = match answer.await {
        Ok(a) => a,
        Err(QueryError::Invalid(m)) => return bad_request(&m),
        Err(e) => return internal(e),
    };
    let names: BTreeMap<&str, &str> = schedules
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_str()))
        .collect();
    let (brands, products) = brand_and_product_choices(&schedules);

    let mut body = String::from("<h1>Runs</h1>");
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/runs\">{}{}{}{}\
         <label>since <input type=\"date\" name=\"since\" value=\"{}\"></label>\
         <button type=\"submit\">Filter</button></form>",
        options("brand", &brands, p.brand.as_deref()),
        options("product", &products, p.product.as_deref()),
        options("status", &choices(&RunStatus::NAMES), p.status.as_deref()),
        options("trigger", &choices(&Trigger::NAMES), p.trigger.as_deref()),
        esc(p.since.as_deref().unwrap_or_default()),
    );
    if runs.is_empty() {
        body.push_str("<p class=\"muted\">No runs match.</p>");
    } else {
        run_table(&mut body, &runs, &names);
    }
    if runs.len() == PAGE {
        let last = runs.last().map(|r| r.id.as_str()).unwrap_or_default();
        let mut q: Vec<String> = [
            ("brand", &p.brand),
            ("product", &p.product),
            ("status", &p.status),
            ("trigger", &p.trigger),
            ("since", &p.since),
        ]
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", crate::client::urlencode(v)))
        })
        .collect();
        q.push(format!("before={}", crate::client::urlencode(last)));
        let _ = write!(
            body,
            "<p><a rel=\"next\" href=\"/runs?{}\">Older runs &rarr;</a></p>",
            esc(&q.join("&"))
        );
    }
    page("Runs", &body).into_response()
}

fn run_table(body: &mut String, runs: &[RunView], names: &BTreeMap<&str, &str>) {
    body.push_str("<div class=\"wrap\"><table><thead><tr><th>Run</th><th>Schedule</th><th>Status</th><th>Trigger</th><th class=\"opt\">Scheduled for</th><th>Started</th><th class=\"opt\">Took</th><th class=\"opt\">Templates</th><th>Ads</th></tr></thead><tbody>");
    for r in runs {
        let name = names.get(r.schedule_id.as_str()).copied();
        let _ = write!(
            body,
            "<tr class=\"run\"><td><a href=\"/runs/{id}\">{id}</a></td><td><a href=\"/schedules/{sid}\">{label}</a></td><td>{status}</td><td>{trigger}{attempt}</td><td class=\"opt\">{scheduled}</td><td>{started}</td><td class=\"opt\">{took}</td><td class=\"opt\">{templates}</td><td>{ads}</td></tr>",
            id = esc(&r.id),
            sid = esc(&r.schedule_id),
            label = esc(name.unwrap_or(&r.schedule_id)),
            status = badge(r.status.as_str()),
            trigger = esc(trigger_name(r.trigger)),
            attempt = if r.attempt > 1 { format!(" #{}", r.attempt) } else { String::new() },
            scheduled = time(r.scheduled_for.as_deref()),
            started = time(r.started_at.as_deref()),
            took = r.duration_seconds.map_or("&mdash;".into(), |d| format!("{d:.1}s")),
            templates = r.templates_used.len(),
            ads = r.ads.len(),
        );
    }
    body.push_str("</tbody></table></div>");
}

fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::Schedule => "schedule",
        Trigger::Catchup => "catchup",
        Trigger::Manual => "manual",
        Trigger::Retry => "retry",
    }
}

fn bad_request(e: &dyn std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        page(
            "Bad filter",
            &format!(
                "<h1>Bad filter</h1><p>{}</p><p><a href=\"/runs\">All runs</a></p>",
                esc(&e.to_string())
            ),
        ),
    )
        .into_response()
}

/// Query of `/week`.
#[derive(serde::Deserialize)]
pub struct WeekParams {
    tz: Option<String>,
}

/// One fire on `/week`.
struct Fire {
    at: DateTime<Utc>,
    id: String,
    name: String,
    product: String,
    zone: Tz,
}

/// `/week`: the next 7 days of fires of every active schedule, by day and
/// hour, in one zone (`?tz=`, default the zone most schedules use).
pub async fn week(State(ctx): State<Arc<Ctx>>, Query(p): Query<WeekParams>) -> Response {
    let all = match ctx.store.schedules().await {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let active: Vec<_> = all
        .iter()
        .filter(|s| s.status == ScheduleStatus::Active)
        .collect();
    let mut zones: BTreeMap<String, usize> = BTreeMap::new();
    for s in &active {
        *zones.entry(s.timezone.clone()).or_default() += 1;
    }
    let usual = zones
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(z, _)| z.clone())
        .unwrap_or_else(|| "UTC".into());
    let zone_name = p.tz.filter(|z| !z.trim().is_empty()).unwrap_or(usual);
    let Ok(tz) = zone_name.parse::<Tz>() else {
        return bad_request(&format!(
            "`{zone_name}` is not an IANA time zone (for example America/Los_Angeles)"
        ));
    };

    let now = ctx.clock.now();
    let end = now + Duration::days(7);
    let mut fires = Vec::new();
    let mut cut = Vec::new();
    for s in &active {
        let Some(cal) = serde_json::from_value::<crate::spec::Schedule>(s.spec.clone())
            .ok()
            .and_then(|d| crate::spec::check::calendar(&d).ok())
        else {
            continue;
        };
        // A schedule near its max_runs stops after its last run.
        let left = s
            .max_runs
            .map_or(MAX_FIRES, |m| (m.saturating_sub(s.runs_completed)) as usize);
        let mut t = now;
        let mut n = 0;
        while let Some(next) = cal.next_after_within(t, end) {
            if n == left.min(MAX_FIRES) {
                if n == MAX_FIRES {
                    cut.push(s.name.clone());
                }
                break;
            }
            fires.push(Fire {
                at: next,
                id: s.id.clone(),
                name: s.name.clone(),
                product: s.product.name.clone(),
                zone: s.tz(),
            });
            n += 1;
            t = next;
        }
    }
    fires.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));

    let mut by_day: BTreeMap<NaiveDate, BTreeMap<u32, Vec<&Fire>>> = BTreeMap::new();
    let first = now.with_timezone(&tz).date_naive();
    for d in 0..8 {
        by_day.entry(first + Duration::days(d)).or_default();
    }
    for f in &fires {
        let local = f.at.with_timezone(&tz);
        by_day
            .entry(local.date_naive())
            .or_default()
            .entry(local.hour())
            .or_default()
            .push(f);
    }
    let mut zone_choices: Vec<(String, String)> =
        zones.keys().map(|z| (z.clone(), z.clone())).collect();
    if !zones.contains_key(&zone_name) {
        zone_choices.push((zone_name.clone(), zone_name.clone()));
    }
    let mut body = format!(
        "<h1>The next 7 days</h1><p class=\"muted\">{} fires of {} active schedules, from {} to {}, in {}.</p>",
        fires.len(),
        active.len(),
        esc(&now.with_timezone(&tz).format("%a %-d %b %H:%M").to_string()),
        esc(&end.with_timezone(&tz).format("%a %-d %b %H:%M").to_string()),
        esc(&zone_name)
    );
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/week\">{}<button type=\"submit\">Show</button></form>",
        options("tz", &zone_choices, Some(&zone_name)).replace("all tzs", "usual zone")
    );
    for name in &cut {
        let _ = write!(
            body,
            "<p class=\"muted\">{} fires more than {MAX_FIRES} times this week; the first {MAX_FIRES} are shown.</p>",
            esc(name)
        );
    }
    for (day, hours) in &by_day {
        if *day > end.with_timezone(&tz).date_naive() {
            break;
        }
        let _ = write!(
            body,
            "<h2>{}</h2>",
            esc(&day.format("%A %-d %B").to_string())
        );
        if hours.is_empty() {
            body.push_str("<p class=\"muted\">Nothing fires.</p>");
            continue;
        }
        body.push_str("<div class=\"wrap\"><table class=\"week\"><thead><tr><th>Hour</th><th>Fires</th></tr></thead><tbody>");
        for (hour, list) in hours {
            let items: Vec<String> = list
                .iter()
                .map(|f| {
                    let own = f.at.with_timezone(&f.zone);
                    let local = f.at.with_timezone(&tz);
                    // Its own zone too, when it differs from the page's.
                    let also = if f.zone != tz {
                        format!(
                            " <span class=\"muted\">({} {})</span>",
                            own.format("%H:%M"),
                            esc(f.zone.name())
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "<span class=\"fire\">{} <a href=\"/schedules/{}\">{}</a> <span class=\"muted\">{}</span>{also}</span>",
                        local.format("%H:%M"),
                        esc(&f.id),
                        esc(&f.name),
                        esc(&f.product),
                    )
                })
                .collect();
            let _ = write!(
                body,
                "<tr><td>{hour:02}:00</td><td>{}</td></tr>",
                items.join("<br>")
            );
        }
        body.push_str("</tbody></table></div>");
    }
    page("Week", &body).into_response()
}
