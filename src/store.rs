//! The only code that knows sled. Records are JSON values in typed trees;
//! every state change is one multi-tree transaction.
//!
//! Trees:
//! - `schedules`: schedule id → [`ScheduleState`]
//! - `runs`: run id (ULID, time-ordered) → [`Run`]
//! - `runs_by_schedule`: schedule id, 0, run id → () — newest-first per schedule
//!   without scanning other schedules' runs
//! - `pending`: run id → () — the queue, oldest first
//! - `usage`: product id, 0, template → [`Usage`]
//! - `logs`: run id, 0, sequence (u64 BE) → [`LogLine`]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use crate::records::{LogLine, Run, RunStatus, ScheduleState, Usage};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error("the state folder {0} is in use by another adsched daemon (sled holds a lock on it); stop that daemon or pass another --state")]
    Locked(String),
    /// The state folder cannot be created or written.
    #[error("the state folder {0} cannot be written ({1}); give adsched a writable folder with --state DIR (or ADSCHED_STATE), or fix its permissions")]
    NotWritable(String, String),
    /// sled failed (I/O, corruption, full disk).
    #[error("store error: {}", sled_message(.0))]
    Sled(#[from] sled::Error),
    /// A record did not (de)serialize.
    #[error("store record error: {0}")]
    Record(#[from] serde_json::Error),
    /// The store failed to write and is being reopened.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A transaction was aborted by its closure.
    #[error("{0}")]
    Aborted(String),
}

/// sled shows I/O errors with Debug formatting; people want the OS's words.
fn sled_message(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// A transaction's view of the trees.
pub struct Tx<'a> {
    schedules: &'a TransactionalTree,
    runs: &'a TransactionalTree,
    by_schedule: &'a TransactionalTree,
    pending: &'a TransactionalTree,
    usage: &'a TransactionalTree,
}

/// What a transaction closure returns on failure.
pub type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

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

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

impl Tx<'_> {
    /// A schedule's state.
    pub fn schedule(&self, id: &str) -> TxResult<Option<ScheduleState>> {
        get_json(self.schedules, id.as_bytes())
    }

    /// Writes a schedule's state.
    pub fn put_schedule(&self, s: &ScheduleState) -> TxResult<()> {
        put_json(self.schedules, s.id.as_bytes(), s)
    }

    /// A run.
    pub fn run(&self, id: &str) -> TxResult<Option<Run>> {
        get_json(self.runs, id.as_bytes())
    }

    /// Writes a run, its per-schedule index entry and its queue entry.
    pub fn put_run(&self, r: &Run) -> TxResult<()> {
        put_json(self.runs, r.id.as_bytes(), r)?;
        self.by_schedule
            .insert(pair_key(&r.schedule_id, &r.id), &[] as &[u8])?;
        if r.status == RunStatus::Pending {
            self.pending.insert(r.id.as_bytes(), &[] as &[u8])?;
        } else {
            self.pending.remove(r.id.as_bytes())?;
        }
        Ok(())
    }

    /// Records that `template` was used for `product`; the first use wins.
    pub fn record_usage(&self, u: &Usage) -> TxResult<()> {
        let key = pair_key(&u.product, &u.template);
        if self.usage.get(&key)?.is_none() {
            put_json(self.usage, &key, u)?;
        }
        Ok(())
    }
}

/// The embedded store. Cheap to clone: clones share one sled database.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    ids: IdGen,
    /// None while a reopen is under way.
    handles: std::sync::RwLock<Option<Arc<Handles>>>,
    /// Why the store last failed to write, until a reopen succeeds.
    failure: std::sync::Mutex<Option<String>>,
}

struct Handles {
    db: sled::Db,
    schedules: sled::Tree,
    runs: sled::Tree,
    by_schedule: sled::Tree,
    pending: sled::Tree,
    usage: sled::Tree,
    logs: sled::Tree,
}

/// Cache for sled's page cache; the records are small and few.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

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
            .map_err(|io| not_writable(&io).unwrap_or(StoreError::Sled(sled::Error::Io(io))))?;
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
                sled::Error::Io(io) => not_writable(io).unwrap_or(StoreError::Sled(e)),
                _ => StoreError::Sled(e),
            })?;
        Ok(Handles {
            schedules: db.open_tree("schedules")?,
            runs: db.open_tree("runs")?,
            by_schedule: db.open_tree("runs_by_schedule")?,
            pending: db.open_tree("pending")?,
            usage: db.open_tree("usage")?,
            logs: db.open_tree("logs")?,
            db,
        })
    }

    /// A write that must reach the disk.
    fn probe(&self) -> Result<(), StoreError> {
        self.db.insert("probe", &[1u8][..])?;
        self.db.flush()?;
        Ok(())
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let handles = Handles::open(dir)?;
        Ok(Store {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                ids: IdGen::default(),
                handles: std::sync::RwLock::new(Some(Arc::new(handles))),
                failure: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
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

    /// Why the store cannot write, if it cannot: set by [`Store::mark_failed`]
    /// and cleared by a successful [`Store::reopen`].
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records that a write failed for a reason that outlives the call
    /// (sled's I/O errors are sticky: every later write fails too, even
    /// once space returns). Returns true if `e` is such an error.
    pub fn mark_failed(&self, e: &StoreError) -> bool {
        let io = matches!(e, StoreError::Sled(sled::Error::Io(_)));
        if io {
            let mut f = self
                .shared
                .failure
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if f.is_none() {
                *f = Some(e.to_string());
            }
        }
        io
    }

    /// Drops the failed sled handle and opens the folder again: sled
    /// recovers what was flushed, and what was not flushed never happened
    /// (no work starts before its record is flushed). Then writes and flushes
    /// a probe, so success means the disk takes writes again.
    pub fn reopen(&self) -> Result<(), StoreError> {
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
        *self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    /// Runs `f` as one transaction over the record trees. `f` may run more
    /// than once (sled is optimistic): it must have no side effects.
    pub fn transact<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> Result<T, StoreError> {
        let h = self.h()?;
        (&h.schedules, &h.runs, &h.by_schedule, &h.pending, &h.usage)
            .transaction(|(schedules, runs, by_schedule, pending, usage)| {
                f(&Tx {
                    schedules,
                    runs,
                    by_schedule,
                    pending,
                    usage,
                })
            })
            .map_err(|e| match e {
                TransactionError::Abort(msg) => StoreError::Aborted(msg),
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }

    /// Writes everything to disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let h = self.h()?;
        h.db.flush_async().await?;
        Ok(())
    }

    /// Flushes and releases the folder's lock, so another process (or a
    /// restarted daemon) can open it as soon as this returns. Calls after it
    /// answer `Unavailable`.
    pub fn close(&self) -> Result<(), StoreError> {
        let old = self
            .shared
            .handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        *self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some("the store is closed".into());
        match old {
            Some(old) => {
                let flushed = old.db.flush();
                release(old);
                flushed.map(|_| ())?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Writes everything to disk, blocking.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let h = self.h()?;
        h.db.flush()?;
        Ok(())
    }

    /// A new time-ordered run id.
    pub fn new_run_id(&self, now: DateTime<Utc>) -> String {
        self.shared.ids.next(now)
    }

    /// Every schedule, by id.
    pub fn schedules(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let h = self.h()?;
        h.schedules
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Every schedule id, without decoding the states.
    pub fn schedule_ids(&self) -> Result<Vec<String>, StoreError> {
        let h = self.h()?;
        h.schedules
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<Option<ScheduleState>, StoreError> {
        let h = self.h()?;
        match h.schedules.get(id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// One run.
    pub fn run(&self, id: &str) -> Result<Option<Run>, StoreError> {
        let h = self.h()?;
        match h.runs.get(id.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Runs newest first: of one schedule (through the index) or of all,
    /// older than `before`, with `status`, at most `limit`.
    pub fn runs(
        &self,
        schedule: Option<&str>,
        status: Option<RunStatus>,
        before: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        self.runs_matching(schedule, before, since, limit, |r| {
            status.is_none_or(|s| s == r.status)
        })
    }

    /// Runs newest first, as [`Store::runs`], keeping those `keep` accepts:
    /// the limit counts kept runs only.
    pub fn runs_matching(
        &self,
        schedule: Option<&str>,
        before: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
        keep: impl Fn(&Run) -> bool,
    ) -> Result<Vec<Run>, StoreError> {
        let h = self.h()?;
        let mut out = Vec::new();
        let ids: Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>>> = match schedule {
            Some(s) => {
                let prefix = pair_key(s, "");
                let start = prefix.len();
                let range = match before {
                    Some(b) => h.by_schedule.range(prefix.clone()..pair_key(s, b)),
                    None => h.by_schedule.scan_prefix(&prefix),
                };
                Box::new(range.keys().rev().map(move |k| Ok(k?[start..].to_vec())))
            }
            None => {
                let range = match before {
                    Some(b) => h.runs.range(..b.as_bytes().to_vec()),
                    None => h.runs.range::<Vec<u8>, _>(..),
                };
                Box::new(range.keys().rev().map(|k| Ok(k?.to_vec())))
            }
        };
        for id in ids {
            if out.len() >= limit {
                break;
            }
            let id = id?;
            let Some(v) = h.runs.get(&id)? else {
                continue;
            };
            let run: Run = serde_json::from_slice(&v)?;
            if let Some(since) = since {
                // Ids are time-ordered: everything after this is older still.
                if run.queued_at < since {
                    break;
                }
            }
            if keep(&run) {
                out.push(run);
            }
        }
        Ok(out)
    }

    /// The oldest queued run.
    pub fn first_pending(&self) -> Result<Option<Run>, StoreError> {
        let h = self.h()?;
        for k in h.pending.iter().keys() {
            let k = k?;
            if let Some(run) = self.run(&String::from_utf8_lossy(&k))? {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// Runs in a given status (start-up recovery).
    pub fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>, StoreError> {
        let h = self.h()?;
        let mut out = Vec::new();
        for v in h.runs.iter().values() {
            let run: Run = serde_json::from_slice(&v?)?;
            if run.status == status {
                out.push(run);
            }
        }
        Ok(out)
    }

    /// Appends a log line to a run.
    pub fn log(&self, run_id: &str, line: &LogLine) -> Result<(), StoreError> {
        let h = self.h()?;
        let seq = h.db.generate_id()?;
        let mut key = pair_key(run_id, "");
        key.extend_from_slice(&seq.to_be_bytes());
        h.logs.insert(key, serde_json::to_vec(line)?)?;
        // Durable before anyone can read it: a line shown once is never lost.
        h.db.flush()?;
        Ok(())
    }

    /// Appends log lines (run id, level, message) at `time` with one flush.
    pub fn log_batch(
        &self,
        time: DateTime<Utc>,
        lines: &[(String, &str, String)],
    ) -> Result<(), StoreError> {
        let lines: Vec<(String, LogLine)> = lines
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
        self.log_lines(&lines)
    }

    /// Appends log lines to their runs with one flush.
    pub fn log_lines(&self, lines: &[(String, LogLine)]) -> Result<(), StoreError> {
        let h = self.h()?;
        for (run_id, line) in lines {
            let seq = h.db.generate_id()?;
            let mut key = pair_key(run_id, "");
            key.extend_from_slice(&seq.to_be_bytes());
            h.logs.insert(key, serde_json::to_vec(line)?)?;
        }
        // Durable before anyone can read them, as in `log`.
        h.db.flush()?;
        Ok(())
    }

    /// A run's log, oldest first.
    pub fn logs(&self, run_id: &str) -> Result<Vec<LogLine>, StoreError> {
        let h = self.h()?;
        h.logs
            .scan_prefix(pair_key(run_id, ""))
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// Templates already used for a product.
    pub fn used_templates(&self, product: &str) -> Result<Vec<Usage>, StoreError> {
        let h = self.h()?;
        h.usage
            .scan_prefix(pair_key(product, ""))
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// How many runs exist.
    pub fn run_count(&self) -> usize {
        self.h().map_or(0, |h| h.runs.len())
    }
}

/// Time-ordered, unique ids: ULIDs whose random part is replaced by a
/// counter after the first in a millisecond, so ids made in order sort in order.
#[derive(Default)]
struct IdGen {
    last: std::sync::Mutex<u128>,
    seed: AtomicU64,
}

impl IdGen {
    fn next(&self, now: DateTime<Utc>) -> String {
        use std::hash::{BuildHasher, Hasher};
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let ms = now.timestamp_millis().max(0) as u128;
        let candidate = {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(self.seed.fetch_add(1, Ordering::Relaxed));
            // 80 random bits, the top bit clear so a counter can follow without overflow.
            let rand =
                ((h.finish() as u128) << 16 | (h.finish() as u128 & 0xffff)) & ((1u128 << 79) - 1);
            (ms << 80) | rand
        };
        let id = if candidate > *last {
            candidate
        } else {
            *last + 1
        };
        *last = id;
        ulid::Ulid(id).to_string()
    }
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
    fn ids_are_ordered_and_unique() {
        let g = IdGen::default();
        let now = Utc::now();
        let ids: Vec<String> = (0..1000).map(|_| g.next(now)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn a_second_open_names_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().expect("second open fails");
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }
}
