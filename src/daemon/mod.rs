//! `adsched daemon`: watcher → reconcile → scheduler → worker, and the API.

mod lead;
pub(crate) mod memory;
mod recover;
mod reload;
mod retain;
mod tick;
pub mod watch;
mod worker;

pub use reload::reload;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::export::alert;
use crate::records::{FileError, LogLine, Run, RunStatus, ScheduleState};
use crate::run::generator::{CmdGenerator, Generator, DEFAULT_TIMEOUT};
use crate::run::Runner;
use crate::settings::Settings;
use crate::spec;
use crate::spec::model::AlertEvent;
use crate::store::{Queued, Store, StoreError};

/// How often the folder is rescanned even without events: a backstop for
/// events a watcher can miss (network filesystems, overflowed queues).
pub const RESCAN_EVERY: Duration = Duration::from_secs(60);

/// How long a shutdown waits for the current template to finish.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// The actor of an action from a loopback caller when no API token is set
/// (SPEC 8).
pub const LOCAL_ACTOR: &str = "local";

/// The actor of what the daemon does by itself (a pause's `until` passing).
pub const DAEMON_ACTOR: &str = "adsched";

/// Daemon settings (flags or `ADSCHED_*` variables).
#[derive(Debug, Clone)]
pub struct Config {
    /// The schedules folder.
    pub schedules: PathBuf,
    /// The template pool.
    pub templates: PathBuf,
    /// The state folder: the embedded store (without `store`) and the
    /// generated images.
    pub state: PathBuf,
    /// `postgres://...`, or None for the embedded store in `state`.
    pub store: Option<String>,
    /// API address.
    pub listen: String,
    /// `local`, `http(s)://...` or `cmd:PROGRAM`.
    pub generator: String,
    /// Public base URL of the dashboard, for links in exports.
    pub public_url: Option<String>,
    /// Shutdown grace period.
    pub grace: Duration,
    /// Keep runs this long after they end (SPEC 10); None keeps everything.
    pub retain: Option<chrono::Duration>,
    /// The schedules repository, for the form's links (SPEC 9).
    pub repo: Option<crate::dashboard::RepoLink>,
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
    /// Schedules whose stored state the last reload that applied anything
    /// read and compared (the rest had files unchanged since applied).
    pub compared: AtomicU64,
    /// Of those, the ones applied while the folder was still being read
    /// (a first start's staged reconcile, see [`crate::store::staged`]).
    pub staged: AtomicU64,
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
    /// The next reload applies every file, changed or not (a new leader).
    reload_all: AtomicBool,
    /// This daemon leads (SPEC 7): it reconciles, fires and works. Always
    /// true on a store one daemon holds alone.
    leader: Arc<AtomicBool>,
    /// Counters.
    pub stats: Stats,
    /// Run, generator and export counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The environment's settings, read once at start.
    pub settings: Arc<Settings>,
    /// The folder's files as the last reload read them; the browser form's
    /// checks read them too.
    pub(crate) parse_cache: Mutex<spec::ParseCache>,
    /// The first read of the folder, made while the store opened; the
    /// first reload applies it.
    preloaded: Mutex<Option<reload::Preloaded>>,
    /// How the first reload starts (see [`reload::head_start`]).
    head_start: Mutex<Option<reload::HeadStart>>,
    /// The run the worker is executing: a store reopen must not call it interrupted.
    current_run: Mutex<Option<String>>,
    /// Each schedule's calendar, with the key it was built for: building one
    /// parses its cron, and the scheduler looks at every schedule each tick.
    calendars: Mutex<HashMap<String, (String, Calendar)>>,
    /// The valid products of the folder as last read, for the form (SPEC 9).
    products: RwLock<Arc<Vec<Arc<spec::Product>>>>,
}

impl Ctx {
    /// The valid products of the schedules folder as last read.
    pub fn products(&self) -> Arc<Vec<Arc<spec::Product>>> {
        self.products
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether this daemon leads (`/readyz` `role`, `adsched_leader`).
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    fn set_leader(&self, leads: bool) {
        self.leader.store(leads, Ordering::SeqCst);
    }

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
    pub async fn trigger(&self, id: &str) -> Result<(String, bool), TriggerError> {
        self.trigger_as(id, LOCAL_ACTOR).await
    }

    /// As [`Ctx::trigger`], with who asked (a token's name) for the audit log.
    pub async fn trigger_as(&self, id: &str, actor: &str) -> Result<(String, bool), TriggerError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(TriggerError::Stopping);
        }
        let out = queue_manual(&self.store, id, actor, self.clock.now()).await?;
        if !out.1 {
            self.wake_worker.notify_one();
        }
        Ok(out)
    }

    /// Raises an alert about `run` (SPEC 8) to its schedule's targets, in
    /// the background: a slow Slack or SMTP server never holds up the
    /// worker. What came of each send goes to the run's log; the run itself
    /// is never changed.
    pub fn alert(self: &Arc<Self>, event: AlertEvent, run: &Run, reason: String) {
        let ctx = self.clone();
        let run = run.clone();
        tokio::spawn(async move {
            let Ok(Some(state)) = ctx.store.schedule(&run.schedule_id).await else {
                return;
            };
            let Some(targets) = alert::targets(&state, &ctx.settings) else {
                return;
            };
            if !targets.wants(event) {
                return;
            }
            let public_url = ctx.config.public_url.as_deref();
            let msg = alert::message(event, &state, &run, &reason, public_url);
            let lines: Vec<(String, &str, String)> = alert::send(&ctx.settings, &targets, &msg)
                .await
                .into_iter()
                .map(|(sent, line)| {
                    let level = if sent { "info" } else { "warn" };
                    (
                        run.id.clone(),
                        level,
                        format!("{} ({})", line, event.as_str()),
                    )
                })
                .collect();
            for (_, level, line) in &lines {
                tracing::info!(run_id = %run.id, level, "{line}");
            }
            if let Err(e) = ctx.store.log_batch(ctx.clock.now(), &lines).await {
                tracing::error!(run_id = %run.id, "cannot log the alert: {e}");
            }
        });
    }

    /// The alerts a finished run raises: failed, interrupted, and a failed
    /// or refused export (an awaiting review is not a failure).
    pub fn alert_finished(self: &Arc<Self>, run: &Run) {
        match run.status {
            RunStatus::Failed => {
                let why = run.error_message.clone().unwrap_or_else(|| "failed".into());
                self.alert(AlertEvent::Failed, run, why);
            }
            RunStatus::Interrupted => {
                let why = run
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "interrupted".into());
                self.alert(AlertEvent::Interrupted, run, why);
            }
            _ => {}
        }
        self.alert_exports(run, &run.exports);
    }

    /// The alert of exports that failed or were refused, if any did.
    pub fn alert_exports(self: &Arc<Self>, run: &Run, exports: &[crate::records::ExportResult]) {
        let failed: Vec<String> = exports
            .iter()
            .filter(|e| matches!(e.status.as_str(), "failed" | "refused" | "expired"))
            .map(|e| format!("{} {}: {}", e.destination, e.status, e.detail))
            .collect();
        if !failed.is_empty() {
            self.alert(AlertEvent::ExportFailed, run, failed.join("; "));
        }
    }

    /// The alerts of runs found interrupted (start-up, a take-over).
    fn alert_interrupted(self: &Arc<Self>, runs: Vec<Run>) {
        for r in runs {
            if r.status == RunStatus::Interrupted {
                let why = r
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "interrupted".into());
                self.alert(AlertEvent::Interrupted, &r, why);
            }
        }
    }

    /// The calendar of a stored schedule, built once per calendar.
    fn calendar(&self, s: &ScheduleState, doc: &spec::Schedule) -> Option<Calendar> {
        let mut cache = self.calendars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, cal)) = cache.get(&s.id) {
            if *key == s.calendar_key {
                return Some(cal.clone());
            }
        }
        match spec::check::calendar(doc) {
            Ok(cal) => {
                cache.insert(s.id.clone(), (s.calendar_key.clone(), cal.clone()));
                Some(cal)
            }
            Err(e) => {
                tracing::error!(schedule_id = %s.id, "stored calendar is invalid: {}", e.message);
                None
            }
        }
    }
}

/// Queues a manual run (trigger `manual`, not counted toward `max_runs`),
/// unless one is already pending: then that one's id. Refused for a removed schedule.
pub async fn queue_manual(
    store: &Store,
    id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(String, bool), TriggerError> {
    let (run_id, already) = match store
        .queue_manual(id, actor, now)
        .await
        .map_err(TriggerError::Store)?
    {
        Queued::New(run_id) => (run_id, false),
        Queued::AlreadyPending(run_id) => (run_id, true),
        Queued::NoSchedule => return Err(TriggerError::NotFound(id.to_string())),
        Queued::Removed => return Err(TriggerError::Removed(id.to_string())),
    };
    if !already {
        store.flush().await.map_err(TriggerError::Store)?;
        log_line(
            store,
            &run_id,
            now,
            "info",
            &format!("queued by a manual trigger ({actor})"),
        )
        .await;
    }
    Ok((run_id, already))
}

async fn log_line(store: &Store, run_id: &str, now: DateTime<Utc>, level: &str, message: &str) {
    let line = LogLine {
        time: now,
        level: level.into(),
        message: message.into(),
    };
    if let Err(e) = store.log(run_id, line).await {
        store.mark_failed(&e);
        tracing::error!(run_id, "cannot write a log line: {e}");
    }
}

/// Builds the generator named by `--generator`.
pub fn generator(spec: &str) -> Result<Arc<dyn Generator>, String> {
    if let Some(cmd) = spec.strip_prefix("cmd:") {
        let g = CmdGenerator::new(cmd, DEFAULT_TIMEOUT).map_err(|e| e.to_string())?;
        return Ok(Arc::new(g));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Ok(Arc::new(
            crate::run::http::HttpGenerator::new(
                spec,
                DEFAULT_TIMEOUT,
                crate::run::http::RetryPolicy::default(),
            )
            .map_err(|e| e.to_string())?,
        ));
    }
    if spec == "local" || spec.starts_with("local:") {
        return Ok(Arc::new(crate::run::local::LocalGenerator::parse(spec)?));
    }
    Err(format!(
        "--generator `{spec}` is not one of: local, local:WIDTHxHEIGHT, http://URL, https://URL, cmd:PROGRAM"
    ))
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
    elector: Option<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<()>,
    server_stop: Arc<Notify>,
}

/// Starts the daemon: opens the store, recovers, reconciles, serves.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Daemon, String> {
    // Read once: a run or a request never looks at the environment.
    let settings = Arc::new(Settings::from_env());
    if !settings.problems.is_empty() {
        return Err(settings.problems.join("; "));
    }
    // Read the folder while the store opens (see reload::preload).
    let reload_notify = Arc::new(Notify::new());
    let now = clock.now();
    let (stage, feed) = crate::store::staged::Feed::new();
    // A sled store already on disk is a restart: whether it holds schedules
    // is known only once it opens, late in the read, so the read does not
    // stage for it (a first start with nothing on disk does).
    let may_stage = config.store.is_some() || !crate::store::SledStore::on_disk(&config.state);
    let preload = reload::preload(
        &config,
        &settings,
        &reload_notify,
        now,
        may_stage.then(|| stage.clone()),
    );
    let store = Store::open_any(config.store.as_deref(), &config.state)
        .await
        .map_err(|e| e.to_string())?;
    let generator = generator(&config.generator)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Alone on its store, the daemon leads from the start and a failed
    // recovery stops it; on a shared store the election decides, below.
    let alone = !store.shared();
    let mut interrupted = Vec::new();
    if alone && store.failure().is_none() {
        interrupted = recover::recover(&store, clock.now(), None)
            .await
            .map_err(|e| e.to_string())?;
    }
    // Generated images live here whatever the store.
    if config.store.is_some() {
        std::fs::create_dir_all(&config.state).map_err(|e| {
            format!(
                "the state folder {} cannot be created ({e}); it holds the generated images",
                config.state.display()
            )
        })?;
    }
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
        reload: reload_notify,
        reload_all: AtomicBool::new(false),
        leader: Arc::new(AtomicBool::new(alone)),
        stats: Stats::default(),
        metrics: Arc::default(),
        settings: settings.clone(),
        parse_cache: Mutex::default(),
        preloaded: Mutex::default(),
        head_start: Mutex::default(),
        current_run: Mutex::default(),
        calendars: Mutex::default(),
        products: RwLock::default(),
    });
    tracing::info!(
        "adsched daemon: schedules {}, templates {}, state {}, generator {}, listening on http://{addr}",
        config.schedules.display(),
        config.templates.display(),
        config.state.display(),
        generator.name()
    );
    ctx.alert_interrupted(interrupted);
    let app = crate::api::router(ctx.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server_stop = Arc::new(Notify::new());
    let ss = server_stop.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { ss.notified().await })
            .await;
    });
    if !alone {
        // The first look before the first reload: a daemon that can lead
        // applies the folder at once. Its recovery does not need the
        // folder, so it goes on while the folder is still being read.
        lead::look(&ctx).await;
    }
    let head = reload::head_start(&ctx, feed, stage, now).await;
    *ctx.head_start.lock().unwrap_or_else(|e| e.into_inner()) = head;
    let preloaded = preload
        .await
        .map_err(|e| format!("the first read of the schedules folder stopped: {e}"))?;
    *ctx.preloaded.lock().unwrap_or_else(|e| e.into_inner()) = Some(preloaded);
    reload(&ctx, true).await;
    let rc = ctx.clone();
    let reloader = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = rc.reload.notified() => {}
                _ = tokio::time::sleep(RESCAN_EVERY) => {}
            }
            let all = rc.reload_all.swap(false, Ordering::SeqCst);
            reload(&rc, all).await;
        }
    });
    let elector = (!alone).then(|| tokio::spawn(lead::lead_loop(ctx.clone())));
    let scheduler = tokio::spawn(tick::scheduler_loop(ctx.clone()));
    let supervisor = tokio::spawn(recover::store_supervisor(ctx.clone()));
    if let Some(keep) = config.retain {
        tokio::spawn(retain::retain_loop(ctx.clone(), keep));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let runner = Arc::new(Runner {
        store: store.clone(),
        generator,
        templates: config.templates.clone(),
        state: config.state.clone(),
        schedules: config.schedules.clone(),
        clock: clock.clone(),
        public_url: config.public_url.clone(),
        metrics: ctx.metrics.clone(),
        settings,
        unwritten: Default::default(),
        leading: ctx.leader.clone(),
    });
    let worker = tokio::spawn(worker::worker_loop(ctx.clone(), runner, stop.clone()));
    Ok(Daemon {
        addr,
        ctx,
        stop,
        worker,
        scheduler,
        reloader,
        supervisor,
        elector,
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
        if let Some(elector) = &self.elector {
            elector.abort();
        }
        if tokio::time::timeout(grace, &mut self.worker).await.is_err() {
            self.worker.abort();
            let _ = (&mut self.worker).await;
            // The template did not finish in time: record the run as interrupted now.
            if ctx.is_leader() {
                recover::recover(&ctx.store, ctx.clock.now(), None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        if let Some(elector) = self.elector.take() {
            let _ = elector.await;
        }
        if ctx.store.shared() {
            // A standby takes over at once, not after the session times out.
            ctx.set_leader(false);
            ctx.store.resign().await;
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
        ctx.store.close().await.map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
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
