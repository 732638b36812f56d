//! The scheduler loop: what is due is recorded (queued, missed, retried),
//! flushed, then the worker is woken.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Ctx;
use crate::records::{ActorNote, RunStatus, Trigger};
use crate::scheduler;
use crate::scheduler::Fire;
use crate::spec;
use crate::spec::model::AlertEvent;
use crate::store::{Due, StoreError};

/// Schedules fired per transaction.
const FIRE_BATCH: usize = 256;

/// Fires what is due, then sleeps until the next time (or a wake-up).
pub(super) async fn scheduler_loop(ctx: Arc<Ctx>) {
    loop {
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        if !ctx.is_leader() {
            // A standby fires nothing; the take-over wakes this loop.
            tokio::select! {
                _ = tokio::time::sleep(super::lead::LOOK_EVERY) => {}
                _ = ctx.wake_scheduler.notified() => {}
            }
            continue;
        }
        ctx.planned_wake.store(i64::MIN, Ordering::SeqCst);
        let next = match tick(&ctx).await {
            Ok(n) => n,
            Err(StoreError::NotLeader(why)) => {
                tracing::warn!("scheduler: {why}; firing nothing until this daemon leads");
                continue;
            }
            Err(e) => {
                // A store that cannot write is reported once, by the
                // supervisor, which wakes this loop when it recovers.
                if !ctx.store.mark_failed(&e) {
                    tracing::error!("scheduler: {e}; retrying shortly");
                }
                // An I/O retry is paced in real time, whatever the clock.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = ctx.wake_scheduler.notified() => {}
                }
                continue;
            }
        };
        let until = next.unwrap_or_else(|| ctx.clock.now() + chrono::Duration::seconds(60));
        ctx.planned_wake
            .store(until.timestamp_millis(), Ordering::SeqCst);
        tokio::select! {
            _ = ctx.clock.sleep_until(until) => {}
            _ = ctx.wake_scheduler.notified() => {}
        }
    }
}

/// Queues what is due; returns the next instant to look again.
///
/// Everything due is recorded first and flushed once, then the log lines
/// are written with one more flush: a Monday 09:00 with many schedules due
/// costs two disk syncs, not two per schedule. No run starts before the
/// flush: the worker is woken after it, and its own start is flushed too.
async fn tick(ctx: &Arc<Ctx>) -> Result<Option<DateTime<Utc>>, StoreError> {
    let now = ctx.clock.now();
    let mut lines: Vec<(String, &'static str, String)> = Vec::new();
    let mut recorded = false;
    let outcome = fire_due(ctx, now, &mut lines, &mut recorded).await;
    if recorded {
        // Durable before any work: a crash now never fires these times again.
        ctx.store.flush().await?;
    }
    let (queued, mut next) = outcome?;
    if let Some(due) = expire_reviews(ctx, now).await? {
        next = Some(next.map_or(due, |n| n.min(due)));
    }
    if !lines.is_empty() {
        if let Err(e) = ctx.store.log_batch(now, &lines).await {
            ctx.store.mark_failed(&e);
            tracing::error!("cannot write {} log line(s): {e}", lines.len());
        }
    }
    if queued {
        ctx.wake_worker.notify_one();
    }
    Ok(next)
}

/// Ends the wait of exports whose review window has passed (SPEC 11): they
/// become `expired`, nothing is sent, and the `export_failed` alert fires.
/// Returns the next review deadline, for the scheduler's next wake-up.
async fn expire_reviews(
    ctx: &Arc<Ctx>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut next: Option<DateTime<Utc>> = None;
    for r in ctx.store.runs_awaiting_review().await? {
        let Some(due) = r.review_due else { continue };
        if due > now {
            next = Some(next.map_or(due, |n| n.min(due)));
            continue;
        }
        if let Some(expired) = ctx.store.expire_review(&r.id, now).await? {
            let msg = "nobody reviewed the ads within the review window; the export expired and nothing was sent";
            tracing::warn!(run_id = %r.id, schedule_id = %r.schedule_id, "{msg}");
            super::log_line(&ctx.store, &r.id, now, "warn", msg).await;
            ctx.alert_exports(&expired, &expired.exports);
        }
    }
    Ok(next)
}

/// The transactions of [`tick`]: (queued a run, next wake-up).
async fn fire_due(
    ctx: &Arc<Ctx>,
    now: DateTime<Utc>,
    lines: &mut Vec<(String, &'static str, String)>,
    recorded: &mut bool,
) -> Result<(bool, Option<DateTime<Utc>>), StoreError> {
    let mut queued = false;
    let mut next: Option<DateTime<Utc>> = None;
    let mut due: Vec<(Due, Tz)> = Vec::new();
    // Only what is due, from the store's index of wake times: a tick costs
    // what is due, not what is stored.
    for mut s in ctx.store.due_schedules(now).await? {
        let Some(at) = scheduler::wake_at(&s) else {
            continue;
        };
        if at > now {
            next = Some(next.map_or(at, |n| n.min(at)));
            continue;
        }
        if s.pause.as_ref().is_some_and(|p| !p.holds(now)) {
            // An operator's pause whose `until` has passed ends here, in
            // the audit log like a resume; paused time is not caught up.
            let note = ActorNote {
                by: super::DAEMON_ACTOR.into(),
                reason: "the pause's `until` passed".into(),
                at: now,
            };
            let Some(resumed) = ctx.store.resume(&s.id, note).await? else {
                continue;
            };
            *recorded = true;
            tracing::info!(schedule_id = %s.id, "pause ended (its until passed); status {}", resumed.status.as_str());
            s = resumed;
            match scheduler::wake_at(&s) {
                Some(t) if t <= now => {}
                later => {
                    next = next.into_iter().chain(later).min();
                    continue;
                }
            }
        }
        let spec: spec::Schedule = match serde_json::from_value(s.spec.clone()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(schedule_id = %s.id, "stored schedule does not parse: {e}");
                continue;
            }
        };
        let Some(cal) = ctx.calendar(&s, &spec) else {
            continue;
        };
        let window = spec::check::catchup_window(&spec);
        due.push((
            Due {
                id: s.id.clone(),
                calendar: cal,
                window,
            },
            s.tz(),
        ));
    }
    // In batches: one transaction each, decided on the rows as they are.
    while !due.is_empty() {
        let rest = due.split_off(due.len().min(FIRE_BATCH));
        let batch = std::mem::replace(&mut due, rest);
        let (batch, zones): (Vec<Due>, Vec<Tz>) = batch.into_iter().unzip();
        let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
        let fired = ctx.store.fire(batch, ctx.started, now).await?;
        for ((id, tz), fire) in ids.iter().zip(zones).zip(fired) {
            let Some(fire) = fire else { continue };
            *recorded = true;
            queued |= note_fire(ctx, id, tz, &fire, lines);
            if let Some(at) = scheduler::wake_at(&fire.state) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
    }
    // Everything not due: the index's first time after now.
    if let Some(at) = ctx.store.next_wake(now).await? {
        next = Some(next.map_or(at, |n| n.min(at)));
    }
    Ok((queued, next))
}

/// Logs and counts what one firing recorded; true when it queued a run.
fn note_fire(
    ctx: &Arc<Ctx>,
    id: &str,
    tz: Tz,
    fire: &Fire,
    lines: &mut Vec<(String, &'static str, String)>,
) -> bool {
    let mut queued = false;
    if let Some(run) = &fire.run {
        let when = run
            .scheduled_for
            .map(|t| crate::records::fmt_time(t, tz))
            .unwrap_or_default();
        match run.status {
            RunStatus::Missed => {
                ctx.metrics.run_finished("missed", None);
                let msg = run.error_message.as_deref().unwrap_or("missed");
                ctx.alert(AlertEvent::Missed, run, msg.to_string());
                lines.push((run.id.clone(), "warn", msg.to_string()));
                tracing::warn!(schedule_id = %id, run_id = %run.id, "missed {} time(s), latest {when}", run.missed_count);
            }
            _ => {
                queued = true;
                let why = match run.trigger {
                    Trigger::Catchup => format!(
                        "queued as a catch-up for {when} ({} earlier time(s) folded in)",
                        run.missed_count
                    ),
                    Trigger::Retry => {
                        format!("queued as retry attempt {} for {when}", run.attempt)
                    }
                    _ => format!("queued for {when}"),
                };
                tracing::info!(schedule_id = %id, run_id = %run.id, "{why}");
                lines.push((run.id.clone(), "info", why));
            }
        }
    }
    if let (Some(t), Some(pending)) = (fire.coalesced, &fire.state.pending_run) {
        let msg = format!(
            "the time {} came while this run was still queued; not queued twice",
            crate::records::fmt_time(t, tz)
        );
        lines.push((pending.clone(), "warn", msg));
    }
    queued
}
