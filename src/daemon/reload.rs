//! Reading the schedules folder and applying it to the store (reconcile).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::Ctx;
use crate::reconcile::{self, DesiredSet, Noted};
use crate::records::FileError;
use crate::spec::{self, Options, Pool};
use crate::store::staged::{Feed, Stage, Staged};
use crate::store::StoreError;

/// Schedules reconciled in one store transaction: few enough that a
/// transaction stays short (sled keeps its writes in memory; PostgreSQL
/// holds their row locks), many enough that a first start with 10,000
/// schedules makes 40 commits, not 10,000.
const RECONCILE_BATCH: usize = 256;

/// Above this many changes in one reload, each added schedule is logged at
/// debug and the reload says how many at info.
const ADDED_LINES: usize = 100;

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

/// The folder as read, before anything of it is applied.
pub(super) struct Read {
    desired: DesiredSet,
    products: Vec<Arc<spec::Product>>,
}

/// What [`read_folder`] found: None when nothing changed since the last look.
pub(super) type ReadResult = Result<Option<Read>, spec::LoadError>;

/// The folder read at start-up while the store opens (see [`super::start`]),
/// with the parse cache it filled.
pub(super) type Preloaded = (spec::ParseCache, ReadResult);

/// Reads the schedules folder through `cache`. No daemon state is touched:
/// the first read runs while the store is still opening.
pub(super) fn read_folder(
    config: &super::Config,
    settings: &crate::settings::Settings,
    now: chrono::DateTime<chrono::Utc>,
    cache: &mut spec::ParseCache,
    force: bool,
    each: &mut dyn FnMut(&spec::Catalog),
) -> ReadResult {
    let opts = Options::new(Pool::scan(&config.templates), now).allowing(settings);
    let paths = std::slice::from_ref(&config.schedules);
    let loaded = if force {
        spec::load_cached_each(paths, &opts, cache, each).map(Some)
    } else {
        spec::load_if_changed(paths, &opts, cache)
    };
    if loaded.is_err() {
        // Whatever comes back must be read afresh, even identical files.
        *cache = spec::ParseCache::default();
    }
    Ok(loaded?.map(|catalog| Read {
        products: catalog.products.iter().map(|d| d.doc.clone()).collect(),
        desired: DesiredSet::from_catalog(&catalog),
    }))
}

/// Starts the first read of the folder on the blocking pool, then arms the
/// watcher (which wakes `changed`).
///
/// It runs while the store opens (it needs nothing of it): on a restart,
/// opening sled and reading 10,000 files take about as long as each other,
/// and there are two cores. The watcher is armed after the read, since every
/// file opened under a watch is an inotify event (notify watches IN_OPEN),
/// which cost the read about a sixth of its time; a change between the read
/// and the arming is found by the rescan queued here, which compares every
/// file's size, time and inode with what was read.
///
/// Each file's schedules go to `stage`, if given, as they are read (see
/// [`head_start`]), until no one receives them.
pub(super) fn preload(
    config: &super::Config,
    settings: &Arc<crate::settings::Settings>,
    changed: &Arc<tokio::sync::Notify>,
    now: chrono::DateTime<chrono::Utc>,
    stage: Option<Sender<Stage>>,
) -> tokio::task::JoinHandle<Preloaded> {
    let (config, settings, changed) = (config.clone(), settings.clone(), changed.clone());
    tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let mut cache = spec::ParseCache::default();
        let mut stager = stage.map(|to| (reconcile::Stager::default(), to));
        let mut each = |catalog: &spec::Catalog| {
            let Some((st, to)) = stager.as_mut() else {
                return;
            };
            if let Some(batch) = st.file_read(catalog, RECONCILE_BATCH) {
                if to.send(Stage::Batch(Arc::new(batch))).is_err() {
                    stager = None;
                }
            }
        };
        let read = read_folder(&config, &settings, now, &mut cache, true, &mut each);
        if let (Ok(Some(_)), Some((mut st, to))) = (&read, stager) {
            if let Some(batch) = st.rest() {
                let _ = to.send(Stage::Batch(Arc::new(batch)));
            }
        }
        super::watch::spawn(config.schedules.clone(), changed.clone());
        changed.notify_one();
        tracing::debug!(
            "first read of the schedules folder in {} ms",
            t.elapsed().as_millis()
        );
        (cache, read)
    })
}

/// A staged reconcile's task: what it committed, if it did.
type StagedTask = JoinHandle<Result<Staged, StoreError>>;

/// A staged reconcile of an empty store, running: where the whole read
/// goes when it ends, and its outcome.
pub(super) struct HeadStart {
    whole: Sender<Stage>,
    task: StagedTask,
}

/// Starts a staged reconcile (see [`crate::store::staged`]) on a leader
/// whose store holds no schedule, a first start, when every schedule is
/// new: the preload's batches go into it while the folder is still being
/// read. Otherwise `feed` is dropped and the preload stops staging.
pub(super) async fn head_start(
    ctx: &Arc<Ctx>,
    feed: Feed,
    whole: Sender<Stage>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<HeadStart> {
    // A store that cannot write is the first reload's to report.
    if !ctx.is_leader() || ctx.store.failure().is_some() {
        return None;
    }
    if ctx.store.has_schedules().await.unwrap_or(true) {
        return None;
    }
    let store = ctx.store.clone();
    let task = tokio::spawn(async move { store.reconcile_staged(Arc::new(feed), now).await });
    Some(HeadStart { whole, task })
}

impl HeadStart {
    /// Ends a staged reconcile without the whole read: it writes nothing.
    async fn abandon(self) {
        drop(self.whole);
        if let Ok(Err(e)) = self.task.await {
            tracing::debug!("nothing applied while the folder was read: {e}");
        }
    }

    /// The applied hashes (of an empty store, all of them) after the
    /// staged reconcile, and its changes.
    async fn finish(
        self,
        whole: &Arc<DesiredSet>,
    ) -> Result<(HashMap<String, Option<u64>>, Staged), StoreError> {
        let _ = self.whole.send(Stage::Final(whole.clone()));
        drop(self.whole);
        let staged = match self.task.await {
            Ok(staged) => staged?,
            // This reload fails as any other whose store fails. A store
            // that could not undo what it staged does so when it next
            // opens (after an I/O error the daemon reopens it), before
            // any other reload applies anything.
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "the staged reconcile stopped: {e}"
                )))
            }
        };
        let mut applied = HashMap::with_capacity(staged.len());
        for (id, change, settled) in &staged {
            // Into an empty store each staged schedule is new: written,
            // with its hash when it settled.
            if change.is_some() {
                let hash = whole.schedules.get(id).map(|d| d.hash);
                applied.insert(id.clone(), hash.filter(|_| *settled));
            }
        }
        Ok((applied, staged))
    }
}

/// What the folder holds now: None when nothing changed since the last look.
fn load(ctx: &Ctx, force: bool) -> Option<DesiredSet> {
    let preloaded = ctx
        .preloaded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let read = match preloaded {
        Some((cache, read)) => {
            *ctx.parse_cache.lock().unwrap_or_else(|e| e.into_inner()) = cache;
            read
        }
        None => {
            let mut cache = ctx.parse_cache.lock().unwrap_or_else(|e| e.into_inner());
            read_folder(
                &ctx.config,
                &ctx.settings,
                ctx.clock.now(),
                &mut cache,
                force,
                &mut |_| {},
            )
        }
    };
    match read {
        Ok(Some(read)) => {
            *ctx.products.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(read.products);
            Some(read.desired)
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
    let mut head = ctx
        .head_start
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let out = reload_with(ctx, force, &mut head).await;
    if let Some(head) = head {
        // Returned before applying anything: what was staged is undone
        // before any later reload looks at the store.
        head.abandon().await;
    }
    out
}

async fn reload_with(
    ctx: &Arc<Ctx>,
    force: bool,
    head: &mut Option<HeadStart>,
) -> Result<usize, StoreError> {
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
    // Only schedules whose documents hash differently from what the store
    // says their state settled on (whichever daemon applied it, before a
    // restart or another leader), or that are stored but no longer wanted,
    // need a look: after one edit that is one schedule of 10,000, and no
    // stored state is decoded for the rest.
    let (stored, staged) = match head.take() {
        Some(head) => head.finish(&desired).await?,
        None => (ctx.store.applied().await?, Vec::new()),
    };
    let mut candidates: Vec<String> = desired
        .schedules
        .iter()
        .filter(|(id, d)| stored.get(*id) != Some(&Some(d.hash)))
        .map(|(id, _)| id.clone())
        .collect();
    let mut gone: Vec<String> = stored
        .into_keys()
        .filter(|id| !desired.schedules.contains_key(id))
        .collect();
    gone.sort();
    candidates.extend(gone);
    let mut changed = 0;
    let early = staged.len();
    let compared = early + candidates.len();
    ctx.stats.compared.store(compared as u64, Ordering::Relaxed);
    ctx.stats.staged.store(early as u64, Ordering::Relaxed);
    let stored_ms = started.elapsed().as_millis();
    let mut results = Vec::with_capacity(compared);
    results.extend(
        staged
            .into_iter()
            .map(|(id, c, settled)| (id, (c, settled))),
    );
    for batch in candidates.chunks(RECONCILE_BATCH) {
        let outcomes = ctx
            .store
            .reconcile(batch.to_vec(), desired.clone(), now)
            .await?;
        let noted = outcomes
            .into_iter()
            .map(|(c, settled)| (c.as_ref().map(reconcile::Change::noted), settled));
        results.extend(batch.iter().cloned().zip(noted));
    }
    // A line per schedule tells an operator what an edit did; a first start
    // with thousands of schedules says it in the summary below, and keeps
    // the per-schedule lines for debug (formatting 10,000 lines was a
    // twentieth of that start).
    let many = results.iter().filter(|(_, (c, _))| c.is_some()).count() > ADDED_LINES;
    let (mut added, mut removed, mut updated) = (0, 0, 0);
    for (id, (change, _)) in results {
        let Some(change) = change else { continue };
        changed += 1;
        match &change {
            Noted::Added(description) => {
                added += 1;
                if many {
                    tracing::debug!(schedule_id = %id, "schedule added: {description}")
                } else {
                    tracing::info!(schedule_id = %id, "schedule added: {description}")
                }
            }
            Noted::Removed => {
                removed += 1;
                tracing::info!(schedule_id = %id, "schedule removed; history kept")
            }
            Noted::Updated(Some(e), _) => {
                tracing::warn!(schedule_id = %id, "file invalid, last valid version kept: {}:{}:{}: {}", e.file, e.line, e.column, e.message)
            }
            Noted::Updated(None, status) => {
                updated += 1;
                tracing::info!(schedule_id = %id, "schedule updated ({})", status.as_str())
            }
        }
    }
    if many {
        tracing::info!(
            "{added} schedules added, {updated} updated, {removed} removed (each added one is logged at debug)"
        );
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
        "reload: {} schedules read in {load_ms} ms (stored at {stored_ms} ms), {compared} compared ({early} while the folder was read), {changed} changed, {} ms in all",
        desired.schedules.len(),
        started.elapsed().as_millis()
    );
    *ctx.invalid.write().unwrap_or_else(|e| e.into_inner()) =
        desired.invalid_files.values().cloned().collect();
    if changed > 0 {
        ctx.store.flush().await?;
    }
    // Something was read (a rescan that found no change returned early):
    // the parse of changed files, the compared states and the last desired
    // set are dropped by now.
    let trimmed = std::time::Instant::now();
    let _ = tokio::task::spawn_blocking(super::memory::release_free_pages).await;
    tracing::debug!(
        "free pages returned in {} ms",
        trimmed.elapsed().as_millis()
    );
    Ok(changed)
}
