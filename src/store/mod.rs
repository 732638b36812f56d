//! Where records live: the domain operations the daemon, the API and the
//! CLI need, as one interface ([`RecordStore`]), and its implementations.
//! Only [`sled`] (the embedded default) knows sled; nothing
//! outside this module sees a backend's types.
//!
//! Every state change is one operation and one transaction: a crash between
//! two never leaves half of one on disk. The logic of each change is written
//! once, in `ops`, over record-level reads and writes (`ops::Txn`) that
//! each backend provides inside its own transaction.
//!
//! Long because it is the store's whole contract in one place: the trait,
//! every state change as an [`Action`] value, and the typed [`Store`]
//! methods over them; each part is short.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::calendar::Calendar;
use crate::reconcile::{Change, DesiredSet};
use crate::records::{
    ActorNote, Ad, AuditEntry, ExportResult, LogLine, Run, RunStatus, ScheduleState, Trigger, Usage,
};
use crate::scheduler::Fire;

mod ids;
pub(crate) mod ops;
pub mod pg;
pub mod sled;
pub mod staged;

pub use self::pg::PgStore;
pub use self::sled::SledStore;

/// Store failures, whatever the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error("the state folder {0} is in use by another adsched daemon (sled holds a lock on it); stop that daemon or pass another --state")]
    Locked(String),
    /// The state folder cannot be created or written.
    #[error("the state folder {0} cannot be written ({1}); give adsched a writable folder with --state DIR (or ADSCHED_STATE), or fix its permissions")]
    NotWritable(String, String),
    /// The disk (or the connection) failed; writes fail until the store is
    /// reopened.
    #[error("store error: {0}")]
    Io(String),
    /// The backend failed in another way (corruption, a bug).
    #[error("store error: {0}")]
    Backend(String),
    /// A record did not (de)serialize.
    #[error("store record error: {0}")]
    Record(#[from] serde_json::Error),
    /// The store failed to write and is being reopened.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A change was refused by its own logic (its run vanished, say).
    #[error("{0}")]
    Aborted(String),
    /// A change only the leader makes was asked of a daemon that does not
    /// lead (any more): the fence of SPEC 7.
    #[error("not the leader: {0}")]
    NotLeader(String),
}

/// Why a store cannot write, shared by the backends: set by the first
/// lasting failure, cleared when the store is open again.
#[derive(Debug, Default)]
pub(crate) struct FailureFlag(std::sync::Mutex<Option<String>>);

impl FailureFlag {
    /// The reason, if the store cannot write.
    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records `why` unless a reason is already recorded (the first says most).
    pub(crate) fn set_first(&self, why: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
    }

    /// Records `why`, replacing any reason.
    pub(crate) fn set(&self, why: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// The store writes again.
    pub(crate) fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// [`RecordStore::mark_failed`] for a backend whose lasting failures are
    /// [`StoreError::Io`].
    pub(crate) fn mark_io(&self, e: &StoreError) -> bool {
        let io = matches!(e, StoreError::Io(_));
        if io {
            self.set_first(e.to_string());
        }
        io
    }
}

/// Which runs a list holds: newest first, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct RunSelect {
    /// Runs of this schedule only (through its index, not a scan).
    pub schedule: Option<String>,
    /// Runs of these schedules only.
    pub schedules: Option<Vec<String>>,
    /// With this status.
    pub status: Option<RunStatus>,
    /// With this trigger.
    pub trigger: Option<Trigger>,
    /// Older than this run (a page's cursor).
    pub before: Option<String>,
    /// Queued at or after this.
    pub since: Option<DateTime<Utc>>,
    /// At most this many (counting only the runs that pass).
    pub limit: usize,
}

impl RunSelect {
    /// Whether a run passes the filters other than `schedule`, `before`,
    /// `since` and `limit`, which bound the scan itself.
    pub fn keeps(&self, r: &Run) -> bool {
        self.status.is_none_or(|s| s == r.status)
            && self.trigger.is_none_or(|t| t == r.trigger)
            && self
                .schedules
                .as_ref()
                .is_none_or(|ids| ids.contains(&r.schedule_id))
    }
}

/// What a manual trigger did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// A new run, with this id.
    New(String),
    /// The schedule already had this run queued.
    AlreadyPending(String),
    /// No schedule has the id.
    NoSchedule,
    /// The schedule's document is gone.
    Removed,
}

/// What one template produced, recorded on its run in one change.
#[derive(Debug, Clone)]
pub struct TemplateResult {
    /// The template's name.
    pub template: String,
    /// The generator's ad run.
    pub ad_run_id: String,
    /// The images.
    pub ads: Vec<Ad>,
    /// The usage record (first use per product and template wins).
    pub usage: Usage,
}

/// How a run's work ended, as the worker saw it.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// The first template error, if any.
    pub error: Option<String>,
    /// The daemon stopped before every template was done.
    pub interrupted: bool,
    /// When.
    pub now: DateTime<Utc>,
    /// Retries of a failed calendar run when the schedule sets none.
    pub default_retries: u32,
}

/// A schedule to fire, with what its firing needs from its document.
#[derive(Clone)]
pub struct Due {
    /// The schedule.
    pub id: String,
    /// Its calendar.
    pub calendar: Calendar,
    /// Its catch-up window.
    pub window: chrono::Duration,
}

/// A state change, as a value (one transaction each): what the daemon,
/// the worker and the commands ask of a store.
#[derive(Clone)]
pub enum Action {
    /// Apply the files' wish for some schedules, in one transaction
    /// (decided inside it: the worker may have moved a schedule on meanwhile).
    Reconcile {
        /// The schedules.
        ids: Vec<String>,
        /// What the files say.
        desired: Arc<DesiredSet>,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Record what is due for some schedules, in one transaction: per
    /// schedule a queued run, a missed record, a retry, or nothing.
    Fire {
        /// The schedules.
        due: Vec<Due>,
        /// When this daemon began waiting.
        started: DateTime<Utc>,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Queue a manual run (with this id), unless one is already queued.
    QueueManual {
        /// The schedule.
        id: String,
        /// The new run's id, chosen before the transaction so a retried
        /// transaction keeps it.
        run_id: String,
        /// Now.
        now: DateTime<Utc>,
        /// Who asked, for the audit log (its entry is written with the run).
        audit: Audit,
    },
    /// Pause a schedule until resumed or until `until` (SPEC 8).
    Pause {
        /// The schedule.
        id: String,
        /// Who, why, when.
        note: ActorNote,
        /// When the pause ends by itself.
        until: Option<DateTime<Utc>>,
        /// The audit entry's id.
        audit_id: String,
    },
    /// End an operator's pause.
    Resume {
        /// The schedule.
        id: String,
        /// Who (`adsched` when the pause's `until` passed), why, when.
        note: ActorNote,
        /// The audit entry's id.
        audit_id: String,
    },
    /// Cancel a run: a pending one at once, a running one after its
    /// current template.
    Cancel {
        /// The run.
        run_id: String,
        /// Who, why, when.
        note: ActorNote,
        /// The audit entry's id.
        audit_id: String,
    },
    /// Add export results to a run (an export again, SPEC 8), with its audit entry.
    AddExports {
        /// The run.
        run_id: String,
        /// The new results.
        exports: Vec<ExportResult>,
        /// Who asked.
        audit: Audit,
    },
    /// Start a queued run.
    BeginRun {
        /// The run.
        run_id: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Record one template's ads and its use.
    AddTemplate {
        /// The run.
        run_id: String,
        /// What the template produced.
        result: TemplateResult,
    },
    /// Record a run's export results.
    SetExports {
        /// The run.
        run_id: String,
        /// The results.
        exports: Vec<ExportResult>,
        /// When results that wait for review expire, if they do.
        review_due: Option<DateTime<Utc>>,
    },
    /// Record a person's decisions on a run's ads (SPEC 11); when every ad
    /// is decided, or `send` asks, claim the run's export for sending.
    Review {
        /// The run.
        run_id: String,
        /// Images approved.
        approve: Vec<String>,
        /// Images rejected.
        reject: Vec<String>,
        /// The reviewer's note.
        note: Option<String>,
        /// Send the approved ones now, even with ads undecided.
        send: bool,
        /// Who, when; its audit entry.
        audit: Audit,
    },
    /// End the wait of a run's exports whose review window has passed.
    ExpireReview {
        /// The run.
        run_id: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// End a run and tell its schedule.
    FinishRun {
        /// The run.
        run_id: String,
        /// How its work ended.
        end: RunEnd,
    },
    /// Write runs as they are (an import of history, a benchmark's seed).
    ImportRuns(Vec<Run>),
    /// Mark a run left `running` by a crash `interrupted`.
    Interrupt {
        /// The run.
        run_id: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Clear a schedule's pointers at runs no longer running or queued.
    ClearStale {
        /// The schedule.
        schedule_id: String,
        /// Clear `running_run`.
        running: bool,
        /// Clear `pending_run`.
        pending: bool,
    },
}

impl Action {
    /// Whether only the leader may carry this change out: it starts work or
    /// decides what the schedules are. A standby may still queue a manual
    /// run for the leader, and the leader's own run in progress may still be
    /// recorded (the run's status guards those).
    pub fn needs_lead(&self) -> bool {
        matches!(
            self,
            Action::Reconcile { .. }
                | Action::Fire { .. }
                | Action::BeginRun { .. }
                | Action::Interrupt { .. }
                | Action::ClearStale { .. }
        )
    }
}

/// Who asked for an action, for its audit entry (written in the action's
/// own transaction: an action is never done without its entry).
#[derive(Debug, Clone)]
pub struct Audit {
    /// The entry's id, chosen before the transaction.
    pub id: String,
    /// The token's name or `local`.
    pub actor: String,
    /// Why, as given.
    pub reason: Option<String>,
    /// When.
    pub time: DateTime<Utc>,
}

/// What a cancel did.
#[derive(Debug, Clone)]
pub enum Cancelled {
    /// No run has the id.
    NoRun,
    /// The run had ended already (its status).
    Ended(RunStatus),
    /// A pending run: cancelled at once.
    Now(Run),
    /// A running run: it stops after its current template.
    Requested(Run),
}

/// What a review did.
#[derive(Debug, Clone)]
pub enum Reviewed {
    /// No run has the id.
    NoRun,
    /// The run is not waiting for review (never was, or was sent or expired).
    NotAwaiting(Run),
    /// Images that are not ads of the run, or decided both ways.
    BadImages(Vec<String>),
    /// The decisions are recorded; `send` when this call claimed the export
    /// (every ad decided, or `send` asked): the caller sends the approved ads.
    Recorded {
        /// The run after.
        run: Run,
        /// Whether this caller sends.
        send: bool,
    },
}

/// What an [`Action`] gave back.
pub enum Outcome {
    /// [`Action::Reconcile`]: per schedule, in order, the change, if any,
    /// and whether the schedule is settled (valid and not removed).
    Reconciled(Vec<(Option<Change>, bool)>),
    /// [`Action::Fire`]: per schedule, in order, what was recorded.
    Fired(Vec<Option<Fire>>),
    /// [`Action::QueueManual`].
    Queued(Queued),
    /// [`Action::BeginRun`]: None when the run is no longer pending (or its
    /// schedule is gone: then the run is recorded failed).
    Began(Option<(ScheduleState, Run)>),
    /// [`Action::FinishRun`]: the run, and its schedule after (None when
    /// the schedule is gone).
    Finished(Run, Option<ScheduleState>),
    /// [`Action::AddTemplate`]: who asked to cancel the run, if someone has
    /// (read in the same transaction, so the worker need not ask again).
    Added(Option<String>),
    /// [`Action::Pause`] and [`Action::Resume`]: the schedule after, or
    /// None when no schedule has the id.
    Schedule(Option<ScheduleState>),
    /// [`Action::Cancel`].
    Cancel(Cancelled),
    /// [`Action::Review`].
    Reviewed(Reviewed),
    /// [`Action::ExpireReview`]: the run, when its exports expired now.
    Expired(Option<Run>),
    /// The other actions.
    Done,
}

/// The domain operations on the records. Async at the surface: an embedded
/// store does its blocking I/O off the async threads, a database client
/// awaits its server.
///
/// Writes are recorded when the call returns, durable after
/// [`RecordStore::flush`] (an embedded store batches its disk syncs; a
/// database commits without waiting for its disk and waits once in its flush).
#[async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// `sled` or `postgres`, as `/readyz` names it.
    fn kind(&self) -> &'static str;

    /// Where the store is, for messages (a folder, a host and database).
    fn location(&self) -> String;

    /// A new time-ordered, unique run id.
    fn new_run_id(&self, now: DateTime<Utc>) -> String;

    /// Why the store cannot write, if it cannot: set by
    /// [`RecordStore::mark_failed`], cleared by a successful
    /// [`RecordStore::reopen`].
    fn failure(&self) -> Option<String>;

    /// Records that a write failed for a reason that outlives the call (a
    /// full disk, a lost connection). Returns true if `e` is such an error.
    fn mark_failed(&self, e: &StoreError) -> bool;

    /// Opens the store afresh after a failure, then proves it takes writes.
    async fn reopen(&self) -> Result<(), StoreError>;

    /// Makes every write so far durable.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Flushes that reached the disk so far (a flush with nothing to wait
    /// for is not counted where the store can tell).
    fn flushes(&self) -> u64 {
        0
    }

    /// Flushes and releases the store (a folder's lock, a connection).
    /// Calls after it answer [`StoreError::Unavailable`].
    async fn close(&self) -> Result<(), StoreError>;

    /// Every schedule, by id.
    async fn schedules(&self) -> Result<Vec<ScheduleState>, StoreError>;

    /// The schedules that point at a pending or running run, by id: what a
    /// start checks for pointers a crash left behind.
    async fn schedules_with_runs(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let mut all = self.schedules().await?;
        all.retain(|s| s.pending_run.is_some() || s.running_run.is_some());
        Ok(all)
    }

    /// The schedules whose wake time ([`crate::scheduler::wake_at`]) is at
    /// or before `now`, from an index: what a scheduler tick looks at.
    async fn due_schedules(&self, now: DateTime<Utc>) -> Result<Vec<ScheduleState>, StoreError>;

    /// The earliest wake time after `now`, from the same index.
    async fn next_wake(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Every schedule id, without decoding the states.
    async fn schedule_ids(&self) -> Result<Vec<String>, StoreError>;

    /// Every stored schedule's id, with the hash of the documents its state
    /// was last reconciled to and settled on (None: not settled, or never
    /// hashed), written by [`Action::Reconcile`] in the same transaction as
    /// the state. A reload compares only the schedules whose documents hash
    /// differently, and reads no state to learn which schedules exist.
    async fn applied(&self) -> Result<std::collections::HashMap<String, Option<u64>>, StoreError>;

    /// Whether any schedule is stored (a removed one counts).
    async fn has_schedules(&self) -> Result<bool, StoreError>;

    /// Applies the batches of schedules `feed` gives while the folder is
    /// being read, into a store that has no schedule, then removes those
    /// the read's final set does not want as staged (see [`staged`]). On
    /// an error, or if the final set never comes, nothing staged stands.
    async fn reconcile_staged(
        &self,
        feed: Arc<staged::Feed>,
        now: DateTime<Utc>,
    ) -> Result<staged::Staged, StoreError>;

    /// One schedule.
    async fn schedule(&self, id: &str) -> Result<Option<ScheduleState>, StoreError>;

    /// One run.
    async fn run(&self, id: &str) -> Result<Option<Run>, StoreError>;

    /// Runs newest first, as `select` says.
    async fn runs(&self, select: RunSelect) -> Result<Vec<Run>, StoreError>;

    /// The oldest queued run.
    async fn first_pending(&self) -> Result<Option<Run>, StoreError>;

    /// Runs in a given status (start-up recovery).
    async fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>, StoreError>;

    /// How many runs exist.
    async fn run_count(&self) -> Result<usize, StoreError>;

    /// A run's log, oldest line first.
    async fn logs(&self, run_id: &str) -> Result<Vec<LogLine>, StoreError>;

    /// Appends log lines to their runs, durable on return: a line shown
    /// once is never lost.
    async fn append_logs(&self, lines: Vec<(String, LogLine)>) -> Result<(), StoreError>;

    /// Templates already used for a product.
    async fn used_templates(&self, product: &str) -> Result<Vec<Usage>, StoreError>;

    /// Runs whose exports wait for review, oldest first.
    async fn runs_awaiting_review(&self) -> Result<Vec<Run>, StoreError>;

    /// Runs that ended before `cutoff`, oldest id first, after the id
    /// `after` (a cursor), at most `limit`: candidates for retention.
    async fn runs_ended_before(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError>;

    /// Deletes runs with their log lines and their images kept in the
    /// store (SPEC 10). Template usage is never deleted.
    async fn delete_runs(&self, ids: Vec<String>) -> Result<(), StoreError>;

    /// The store's size: on disk (sled) or in the database (PostgreSQL).
    async fn size_bytes(&self) -> Result<u64, StoreError>;

    /// The audit log, newest first: of one schedule, or of all.
    async fn audit(
        &self,
        schedule: Option<String>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Whether several daemons may share this store; then they elect a
    /// leader with [`RecordStore::lead`].
    fn shared(&self) -> bool {
        false
    }

    /// Takes or keeps leadership: whether this process is now the one daemon
    /// that reconciles, fires and works. A store that one process holds
    /// alone (sled's folder lock) always leads. Once called, the changes of
    /// [`Action::needs_lead`] are refused unless this process leads.
    async fn lead(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Gives leadership up (a shutdown), so that a standby takes over at once.
    async fn resign(&self) {}

    /// Keeps a generated image (`path` as under `/ads/`) where every daemon
    /// on this store can serve it. An embedded store's images are the files
    /// in its state folder already.
    async fn put_image(&self, _path: &str, _bytes: Vec<u8>) -> Result<(), StoreError> {
        Ok(())
    }

    /// An image kept by [`RecordStore::put_image`].
    async fn image(&self, _path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }

    /// Carries out one state change in one transaction (the logic is
    /// `ops::apply`, the same for every backend). Callers use the typed
    /// methods of [`Store`] (`reconcile`, `fire`, `begin_run`, …).
    async fn apply(&self, action: Action) -> Result<Outcome, StoreError>;

    /// Starts the oldest queued run ([`Action::BeginRun`]), with the
    /// templates already used for its product. A database backend finds,
    /// starts and reads it in one transaction; this default asks for it,
    /// starts it, then reads the templates used.
    async fn begin_next(&self, now: DateTime<Utc>) -> Result<Next, StoreError> {
        let Some(run) = self.first_pending().await? else {
            return Ok(Next::Idle);
        };
        let action = Action::BeginRun {
            run_id: run.id,
            now,
        };
        let (state, run) = match self.apply(action).await? {
            Outcome::Began(Some(began)) => began,
            Outcome::Began(None) => return Ok(Next::Skipped),
            _ => return Err(another_outcome()),
        };
        let used = self.used_templates(&state.product.id).await?;
        Ok(Next::Began(Started {
            used: used.into_iter().map(|u| u.template).collect(),
            state,
            run,
        }))
    }

    /// Ends a run ([`Action::FinishRun`]) and appends its last log lines,
    /// `lines` then the line `outcome` makes of the run as ended; both
    /// durable on return. A database backend commits them together (one
    /// round trip and one wait for the disk); this default ends the run,
    /// then appends. Called again after a failure, it appends no line twice
    /// (an ended run is answered as it was recorded).
    async fn finish_logged(
        &self,
        run_id: &str,
        end: RunEnd,
        lines: Vec<(String, LogLine)>,
        outcome: for<'r> fn(&'r Run) -> LogLine,
    ) -> Result<(Run, Option<ScheduleState>), StoreError> {
        let action = Action::FinishRun {
            run_id: run_id.to_string(),
            end,
        };
        let Outcome::Finished(run, after) = self.apply(action).await? else {
            return Err(another_outcome());
        };
        let mut lines = lines;
        lines.push((run.id.clone(), outcome(&run)));
        self.append_logs(lines).await?;
        Ok((run, after))
    }
}

/// What [`RecordStore::begin_next`] found.
#[derive(Debug)]
// Made once per run and taken apart at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Next {
    /// No run is queued.
    Idle,
    /// The oldest queued run was not started (no longer pending, or its
    /// schedule is gone: then it is recorded failed); look again.
    Skipped,
    /// The run started.
    Began(Started),
}

/// A run [`RecordStore::begin_next`] started.
#[derive(Debug)]
pub struct Started {
    /// Its schedule, as the start left it.
    pub state: ScheduleState,
    /// The run, `running`.
    pub run: Run,
    /// The templates already used for the schedule's product.
    pub used: Vec<String>,
}

fn another_outcome() -> StoreError {
    StoreError::Backend("a store answered another action's outcome".into())
}

/// The error for a `--store` that is not a PostgreSQL URL; it names only the
/// scheme, since the rest may hold a password.
pub(crate) fn not_postgres(url: &str) -> StoreError {
    StoreError::Backend(format!(
        "--store must be a postgres:// URL (or absent for the embedded store in --state), not `{}:…`",
        url.chars().take_while(|c| *c != ':').collect::<String>()
    ))
}

/// The store the daemon and the commands hold: cheap to clone, one backend
/// behind it.
#[derive(Clone)]
pub struct Store(Arc<dyn RecordStore>);

impl Store {
    /// The store `url` names (`postgres://...`), or without one the embedded
    /// store in the folder `state`. A database that cannot be reached gives
    /// a store that says so on every call until it is reopened: the daemon
    /// keeps serving `/readyz` and retries.
    pub async fn open_any(url: Option<&str>, state: &std::path::Path) -> Result<Store, StoreError> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => {
                let state = state.to_path_buf();
                tokio::task::spawn_blocking(move || Store::open(&state))
                    .await
                    .map_err(|e| StoreError::Backend(e.to_string()))?
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let u = url.to_string();
                let connected = tokio::task::spawn_blocking(move || PgStore::connect(&u))
                    .await
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                match connected {
                    Ok(pg) => Ok(Store::new(pg)),
                    Err(e @ StoreError::Io(_)) => {
                        tracing::error!("{e}; retrying");
                        Ok(Store::new(PgStore::unconnected(url, &e)?))
                    }
                    Err(e) => Err(e),
                }
            }
            Some(url) => Err(not_postgres(url)),
        }
    }

    /// Opens (or creates) the embedded store in the folder `dir`.
    pub fn open(dir: &std::path::Path) -> Result<Store, StoreError> {
        Ok(Store::new(SledStore::open(dir)?))
    }

    /// A store over a backend.
    pub fn new(backend: impl RecordStore) -> Store {
        Store(Arc::new(backend))
    }

    async fn expect<T>(
        &self,
        action: Action,
        unpack: impl FnOnce(Outcome) -> Option<T>,
    ) -> Result<T, StoreError> {
        unpack(self.apply(action).await?).ok_or_else(another_outcome)
    }

    /// See [`Action::Reconcile`]: per id, in order, the change and whether
    /// the schedule is settled. One transaction for all of them: at start-up
    /// with thousands of schedules, a commit per schedule is what costs.
    pub async fn reconcile(
        &self,
        ids: Vec<String>,
        desired: Arc<DesiredSet>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Option<Change>, bool)>, StoreError> {
        let action = Action::Reconcile { ids, desired, now };
        self.expect(action, |o| match o {
            Outcome::Reconciled(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// See [`Action::Fire`]: per schedule, in order, what was recorded. One
    /// transaction for all of them: a Monday 09:00 with thousands due is
    /// not a commit (and on PostgreSQL, round trips) per schedule.
    pub async fn fire(
        &self,
        due: Vec<Due>,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Fire>>, StoreError> {
        let action = Action::Fire { due, started, now };
        self.expect(action, |o| match o {
            Outcome::Fired(f) => Some(f),
            _ => None,
        })
        .await
    }

    /// See [`Action::QueueManual`]; `actor` is recorded in the audit log.
    pub async fn queue_manual(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, StoreError> {
        let action = Action::QueueManual {
            id: id.to_string(),
            run_id: self.new_run_id(now),
            now,
            audit: Audit {
                id: self.new_run_id(now),
                actor: actor.to_string(),
                reason: None,
                time: now,
            },
        };
        self.expect(action, |o| match o {
            Outcome::Queued(q) => Some(q),
            _ => None,
        })
        .await
    }

    /// See [`Action::Pause`]: the schedule after, None if there is none.
    pub async fn pause(
        &self,
        id: &str,
        note: ActorNote,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<ScheduleState>, StoreError> {
        let action = Action::Pause {
            id: id.to_string(),
            audit_id: self.new_run_id(note.at),
            note,
            until,
        };
        self.expect(action, |o| match o {
            Outcome::Schedule(s) => Some(s),
            _ => None,
        })
        .await
    }

    /// See [`Action::Resume`]: the schedule after, None if there is none.
    pub async fn resume(
        &self,
        id: &str,
        note: ActorNote,
    ) -> Result<Option<ScheduleState>, StoreError> {
        let action = Action::Resume {
            id: id.to_string(),
            audit_id: self.new_run_id(note.at),
            note,
        };
        self.expect(action, |o| match o {
            Outcome::Schedule(s) => Some(s),
            _ => None,
        })
        .await
    }

    /// See [`Action::Cancel`].
    pub async fn cancel(&self, run_id: &str, note: ActorNote) -> Result<Cancelled, StoreError> {
        let action = Action::Cancel {
            run_id: run_id.to_string(),
            audit_id: self.new_run_id(note.at),
            note,
        };
        self.expect(action, |o| match o {
            Outcome::Cancel(c) => Some(c),
            _ => None,
        })
        .await
    }

    /// See [`Action::AddExports`].
    pub async fn add_exports(
        &self,
        run_id: &str,
        exports: Vec<ExportResult>,
        actor: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.done(Action::AddExports {
            run_id: run_id.to_string(),
            exports,
            audit: Audit {
                id: self.new_run_id(now),
                actor: actor.to_string(),
                reason,
                time: now,
            },
        })
        .await
    }

    /// See [`Action::BeginRun`].
    pub async fn begin_run(
        &self,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ScheduleState, Run)>, StoreError> {
        let action = Action::BeginRun {
            run_id: run_id.to_string(),
            now,
        };
        self.expect(action, |o| match o {
            Outcome::Began(b) => Some(b),
            _ => None,
        })
        .await
    }

    /// See [`Action::FinishRun`]: the run, and its schedule after.
    pub async fn finish_run(
        &self,
        run_id: &str,
        end: RunEnd,
    ) -> Result<(Run, Option<ScheduleState>), StoreError> {
        let action = Action::FinishRun {
            run_id: run_id.to_string(),
            end,
        };
        self.expect(action, |o| match o {
            Outcome::Finished(r, s) => Some((r, s)),
            _ => None,
        })
        .await
    }

    async fn done(&self, action: Action) -> Result<(), StoreError> {
        self.apply(action).await.map(|_| ())
    }

    /// See [`Action::AddTemplate`]; returns who asked to cancel the run, if
    /// someone has.
    pub async fn add_template(
        &self,
        run_id: &str,
        result: TemplateResult,
    ) -> Result<Option<String>, StoreError> {
        let action = Action::AddTemplate {
            run_id: run_id.to_string(),
            result,
        };
        self.expect(action, |o| match o {
            Outcome::Added(by) => Some(by),
            _ => None,
        })
        .await
    }

    /// See [`Action::SetExports`].
    pub async fn set_exports(
        &self,
        run_id: &str,
        exports: Vec<ExportResult>,
        review_due: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.done(Action::SetExports {
            run_id: run_id.to_string(),
            exports,
            review_due,
        })
        .await
    }

    /// See [`Action::Review`].
    #[allow(clippy::too_many_arguments)]
    pub async fn review(
        &self,
        run_id: &str,
        approve: Vec<String>,
        reject: Vec<String>,
        note: Option<String>,
        send: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Reviewed, StoreError> {
        let action = Action::Review {
            run_id: run_id.to_string(),
            approve,
            reject,
            send,
            audit: Audit {
                id: self.new_run_id(now),
                actor: actor.to_string(),
                reason: note.clone(),
                time: now,
            },
            note,
        };
        self.expect(action, |o| match o {
            Outcome::Reviewed(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// See [`Action::ExpireReview`].
    pub async fn expire_review(
        &self,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Run>, StoreError> {
        let action = Action::ExpireReview {
            run_id: run_id.to_string(),
            now,
        };
        self.expect(action, |o| match o {
            Outcome::Expired(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// See [`Action::ImportRuns`].
    pub async fn import_runs(&self, runs: Vec<Run>) -> Result<(), StoreError> {
        self.done(Action::ImportRuns(runs)).await
    }

    /// See [`Action::Interrupt`].
    pub async fn interrupt(&self, run_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.done(Action::Interrupt {
            run_id: run_id.to_string(),
            now,
        })
        .await
    }

    /// See [`Action::ClearStale`].
    pub async fn clear_stale(
        &self,
        schedule_id: &str,
        running: bool,
        pending: bool,
    ) -> Result<(), StoreError> {
        self.done(Action::ClearStale {
            schedule_id: schedule_id.to_string(),
            running,
            pending,
        })
        .await
    }

    /// The latest runs, newest first: of one schedule, or of all.
    pub async fn latest_runs(
        &self,
        schedule: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        self.runs(RunSelect {
            schedule: schedule.map(str::to_string),
            limit,
            ..Default::default()
        })
        .await
    }

    /// Appends one log line.
    pub async fn log(&self, run_id: &str, line: LogLine) -> Result<(), StoreError> {
        self.append_logs(vec![(run_id.to_string(), line)]).await
    }

    /// Appends log lines (run id, level, message) at `time`.
    pub async fn log_batch(
        &self,
        time: DateTime<Utc>,
        lines: &[(String, &str, String)],
    ) -> Result<(), StoreError> {
        let lines = lines
            .iter()
            .map(|(run_id, level, message)| {
                let line = LogLine {
                    time,
                    level: level.to_string(),
                    message: message.clone(),
                };
                (run_id.clone(), line)
            })
            .collect();
        self.append_logs(lines).await
    }
}

impl std::ops::Deref for Store {
    type Target = dyn RecordStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
