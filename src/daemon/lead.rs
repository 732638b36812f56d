//! Leadership among daemons that share one store (SPEC 7): one leader
//! reconciles, fires and works; the others serve reads and queue manual
//! runs for it, and one of them takes over when the leader's session ends.
//!
//! The store decides (PostgreSQL: a session advisory lock), and fences the
//! changes only a leader makes; this module turns its answer into the
//! daemon's role and does the take-over: the old leader's running run is
//! marked interrupted before any new work, then the folder is applied afresh.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{recover, Ctx};

/// How often the role is looked at: a standby takes over this long at most
/// after the old leader's session ends.
pub(super) const LOOK_EVERY: Duration = Duration::from_secs(1);

/// One look: takes, keeps or loses the lead. Returns whether this daemon
/// became the leader in this look (then the caller applies the folder).
pub(super) async fn look(ctx: &Arc<Ctx>) -> bool {
    let was = ctx.is_leader();
    let leads = match ctx.store.lead().await {
        Ok(leads) => leads,
        Err(e) => {
            if was {
                tracing::error!("{e}; no new work until this daemon leads again");
            } else {
                tracing::debug!("cannot look at the lead: {e}");
            }
            false
        }
    };
    match (was, leads) {
        (false, true) => take_over(ctx).await,
        (true, false) => {
            ctx.set_leader(false);
            tracing::warn!("this daemon no longer leads: it starts no new work and serves reads");
            false
        }
        _ => false,
    }
}

/// Becomes the leader: the old leader's running run is interrupted first,
/// then the scheduler and the worker may go.
async fn take_over(ctx: &Arc<Ctx>) -> bool {
    let in_progress = ctx
        .current_run
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match recover::recover(&ctx.store, ctx.clock.now(), in_progress.as_deref()).await {
        Ok(ended) => ctx.alert_interrupted(ended),
        Err(e) => {
            // Holding the lock but unable to recover: the next look tries again.
            ctx.store.mark_failed(&e);
            tracing::error!("cannot take over as leader: {e}");
            return false;
        }
    }
    ctx.set_leader(true);
    if ctx.store.shared() {
        tracing::info!("this daemon leads: it reconciles, fires and works");
    }
    true
}

/// Looks at the role every [`LOOK_EVERY`] until the daemon stops.
pub(super) async fn lead_loop(ctx: Arc<Ctx>) {
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        if look(&ctx).await {
            // What a standby saw of the folder was never applied.
            ctx.reload_all.store(true, Ordering::SeqCst);
            ctx.reload.notify_one();
            ctx.wake_scheduler.notify_one();
            ctx.wake_worker.notify_one();
        }
    }
}
