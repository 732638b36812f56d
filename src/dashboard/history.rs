//! `/runs` (every schedule's runs, filtered and paged) and `/week` (the next
//! seven days of fires, by day and hour).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use maud::html;

use super::layout::{
    badge, brand_and_product_choices, choices, internal, message, options, page, trigger_name, NONE,
};
use crate::daemon::Ctx;
use crate::records::{RunStatus, ScheduleStatus, Trigger};
use crate::service::{self, QueryError, RunParams};
use crate::views::RunView;

/// Runs on one page of `/runs`.
const PAGE: usize = 100;
/// Fires listed per schedule on `/week`: an every-minute cron would list
/// ten thousand; past this the day says "and more".
const MAX_FIRES: usize = 500;

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
    let (brands, products) = brand_and_product_choices(&schedules);

    // The next page starts before this page's last run, with the same filters.
    let older = (runs.len() == PAGE).then(|| {
        let last = runs.last().map(|r| r.id.as_str()).unwrap_or_default();
        format!(
            "/runs{}",
            crate::client::query(&[
                ("brand", p.brand.as_deref()),
                ("product", p.product.as_deref()),
                ("status", p.status.as_deref()),
                ("trigger", p.trigger.as_deref()),
                ("since", p.since.as_deref()),
                ("before", Some(last)),
            ])
        )
    });
    let body = html! {
        h1 { "Runs" }
        form.filters method="get" action="/runs" {
            (options("brand", "all brands", &brands, p.brand.as_deref()))
            (options("product", "all products", &products, p.product.as_deref()))
            (options("status", "all statuses", &choices(&RunStatus::NAMES), p.status.as_deref()))
            (options("trigger", "all triggers", &choices(&Trigger::NAMES), p.trigger.as_deref()))
            label { "since " input type="date" name="since" value=(p.since.as_deref().unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        @if runs.is_empty() {
            p.muted { "No runs match." }
        } @else {
            (run_table(&runs, &schedules, ctx.clock.now()))
        }
        @if let Some(href) = &older {
            p { a rel="next" href=(href) { "Older runs \u{2192}" } }
        }
    };
    page("Runs", body).into_response()
}

/// A view's time in the zone of its schedule, as people read it.
fn when(t: Option<&str>, tz: chrono_tz::Tz, now: DateTime<Utc>) -> maud::Markup {
    match t.and_then(crate::views::parse_time) {
        Some(t) => super::layout::human_time(t, tz, now),
        None => html! { (NONE) },
    }
}

fn run_table(
    runs: &[RunView],
    schedules: &[crate::records::ScheduleState],
    now: DateTime<Utc>,
) -> maud::Markup {
    let names: BTreeMap<&str, &str> = schedules
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_str()))
        .collect();
    let zones: BTreeMap<&str, chrono_tz::Tz> =
        schedules.iter().map(|s| (s.id.as_str(), s.tz())).collect();
    html! {
        div.wrap { table.cards {
            thead { tr {
                th { "Run" } th { "Schedule" } th { "Status" } th { "Trigger" }
                th.opt { "Scheduled for" } th { "Started" } th.opt { "Took" }
                th.opt { "Templates" } th { "Ads" }
            } }
            tbody {
                @for r in runs {
                    @let tz = zones.get(r.schedule_id.as_str()).copied().unwrap_or(chrono_tz::Tz::UTC);
                    tr.run {
                        td { a href={ "/runs/" (r.id) } { (r.id) } }
                        td {
                            a href={ "/schedules/" (r.schedule_id) } {
                                (names.get(r.schedule_id.as_str()).copied().unwrap_or(&r.schedule_id))
                            }
                        }
                        td.status { (badge(r.status.as_str())) }
                        td {
                            (trigger_name(r.trigger))
                            @if r.attempt > 1 { " #" (r.attempt) }
                        }
                        td.opt { (when(r.scheduled_for.as_deref(), tz, now)) }
                        td { (when(r.started_at.as_deref(), tz, now)) }
                        td.opt {
                            @match r.duration_seconds {
                                Some(d) => { (format!("{d:.1}")) "s" }
                                None => (NONE),
                            }
                        }
                        td.opt { (r.templates_used.len()) }
                        td { (r.ads.len()) }
                    }
                }
            }
        } }
    }
}

fn bad_request(e: &dyn std::fmt::Display) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Bad filter",
        &e.to_string(),
        ("/runs", "All runs"),
    )
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
    let last_day = end.with_timezone(&tz).date_naive();
    let stamp = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string();
    let body = html! {
        h1 { "The next 7 days" }
        p.muted {
            (fires.len()) " fires of " (active.len()) " active schedules, from " (stamp(now))
            " to " (stamp(end)) ", in " (zone_name) "."
        }
        form.filters method="get" action="/week" {
            (options("tz", "usual zone", &zone_choices, Some(&zone_name)))
            button type="submit" { "Show" }
        }
        @for name in &cut {
            p.muted {
                (name) " fires more than " (MAX_FIRES) " times this week; the first "
                (MAX_FIRES) " are shown."
            }
        }
        @for (day, hours) in by_day.iter().filter(|(d, _)| **d <= last_day) {
            h2 { (day.format("%A %-d %B").to_string()) }
            @if hours.is_empty() {
                p.muted { "Nothing fires." }
            } @else {
                div.wrap { table.week {
                    thead { tr { th { "Hour" } th { "Fires" } } }
                    tbody {
                        @for (hour, list) in hours {
                            tr {
                                td { (format!("{hour:02}:00")) }
                                td {
                                    @for (i, f) in list.iter().enumerate() {
                                        @if i > 0 { br; }
                                        (fire(f, tz))
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    page("Week", body).into_response()
}

/// One fire on `/week`: its time in the page's zone, and in its own zone
/// too when that differs.
fn fire(f: &Fire, tz: Tz) -> maud::Markup {
    let local = f.at.with_timezone(&tz);
    html! {
        span.fire {
            (local.format("%H:%M").to_string()) " "
            a href={ "/schedules/" (f.id) } { (f.name) } " "
            span.muted { (f.product) }
            @if f.zone != tz {
                " "
                span.muted {
                    "(" (f.at.with_timezone(&f.zone).format("%H:%M").to_string()) " " (f.zone.name()) ")"
                }
            }
        }
    }
}
