//! History retention (SPEC 10): with `--retain`, runs that ended longer ago
//! than that go, with their log lines, ads, exports and image files. The
//! latest run of each schedule stays, and so does whatever is queued,
//! running or waiting for review; template usage is never deleted (it
//! decides which templates are unused).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use crate::store::StoreError;

/// Runs deleted per store call: small, so that a sweep through a long
/// history never holds the store (or the scheduler waiting on it) for long.
const BATCH: usize = 100;

/// How often the sweep runs: a tenth of the period, at least once a second
/// and at most once an hour apart (SPEC 10).
pub(super) fn every(keep: chrono::Duration) -> Duration {
    let tenth = keep.num_milliseconds().max(0) as u64 / 10;
    Duration::from_millis(tenth.clamp(1_000, 3_600_000))
}

/// Sweeps at start, then every [`every`], while this daemon leads.
pub(super) async fn retain_loop(ctx: Arc<Ctx>, keep: chrono::Duration) {
    loop {
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        if ctx.is_leader() && ctx.store.failure().is_none() {
            match sweep(&ctx, keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "retention: deleted {n} run(s) that ended more than {} ago",
                    crate::scheduler::human_duration(keep)
                ),
                Err(e) => {
                    if !ctx.store.mark_failed(&e) {
                        tracing::error!("retention: {e}");
                    }
                }
            }
        }
        tokio::time::sleep(every(keep)).await;
    }
}

/// One sweep; returns how many runs it deleted.
pub(super) async fn sweep(ctx: &Ctx, keep: chrono::Duration) -> Result<usize, StoreError> {
    let cutoff = ctx.clock.now() - keep;
    let mut protected: HashSet<String> = HashSet::new();
    for s in ctx.store.schedules().await? {
        protected.extend(s.last_run_id);
        protected.extend(s.pending_run);
        protected.extend(s.running_run);
    }
    let mut after: Option<String> = None;
    let mut deleted = 0;
    loop {
        let page = ctx
            .store
            .runs_ended_before(cutoff, after.clone(), BATCH)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let ids: Vec<String> = page
            .iter()
            .filter(|r| !protected.contains(&r.id) && !r.awaiting_review())
            .map(|r| r.id.clone())
            .collect();
        if !ids.is_empty() {
            ctx.store.delete_runs(ids.clone()).await?;
            ctx.store.flush().await?;
            for id in &ids {
                // A run's images live in their own folder under `ads/`.
                let dir = ctx.config.state.join("ads").join(id);
                if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!("retention: cannot remove {}: {e}", dir.display());
                    }
                }
            }
            deleted += ids.len();
        }
        if page.len() < BATCH {
            break;
        }
        // Let the scheduler and the API in between batches.
        tokio::task::yield_now().await;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::every;

    #[test]
    fn the_sweep_runs_a_tenth_of_the_period_apart_within_a_second_and_an_hour() {
        assert_eq!(every(chrono::Duration::seconds(3)), Duration::from_secs(1));
        assert_eq!(every(chrono::Duration::hours(1)), Duration::from_secs(360));
        assert_eq!(every(chrono::Duration::days(90)), Duration::from_secs(3600));
    }

    use std::time::Duration;
}
