//! After a crash or a store failure: runs left `running` are marked
//! `interrupted`, stale pointers cleared, and a failed store reopened once
//! its folder takes writes again.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Ctx;
use crate::records::{Run, RunStatus};
use crate::store::{Store, StoreError};

/// Marks runs left `running` by a crash as `interrupted`; `in_progress` is
/// the run this process is still working on (after a store reopen), left
/// alone. Returns the runs it ended, for their alerts.
pub(super) async fn recover(
    store: &Store,
    now: DateTime<Utc>,
    in_progress: Option<&str>,
) -> Result<Vec<Run>, StoreError> {
    let mut ended = Vec::new();
    for run in store.runs_with_status(RunStatus::Running).await? {
        if Some(run.id.as_str()) == in_progress {
            continue;
        }
        store.interrupt(&run.id, now).await?;
        if let Some(r) = store.run(&run.id).await? {
            ended.push(r);
        }
        super::log_line(
            store,
            &run.id,
            now,
            "error",
            "interrupted: the daemon stopped while this run was in progress",
        )
        .await;
        tracing::warn!(run_id = %run.id, schedule_id = %run.schedule_id, "run marked interrupted at start-up");
    }
    // A schedule pointing at a run that is no longer running or pending is cleared.
    for s in store.schedules_with_runs().await? {
        let stale_running = match &s.running_run {
            Some(r) if Some(r.as_str()) == in_progress => false,
            Some(r) => store
                .run(r)
                .await?
                .is_none_or(|r| r.status != RunStatus::Running),
            None => false,
        };
        let stale_pending = match &s.pending_run {
            Some(r) => store
                .run(r)
                .await?
                .is_none_or(|r| r.status != RunStatus::Pending),
            None => false,
        };
        if stale_running || stale_pending {
            store
                .clear_stale(&s.id, stale_running, stale_pending)
                .await?;
        }
    }
    // Reviewed ads whose send was claimed but never recorded: the daemon
    // stopped mid-send. Say so rather than wait for a review that came.
    for r in store.runs_awaiting_review().await? {
        if r.review_due.is_some() {
            continue;
        }
        let failed = r
            .exports
            .iter()
            .map(|e| crate::records::ExportResult {
                status: if e.status == crate::records::AWAITING_REVIEW {
                    "failed".into()
                } else {
                    e.status.clone()
                },
                detail: "the daemon stopped while sending the reviewed ads; export the run again"
                    .into(),
                ..e.clone()
            })
            .collect();
        store.set_exports(&r.id, failed, None).await?;
    }
    store.flush().await?;
    Ok(ended)
}

/// How often a failed store is tried again.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// Brings the store back after a write failure (a full disk, say). sled's
/// I/O errors are sticky, so the database is reopened once the state folder
/// takes writes again; until then nothing fires (no run starts before its
/// record is flushed) and `/readyz` says why.
pub(super) async fn store_supervisor(ctx: Arc<Ctx>) {
    let mut reported = false;
    loop {
        tokio::time::sleep(STORE_RETRY).await;
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Some(failure) = ctx.store.failure() else {
            reported = false;
            continue;
        };
        if !reported {
            tracing::error!(
                "the store at {} cannot write ({failure}); nothing will fire until it can. Retrying every {} s",
                ctx.store.location(),
                STORE_RETRY.as_secs()
            );
            reported = true;
        }
        let outcome = bring_back(&ctx).await;
        match outcome {
            Ok(()) => {
                tracing::info!(
                    "the store at {} takes writes again; resuming",
                    ctx.store.location()
                );
                reported = false;
                ctx.wake_scheduler.notify_one();
                ctx.wake_worker.notify_one();
                ctx.reload.notify_one();
            }
            Err(e) => tracing::debug!("store still failing: {e}"),
        }
    }
}

/// Reopens the store (it checks first that it takes writes), and recovers.
async fn bring_back(ctx: &Arc<Ctx>) -> Result<(), String> {
    ctx.store.reopen().await.map_err(|e| e.to_string())?;
    if !ctx.is_leader() {
        // A standby's runs are the leader's: it recovers nothing (the fence
        // would refuse it), and recovers when it takes over.
        return Ok(());
    }
    let in_progress = ctx
        .current_run
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let ended = recover(&ctx.store, ctx.clock.now(), in_progress.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    ctx.alert_interrupted(ended);
    Ok(())
}
