//! `adsched daemon`: watcher → reconcile → scheduler → worker, and the API.

pub mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::reconcile::{self, DesiredSet};
use crate::records::{FileError, LogLine, Run, RunStatus, ScheduleStatus, Trigger};
use crate::run::generator::{CmdGenerator, Generator, DEFAULT_TIMEOUT};
use crate::run::Runner;
use crate::scheduler;
use crate::spec::{self, Options, Pool};
use crate::store::{Store, StoreError};

/// How often the folder is rescanned even without events: a backstop for
/// events a watcher can miss (network filesystems, overflowed queues).
pub const RESCAN_EVERY: Duration = Duration::from_secs(60);

/// How long a shutdown waits for the current template to finish.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Daemon settings (flags or `ADSCHED_*` variables).
#[derive(Debug, Clone)]
pub struct Config {
    /// The schedules folder.
    pub schedules: PathBuf,
    /// The template pool.
    pub templates: PathBuf,
    /// The store folder.
    pub state: PathBuf,
    /// API address.
    pub listen: String,
    /// `local`, `http(s)://...` or `cmd:PROGRAM`.
    pub generator: String,
    /// Public base URL of the dashboard, for links in exports.
    pub public_url: Option<String>,
    /// Shutdown grace period.
    pub grace: Duration,
}

/// Why a trigger was refused.
#[derive(Debug)]
pub enum TriggerError {
    /// No schedule has this id.
    NotFound(String),
    /// The schedule with this id is removed.
    Removed(String),
    /// The daemon is stopping.
    Stopping,
    /// The store failed.
    Store(StoreError),
}

/// Counters for `/metrics` and `/readyz`.
#[derive(Default)]
pub struct Stats {
    /// Reconciles done.
    pub reloads: AtomicU64,
    /// Whether the last one succeeded.
    pub last_reload_ok: AtomicBool,
    /// Unix seconds of the last reload.
    pub last_reload_at: AtomicU64,
}

/// What the daemon's tasks share.
pub struct Ctx {
    /// The store.
    pub store: Store,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// When this process began watching the clock: a time before it passed
    /// with no daemon waiting for it (a catch-up, never an on-time run).
    pub started: DateTime<Utc>,
    /// Settings.
    pub config: Config,
    /// The first reconcile is done.
    pub ready: AtomicBool,
    /// A shutdown has begun.
    pub stopping: AtomicBool,
    invalid: RwLock<Vec<FileError>>,
    /// Wakes the scheduler (reload, trigger, run finished).
    pub wake_scheduler: Notify,
    /// When the scheduler plans to look next (ms since the epoch); i64::MIN
    /// while it is looking. The worker wakes it after a run only if the
    /// schedule now wants an earlier look: decoding every stored schedule
    /// after every run would make a burst of N due runs cost N².
    planned_wake: std::sync::atomic::AtomicI64,
    /// Wakes the worker (a run was queued).
    pub wake_worker: Notify,
    /// Wakes the reconciler (the watcher saw something).
    pub reload: Arc<Notify>,
    /// Counters.
    pub stats: Stats,
    /// Run, generator and export counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    parse_cache: Mutex<spec::ParseCache>,
    /// Per schedule, a hash of the documents last applied to a settled state.
    applied: Mutex<HashMap<String, u64>>,
    /// The run the worker is executing: a store reopen must not call it interrupted.
    current_run: Mutex<Option<String>>,
}

impl Ctx {
    /// Files currently invalid, each with its first error.
    pub fn invalid_files(&self) -> Vec<FileError> {
        self.invalid
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The last reload, for `/readyz`.
    pub fn last_reload(&self) -> Value {
        let at = self.stats.last_reload_at.load(Ordering::Relaxed);
        json!({
            "count": self.stats.reloads.load(Ordering::Relaxed),
            "ok": self.stats.last_reload_ok.load(Ordering::Relaxed),
            "at": (at > 0).then(|| DateTime::<Utc>::from_timestamp(at as i64, 0).map(|t| t.to_rfc3339())),
        })
    }

    /// Queues a manual run. Returns the run id and whether one was already pending.
    pub fn trigger(&self, id: &str) -> Result<(String, bool), TriggerError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(TriggerError::Stopping);
        }
        let out = queue_manual(&self.store, id, self.clock.now())?;
        if !out.1 {
            self.wake_worker.notify_one();
        }
        Ok(out)
    }
}

/// Queues a manual run (trigger `manual`, not counted toward `max_runs`),
/// unless one is already pending: then that one's id. Refused for a removed schedule.
pub fn queue_manual(
    store: &Store,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(String, bool), TriggerError> {
    let new_id = store.new_run_id(now);
    let (run_id, already) = store
        .transact(|tx| {
            let Some(mut s) = tx.schedule(id)? else {
                return Ok(Err(TriggerError::NotFound(id.to_string())));
            };
            if s.status == ScheduleStatus::Removed {
                return Ok(Err(TriggerError::Removed(id.to_string())));
            }
            if let Some(p) = &s.pending_run {
                return Ok(Ok((p.clone(), true)));
            }
            let run = Run::new(new_id.clone(), &s, Trigger::Manual, 1, None, now);
            s.pending_run = Some(run.id.clone());
            tx.put_run(&run)?;
            tx.put_schedule(&s)?;
            Ok(Ok((run.id, false)))
        })
        .map_err(TriggerError::Store)??;
    if !already {
        store.flush_blocking().map_err(TriggerError::Store)?;
        log_line(store, &run_id, now, "info", "queued by a manual trigger");
    }
    Ok((run_id, already))
}

fn log_line(store: &Store, run_id: &str, now: DateTime<Utc>, level: &str, message: &str) {
    let line = LogLine {
        time: now,
        level: level.into(),
        message: message.into(),
    };
    if let Err(e) = store.log(run_id, &line) {
        store.mark_failed(&e);
        tracing::error!(run_id, "cannot write a log line: {e}");
    }
}

/// Builds the generator named by `--generator`.
pub fn generator(spec: &str) -> Result<Arc<dyn Generator>, String> {
    if let Some(cmd) = spec.strip_prefix("cmd:") {
        return Ok(Arc::new(CmdGenerator::new(cmd, DEFAULT_TIMEOUT)?));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Ok(Arc::new(crate::run::http::HttpGenerator::new(
            spec,
            DEFAULT_TIMEOUT,
            crate::run::http::RetryPolicy::default(),
        )?));
    }
    if spec == "local" {
        return Ok(Arc::new(crate::run::local::LocalGenerator));
    }
    Err(format!(
        "--generator `{spec}` is not one of: local, http://URL, https://URL, cmd:PROGRAM"
    ))
}

/// Marks runs left `running` by a crash as `interrupted`; `in_progress` is
/// the run this process is still working on (after a store reopen), left alone.
fn recover(store: &Store, now: DateTime<Utc>, in_progress: Option<&str>) -> Result<(), StoreError> {
    for run in store.runs_with_status(RunStatus::Running)? {
        if Some(run.id.as_str()) == in_progress {
            continue;
        }
        let id = run.id.clone();
        store.transact(|tx| {
            if let Some(mut r) = tx.run(&id)? {
                r.status = RunStatus::Interrupted;
                r.completed_at = Some(now);
                r.error_message = Some("the daemon stopped while this run was in progress".into());
                tx.put_run(&r)?;
                if let Some(mut s) = tx.schedule(&r.schedule_id)? {
                    if s.running_run.as_deref() == Some(id.as_str()) {
                        s.running_run = None;
                        tx.put_schedule(&s)?;
                    }
                }
            }
            Ok(())
        })?;
        log_line(
            store,
            &id,
            now,
            "error",
            "interrupted: the daemon stopped while this run was in progress",
        );
        tracing::warn!(run_id = %id, schedule_id = %run.schedule_id, "run marked interrupted at start-up");
    }
    // A schedule pointing at a run that is no longer running or pending is cleared.
    for s in store.schedules()? {
        let stale_running = match &s.running_run {
            Some(r) if Some(r.as_str()) == in_progress => false,
            Some(r) => store.run(r)?.is_none_or(|r| r.status != RunStatus::Running),
            None => false,
        };
        let stale_pending = match &s.pending_run {
            Some(r) => store.run(r)?.is_none_or(|r| r.status != RunStatus::Pending),
            None => false,
        };
        if stale_running || stale_pending {
            store.transact(|tx| {
                if let Some(mut s) = tx.schedule(&s.id)? {
                    if stale_running {
                        s.running_run = None;
                    }
                    if stale_pending {
                        s.pending_run = None;
                    }
                    tx.put_schedule(&s)?;
                }
                Ok(())
            })?;
        }
    }
    store.flush_blocking()
}

/// Reads the folder and applies the changes. `force` applies even when no
/// file changed since the last reload.
pub async fn reload(ctx: &Arc<Ctx>, force: bool) {
    let c = ctx.clone();
    let result = tokio::task::spawn_blocking(move || reload_blocking(&c, force)).await;
    let ok = matches!(result, Ok(Ok(_)));
    if let Ok(Err(e)) = &result {
        ctx.store.mark_failed(e);
        tracing::error!("reload failed: {e}");
    }
    ctx.stats.reloads.fetch_add(1, Ordering::Relaxed);
    ctx.stats.last_reload_ok.store(ok, Ordering::Relaxed);
    ctx.stats
        .last_reload_at
        .store(ctx.clock.now().timestamp().max(0) as u64, Ordering::Relaxed);
    ctx.ready.store(true, Ordering::SeqCst);
    // A rescan that changed nothing has nothing for the scheduler: waking it
    // would decode every stored schedule for no reason.
    if force || !matches!(result, Ok(Ok(0))) {
        ctx.wake_scheduler.notify_one();
    }
}

fn reload_blocking(ctx: &Ctx, force: bool) -> Result<usize, StoreError> {
    let now = ctx.clock.now();
    let started = std::time::Instant::now();
    let opts = Options::new(Pool::scan(&ctx.config.templates), now);
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
    let load_ms = started.elapsed().as_millis();
    let desired = match loaded {
        Ok(Some(catalog)) => DesiredSet::from_catalog(&catalog),
        Ok(None) => return Ok(0),
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
            return Ok(0);
        }
    };
    let desired_ms = started.elapsed().as_millis();
    // Only schedules whose documents changed since they were last applied,
    // or that are stored but no longer wanted, need a look: after one edit
    // that is one schedule of 10,000, and no stored state is decoded for the rest.
    let mut applied = ctx.applied.lock().unwrap_or_else(|e| e.into_inner());
    let stored_ids = ctx.store.schedule_ids()?;
    let mut candidates: Vec<(String, Option<u64>)> = Vec::new();
    for (id, d) in &desired.schedules {
        let h = d.hash;
        if applied.get(id) != Some(&h) {
            candidates.push((id.clone(), Some(h)));
        }
    }
    for id in &stored_ids {
        if !desired.schedules.contains_key(id) {
            candidates.push((id.clone(), None));
        }
    }
    applied.retain(|id, _| desired.schedules.contains_key(id));
    let mut changed = 0;
    let stored_ms = started.elapsed().as_millis();
    for (id, hash) in candidates {
        // Decided inside the transaction: the worker may have moved the
        // schedule on (counters, pending run) meanwhile.
        let (change, settled) = ctx.store.transact(|tx| {
            let current = tx.schedule(&id)?;
            let change = reconcile::reconcile_one(
                desired.schedules.get(&id),
                current.as_ref(),
                &desired,
                now,
            );
            if let Some(c) = &change {
                tx.put_schedule(c.state())?;
            }
            let after = change.as_ref().map(|c| c.state()).or(current.as_ref());
            let settled =
                after.is_some_and(|s| s.error.is_none() && s.status != ScheduleStatus::Removed);
            Ok((change, settled))
        })?;
        match (hash, settled) {
            (Some(h), true) => {
                applied.insert(id.clone(), h);
            }
            _ => {
                applied.remove(&id);
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
    drop(applied);
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
        "reload: {} schedules read in {load_ms} ms (desired at {desired_ms} ms, stored at {stored_ms} ms), {changed} changed, {} ms in all",
        desired.schedules.len(),
        started.elapsed().as_millis()
    );
    *ctx.invalid.write().unwrap_or_else(|e| e.into_inner()) =
        desired.invalid_files.into_values().collect();
    if changed > 0 {
        ctx.store.flush_blocking()?;
    }
    Ok(changed)
}

/// Queues what is due; returns the next instant to look again.
///
/// Everything due is recorded first and flushed once, then the log lines
/// are written with one more flush: a Monday 09:00 with many schedules due
/// costs two disk syncs, not two per schedule. No run starts before the
/// flush: the worker is woken after it, and its own start is flushed too.
fn tick(ctx: &Ctx) -> Result<Option<DateTime<Utc>>, StoreError> {
    let now = ctx.clock.now();
    let mut lines: Vec<(String, &'static str, String)> = Vec::new();
    let mut recorded = false;
    let outcome = fire_due(ctx, now, &mut lines, &mut recorded);
    if recorded {
        // Durable before any work: a crash now never fires these times again.
        ctx.store.flush_blocking()?;
    }
    let (queued, next) = outcome?;
    if !lines.is_empty() {
        if let Err(e) = ctx.store.log_batch(now, &lines) {
            ctx.store.mark_failed(&e);
            tracing::error!("cannot write {} log line(s): {e}", lines.len());
        }
    }
    if queued {
        ctx.wake_worker.notify_one();
    }
    Ok(next)
}

/// The transactions of [`tick`]: (queued a run, next wake-up).
fn fire_due(
    ctx: &Ctx,
    now: DateTime<Utc>,
    lines: &mut Vec<(String, &'static str, String)>,
    recorded: &mut bool,
) -> Result<(bool, Option<DateTime<Utc>>), StoreError> {
    let mut queued = false;
    let mut next: Option<DateTime<Utc>> = None;
    let mut calendars: HashMap<String, crate::calendar::Calendar> = HashMap::new();
    for s in ctx.store.schedules()? {
        let Some(at) = scheduler::wake_at(&s) else {
            continue;
        };
        if at > now {
            next = Some(next.map_or(at, |n| n.min(at)));
            continue;
        }
        let spec: spec::Schedule = match serde_json::from_value(s.spec.clone()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(schedule_id = %s.id, "stored schedule does not parse: {e}");
                continue;
            }
        };
        let cal = match calendars.get(&s.id) {
            Some(c) => c.clone(),
            None => match spec::check::calendar(&spec) {
                Ok(c) => {
                    calendars.insert(s.id.clone(), c.clone());
                    c
                }
                Err(e) => {
                    tracing::error!(schedule_id = %s.id, "stored calendar is invalid: {}", e.message);
                    continue;
                }
            },
        };
        let window = spec::check::catchup_window(&spec);
        let id = s.id.clone();
        let fire = ctx.store.transact(|tx| {
            let Some(current) = tx.schedule(&id)? else {
                return Ok(None);
            };
            let mut new_id = || ctx.store.new_run_id(now);
            let Some(fire) =
                scheduler::on_due(&current, &cal, window, ctx.started, now, &mut new_id)
            else {
                return Ok(None);
            };
            tx.put_schedule(&fire.state)?;
            if let Some(run) = &fire.run {
                tx.put_run(run)?;
            }
            Ok(Some(fire))
        })?;
        let Some(fire) = fire else { continue };
        *recorded = true;
        if let Some(run) = &fire.run {
            let tz = s.tz();
            let when = run
                .scheduled_for
                .map(|t| crate::records::fmt_time(t, tz))
                .unwrap_or_default();
            match run.status {
                RunStatus::Missed => {
                    ctx.metrics.run_finished("missed", None);
                    let msg = run.error_message.as_deref().unwrap_or("missed");
                    lines.push((run.id.clone(), "warn", msg.to_string()));
                    tracing::warn!(schedule_id = %s.id, run_id = %run.id, "missed {} time(s), latest {when}", run.missed_count);
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
                    tracing::info!(schedule_id = %s.id, run_id = %run.id, "{why}");
                    lines.push((run.id.clone(), "info", why));
                }
            }
        }
        if let (Some(t), Some(pending)) = (fire.coalesced, &fire.state.pending_run) {
            let msg = format!(
                "the time {} came while this run was still queued; not queued twice",
                crate::records::fmt_time(t, s.tz())
            );
            lines.push((pending.clone(), "warn", msg));
        }
        if let Some(at) = scheduler::wake_at(&fire.state) {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    Ok((queued, next))
}

/// How often a failed store is tried again.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// Brings the store back after a write failure (a full disk, say). sled's
/// I/O errors are sticky, so the database is reopened once the state folder
/// takes writes again; until then nothing fires (no run starts before its
/// record is flushed) and `/readyz` says why.
async fn store_supervisor(ctx: Arc<Ctx>) {
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
                ctx.store.dir().display(),
                STORE_RETRY.as_secs()
            );
            reported = true;
        }
        let c = ctx.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            // Reopening drops the handle readers use: only try once a plain
            // file write succeeds, so a disk that is still full keeps serving reads.
            takes_writes(c.store.dir())?;
            c.store.reopen().map_err(|e| e.to_string())?;
            let in_progress = c
                .current_run
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            recover(&c.store, c.clock.now(), in_progress.as_deref()).map_err(|e| e.to_string())?;
            c.store.flush_blocking().map_err(|e| e.to_string())
        })
        .await;
        match outcome {
            Ok(Ok(())) => {
                tracing::info!(
                    "the store at {} takes writes again; resuming",
                    ctx.store.dir().display()
                );
                reported = false;
                ctx.wake_scheduler.notify_one();
                ctx.wake_worker.notify_one();
                ctx.reload.notify_one();
            }
            Ok(Err(e)) => tracing::debug!("store still failing: {e}"),
            Err(e) => tracing::error!("store recovery task failed: {e}"),
        }
    }
}

/// Whether `dir` takes a small write (and its flush) now.
fn takes_writes(dir: &std::path::Path) -> Result<(), String> {
    use std::io::Write;
    let probe = dir.join(".adsched-write-probe");
    let result = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(&[0u8; 64 * 1024]).and_then(|_| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    result.map_err(|e| format!("{}: {e}", dir.display()))
}

async fn scheduler_loop(ctx: Arc<Ctx>) {
    loop {
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        ctx.planned_wake.store(i64::MIN, Ordering::SeqCst);
        let c = ctx.clone();
        let result = tokio::task::spawn_blocking(move || tick(&c)).await;
        let next = match result {
            Ok(Ok(n)) => n,
            failed => {
                match failed {
                    Ok(Err(e)) => {
                        // A store that cannot write is reported once, by the
                        // supervisor, which wakes this loop when it recovers.
                        if !ctx.store.mark_failed(&e) {
                            tracing::error!("scheduler: {e}; retrying shortly");
                        }
                    }
                    Err(e) => tracing::error!("scheduler task failed: {e}; retrying shortly"),
                    Ok(Ok(_)) => {}
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

async fn worker_loop(ctx: Arc<Ctx>, runner: Arc<Runner>, stop: Arc<AtomicBool>) {
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let next = match ctx.store.first_pending() {
            Ok(n) => n,
            Err(e) => {
                if !ctx.store.mark_failed(&e) {
                    tracing::error!("worker: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(run) = next else {
            ctx.wake_worker.notified().await;
            continue;
        };
        let now = ctx.clock.now();
        let run_id = run.id.clone();
        let started = ctx.store.transact(|tx| {
            let Some(r) = tx.run(&run_id)? else {
                return Ok(None);
            };
            if r.status != RunStatus::Pending {
                return Ok(None);
            }
            let Some(s) = tx.schedule(&r.schedule_id)? else {
                let mut r = r.clone();
                r.status = RunStatus::Failed;
                r.completed_at = Some(now);
                r.error_message = Some("its schedule no longer exists".into());
                tx.put_run(&r)?;
                return Ok(None);
            };
            let is_once = s
                .spec
                .pointer("/schedule/once")
                .is_some_and(|v| !v.is_null());
            let (s, r) = scheduler::on_start(&s, &r, is_once, now);
            tx.put_schedule(&s)?;
            tx.put_run(&r)?;
            Ok(Some((s, r)))
        });
        let (state, run) = match started {
            Ok(Some(x)) => x,
            Ok(None) => continue,
            Err(e) => {
                if !ctx.store.mark_failed(&e) {
                    tracing::error!(run_id = %run_id, "cannot start run: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // No work before its start is on disk: if the store cannot record
        // it, it did not happen, and the run stays pending until it can.
        if let Err(e) = ctx.store.flush().await {
            ctx.store.mark_failed(&e);
            tracing::error!(run_id = %run.id, "cannot record the run's start, not starting it: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        *ctx.current_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run.id.clone());
        if let (true, Some(slot), Some(started)) =
            (run.trigger.counts(), run.scheduled_for, run.started_at)
        {
            ctx.metrics
                .start_delay((started - slot).num_milliseconds() as f64 / 1000.0);
        }
        let result = runner.execute(&run, &state, &stop).await;
        *ctx.current_run.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let finished = match result {
            Ok(r) => r,
            Err(e) => {
                ctx.store.mark_failed(&e);
                tracing::error!(run_id = %run.id, "run failed to record: {e}");
                continue;
            }
        };
        let took = match (finished.started_at, finished.completed_at) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        };
        ctx.metrics.run_finished(finished.status.as_str(), took);
        if finished.status == RunStatus::Failed {
            if let Ok(Some(retry)) = ctx
                .store
                .schedule(&finished.schedule_id)
                .map(|s| s.and_then(|s| s.retry))
            {
                log_line(
                    &ctx.store,
                    &finished.id,
                    ctx.clock.now(),
                    "info",
                    &format!(
                        "retry attempt {} planned for {}",
                        retry.attempt,
                        crate::records::fmt_time(retry.at, state.tz())
                    ),
                );
            }
        }
        let wants = match ctx.store.schedule(&finished.schedule_id) {
            Ok(Some(s)) => scheduler::wake_at(&s).map(|t| t.timestamp_millis()),
            Ok(None) => None,
            // Unsure: let the scheduler look.
            Err(_) => Some(i64::MIN),
        };
        if wants.is_some_and(|t| t < ctx.planned_wake.load(Ordering::SeqCst))
            || ctx.planned_wake.load(Ordering::SeqCst) == i64::MIN
        {
            ctx.wake_scheduler.notify_one();
        }
    }
}

/// A running daemon.
pub struct Daemon {
    /// The API's address.
    pub addr: SocketAddr,
    /// Shared state (the store included).
    pub ctx: Arc<Ctx>,
    stop: Arc<AtomicBool>,
    worker: tokio::task::JoinHandle<()>,
    scheduler: tokio::task::JoinHandle<()>,
    reloader: tokio::task::JoinHandle<()>,
    supervisor: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
    server_stop: Arc<Notify>,
}

/// Starts the daemon: opens the store, recovers, reconciles, serves.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Daemon, String> {
    let store = Store::open(&config.state).map_err(|e| e.to_string())?;
    let generator = generator(&config.generator)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    recover(&store, clock.now(), None).map_err(|e| e.to_string())?;
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        started: clock.now(),
        clock: clock.clone(),
        config: config.clone(),
        ready: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        invalid: RwLock::new(Vec::new()),
        wake_scheduler: Notify::new(),
        planned_wake: std::sync::atomic::AtomicI64::new(i64::MIN),
        wake_worker: Notify::new(),
        reload: Arc::new(Notify::new()),
        stats: Stats::default(),
        metrics: Arc::default(),
        parse_cache: Mutex::default(),
        applied: Mutex::default(),
        current_run: Mutex::default(),
    });
    tracing::info!(
        "adsched daemon: schedules {}, templates {}, state {}, generator {}, listening on http://{addr}",
        config.schedules.display(),
        config.templates.display(),
        config.state.display(),
        generator.name()
    );
    let app = crate::api::router(ctx.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server_stop = Arc::new(Notify::new());
    let ss = server_stop.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { ss.notified().await })
            .await;
    });
    // Watch first, then read: a change between the two is seen by the watcher.
    watch::spawn(config.schedules.clone(), ctx.reload.clone());
    reload(&ctx, true).await;
    let rc = ctx.clone();
    let reloader = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = rc.reload.notified() => reload(&rc, false).await,
                _ = tokio::time::sleep(RESCAN_EVERY) => reload(&rc, false).await,
            }
        }
    });
    let scheduler = tokio::spawn(scheduler_loop(ctx.clone()));
    let supervisor = tokio::spawn(store_supervisor(ctx.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let runner = Arc::new(Runner {
        store: store.clone(),
        generator,
        templates: config.templates.clone(),
        schedules: config.schedules.clone(),
        clock: clock.clone(),
        public_url: config.public_url.clone(),
        metrics: ctx.metrics.clone(),
        unwritten: Default::default(),
    });
    let worker = tokio::spawn(worker_loop(ctx.clone(), runner, stop.clone()));
    Ok(Daemon {
        addr,
        ctx,
        stop,
        worker,
        scheduler,
        reloader,
        supervisor,
        server,
        server_stop,
    })
}

impl Daemon {
    /// Stops gracefully: no new runs, the current template may finish within
    /// the grace period, the run's state is recorded, the store flushed.
    pub async fn shutdown(mut self) -> Result<(), String> {
        let ctx = self.ctx.clone();
        let grace = ctx.config.grace;
        tracing::info!(
            "shutting down: no new runs; waiting up to {}s for the current template",
            grace.as_secs()
        );
        ctx.stopping.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        ctx.wake_worker.notify_one();
        ctx.wake_scheduler.notify_one();
        self.reloader.abort();
        self.supervisor.abort();
        if tokio::time::timeout(grace, &mut self.worker).await.is_err() {
            self.worker.abort();
            let _ = (&mut self.worker).await;
            // The template did not finish in time: record the run as interrupted now.
            recover(&ctx.store, ctx.clock.now(), None).map_err(|e| e.to_string())?;
        }
        let _ = self.scheduler.await;
        let _ = self.reloader.await;
        let _ = self.supervisor.await;
        self.server_stop.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.server).await;
        self.server.abort();
        // Closing (not just flushing) releases sled's lock now, whatever task
        // still holds the context: a restart in the same process, or another
        // daemon started right after this one, opens the folder at once.
        let store = ctx.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Whether the worker ended on its own (it only does on a fatal error).
    pub fn worker_finished(&self) -> bool {
        self.worker.is_finished()
    }
}

/// Runs the daemon until `shutdown` resolves, then stops gracefully.
pub async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let daemon = start(config, clock).await?;
    shutdown.await;
    daemon.shutdown().await
}
