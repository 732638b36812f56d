//! Reading the schedules folder and applying it to the store (reconcile).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Ctx;
use crate::reconcile::{self, DesiredSet};
use crate::records::FileError;
use crate::spec::{self, Options, Pool};
use crate::store::StoreError;

/// Schedules reconciled in one store transaction: few enough that a
/// transaction stays short (sled keeps its writes in memory; PostgreSQL
/// holds their row locks), many enough that a first start with 10,000
/// schedules makes 40 commits, not 10,000.
const RECONCILE_BATCH: usize = 256;

/// Reads the folder and applies the changes. `force` applies even when no
/// file changed since the last reload.
pub async fn reload(ctx: &Arc<Ctx>, force: bool) {
    let result = reload_once(ctx, force).await;
    let ok = result.is_ok();
    if let Err(e) = &result {
        ctx.store.mark_failed(e);
        tracing::error!("reload failed: {e}");
        // Nothing of this look was applied: the next one must read every
        // file again, even unchanged ones.
        *ctx.parse_cache.lock().unwrap_or_else(|e| e.into_inner()) = spec::ParseCache::default();
        ctx.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
    ctx.stats.reloads.fetch_add(1, Ordering::Relaxed);
    ctx.stats.last_reload_ok.store(ok, Ordering::Relaxed);
    ctx.stats
        .last_reload_at
        .store(ctx.clock.now().timestamp().max(0) as u64, Ordering::Relaxed);
    ctx.ready.store(true, Ordering::SeqCst);
    // A rescan that changed nothing has nothing for the scheduler: waking it
    // would decode every stored schedule for no reason.
    if force || !matches!(result, Ok(0)) {
        ctx.wake_scheduler.notify_one();
    }
}

/// What the folder holds now: None when nothing changed since the last look.
fn load(ctx: &Ctx, force: bool) -> Option<DesiredSet> {
    let now = ctx.clock.now();
    let opts = Options::new(Pool::scan(&ctx.config.templates), now).allowing(&ctx.settings);
    let loaded = {
        let mut cache = ctx.parse_cache.lock().unwrap_or_else(|e| e.into_inner());
        let paths = std::slice::from_ref(&ctx.config.schedules);
        let loaded = if force {
            spec::load_cached(paths, &opts, &mut cache).map(Some)
        } else {
            spec::load_if_changed(paths, &opts, &mut cache)
        };
        if loaded.is_err() {
            // Whatever comes back must be read afresh, even identical files.
            *cache = spec::ParseCache::default();
        }
        loaded
    };
    match loaded {
        Ok(Some(catalog)) => {
            let products = catalog.products.iter().map(|d| d.doc.clone()).collect();
            *ctx.products.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(products);
            Some(DesiredSet::from_catalog(&catalog))
        }
        Ok(None) => None,
        Err(e) => {
            // The folder itself is gone: keep everything in force and say so.
            tracing::error!(
                "cannot read the schedules folder: {e}; keeping the schedules in force"
            );
            let err = FileError {
                file: spec::display_path(&ctx.config.schedules),
                line: 1,
                column: 1,
                message: e.to_string(),
            };
            *ctx.invalid.write().unwrap_or_else(|e| e.into_inner()) = vec![err];
            None
        }
    }
}

async fn reload_once(ctx: &Arc<Ctx>, force: bool) -> Result<usize, StoreError> {
    let now = ctx.clock.now();
    let started = std::time::Instant::now();
    // Reading and parsing files blocks.
    let c = ctx.clone();
    let desired = tokio::task::spawn_blocking(move || load(&c, force))
        .await
        .map_err(|e| StoreError::Backend(format!("the reload task stopped: {e}")))?;
    let load_ms = started.elapsed().as_millis();
    let Some(desired) = desired else {
        return Ok(0);
    };
    if !ctx.is_leader() {
        // A standby applies nothing (the leader's checkout is in force); it
        // shows what its own files say is wrong, and is ready to serve.
        *ctx.invalid.write().unwrap_or_else(|e| e.into_inner()) =
            desired.invalid_files.values().cloned().collect();
        return Ok(0);
    }
    let desired = Arc::new(desired);
    // Only schedules whose documents changed since they were last applied,
    // or that are stored but no longer wanted, need a look: after one edit
    // that is one schedule of 10,000, and no stored state is decoded for the rest.
    let stored_ids = ctx.store.schedule_ids().await?;
    let candidates: Vec<(String, Option<u64>)> = {
        let mut applied = ctx.applied.lock().unwrap_or_else(|e| e.into_inner());
        let mut candidates = Vec::new();
        for (id, d) in &desired.schedules {
            if applied.get(id) != Some(&d.hash) {
                candidates.push((id.clone(), Some(d.hash)));
            }
        }
        for id in &stored_ids {
            if !desired.schedules.contains_key(id) {
                candidates.push((id.clone(), None));
            }
        }
        applied.retain(|id, _| desired.schedules.contains_key(id));
        candidates
    };
    let mut changed = 0;
    let stored_ms = started.elapsed().as_millis();
    let mut results = Vec::with_capacity(candidates.len());
    for batch in candidates.chunks(RECONCILE_BATCH) {
        let ids = batch.iter().map(|(id, _)| id.clone()).collect();
        let outcomes = ctx.store.reconcile(ids, desired.clone(), now).await?;
        results.extend(batch.iter().cloned().zip(outcomes));
    }
    for ((id, hash), (change, settled)) in results {
        {
            let mut applied = ctx.applied.lock().unwrap_or_else(|e| e.into_inner());
            match (hash, settled) {
                (Some(h), true) => {
                    applied.insert(id.clone(), h);
                }
                _ => {
                    applied.remove(&id);
                }
            }
        }
        let Some(change) = change else { continue };
        changed += 1;
        match &change {
            reconcile::Change::Added(s) => {
                tracing::info!(schedule_id = %id, "schedule added: {}", s.description)
            }
            reconcile::Change::Removed(_) => {
                tracing::info!(schedule_id = %id, "schedule removed; history kept")
            }
            reconcile::Change::Updated { after, .. } => match &after.error {
                Some(e) => {
                    tracing::warn!(schedule_id = %id, "file invalid, last valid version kept: {}:{}:{}: {}", e.file, e.line, e.column, e.message)
                }
                None => {
                    tracing::info!(schedule_id = %id, "schedule updated ({})", after.status.as_str())
                }
            },
        }
    }
    for e in desired.invalid_files.values() {
        tracing::warn!(
            "invalid file {}:{}:{}: {}",
            e.file,
            e.line,
            e.column,
            e.message
        );
    }
    tracing::info!(
        "reload: {} schedules read in {load_ms} ms (stored at {stored_ms} ms), {changed} changed, {} ms in all",
        desired.schedules.len(),
        started.elapsed().as_millis()
    );
    *ctx.invalid.write().unwrap_or_else(|e| e.into_inner()) =
        desired.invalid_files.values().cloned().collect();
    if changed > 0 {
        ctx.store.flush().await?;
    }
    Ok(changed)
}
