//! The HTTP API (SPEC 6): health, the JSON API, images.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::daemon::Ctx;
use crate::records::{fmt_time, RunStatus, ScheduleState};

/// Runs listed when no `limit` is given.
const DEFAULT_LIMIT: usize = 50;
/// The largest page of runs, in the API, the CLI and the MCP tools alike.
pub const MAX_LIMIT: usize = 1000;

/// The router.
pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/schedules", get(list_schedules))
        .route("/api/v1/schedules/{id}", get(get_schedule))
        .route("/api/v1/schedules/{id}/runs", get(schedule_runs))
        .route("/api/v1/schedules/{id}/trigger", post(trigger))
        .route("/api/v1/runs", get(all_runs))
        .route("/api/v1/runs/{run_id}", get(get_run))
        .route("/api/v1/runs/{run_id}/logs", get(run_logs))
        .route("/ads/{*path}", get(ad_image))
        .route("/metrics", get(crate::dashboard::metrics))
        .route("/", get(crate::dashboard::index))
        .route("/schedules/{id}", get(crate::dashboard::schedule))
        .route("/runs/{run_id}", get(crate::dashboard::run))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such page or endpoint: {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// A JSON error response.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// A store failure: 503 with `Retry-After` while the store is being reopened
/// (after a full disk), so clients wait instead of reporting a bug; else 500.
pub fn internal(e: crate::store::StoreError) -> Response {
    match e {
        crate::store::StoreError::Unavailable(_) => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
            r
        }
        e => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(ctx): State<Arc<Ctx>>) -> Response {
    let invalid = ctx.invalid_files();
    let stopping = ctx.stopping.load(Ordering::SeqCst);
    // A store that cannot write cannot record a run: nothing fires until it can.
    let store_error = ctx.store.failure();
    let ready = ctx.ready.load(Ordering::SeqCst) && !stopping && store_error.is_none();
    let body = json!({
        "ready": ready,
        "stopping": stopping,
        "store": {"ok": store_error.is_none(), "error": store_error},
        "invalid_files": invalid,
        "last_reload": ctx.last_reload(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// A schedule as the API shows it.
pub fn schedule_json(store: &crate::store::Store, s: &ScheduleState) -> Value {
    let tz = s.tz();
    let last_run = s
        .last_run_id
        .as_deref()
        .and_then(|id| store.run(id).ok().flatten())
        .map(|r| r.to_api());
    json!({
        "id": s.id,
        "name": s.name,
        "tenant_id": s.tenant_id,
        "product": s.product,
        "brand": s.brand,
        "status": s.status,
        "description": s.description,
        "timezone": s.timezone,
        "next_run_at": s.next_run_at.map(|t| fmt_time(t, tz)),
        "runs_completed": s.runs_completed,
        "max_runs": s.max_runs,
        "source": s.source,
        "error": s.error,
        "last_run": last_run,
        "pending_run": s.pending_run,
        "running_run": s.running_run,
        "retry": s.retry.as_ref().map(|r| json!({"attempt": r.attempt, "at": fmt_time(r.at, tz)})),
        "spec": s.spec,
    })
}

#[derive(Deserialize)]
struct ScheduleFilter {
    brand: Option<String>,
    product: Option<String>,
    status: Option<String>,
}

/// Whether a schedule passes the list filters (brand and product match id or name).
pub fn matches_filter(
    s: &ScheduleState,
    brand: Option<&str>,
    product: Option<&str>,
    status: Option<&str>,
) -> bool {
    let eq = |want: Option<&str>, r: &crate::records::NamedRef| {
        want.is_none_or(|w| {
            w.is_empty() || w.eq_ignore_ascii_case(&r.id) || w.eq_ignore_ascii_case(&r.name)
        })
    };
    eq(brand, &s.brand)
        && eq(product, &s.product)
        && status.is_none_or(|w| w.is_empty() || w == s.status.as_str())
}

const SCHEDULE_STATUSES: [&str; 4] = ["active", "paused", "completed", "removed"];

async fn list_schedules(State(ctx): State<Arc<Ctx>>, Query(f): Query<ScheduleFilter>) -> Response {
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
        if !SCHEDULE_STATUSES.contains(&s) {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "status `{s}` is not one of {}",
                    SCHEDULE_STATUSES.join(", ")
                ),
            );
        }
    }
    let all = match ctx.store.schedules() {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let list: Vec<Value> = all
        .iter()
        .filter(|s| {
            matches_filter(
                s,
                f.brand.as_deref(),
                f.product.as_deref(),
                f.status.as_deref(),
            )
        })
        .map(|s| schedule_json(&ctx.store, s))
        .collect();
    Json(list).into_response()
}

async fn get_schedule(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> Response {
    match ctx.store.schedule(&id) {
        Ok(Some(s)) => Json(schedule_json(&ctx.store, &s)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no schedule with id `{id}`")),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct RunFilter {
    status: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    since: Option<String>,
}

struct RunQuery {
    status: Option<RunStatus>,
    limit: usize,
    before: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse_run_filter(f: RunFilter) -> Result<RunQuery, Box<Response>> {
    let status = match f.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                format!("status `{s}` is not one of pending, running, completed, failed, interrupted, missed"),
            ))
        })?),
    };
    let limit = match f.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    format!("limit `{l}` is not a number from 1 to {MAX_LIMIT}"),
                )))
            }
        },
    };
    let since = match f.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(parse_since(s).ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                format!("since `{s}` is not a date (YYYY-MM-DD) or an RFC 3339 time"),
            ))
        })?),
    };
    Ok(RunQuery {
        status,
        limit,
        before: f.before.filter(|b| !b.is_empty()),
        since,
    })
}

/// A `before` cursor must name a run: a typo must not answer the whole list
/// (or none of it) as if it were a page.
fn check_cursor(ctx: &Ctx, before: Option<&str>) -> Result<(), Box<Response>> {
    let Some(id) = before else { return Ok(()) };
    match ctx.store.run(id) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!(
                "before `{id}` is not a run id; pass the `id` of the last run of the previous page"
            ),
        ))),
        Err(e) => Err(Box::new(internal(e))),
    }
}

/// A date (midnight UTC) or an RFC 3339 instant.
pub fn parse_since(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

async fn schedule_runs(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    Query(f): Query<RunFilter>,
) -> Response {
    let q = match parse_run_filter(f) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    match ctx.store.schedule(&id) {
        Ok(Some(_)) => {}
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no schedule with id `{id}`")),
        Err(e) => return internal(e),
    }
    if let Err(r) = check_cursor(&ctx, q.before.as_deref()) {
        return *r;
    }
    match ctx
        .store
        .runs(Some(&id), q.status, q.before.as_deref(), q.since, q.limit)
    {
        Ok(runs) => Json(runs.iter().map(|r| r.to_api()).collect::<Vec<_>>()).into_response(),
        Err(e) => internal(e),
    }
}

async fn all_runs(State(ctx): State<Arc<Ctx>>, Query(f): Query<RunFilter>) -> Response {
    let q = match parse_run_filter(f) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    if let Err(r) = check_cursor(&ctx, q.before.as_deref()) {
        return *r;
    }
    match ctx
        .store
        .runs(None, q.status, q.before.as_deref(), q.since, q.limit)
    {
        Ok(runs) => Json(runs.iter().map(|r| r.to_api()).collect::<Vec<_>>()).into_response(),
        Err(e) => internal(e),
    }
}

async fn get_run(State(ctx): State<Arc<Ctx>>, Path(run_id): Path<String>) -> Response {
    match ctx.store.run(&run_id) {
        Ok(Some(r)) => Json(r.to_api()).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run with id `{run_id}`")),
        Err(e) => internal(e),
    }
}

async fn run_logs(State(ctx): State<Arc<Ctx>>, Path(run_id): Path<String>) -> Response {
    let run = match ctx.store.run(&run_id) {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no run with id `{run_id}`")),
        Err(e) => return internal(e),
    };
    let tz: chrono_tz::Tz = run.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    match ctx.store.logs(&run_id) {
        Ok(lines) => Json(
            lines
                .iter()
                .map(|l| json!({"time": fmt_time(l.time, tz), "level": l.level, "message": l.message}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn trigger(
    State(ctx): State<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    // With a token, it is required; without one, only local callers may trigger.
    match std::env::var("ADSCHED_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if given != Some(token.as_str()) {
                return error(StatusCode::UNAUTHORIZED, "a valid `Authorization: Bearer` token (ADSCHED_API_TOKEN) is required to trigger runs");
            }
        }
        None if !peer.ip().is_loopback() => {
            return error(
                StatusCode::FORBIDDEN,
                "set ADSCHED_API_TOKEN on the daemon to trigger runs from another host",
            );
        }
        None => {}
    }
    match ctx.trigger(&id) {
        Ok((run_id, already)) => (
            StatusCode::ACCEPTED,
            Json(json!({"run_id": run_id, "already_pending": already})),
        )
            .into_response(),
        Err(crate::daemon::TriggerError::NotFound) => {
            error(StatusCode::NOT_FOUND, format!("no schedule with id `{id}`"))
        }
        Err(crate::daemon::TriggerError::Removed) => error(
            StatusCode::CONFLICT,
            format!(
                "schedule `{id}` is removed (its document is gone); restore the file to run it"
            ),
        ),
        Err(crate::daemon::TriggerError::Stopping) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        ),
        Err(crate::daemon::TriggerError::Store(e)) => internal(e),
    }
}

/// Serves a generated image from `state/ads`, never anything outside it.
async fn ad_image(State(ctx): State<Arc<Ctx>>, Path(path): Path<String>) -> Response {
    let rel = std::path::Path::new(&path);
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return error(StatusCode::BAD_REQUEST, "bad image path");
    }
    let Ok(root) = std::fs::canonicalize(ctx.store.dir().join("ads")) else {
        return error(StatusCode::NOT_FOUND, "no such image");
    };
    let Ok(full) = std::fs::canonicalize(root.join(rel)) else {
        return error(StatusCode::NOT_FOUND, "no such image");
    };
    if !full.starts_with(&root) {
        return error(StatusCode::NOT_FOUND, "no such image");
    }
    match std::fs::read(&full) {
        Ok(bytes) => {
            let ct = crate::media::content_type(&full);
            (
                [
                    (header::CONTENT_TYPE, ct),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                bytes,
            )
                .into_response()
        }
        Err(_) => error(StatusCode::NOT_FOUND, "no such image"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_being_reopened_is_a_503_with_retry_after() {
        let r = internal(crate::store::StoreError::Unavailable("reopening".into()));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = internal(crate::store::StoreError::Aborted("bug".into()));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
