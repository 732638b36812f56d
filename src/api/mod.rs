//! The HTTP API (SPEC 6): health, the JSON API, images; the operators'
//! actions (SPEC 8) are in `actions`.

mod actions;
mod draft;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::daemon::Ctx;
use crate::service::{self, QueryError, RunParams, ScheduleFilter};
use crate::store::StoreError;
use crate::views::{LogLineView, RunView, ScheduleView};

pub use crate::service::MAX_LIMIT;

/// The router.
pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/schedules", get(list_schedules))
        .route("/api/v1/schedules/{id}", get(get_schedule))
        .route("/api/v1/schedules/{id}/runs", get(schedule_runs))
        .route("/api/v1/schedules/{id}/trigger", post(actions::trigger))
        .route("/api/v1/schedules/{id}/pause", post(actions::pause))
        .route("/api/v1/schedules/{id}/resume", post(actions::resume))
        .route("/api/v1/runs/{run_id}/cancel", post(actions::cancel))
        .route("/api/v1/runs/{run_id}/export", post(actions::export))
        .route("/api/v1/runs/{run_id}/review", post(actions::review))
        .route("/api/v1/audit", get(actions::audit))
        .route("/api/v1/validate", post(draft::validate))
        .route("/api/v1/preview", post(draft::preview))
        .route("/api/v1/runs", get(all_runs))
        .route("/api/v1/runs/{run_id}", get(get_run))
        .route("/api/v1/runs/{run_id}/logs", get(run_logs))
        .route("/ads/{*path}", get(ad_image))
        .route("/templates/{*path}", get(template_image))
        .route("/new", get(crate::dashboard::new_schedule))
        .route("/schedules/{id}/edit", get(crate::dashboard::edit_schedule))
        .route("/metrics", get(crate::dashboard::metrics))
        .route("/", get(crate::dashboard::index))
        .route("/schedules/{id}", get(crate::dashboard::schedule))
        .route("/runs", get(crate::dashboard::runs))
        .route("/runs/{run_id}", get(crate::dashboard::run))
        .route("/runs/{run_id}/ads.zip", get(crate::dashboard::run_zip))
        .route("/week", get(crate::dashboard::week))
        .route("/audit", get(crate::dashboard::audit))
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

/// Why a request failed; answers `{"error": "..."}` with its status, so
/// handlers use `?`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query's answer is "no", or its arguments are not allowed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A token is needed and was not given.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Not from this caller.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request's body is not what the endpoint takes.
    #[error("{0}")]
    BadBody(String),
    /// A bug or a lost task.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Query(q) => match q {
                QueryError::NoSchedule(_) | QueryError::NoRun(_) => StatusCode::NOT_FOUND,
                QueryError::Invalid(_) => StatusCode::BAD_REQUEST,
                QueryError::Removed(_) | QueryError::Conflict(_) => StatusCode::CONFLICT,
                QueryError::Stopping
                | QueryError::Starting
                | QueryError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                QueryError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Query(QueryError::Store(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r = error(status, self.to_string());
        // A store being reopened (after a full disk) comes back: clients wait
        // instead of reporting a bug.
        if matches!(
            self,
            ApiError::Query(QueryError::Store(StoreError::Unavailable(_)))
        ) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        }
        r
    }
}

/// A store failure as a response (see [`ApiError`]).
pub fn internal(e: StoreError) -> Response {
    ApiError::from(e).into_response()
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
        "store": {"kind": ctx.store.kind(), "ok": store_error.is_none(), "error": store_error},
        "role": if ctx.is_leader() { "leader" } else { "standby" },
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

async fn list_schedules(
    State(ctx): State<Arc<Ctx>>,
    Query(f): Query<ScheduleParams>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    let (offset, limit) = service::page_params(f.limit.as_deref(), f.offset.as_deref())?;
    let f = ScheduleFilter::parse(
        f.brand.as_deref(),
        f.product.as_deref(),
        f.status.as_deref(),
    )?;
    Ok(Json(
        service::schedules_page(&ctx.store, &f, offset, limit).await?,
    ))
}

#[derive(Deserialize)]
struct ScheduleParams {
    brand: Option<String>,
    product: Option<String>,
    status: Option<String>,
    /// At most this many (1 to 1000); without it, every schedule.
    limit: Option<String>,
    /// Skip this many first (by id).
    offset: Option<String>,
}

async fn get_schedule(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(Json(service::schedule(&ctx.store, &id).await?))
}

async fn schedule_runs(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    Query(p): Query<RunParams>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    let f = p.parse()?;
    Ok(Json(service::runs(&ctx.store, Some(&id), &f).await?))
}

async fn all_runs(
    State(ctx): State<Arc<Ctx>>,
    Query(p): Query<RunParams>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    let f = p.parse()?;
    Ok(Json(service::runs(&ctx.store, None, &f).await?))
}

async fn get_run(
    State(ctx): State<Arc<Ctx>>,
    Path(run_id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(service::run(&ctx.store, &run_id).await?))
}

async fn run_logs(
    State(ctx): State<Arc<Ctx>>,
    Path(run_id): Path<String>,
) -> Result<Json<Vec<LogLineView>>, ApiError> {
    Ok(Json(service::logs(&ctx.store, &run_id).await?))
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
    let content_type = crate::media::content_type(rel);
    let found = match on_disk(&ctx.config.state.join("ads"), rel).await {
        Some(bytes) => Some(bytes),
        // Made by another daemon on the same database: kept there too.
        None if ctx.store.shared() => match ctx.store.image(&path).await {
            Ok(bytes) => bytes,
            Err(e) => return internal(e),
        },
        None => None,
    };
    match found {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such image"),
    }
}

/// `/templates/{path}`: an image of the template pool (the form's
/// thumbnails), never a file outside the pool or of another type.
async fn template_image(State(ctx): State<Arc<Ctx>>, Path(path): Path<String>) -> Response {
    let rel = std::path::Path::new(&path);
    let plain = rel.components().all(|c| match c {
        std::path::Component::Normal(n) => !n.as_encoded_bytes().starts_with(b"."),
        _ => false,
    });
    let image = rel.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        crate::spec::load::TEMPLATE_EXTENSIONS
            .iter()
            .any(|x| x.eq_ignore_ascii_case(e))
    });
    if !plain || !image {
        return error(StatusCode::BAD_REQUEST, "bad template path");
    }
    match on_disk(&ctx.config.templates, rel).await {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, crate::media::content_type(rel)),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            bytes,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such template"),
    }
}

/// A file under `root`, never outside it (a symlink out is refused like `..`).
async fn on_disk(root: &std::path::Path, rel: &std::path::Path) -> Option<Vec<u8>> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let full = tokio::fs::canonicalize(root.join(rel)).await.ok()?;
    if !full.starts_with(&root) {
        return None;
    }
    tokio::fs::read(&full).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_being_reopened_is_a_503_with_retry_after() {
        let r = internal(StoreError::Unavailable("reopening".into()));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = internal(StoreError::Aborted("bug".into()));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
