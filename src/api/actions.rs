//! The operators' actions over HTTP (SPEC 8): trigger, pause, resume,
//! cancel, export again, and the audit log. Every mutating request names
//! its [`Actor`]: a token's name when tokens are set (401 without one),
//! `local` for a loopback caller when none is.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::ApiError;
use crate::daemon::{Ctx, LOCAL_ACTOR};
use crate::export::again::{self, ExportRequest, Sender};
use crate::export::review::{self, ReviewRequest};
use crate::service;
use crate::views::{AuditView, RunView, ScheduleView, TriggerView};

/// Who makes a mutating request: the name of the token it carries, or
/// `local`. Extracting it is the check: a handler that takes an `Actor`
/// cannot run for a caller who may not act.
#[derive(Debug, Clone)]
pub(crate) struct Actor(pub String);

impl FromRequestParts<Arc<Ctx>> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Ctx>) -> Result<Actor, ApiError> {
        let actor = Self::check(parts, ctx)?;
        // Until the folder is applied, a first start may still undo
        // schedules it applied early (see store::staged): no action may
        // build on them.
        if !ctx.ready.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::Query(service::QueryError::Starting));
        }
        Ok(actor)
    }
}

impl Actor {
    /// Who may act, from the request's origin, token and peer.
    fn check(parts: &Parts, ctx: &Arc<Ctx>) -> Result<Actor, ApiError> {
        // A page on another site must not act through a browser on this
        // machine: browsers name the page's origin on a cross-site POST.
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            if origin_host != host {
                return Err(ApiError::Forbidden(
                    "a request from another site's page is refused; act from the dashboard or the CLI",
                ));
            }
        }
        let tokens = &ctx.settings.api_tokens;
        if tokens.any() {
            let given = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            return match given.and_then(|g| tokens.name_of(g)) {
                Some(name) => Ok(Actor(name.to_string())),
                None => Err(ApiError::Unauthorized(
                    "this action needs `Authorization: Bearer <token>` with one of the daemon's tokens (ADSCHED_API_TOKENS or ADSCHED_API_TOKEN)",
                )),
            };
        }
        let loopback = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
        if loopback {
            Ok(Actor(LOCAL_ACTOR.to_string()))
        } else {
            Err(ApiError::Forbidden(
                "set ADSCHED_API_TOKENS (or ADSCHED_API_TOKEN) on the daemon to act from another host",
            ))
        }
    }
}

/// An optional JSON body: empty (or `null`) means the default; anything
/// else must be the endpoint's shape exactly.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() || text.trim() == "null" {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadBody(format!("the body is not valid: {e}")))
}

/// `POST /api/v1/schedules/{id}/trigger`: 202 `{"run_id", "already_pending"}`.
pub(super) async fn trigger(
    State(ctx): State<Arc<Ctx>>,
    Actor(actor): Actor,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TriggerView>), ApiError> {
    let view = service::trigger_in(&ctx, &id, &actor).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// The body of a pause.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PauseBody {
    reason: Option<String>,
    until: Option<String>,
}

/// `POST /api/v1/schedules/{id}/pause {"reason", "until"}`: 200 the schedule.
pub(super) async fn pause(
    State(ctx): State<Arc<Ctx>>,
    Actor(actor): Actor,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<ScheduleView>, ApiError> {
    let b: PauseBody = body(&bytes)?;
    let now = ctx.clock.now();
    let view = service::pause(
        &ctx.store,
        &id,
        &actor,
        b.reason.as_deref(),
        b.until.as_deref(),
        now,
    )
    .await?;
    // Its `until` is a time the scheduler must wake for.
    ctx.wake_scheduler.notify_one();
    Ok(Json(view))
}

/// `POST /api/v1/schedules/{id}/resume`: 200 the schedule.
pub(super) async fn resume(
    State(ctx): State<Arc<Ctx>>,
    Actor(actor): Actor,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    let view = service::resume(&ctx.store, &id, &actor, ctx.clock.now()).await?;
    ctx.wake_scheduler.notify_one();
    Ok(Json(view))
}

/// The body of a cancel.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelBody {
    reason: Option<String>,
}

/// `POST /api/v1/runs/{run_id}/cancel {"reason"}`: 202 the run.
pub(super) async fn cancel(
    State(ctx): State<Arc<Ctx>>,
    Actor(actor): Actor,
    Path(run_id): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let b: CancelBody = body(&bytes)?;
    let view = service::cancel(
        &ctx.store,
        &run_id,
        &actor,
        b.reason.as_deref(),
        ctx.clock.now(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// `POST /api/v1/runs/{run_id}/export {"slack", "email"}`: 202 the run; the
/// send goes on in the background and adds an entry to its `exports`.
pub(super) async fn export(
    State(ctx): State<Arc<Ctx>>,
    Actor(actor): Actor,
    Path(run_id): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let req: ExportRequest = body(&bytes)?;
    let prepared = again::prepare(&ctx.store, &run_id, &req).await?;
    let view = RunView::from(&prepared.run);
    let task_ctx = ctx.clone();
    tokio::spawn(async move {
        let ctx = task_ctx;
        let sender = Sender {
            settings: &ctx.settings,
            public_url: ctx.config.public_url.as_deref(),
            state_dir: &ctx.config.state,
        };
        let now = ctx.clock.now();
        match again::send(&ctx.store, &sender, prepared, &actor, now).await {
            Ok(results) => {
                for e in &results {
                    ctx.metrics.export(&e.destination, &e.status);
                }
                if let Ok(Some(run)) = ctx.store.run(&run_id).await {
                    ctx.alert_exports(&run, &results);
                }
            }
            Err(e) => {
                ctx.store.mark_failed(&e);
                tracing::error!(run_id = %run_id, "cannot record an export again: {e}");
            }
        }
    });
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// `POST /api/v1/runs/{run_id}/review {"approve", "reject", "note", "send"}`:
/// 200 the run with the decisions; when every ad is decided (or on `send`)
/// the approved ones are sent in the background.
pub(super) async fn review(
    State(ctx): State<Arc<Ctx>>,
    Actor(actor): Actor,
    Path(run_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<RunView>, ApiError> {
    let req: ReviewRequest = body(&bytes)?;
    let (run, send) = review::decide(&ctx.store, &run_id, &req, &actor, ctx.clock.now()).await?;
    if send {
        let ctx = ctx.clone();
        let run = run.clone();
        tokio::spawn(async move {
            let sender = Sender {
                settings: &ctx.settings,
                public_url: ctx.config.public_url.as_deref(),
                state_dir: &ctx.config.state,
            };
            match review::send_approved(&ctx.store, &sender, &run, &actor, ctx.clock.now()).await {
                Ok(results) => {
                    for e in &results {
                        ctx.metrics.export(&e.destination, &e.status);
                    }
                    ctx.alert_exports(&run, &results);
                }
                Err(e) => {
                    ctx.store.mark_failed(&e);
                    tracing::error!(run_id = %run.id, "cannot record the reviewed export: {e}");
                }
            }
        });
    }
    Ok(Json(RunView::from(&run)))
}

/// The filters of the audit log.
#[derive(Debug, Deserialize)]
pub(super) struct AuditParams {
    schedule: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/audit?schedule=&limit=`: newest first.
pub(super) async fn audit(
    State(ctx): State<Arc<Ctx>>,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    Ok(Json(
        service::audit(&ctx.store, p.schedule.as_deref(), p.limit.as_deref()).await?,
    ))
}
