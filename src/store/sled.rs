//! The embedded store (the default): sled in the state folder. Records are
//! JSON values in typed trees; every state change is one multi-tree
//! transaction running one function of `ops`.
//!
//! Trees:
//! - `schedules`: schedule id → [`ScheduleState`]
//! - `runs`: run id (ULID, time-ordered) → [`Run`]
//! - `runs_by_schedule`: schedule id, 0, run id → () — newest-first per schedule
//!   without scanning other schedules' runs
//! - `pending`: run id → () — the queue, oldest first; and 1, run id → ()
//!   for each run `running`, so a start finds what a crash left running
//!   without decoding the history (the key `0` marks it filled for a store
//!   written before it existed)
//! - `usage`: product id, 0, template → [`Usage`]
//! - `logs`: run id, 0, sequence (u64 BE) → [`LogLine`]
//! - `audit`: entry id (ULID, time-ordered) → [`AuditEntry`]
//! - `review`: run id → () — the runs whose exports wait for review
//! - `wake`: 0, wake time (ms, i64 BE, sign flipped), schedule id → () — the
//!   schedules by the time the scheduler must look at them
//!   ([`crate::scheduler::wake_at`]), so a tick reads what is due, not every
//!   schedule; and 1, schedule id → that time, to find an entry to replace
//! - `applied`: every schedule id → the hash (u64 BE) of the documents its
//!   state settled on, or empty (compare it): a reload learns which
//!   schedules exist and which files changed without decoding a state; the
//!   key `0` marks it filled for a store written before it existed, and
//!   the key `0, 1` that a first start is applying schedules before the
//!   whole folder was read (see `SledStore::stage_blocking`)
//!
//! sled is synchronous: each operation runs on tokio's blocking pool.
//!
//! Long because it is one backend whole: its trees and indexes, the
//! transactions, a first start's staged batches, and the RecordStore impl.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::ops::{self, Txn};
use super::{staged, Action, Outcome, RecordStore, RunSelect, StoreError};
use crate::records::{AuditEntry, LogLine, Run, RunStatus, ScheduleState, Usage};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        match e {
            // sled shows I/O errors with Debug formatting; people want the OS's words.
            sled::Error::Io(io) => StoreError::Io(io.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// In `applied`: a first start is applying schedules before the whole
/// folder was read (see [`SledStore::stage_blocking`]).
const STAGING: &[u8] = &[0, 1];

/// A transaction's view of the trees.
struct Tx<'a> {
    schedules: &'a TransactionalTree,
    runs: &'a TransactionalTree,
    by_schedule: &'a TransactionalTree,
    pending: &'a TransactionalTree,
    usage: &'a TransactionalTree,
    audit: &'a TransactionalTree,
    review: &'a TransactionalTree,
    wake: &'a TransactionalTree,
    applied: &'a TransactionalTree,
}

/// What a transaction closure returns on failure.
type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

fn abort<E: std::fmt::Display>(e: E) -> ConflictableTransactionError<String> {
    ConflictableTransactionError::Abort(e.to_string())
}

fn get_json<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => serde_json::from_slice(&v).map(Some).map_err(abort),
        None => Ok(None),
    }
}

fn put_json<T: Serialize>(tree: &TransactionalTree, key: &[u8], v: &T) -> TxResult<()> {
    let bytes = serde_json::to_vec(v).map_err(abort)?;
    tree.insert(key, bytes)?;
    Ok(())
}

/// A time as bytes that sort as the times do.
fn wake_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The `wake` tree's entry of a schedule: 0, time, id.
fn wake_key(time: &[u8], id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(0);
    k.extend_from_slice(time);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The `wake` tree's back reference of a schedule: 1, id.
fn wake_ref(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(1);
    k.extend_from_slice(id.as_bytes());
    k
}

/// In `pending`: the prefix of a running run's key.
const RUNNING: u8 = 1;
/// In `pending`: the running runs are indexed.
const RUNNING_INDEXED: &[u8] = &[0];
/// In `pending`: the lowest key a run id can have (ULIDs are `0`-`9`, `A`-`Z`).
const FIRST_RUN_ID: &[u8] = b"0";

/// A running run's key in `pending`.
fn running_key(run_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(run_id.len() + 1);
    key.push(RUNNING);
    key.extend_from_slice(run_id.as_bytes());
    key
}

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

impl Txn for Tx<'_> {
    type Error = ConflictableTransactionError<String>;

    fn abort(message: &str) -> Self::Error {
        ConflictableTransactionError::Abort(message.to_string())
    }

    fn schedule(&self, id: &str) -> TxResult<Option<ScheduleState>> {
        get_json(self.schedules, id.as_bytes())
    }

    fn put_schedule(&self, s: &ScheduleState) -> TxResult<()> {
        put_json(self.schedules, s.id.as_bytes(), s)?;
        let back = wake_ref(&s.id);
        let new = crate::scheduler::wake_at(s).map(wake_bytes);
        let old = self.wake.get(&back)?;
        if old.as_deref() == new.as_ref().map(|b| &b[..]) {
            return Ok(());
        }
        if let Some(old) = old {
            self.wake.remove(wake_key(&old, &s.id))?;
        }
        match new {
            Some(t) => {
                self.wake.insert(wake_key(&t, &s.id), &[] as &[u8])?;
                self.wake.insert(back, &t[..])?;
            }
            None => {
                self.wake.remove(back)?;
            }
        }
        Ok(())
    }

    fn run(&self, id: &str) -> TxResult<Option<Run>> {
        get_json(self.runs, id.as_bytes())
    }

    fn put_run(&self, r: &Run) -> TxResult<()> {
        put_json(self.runs, r.id.as_bytes(), r)?;
        self.by_schedule
            .insert(pair_key(&r.schedule_id, &r.id), &[] as &[u8])?;
        if r.status == RunStatus::Pending {
            self.pending.insert(r.id.as_bytes(), &[] as &[u8])?;
        } else {
            self.pending.remove(r.id.as_bytes())?;
        }
        if r.status == RunStatus::Running {
            self.pending.insert(running_key(&r.id), &[] as &[u8])?;
        } else {
            self.pending.remove(running_key(&r.id))?;
        }
        if r.awaiting_review() {
            self.review.insert(r.id.as_bytes(), &[] as &[u8])?;
        } else {
            self.review.remove(r.id.as_bytes())?;
        }
        Ok(())
    }

    fn record_usage(&self, u: &Usage) -> TxResult<()> {
        let key = pair_key(&u.product, &u.template);
        if self.usage.get(&key)?.is_none() {
            put_json(self.usage, &key, u)?;
        }
        Ok(())
    }

    fn put_audit(&self, e: &AuditEntry) -> TxResult<()> {
        put_json(self.audit, e.id.as_bytes(), e)
    }

    fn unstage(&self, ids: &[&str]) -> TxResult<()> {
        for id in ids {
            self.schedules.remove(id.as_bytes())?;
            let back = wake_ref(id);
            if let Some(t) = self.wake.remove(back)? {
                self.wake.remove(wake_key(&t, id))?;
            }
            self.applied.remove(id.as_bytes())?;
        }
        Ok(())
    }

    fn set_applied(&self, hashes: &[(&str, Option<u64>)]) -> TxResult<()> {
        for (id, hash) in hashes {
            match hash {
                Some(h) => self.applied.insert(id.as_bytes(), &h.to_be_bytes()[..])?,
                None => self.applied.insert(id.as_bytes(), &[] as &[u8])?,
            };
        }
        Ok(())
    }
}

/// The embedded store. Cheap to clone: clones share one sled database.
#[derive(Clone)]
pub struct SledStore {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    ids: super::ids::IdGen,
    /// None while a reopen is under way.
    handles: std::sync::RwLock<Option<Arc<Handles>>>,
    /// Why the store last failed to write, until a reopen succeeds.
    failure: super::FailureFlag,
    /// Flushes asked for (`adsched_store_flushes_total`).
    flushes: std::sync::atomic::AtomicU64,
}

struct Handles {
    db: sled::Db,
    schedules: sled::Tree,
    runs: sled::Tree,
    by_schedule: sled::Tree,
    pending: sled::Tree,
    usage: sled::Tree,
    logs: sled::Tree,
    audit: sled::Tree,
    review: sled::Tree,
    wake: sled::Tree,
    applied: sled::Tree,
}

/// sled's page cache. The daemon's hot reads (due schedules by the wake
/// index, a schedule's latest runs) touch few pages, and the system's own
/// file cache sits under it: 64 MiB held a first start's every written
/// state and put resident memory at 10,000 schedules over 200 MiB, while
/// at 8 MiB the p99 of a schedule's runs at 1,000,000 runs was no worse
/// (`bench/startup_bench.sh`, `examples/api_latency_bench.rs`).
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

impl Handles {
    fn open(dir: &Path) -> Result<Handles, StoreError> {
        let not_writable = |io: &std::io::Error| {
            matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            )
            .then(|| StoreError::NotWritable(dir.display().to_string(), io.to_string()))
        };
        std::fs::create_dir_all(dir)
            .map_err(|io| not_writable(&io).unwrap_or(StoreError::Io(io.to_string())))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StoreError::Locked(dir.display().to_string())
                }
                sled::Error::Io(io) => not_writable(io).unwrap_or_else(|| e.into()),
                _ => e.into(),
            })?;
        let h = Handles {
            schedules: db.open_tree("schedules")?,
            runs: db.open_tree("runs")?,
            by_schedule: db.open_tree("runs_by_schedule")?,
            pending: db.open_tree("pending")?,
            usage: db.open_tree("usage")?,
            logs: db.open_tree("logs")?,
            audit: db.open_tree("audit")?,
            review: db.open_tree("review")?,
            wake: db.open_tree("wake")?,
            applied: db.open_tree("applied")?,
            db,
        };
        h.index_wake_times()?;
        h.index_applied()?;
        h.index_running()?;
        h.undo_unfinished_staging()?;
        Ok(h)
    }

    /// Builds the `wake` index of a store written before it existed: once,
    /// marked done by the key `2`.
    fn index_wake_times(&self) -> Result<(), StoreError> {
        const BUILT: &[u8] = &[2];
        if self.wake.contains_key(BUILT)? {
            return Ok(());
        }
        for v in self.schedules.iter().values() {
            let s: ScheduleState = serde_json::from_slice(&v?)?;
            if let Some(t) = crate::scheduler::wake_at(&s).map(wake_bytes) {
                self.wake.insert(wake_key(&t, &s.id), &[] as &[u8])?;
                self.wake.insert(wake_ref(&s.id), &t[..])?;
            }
        }
        self.wake.insert(BUILT, &[] as &[u8])?;
        Ok(())
    }

    /// Lists in `applied` every schedule of a store written before it
    /// existed (to be compared once): once, marked done by the key `0`.
    fn index_applied(&self) -> Result<(), StoreError> {
        const FILLED: &[u8] = &[0];
        if self.applied.contains_key(FILLED)? {
            return Ok(());
        }
        for k in self.schedules.iter().keys() {
            let k = k?;
            if !self.applied.contains_key(&k)? {
                self.applied.insert(k, &[] as &[u8])?;
            }
        }
        self.applied.insert(FILLED, &[] as &[u8])?;
        Ok(())
    }

    /// Lists in `pending` the runs left `running` in a store written before
    /// that index existed: once (it reads every run), marked done by the key `0`.
    fn index_running(&self) -> Result<(), StoreError> {
        if self.pending.contains_key(RUNNING_INDEXED)? {
            return Ok(());
        }
        for v in self.runs.iter().values() {
            let r: Run = serde_json::from_slice(&v?)?;
            if r.status == RunStatus::Running {
                self.pending.insert(running_key(&r.id), &[] as &[u8])?;
            }
        }
        self.pending.insert(RUNNING_INDEXED, &[] as &[u8])?;
        Ok(())
    }

    /// Removes every schedule a first start staged if it stopped before
    /// the whole folder was read (its [`STAGING`] mark is still there):
    /// the store had none before, so the next start applies the folder
    /// afresh, and a schedule the folder never validly defined is not kept.
    fn undo_unfinished_staging(&self) -> Result<(), StoreError> {
        if !self.applied.contains_key(STAGING)? {
            return Ok(());
        }
        if !self.runs.is_empty() {
            // A staged schedule never has a run (nothing fires, and no
            // action is taken, before ready): this store was applied in
            // full and used since, so the mark outlived a failed removal.
            tracing::warn!(
                "a stale mark of a first start's staging is dropped; the schedules stay"
            );
            self.applied.remove(STAGING)?;
            self.db.flush()?;
            return Ok(());
        }
        let mut undone = 0;
        for k in self.schedules.iter().keys() {
            self.schedules.remove(k?)?;
            undone += 1;
        }
        // The wake index's entries and back references; its own mark stays.
        for k in self.wake.range(vec![0u8]..vec![2u8]).keys() {
            self.wake.remove(k?)?;
        }
        for k in self.applied.range(vec![1u8]..).keys() {
            self.applied.remove(k?)?;
        }
        self.applied.remove(STAGING)?;
        self.db.flush()?;
        tracing::warn!(
            "the last start stopped while applying the folder: the {undone} schedules it applied are removed and applied again"
        );
        Ok(())
    }

    /// A write that must reach the disk.
    fn probe(&self) -> Result<(), StoreError> {
        self.db.insert("probe", &[1u8][..])?;
        self.db.flush()?;
        Ok(())
    }
}

impl SledStore {
    /// Whether `dir` holds a store already (sled's `db` file).
    pub fn on_disk(dir: &Path) -> bool {
        dir.join("db").exists()
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        // sled lets go of its lock a moment after a store closes (its
        // background flusher holds the file until it next wakes): a store
        // reopened at once, by a daemon restarted in the same process or
        // one that follows another out, waits that moment instead of failing.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let handles = loop {
            match Handles::open(dir) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        Ok(SledStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                ids: Default::default(),
                handles: std::sync::RwLock::new(Some(Arc::new(handles))),
                failure: Default::default(),
                flushes: Default::default(),
            }),
        })
    }

    fn h(&self) -> Result<Arc<Handles>, StoreError> {
        let guard = self
            .shared
            .handles
            .read()
            .unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or_else(|| {
            StoreError::Unavailable(self.failure().unwrap_or_else(|| "reopening".into()))
        })
    }

    /// Runs `f` on the blocking pool with a clone of this store.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SledStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| StoreError::Backend(format!("a store task stopped: {e}")))?
    }

    /// Runs `f` as one transaction over the record trees. `f` may run more
    /// than once (sled is optimistic): it must have no side effects.
    fn transact<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> Result<T, StoreError> {
        let h = self.h()?;
        (
            &h.schedules,
            &h.runs,
            &h.by_schedule,
            &h.pending,
            &h.usage,
            &h.audit,
            &h.review,
            &h.wake,
            &h.applied,
        )
            .transaction(
                |(schedules, runs, by_schedule, pending, usage, audit, review, wake, applied)| {
                    f(&Tx {
                        schedules,
                        runs,
                        by_schedule,
                        pending,
                        usage,
                        audit,
                        review,
                        wake,
                        applied,
                    })
                },
            )
            .map_err(|e| match e {
                TransactionError::Abort(m) => StoreError::Aborted(m),
                TransactionError::Storage(e) => e.into(),
            })
    }

    /// See [`RecordStore::reconcile_staged`]. Unlike PostgreSQL's, sled's
    /// staged reconcile commits each batch as it comes: one sled
    /// transaction holds sled's global lock and applies its writes only at
    /// commit, so the writes would not overlap the read, and one commit of
    /// 10,000 schedules left the daemon at 236 MiB instead of 88 MiB. What
    /// the whole read refutes is removed afterwards, and the [`STAGING`]
    /// mark, committed with the first batch and cleared with that removal,
    /// has [`Handles::undo_unfinished_staging`] remove everything staged if
    /// the daemon stops in between. That is exact because staging begins
    /// only on a store with no schedule, and nothing else writes one before
    /// the daemon is ready (the API refuses actions until then).
    fn stage_blocking(
        &self,
        feed: &staged::Feed,
        now: DateTime<Utc>,
    ) -> Result<staged::Staged, StoreError> {
        let mut progress = staged::Progress::default();
        let whole = match self.stage_batches(feed, now, &mut progress) {
            Ok(whole) => whole,
            Err(e) => {
                // Undone at once if the store lets it; else at the next open.
                let _ = self.unstage_blocking(&progress.ids());
                return Err(e);
            }
        };
        // Without the whole read (the reload gave up), nothing staged stands.
        let (refuted, staged) = progress.settle(whole.as_deref());
        self.unstage_blocking(&refuted.iter().map(String::as_str).collect::<Vec<_>>())?;
        if whole.is_none() {
            return Err(StoreError::Aborted(
                "the read of the folder ended without its final set".into(),
            ));
        }
        Ok(staged)
    }

    /// Commits each batch `feed` gives (the first with the [`STAGING`]
    /// mark) into `progress`; then the whole read, if it came.
    fn stage_batches(
        &self,
        feed: &staged::Feed,
        now: DateTime<Utc>,
        progress: &mut staged::Progress,
    ) -> Result<Option<Arc<crate::reconcile::DesiredSet>>, StoreError> {
        for i in 0.. {
            let set = match feed.get(i) {
                Some(staged::Stage::Batch(set)) => set,
                Some(staged::Stage::Final(whole)) => return Ok(Some(whole)),
                None => return Ok(None),
            };
            let done = self.transact(|tx| {
                if i == 0 {
                    tx.applied.insert(STAGING, &[] as &[u8])?;
                }
                ops::stage_batch(tx, &set, now)
            })?;
            progress.add(&set, done);
        }
        unreachable!("the loop returns")
    }

    /// Removes these staged schedules and the [`STAGING`] mark, in one
    /// transaction.
    fn unstage_blocking(&self, ids: &[&str]) -> Result<(), StoreError> {
        self.transact(|tx| {
            tx.unstage(ids)?;
            tx.applied.remove(STAGING)?;
            Ok(())
        })
    }

    /// A change of `ops` as one transaction, on the blocking pool.
    async fn change<T: Send + 'static>(
        &self,
        f: impl Fn(&Tx) -> TxResult<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(move |s| s.transact(f)).await
    }

    fn reopen_blocking(&self) -> Result<(), StoreError> {
        // Reopening drops the handle readers use: only try once a plain file
        // write succeeds, so a disk that is still full keeps serving reads.
        takes_writes(&self.shared.dir)?;
        let mut guard = self
            .shared
            .handles
            .write()
            .unwrap_or_else(|e| e.into_inner());
        // The old database must be gone before sled will lock the folder again;
        // readers hold it only for the length of a call.
        if let Some(old) = guard.take() {
            release(old);
        }
        let handles = Handles::open(&self.shared.dir)?;
        handles.probe()?;
        *guard = Some(Arc::new(handles));
        self.shared.failure.clear();
        Ok(())
    }

    fn close_blocking(&self) -> Result<(), StoreError> {
        let old = self
            .shared
            .handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.shared.failure.set("the store is closed".into());
        match old {
            Some(old) => {
                let flushed = old.db.flush();
                release(old);
                flushed?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn get<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn runs_blocking(&self, q: &RunSelect) -> Result<Vec<Run>, StoreError> {
        let h = self.h()?;
        let mut out = Vec::new();
        let ids: Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>>> = match &q.schedule {
            Some(s) => {
                let prefix = pair_key(s, "");
                let start = prefix.len();
                let range = match &q.before {
                    Some(b) => h.by_schedule.range(prefix.clone()..pair_key(s, b)),
                    None => h.by_schedule.scan_prefix(&prefix),
                };
                Box::new(range.keys().rev().map(move |k| Ok(k?[start..].to_vec())))
            }
            None => {
                let range = match &q.before {
                    Some(b) => h.runs.range(..b.as_bytes().to_vec()),
                    None => h.runs.range::<Vec<u8>, _>(..),
                };
                Box::new(range.keys().rev().map(|k| Ok(k?.to_vec())))
            }
        };
        for id in ids {
            if out.len() >= q.limit {
                break;
            }
            let Some(run) = Self::get::<Run>(&h.runs, &id?)? else {
                continue;
            };
            if let Some(since) = q.since {
                // Ids are time-ordered: everything after this is older still.
                if run.queued_at < since {
                    break;
                }
            }
            if q.keeps(&run) {
                out.push(run);
            }
        }
        Ok(out)
    }

    fn append_logs_blocking(&self, lines: &[(String, LogLine)]) -> Result<(), StoreError> {
        let h = self.h()?;
        for (run_id, line) in lines {
            let seq = h.db.generate_id()?;
            let mut key = pair_key(run_id, "");
            key.extend_from_slice(&seq.to_be_bytes());
            h.logs.insert(key, serde_json::to_vec(line)?)?;
        }
        // Durable before anyone can read them: a line shown once is never lost.
        self.shared
            .flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        h.db.flush()?;
        Ok(())
    }
}

#[async_trait]
impl RecordStore for SledStore {
    fn kind(&self) -> &'static str {
        "sled"
    }

    fn location(&self) -> String {
        self.shared.dir.display().to_string()
    }

    fn new_run_id(&self, now: DateTime<Utc>) -> String {
        self.shared.ids.next(now)
    }

    fn failure(&self) -> Option<String> {
        self.shared.failure.get()
    }

    /// sled's I/O errors are sticky: every later write fails too, even once
    /// space returns, until the database is reopened.
    fn mark_failed(&self, e: &StoreError) -> bool {
        self.shared.failure.mark_io(e)
    }

    /// Drops the handles and opens the folder again: sled replays its log,
    /// recovers what was flushed, and what was not flushed never happened
    /// (no work starts before its record is flushed). Then writes and flushes
    /// a probe, so success means the disk takes writes again.
    async fn reopen(&self) -> Result<(), StoreError> {
        self.blocking(|s| s.reopen_blocking()).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let h = self.h()?;
        self.shared
            .flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        h.db.flush_async().await?;
        Ok(())
    }

    fn flushes(&self) -> u64 {
        self.shared
            .flushes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.blocking(|s| s.close_blocking()).await
    }

    async fn schedules(&self) -> Result<Vec<ScheduleState>, StoreError> {
        self.blocking(|s| {
            s.h()?
                .schedules
                .iter()
                .values()
                .map(|v| Ok(serde_json::from_slice(&v?)?))
                .collect()
        })
        .await
    }

    async fn due_schedules(&self, now: DateTime<Utc>) -> Result<Vec<ScheduleState>, StoreError> {
        self.blocking(move |s| {
            let h = s.h()?;
            let mut end = vec![0];
            end.extend_from_slice(&wake_bytes(now + chrono::Duration::milliseconds(1)));
            let mut due = Vec::new();
            for k in h.wake.range(vec![0u8]..end).keys() {
                let k = k?;
                let id = String::from_utf8_lossy(&k[9..]).into_owned();
                if let Some(state) = Self::get(&h.schedules, id.as_bytes())? {
                    due.push(state);
                }
            }
            Ok(due)
        })
        .await
    }

    async fn next_wake(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.blocking(move |s| {
            let h = s.h()?;
            let mut start = vec![0];
            start.extend_from_slice(&wake_bytes(now + chrono::Duration::milliseconds(1)));
            let Some(k) = h.wake.range(start..vec![1u8]).keys().next().transpose()? else {
                return Ok(None);
            };
            let mut ms = [0u8; 8];
            ms.copy_from_slice(&k[1..9]);
            let ms = (u64::from_be_bytes(ms) ^ (1 << 63)) as i64;
            Ok(DateTime::from_timestamp_millis(ms))
        })
        .await
    }

    async fn schedule_ids(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|s| {
            s.h()?
                .schedules
                .iter()
                .keys()
                .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
                .collect()
        })
        .await
    }

    async fn applied(&self) -> Result<std::collections::HashMap<String, Option<u64>>, StoreError> {
        self.blocking(|s| {
            let mut out = std::collections::HashMap::new();
            // From 1: the key 0 is the marker.
            for kv in s.h()?.applied.range(vec![1u8]..) {
                let (k, v) = kv?;
                let hash = <[u8; 8]>::try_from(&v[..]).ok().map(u64::from_be_bytes);
                out.insert(String::from_utf8_lossy(&k).into_owned(), hash);
            }
            Ok(out)
        })
        .await
    }

    async fn has_schedules(&self) -> Result<bool, StoreError> {
        self.blocking(|s| Ok(s.h()?.schedules.first()?.is_some()))
            .await
    }

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleState>, StoreError> {
        let id = id.to_string();
        self.blocking(move |s| Self::get(&s.h()?.schedules, id.as_bytes()))
            .await
    }

    async fn run(&self, id: &str) -> Result<Option<Run>, StoreError> {
        let id = id.to_string();
        self.blocking(move |s| Self::get(&s.h()?.runs, id.as_bytes()))
            .await
    }

    async fn runs(&self, select: RunSelect) -> Result<Vec<Run>, StoreError> {
        self.blocking(move |s| s.runs_blocking(&select)).await
    }

    async fn first_pending(&self) -> Result<Option<Run>, StoreError> {
        self.blocking(|s| {
            let h = s.h()?;
            // Run ids (ULIDs) sort after the index's own keys (0 and 1, ...).
            for k in h.pending.range(FIRST_RUN_ID..).keys() {
                if let Some(run) = Self::get(&h.runs, &k?)? {
                    return Ok(Some(run));
                }
            }
            Ok(None)
        })
        .await
    }

    async fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>, StoreError> {
        self.blocking(move |s| {
            let h = s.h()?;
            if status == RunStatus::Running {
                // From the index (filled at open): a start costs the runs
                // left running, not the history.
                let mut out = Vec::new();
                for k in h.pending.scan_prefix([RUNNING]).keys() {
                    let k = k?;
                    if let Some(run) = Self::get::<Run>(&h.runs, &k[1..])? {
                        if run.status == RunStatus::Running {
                            out.push(run);
                        }
                    }
                }
                return Ok(out);
            }
            let mut out = Vec::new();
            for v in s.h()?.runs.iter().values() {
                let run: Run = serde_json::from_slice(&v?)?;
                if run.status == status {
                    out.push(run);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn run_count(&self) -> Result<usize, StoreError> {
        Ok(self.h()?.runs.len())
    }

    async fn logs(&self, run_id: &str) -> Result<Vec<LogLine>, StoreError> {
        let prefix = pair_key(run_id, "");
        self.blocking(move |s| {
            s.h()?
                .logs
                .scan_prefix(prefix)
                .values()
                .map(|v| Ok(serde_json::from_slice(&v?)?))
                .collect()
        })
        .await
    }

    async fn append_logs(&self, lines: Vec<(String, LogLine)>) -> Result<(), StoreError> {
        self.blocking(move |s| s.append_logs_blocking(&lines)).await
    }

    async fn used_templates(&self, product: &str) -> Result<Vec<Usage>, StoreError> {
        let prefix = pair_key(product, "");
        self.blocking(move |s| {
            s.h()?
                .usage
                .scan_prefix(prefix)
                .values()
                .map(|v| Ok(serde_json::from_slice(&v?)?))
                .collect()
        })
        .await
    }

    async fn runs_ended_before(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        self.blocking(move |s| {
            let h = s.h()?;
            let range = match &after {
                Some(a) => h.runs.range::<&[u8], _>((
                    std::ops::Bound::Excluded(a.as_bytes()),
                    std::ops::Bound::Unbounded,
                )),
                None => h.runs.iter(),
            };
            let mut out = Vec::new();
            for item in range {
                let (_, v) = item?;
                let r: Run = serde_json::from_slice(&v)?;
                // Ids are time-ordered by when a run was queued, and a run
                // ends after it is queued: past the cutoff, none ended before it.
                if r.queued_at >= cutoff {
                    break;
                }
                if r.completed_at.is_some_and(|t| t < cutoff) {
                    out.push(r);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_runs(&self, ids: Vec<String>) -> Result<(), StoreError> {
        self.blocking(move |s| {
            let h = s.h()?;
            for id in &ids {
                let Some(v) = h.runs.get(id.as_bytes())? else {
                    continue;
                };
                let r: Run = serde_json::from_slice(&v)?;
                (&h.runs, &h.by_schedule, &h.pending, &h.review)
                    .transaction(|(runs, by_schedule, pending, review)| {
                        runs.remove(id.as_bytes())?;
                        by_schedule.remove(pair_key(&r.schedule_id, id))?;
                        pending.remove(id.as_bytes())?;
                        pending.remove(running_key(id))?;
                        review.remove(id.as_bytes())?;
                        Ok::<_, ConflictableTransactionError<String>>(())
                    })
                    .map_err(|e| match e {
                        TransactionError::Abort(m) => StoreError::Aborted(m),
                        TransactionError::Storage(e) => e.into(),
                    })?;
                // The log lines after the run: a crash between the two
                // leaves lines no query reaches, and the next sweep of
                // this run finds nothing to do.
                for key in h.logs.scan_prefix(pair_key(id, "")).keys() {
                    h.logs.remove(key?)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn size_bytes(&self) -> Result<u64, StoreError> {
        self.blocking(|s| Ok(s.h()?.db.size_on_disk()?)).await
    }

    async fn runs_awaiting_review(&self) -> Result<Vec<Run>, StoreError> {
        self.blocking(|s| {
            let h = s.h()?;
            let mut out = Vec::new();
            for id in h.review.iter().keys() {
                if let Some(v) = h.runs.get(id?)? {
                    out.push(serde_json::from_slice(&v)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn audit(
        &self,
        schedule: Option<String>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.blocking(move |s| {
            let mut out = Vec::new();
            for v in s.h()?.audit.iter().values().rev() {
                let e: AuditEntry = serde_json::from_slice(&v?)?;
                if schedule.is_none() || e.schedule_id == schedule {
                    out.push(e);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn apply(&self, action: Action) -> Result<Outcome, StoreError> {
        let ids = self.clone();
        self.change(move |tx| ops::apply(tx, &action, &|now| ids.new_run_id(now)))
            .await
    }

    async fn reconcile_staged(
        &self,
        feed: Arc<staged::Feed>,
        now: DateTime<Utc>,
    ) -> Result<staged::Staged, StoreError> {
        self.blocking(move |s| s.stage_blocking(&feed, now)).await
    }
}

/// Whether `dir` takes a small write (and its flush) now.
fn takes_writes(dir: &Path) -> Result<(), StoreError> {
    use std::io::Write;
    let probe = dir.join(".adsched-write-probe");
    let result = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(&[0u8; 64 * 1024]).and_then(|_| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    result.map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))
}

/// Drops the database once no reader holds it: sled unlocks the folder only
/// when its last handle goes. Readers hold it for the length of one call.
fn release(handles: Arc<Handles>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Arc::strong_count(&handles) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(handles);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_names_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path()).unwrap();
        let err = SledStore::open(dir.path())
            .err()
            .expect("second open fails");
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }
}
