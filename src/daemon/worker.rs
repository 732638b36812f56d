//! The worker: one run at a time, oldest queued first. No work starts
//! before its start is on disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use crate::records::RunStatus;
use crate::run::Runner;
use crate::scheduler;
use crate::store::{Next, Started};

/// Runs queued runs, oldest first, one at a time.
pub(super) async fn worker_loop(ctx: Arc<Ctx>, runner: Arc<Runner>, stop: Arc<AtomicBool>) {
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if !ctx.is_leader() {
            // A standby works nothing; the take-over wakes this loop.
            let _ = tokio::time::timeout(super::lead::LOOK_EVERY, ctx.wake_worker.notified()).await;
            continue;
        }
        let now = ctx.clock.now();
        let Started { state, run, used } = match ctx.store.begin_next(now).await {
            Ok(Next::Began(started)) => started,
            Ok(Next::Skipped) => continue,
            Ok(Next::Idle) => {
                if ctx.store.shared() {
                    // A standby queues manual runs in the database, with no
                    // way to wake this process: look again shortly.
                    let _ =
                        tokio::time::timeout(super::lead::LOOK_EVERY, ctx.wake_worker.notified())
                            .await;
                } else {
                    ctx.wake_worker.notified().await;
                }
                continue;
            }
            Err(e) => {
                if !ctx.store.mark_failed(&e) {
                    tracing::error!("worker: cannot start the next run: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // The start is flushed with the run's first lines, before its first
        // generator call (`Runner::barrier`): no work leaves the process on
        // a start a crash could take back, at one flush instead of two.
        *ctx.current_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run.id.clone());
        if let (true, Some(slot), Some(started)) =
            (run.trigger.counts(), run.scheduled_for, run.started_at)
        {
            ctx.metrics
                .start_delay((started - slot).num_milliseconds() as f64 / 1000.0);
        }
        let result = runner.execute(&run, &state, &used, &stop).await;
        *ctx.current_run.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let (finished, after) = match result {
            Ok(r) => r,
            Err(e) => {
                ctx.store.mark_failed(&e);
                tracing::error!(run_id = %run.id, "run failed to record: {e}");
                // A store that cannot write: give its reopen time.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let took = match (finished.started_at, finished.completed_at) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        };
        ctx.metrics.run_finished(finished.status.as_str(), took);
        ctx.alert_finished(&finished);
        if finished.status == RunStatus::Failed {
            if let Some(retry) = after.as_ref().and_then(|s| s.retry.clone()) {
                super::log_line(
                    &ctx.store,
                    &finished.id,
                    ctx.clock.now(),
                    "info",
                    &format!(
                        "retry attempt {} planned for {}",
                        retry.attempt,
                        crate::records::fmt_time(retry.at, state.tz())
                    ),
                )
                .await;
            }
        }
        // The schedule as the run's end left it, in the same transaction.
        let wants = after
            .as_ref()
            .and_then(scheduler::wake_at)
            .map(|t| t.timestamp_millis());
        if wants.is_some_and(|t| t < ctx.planned_wake.load(Ordering::SeqCst))
            || ctx.planned_wake.load(Ordering::SeqCst) == i64::MIN
        {
            ctx.wake_scheduler.notify_one();
        }
    }
}
