//! Drafts from the browser's form (SPEC 9): `POST /api/v1/validate` and
//! `POST /api/v1/preview`. Read-only, so no token: the daemon never writes
//! the schedules folder, it only says what `adsched validate` would.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ApiError;
use crate::daemon::Ctx;
use crate::spec::{self, draft, Options, Pool};

/// Most fire times one preview lists.
pub const MAX_PREVIEW: usize = 100;

/// Drafts checked at once: each lists and stats the whole schedules folder
/// (and parses what changed), and the endpoints need no token, so a burst
/// must not take the blocking pool the scheduler and the store share. One
/// at a time: they share the reload's cache of the folder's files.
static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    yaml: String,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    yaml: String,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    path: Option<String>,
    /// Which schedule, when the draft holds several.
    #[serde(default)]
    id: Option<String>,
    /// Times strictly after this (RFC 3339); default now.
    #[serde(default)]
    after: Option<String>,
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes, shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadBody(format!("the body must be a JSON object {shape}: {e}")))
}

/// Checks `yaml` as the file at `path` of the daemon's schedules folder, on
/// the blocking pool (it reads the folder and the template pool).
async fn check(
    ctx: &Arc<Ctx>,
    yaml: String,
    path: Option<String>,
    now: DateTime<Utc>,
) -> Result<draft::Draft, ApiError> {
    let _turn = CHECKS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("the validation queue is closed: {e}")))?;
    let c = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let opts = Options::new(Pool::scan(&c.config.templates), now).allowing(&c.settings);
        let mut cache = c.parse_cache.lock().unwrap_or_else(|e| e.into_inner());
        let draft = draft::check(
            &c.config.schedules,
            &yaml,
            path.as_deref(),
            &opts,
            &mut cache,
        );
        drop(cache);
        // The folder's documents were copied for the check and dropped.
        crate::daemon::memory::release_free_pages();
        draft
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the validation task stopped: {e}")))?
    .map_err(|e| ApiError::BadBody(e.to_string()))
}

/// `POST /api/v1/validate` `{"yaml", "path"}`: the SPEC 2 JSON report of the draft.
pub(super) async fn validate(
    State(ctx): State<Arc<Ctx>>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: ValidateBody = body(&bytes, r#"{"yaml": "...", "path": "acme/new.yaml"}"#)?;
    let draft = check(&ctx, b.yaml, b.path, ctx.clock.now()).await?;
    let report = draft.report();
    Ok(Json(spec::report::json_report(&report)).into_response())
}

/// `POST /api/v1/preview` `{"yaml", "count"}`: the SPEC 3.1 fire times of a
/// valid draft, or 422 with the report.
pub(super) async fn preview(
    State(ctx): State<Arc<Ctx>>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: PreviewBody = body(&bytes, r#"{"yaml": "...", "count": 5}"#)?;
    let count = b.count.unwrap_or(5);
    if !(1..=MAX_PREVIEW).contains(&count) {
        return Err(ApiError::BadBody(format!(
            "`count` {count} is out of range: give 1 to {MAX_PREVIEW}"
        )));
    }
    let now = ctx.clock.now();
    let after = match b.after.as_deref() {
        None => now,
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::BadBody(format!(
                    "`after` `{s}` is not an RFC 3339 time ({e}); e.g. 2026-03-01T00:00:00Z"
                ))
            })?,
    };
    let draft = check(&ctx, b.yaml, b.path, now).await?;
    if !draft.valid() {
        let report = draft.report();
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(spec::report::json_report(&report)),
        )
            .into_response());
    }
    let doc = draft
        .pick(b.id.as_deref())
        .map_err(|e| ApiError::BadBody(e.to_string()))?;
    let times = draft::fire_times(&doc.doc, after, count).map_err(ApiError::BadBody)?;
    Ok(Json(times).into_response())
}
