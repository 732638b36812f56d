//! The PostgreSQL store (`--store postgres://...`, SPEC 7): the tables of
//! `schema.sql`, written so the team's own tools can read them.
//!
//! Its sessions (`session.rs`) are synchronous, on tokio's blocking pool,
//! like the sled store: each change is one function of `ops` over [`Txn`],
//! run in one READ COMMITTED transaction whose reads lock their rows (`FOR
//! UPDATE`), so a change is decided on the rows as they are. Its writes are
//! pipelined: they go with the transaction's next read or its COMMIT.
//!
//! Long because it is one backend whole: the pools, migrations, the
//! transaction's reads and writes, and the RecordStore impl (the sessions,
//! TLS, the schedule rows and the log lines are in their own files).

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use super::ids::IdGen;
use super::ops::{self, Txn};
use super::{Action, Next, Outcome, RecordStore, RunEnd, RunSelect, Started, StoreError};
use crate::records::{AuditEntry, LogLine, Run, RunStatus, ScheduleState, Usage};

mod logs;
mod rows;
mod session;
mod tls;

use logs::{LogBatch, APPEND_LOGS};
use session::{AsJson, Session, Tx};

/// The schema versions, in order; each applied once.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("images.sql"),
    include_str!("audit.sql"),
    include_str!("wake.sql"),
    include_str!("applied.sql"),
    include_str!("inline.sql"),
];

/// The version that added `scheduled_jobs.next_wake`, filled by adsched.
const WAKE_VERSION: i32 = 4;

/// Key of the advisory lock that serialises migrations across daemons.
const MIGRATION_LOCK: i64 = 0x6164_7363_6865_6401; // "adsched" 1

/// Key of the session advisory lock that the leader holds (SPEC 7).
const LEADER_LOCK: i64 = 0x6164_7363_6865_6402; // "adsched" 2

/// Connections kept open for reuse.
const POOL: usize = 4;

/// The PostgreSQL store. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

struct Shared {
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// `host:port/database`, never the password.
    location: String,
    /// Sessions kept open for reuse, one pool per [`Commit`].
    pools: [Mutex<Vec<Conn>>; 2],
    ids: IdGen,
    failure: super::FailureFlag,
    closed: std::sync::atomic::AtomicBool,
    /// The session that holds (or tries for) the leader's lock: its own
    /// connection, never pooled, since the lock lives as long as the session.
    lease: Mutex<Option<Conn>>,
    /// The backend pid of the session holding the lock; 0 when this
    /// process does not lead. Read by every fenced change.
    leader_pid: std::sync::atomic::AtomicI32,
    /// [`RecordStore::lead`] was called: this store is used by an elected
    /// daemon, and the changes only a leader makes are fenced.
    elected: std::sync::atomic::AtomicBool,
    /// A change committed without waiting for the disk since the last flush.
    unflushed: std::sync::atomic::AtomicBool,
    /// Flushes that waited for the disk (`adsched_store_flushes_total`).
    flushes: std::sync::atomic::AtomicU64,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        match e.as_db_error() {
            // The server going away (57: operator intervention, a shutdown),
            // a connection failure (08) or exhausted resources (53: a full
            // disk, too many connections) last beyond this call.
            Some(db) if matches!(db.code().code().get(..2), Some("57" | "08" | "53")) => {
                StoreError::Io(format!("PostgreSQL: {}", db.message()))
            }
            Some(db) => StoreError::Backend(format!("PostgreSQL: {}", db.message())),
            // No server answer: the connection is gone or never came.
            None => StoreError::Io(format!("PostgreSQL: {e}")),
        }
    }
}

impl Drop for Shared {
    /// The `postgres` client blocks to close a connection, which tokio
    /// forbids on its threads; the last clone may go anywhere.
    fn drop(&mut self) {
        let mut clients: Vec<Session> = take_pools(&self.pools);
        clients.extend(
            self.lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map(|c| c.client),
        );
        if !clients.is_empty() {
            std::thread::spawn(move || drop(clients));
        }
    }
}

/// A change's failure inside a transaction.
pub(crate) enum TxError {
    Db(tokio_postgres::Error),
    /// A value that does not fit its column's type: a bug, not bad input.
    Encode(String),
    Record(serde_json::Error),
    Abort(String),
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> TxError {
        TxError::Db(e)
    }
}

impl From<session::TxFail> for TxError {
    fn from(e: session::TxFail) -> TxError {
        match e {
            session::TxFail::Db(e) => TxError::Db(e),
            session::TxFail::Encode(e) => TxError::Encode(e.0),
        }
    }
}

impl From<serde_json::Error> for TxError {
    fn from(e: serde_json::Error) -> TxError {
        TxError::Record(e)
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> StoreError {
        match e {
            TxError::Db(e) => e.into(),
            TxError::Record(e) => StoreError::Record(e),
            TxError::Abort(m) => StoreError::Aborted(m),
            TxError::Encode(m) => StoreError::Backend(format!("PostgreSQL: {m}")),
        }
    }
}

/// A failure that rolled the whole transaction back and that the same
/// change, tried again, can get past.
fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// A run's row, locked for the change that reads it.
const RUN_FOR_UPDATE: &str = "SELECT record::text FROM scheduled_job_runs WHERE id = $1 FOR UPDATE";

/// Statements prepared once per connection: the sync client would otherwise
/// prepare each statement on every call, a round trip and a plan each time.
#[derive(Default)]
struct Prepared(std::collections::HashMap<&'static str, Statement>);

impl Prepared {
    /// The statement for `sql`, prepared by `prepare` the first time.
    fn get(
        &mut self,
        sql: &'static str,
        prepare: impl FnOnce(&str) -> Result<Statement, tokio_postgres::Error>,
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(st) = self.0.get(sql) {
            return Ok(st.clone());
        }
        // Prepared statements outlive the transaction they were made in.
        let st = prepare(sql)?;
        self.0.insert(sql, st.clone());
        Ok(st)
    }
}

/// How a pooled session commits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Commit {
    /// Without waiting for the disk (`synchronous_commit = off`): the
    /// changes, made durable together by [`RecordStore::flush`].
    Lazy = 0,
    /// Waiting for the disk: a write durable when it returns (log lines),
    /// and the flush itself. A statement of its own then commits durably
    /// in one round trip, with no BEGIN or SET of its own.
    Durable = 1,
}

/// A pooled connection and its prepared statements.
struct Conn {
    client: Session,
    prepared: Prepared,
    commit: Commit,
}

/// Every pooled session, taken out of both pools (to close them).
fn take_pools(pools: &[Mutex<Vec<Conn>>; 2]) -> Vec<Session> {
    pools
        .iter()
        .flat_map(|p| std::mem::take(&mut *p.lock().unwrap_or_else(|e| e.into_inner())))
        .map(|c| c.client)
        .collect()
}

/// The rows of one transaction.
struct PgTx<'a> {
    tx: RefCell<Tx<'a>>,
    prepared: RefCell<&'a mut Prepared>,
    /// Schedule rows read (and locked) by [`Txn::prefetch_schedules`], each
    /// taken by its first read; a write drops its entry.
    schedules: RefCell<std::collections::HashMap<String, Option<ScheduleState>>>,
    /// Run rows read (and locked) by [`Txn::prefetch_run`], taken likewise.
    runs: RefCell<std::collections::HashMap<String, Option<Run>>>,
    /// Schedule rows written and not sent yet: consecutive writes go as one
    /// statement, sent before any other statement of the transaction.
    jobs: RefCell<Vec<rows::JobRow>>,
}

impl PgTx<'_> {
    /// Keeps a run read (and locked) with its schedule, columns 0 and 1 of
    /// `row` (the schedule's null when it is gone), for the reads that
    /// follow; returns the run's id. Both statements that read them lock
    /// the run first, then the schedule (a lateral join), as every change
    /// that locks both does.
    fn cache_run_and_schedule(&self, row: &Row) -> Result<String, TxError> {
        let run: Run = serde_json::from_str(row.get(0))?;
        let state: Option<ScheduleState> = row
            .get::<_, Option<&str>>(1)
            .map(serde_json::from_str)
            .transpose()?;
        let id = run.id.clone();
        self.schedules
            .borrow_mut()
            .insert(run.schedule_id.clone(), state);
        self.runs.borrow_mut().insert(id.clone(), Some(run));
        Ok(id)
    }

    /// Reads (and locks) the oldest queued run and then its schedule, in
    /// one statement, for the reads that follow; returns the run's id and
    /// the templates used for its product.
    fn prefetch_next(&self) -> Result<Option<(String, Vec<String>)>, TxError> {
        let row = self.query_opt(
            "WITH next AS MATERIALIZED (
                 SELECT id, scheduled_job_id, record FROM scheduled_job_runs
                 WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE
             )
             SELECT next.record::text, s.state::text, u.used FROM next
             LEFT JOIN LATERAL (
                 SELECT state, product_id FROM scheduled_jobs
                 WHERE id = next.scheduled_job_id FOR UPDATE
             ) s ON true
             LEFT JOIN LATERAL (
                 SELECT array_agg(template_storage_name ORDER BY template_storage_name) AS used
                 FROM product_template_usage WHERE product_id = s.product_id
             ) u ON true",
            &[],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let used: Option<Vec<String>> = row.get(2);
        let id = self.cache_run_and_schedule(&row)?;
        Ok(Some((id, used.unwrap_or_default())))
    }

    /// Sends the schedule rows waiting, as one statement.
    fn put_jobs(&self) -> Result<(), TxError> {
        let jobs = std::mem::take(&mut *self.jobs.borrow_mut());
        rows::put_jobs(self, &jobs)
    }

    fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, TxError> {
        self.put_jobs()?;
        let mut tx = self.tx.borrow_mut();
        let st = self.prepared.borrow_mut().get(sql, |q| tx.prepare(q))?;
        Ok(tx.query_opt(&st, params)?)
    }

    fn execute(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<(), TxError> {
        self.put_jobs()?;
        let mut tx = self.tx.borrow_mut();
        let st = self.prepared.borrow_mut().get(sql, |q| tx.prepare(q))?;
        Ok(tx.execute(&st, params)?)
    }
}

impl Txn for PgTx<'_> {
    type Error = TxError;

    fn abort(message: &str) -> TxError {
        TxError::Abort(message.to_string())
    }

    fn schedule(&self, id: &str) -> Result<Option<ScheduleState>, TxError> {
        // Taken, not cloned: a second read of it goes to the (locked) row.
        if let Some(s) = self.schedules.borrow_mut().remove(id) {
            return Ok(s);
        }
        let row = self.query_opt(
            "SELECT state::text FROM scheduled_jobs WHERE id = $1 FOR UPDATE",
            &[&id],
        )?;
        Ok(row.map(|r| serde_json::from_str(r.get(0))).transpose()?)
    }

    fn put_schedule(&self, s: &ScheduleState) -> Result<(), TxError> {
        let mut row = rows::JobRow::of(s)?;
        {
            let mut jobs = self.jobs.borrow_mut();
            // One statement cannot write a row twice: the later write wins,
            // keeping what the earlier one was to record as applied.
            if let Some(i) = jobs.iter().position(|j| j.id() == s.id) {
                if let Some(h) = jobs.remove(i).applied() {
                    row.set_applied(h);
                }
            }
            jobs.push(row);
        }
        // A read of it later in this transaction goes to the row just
        // written (the rows waiting are sent before any read); keeping a copy
        // here would cost a deep clone of every state a reconcile writes.
        self.schedules.borrow_mut().remove(&s.id);
        Ok(())
    }

    fn prefetch_schedules(&self, ids: &[String]) -> Result<(), TxError> {
        if ids.len() < 2 {
            return Ok(());
        }
        self.put_jobs()?;
        let rows = {
            let mut tx = self.tx.borrow_mut();
            let st = self.prepared.borrow_mut().get(
                "SELECT id, state::text FROM scheduled_jobs WHERE id = ANY($1) FOR UPDATE",
                |q| tx.prepare(q),
            )?;
            tx.query(&st, &[&ids])?
        };
        let mut cache = self.schedules.borrow_mut();
        cache.reserve(ids.len());
        for id in ids {
            cache.insert(id.clone(), None);
        }
        for row in rows {
            let id: String = row.get(0);
            let state: ScheduleState = serde_json::from_str(row.get(1))?;
            cache.insert(id, Some(state));
        }
        Ok(())
    }

    fn prefetch_run(&self, run_id: &str) -> Result<(), TxError> {
        if self.runs.borrow().contains_key(run_id) {
            return Ok(());
        }
        let row = self.query_opt(
            "SELECT r.record::text, s.state::text FROM (
                 SELECT scheduled_job_id, record FROM scheduled_job_runs WHERE id = $1 FOR UPDATE
             ) r
             LEFT JOIN LATERAL (
                 SELECT state FROM scheduled_jobs WHERE id = r.scheduled_job_id FOR UPDATE
             ) s ON true",
            &[&run_id],
        )?;
        match row {
            Some(row) => {
                self.cache_run_and_schedule(&row)?;
            }
            None => {
                self.runs.borrow_mut().insert(run_id.to_string(), None);
            }
        }
        Ok(())
    }

    fn run(&self, id: &str) -> Result<Option<Run>, TxError> {
        if let Some(r) = self.runs.borrow_mut().remove(id) {
            return Ok(r);
        }
        let row = self.query_opt(RUN_FOR_UPDATE, &[&id])?;
        Ok(row.map(|r| serde_json::from_str(r.get(0))).transpose()?)
    }

    fn put_run(&self, r: &Run) -> Result<(), TxError> {
        self.runs.borrow_mut().remove(&r.id);
        put_run(self, r)
    }

    fn record_usage(&self, u: &Usage) -> Result<(), TxError> {
        self.execute(
            "INSERT INTO product_template_usage
                 (product_id, template_storage_name, used_at, ad_run_id, run_id, tenant_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (product_id, template_storage_name) DO NOTHING",
            &[
                &u.product,
                &u.template,
                &u.used_at,
                &u.ad_run_id,
                &u.run_id,
                &u.tenant_id,
            ],
        )?;
        Ok(())
    }
    fn put_audit(&self, e: &AuditEntry) -> Result<(), TxError> {
        put_audit(self, e)
    }

    fn unstage(&self, ids: &[&str]) -> Result<(), TxError> {
        self.execute("DELETE FROM scheduled_jobs WHERE id = ANY($1)", &[&ids])
    }

    fn set_applied(&self, hashes: &[(&str, Option<u64>)]) -> Result<(), TxError> {
        // A hash for a row waiting to be written goes with it: an UPDATE
        // after the INSERT would write every new row a second time (a
        // quarter of a first start's time in the database). NULL cannot go
        // that way, as the row's write keeps the column when it is NULL.
        let mut rest = Vec::new();
        {
            let mut jobs = self.jobs.borrow_mut();
            let waiting: std::collections::HashMap<&str, usize> =
                jobs.iter().enumerate().map(|(i, j)| (j.id(), i)).collect();
            let mut found = Vec::new();
            for &(id, hash) in hashes {
                match (hash, waiting.get(id)) {
                    // bigint is signed: the same 64 bits, read back with `as u64`.
                    (Some(h), Some(&i)) => found.push((i, h as i64)),
                    _ => rest.push((id, hash.map(|h| h as i64))),
                }
            }
            drop(waiting);
            for (i, h) in found {
                jobs[i].set_applied(h);
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = rest.iter().map(|(id, _)| *id).collect();
        let values: Vec<Option<i64>> = rest.iter().map(|(_, h)| *h).collect();
        // One statement for the batch; rows whose hash is already right are
        // not rewritten (an UPDATE writes a new row version even when equal).
        self.execute(
            "UPDATE scheduled_jobs j SET applied_hash = v.hash
             FROM unnest($1::text[], $2::bigint[]) AS v(id, hash)
             WHERE j.id = v.id AND j.applied_hash IS DISTINCT FROM v.hash",
            &[&ids, &values],
        )?;
        Ok(())
    }
}

fn put_audit(tx: &PgTx<'_>, e: &AuditEntry) -> Result<(), TxError> {
    tx.execute(
        "INSERT INTO adsched_audit (id, time, actor, action, schedule_id, run_id, reason, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO NOTHING",
        &[
            &e.id,
            &e.time,
            &e.actor,
            &e.action.as_str(),
            &e.schedule_id,
            &e.run_id,
            &e.reason,
            &AsJson(e),
        ],
    )?;
    Ok(())
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn put_run(tx: &PgTx<'_>, r: &Run) -> Result<(), TxError> {
    tx.execute(
        "INSERT INTO scheduled_job_runs
             (id, scheduled_job_id, trigger, attempt, scheduled_for, queued_at, started_at,
              completed_at, status, error_message, ad_run_ids, templates_used, ads, exports,
              missed_count, tenant_id, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (id) DO UPDATE SET
             trigger = EXCLUDED.trigger, attempt = EXCLUDED.attempt,
             scheduled_for = EXCLUDED.scheduled_for, started_at = EXCLUDED.started_at,
             completed_at = EXCLUDED.completed_at, status = EXCLUDED.status,
             error_message = EXCLUDED.error_message, ad_run_ids = EXCLUDED.ad_run_ids,
             templates_used = EXCLUDED.templates_used, ads = EXCLUDED.ads,
             exports = EXCLUDED.exports, missed_count = EXCLUDED.missed_count,
             tenant_id = EXCLUDED.tenant_id, record = EXCLUDED.record",
        &[
            &r.id,
            &r.schedule_id,
            &enum_name(&r.trigger),
            &(r.attempt as i32),
            &r.scheduled_for,
            &r.queued_at,
            &r.started_at,
            &r.completed_at,
            &r.status.as_str(),
            &r.error_message,
            &r.ad_run_ids,
            &r.templates_used,
            &AsJson(&r.ads),
            &AsJson(&r.exports),
            &(r.missed_count as i32),
            &r.tenant_id,
            &AsJson(r),
        ],
    )?;
    Ok(())
}

/// A record read as text (`record::text`): parsed once, straight into its
/// type, not through a `serde_json::Value`.
fn decode<T: serde::de::DeserializeOwned>(row: &Row) -> Result<T, StoreError> {
    Ok(serde_json::from_str(row.get(0))?)
}

impl PgStore {
    /// Connects to the database at `url` and creates or upgrades its tables.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let store = PgStore::new(url)?;
        let mut client = store.open_client(Commit::Lazy)?;
        migrate(&mut client)?;
        store.put_back(Conn {
            client,
            prepared: Prepared::default(),
            commit: Commit::Lazy,
        });
        Ok(store)
    }

    /// The store for `url`, not connected yet: it fails every call with
    /// `why` until [`RecordStore::reopen`] connects (the daemon's supervisor
    /// retries), so a database down at start is not a crash loop.
    pub fn unconnected(url: &str, why: &StoreError) -> Result<PgStore, StoreError> {
        let store = PgStore::new(url)?;
        store.shared.failure.set(why.to_string());
        store
            .shared
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(store)
    }

    fn new(url: &str) -> Result<PgStore, StoreError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            // The parser's words, never the URL: it holds the password.
            StoreError::Backend(format!(
                "--store is not a PostgreSQL URL postgres://USER:PASS@HOST:PORT/DB[?sslmode=disable|prefer|require] ({e})"
            ))
        })?;
        let location = location(&config);
        Ok(PgStore {
            shared: Arc::new(Shared {
                tls: tls::connector(),
                config,
                location,
                pools: Default::default(),
                ids: IdGen::default(),
                failure: Default::default(),
                closed: std::sync::atomic::AtomicBool::new(false),
                lease: Mutex::new(None),
                leader_pid: std::sync::atomic::AtomicI32::new(0),
                elected: std::sync::atomic::AtomicBool::new(false),
                unflushed: std::sync::atomic::AtomicBool::new(false),
                flushes: Default::default(),
            }),
        })
    }

    fn open_client(&self, commit: Commit) -> Result<Session, StoreError> {
        let mut client =
            Session::connect(&self.shared.config, self.shared.tls.clone()).map_err(|e| {
                StoreError::Io(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    self.shared.location,
                ))
            })?;
        // The store's contract, as sled's: a change is recorded when it
        // returns and durable after `flush`. Commits do not wait for the
        // disk; `flush` waits once for all of them, so a tick that records
        // 10,000 due runs costs one disk sync, not 10,000.
        if commit == Commit::Lazy {
            client.batch_execute("SET synchronous_commit = off")?;
        }
        Ok(client)
    }

    fn put_back(&self, conn: Conn) {
        let mut pool = self.shared.pools[conn.commit as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !conn.client.is_closed() && pool.len() < POOL {
            pool.push(conn);
        }
    }

    /// Runs `f` with a pooled session that commits without waiting.
    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_session(Commit::Lazy, f)
    }

    /// Runs `f` with a pooled session that commits as `commit` says.
    fn with_session<T>(
        &self,
        commit: Commit,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.shared.closed.load(std::sync::atomic::Ordering::SeqCst) {
            let why = self
                .failure()
                .unwrap_or_else(|| "the store is closed".into());
            return Err(StoreError::Unavailable(why));
        }
        let pooled = self.shared.pools[commit as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => Conn {
                client: self.open_client(commit)?,
                prepared: Prepared::default(),
                commit,
            },
        };
        let out = f(&mut conn);
        self.put_back(conn);
        out
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&PgStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| StoreError::Backend(format!("a store task stopped: {e}")))?
    }

    /// One query on the blocking pool.
    async fn query(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Send + Sync>>,
    ) -> Result<Vec<Row>, StoreError> {
        self.blocking(move |s| {
            s.with_client(|c| {
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                let Conn {
                    client, prepared, ..
                } = c;
                let st = prepared.get(sql, |q| client.prepare(q))?;
                Ok(client.query(&st, &refs)?)
            })
        })
        .await
    }

    /// A change of `ops` as one transaction, on the blocking pool. A change
    /// only the leader makes runs in the leader's own session, the one that
    /// holds the lock: if that session has ended, so has the change, and a
    /// deposed leader writes nothing even before it notices.
    async fn change<T: Send + 'static>(
        &self,
        fenced: bool,
        f: impl Fn(&PgTx) -> Result<T, TxError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.change_as(fenced, Commit::Lazy, f).await
    }

    /// [`PgStore::change`], committed as `commit` says: a durable commit
    /// also makes every commit before it durable (the log is written in
    /// order), so it counts as a flush.
    async fn change_as<T: Send + 'static>(
        &self,
        fenced: bool,
        commit: Commit,
        f: impl Fn(&PgTx) -> Result<T, TxError> + Send + 'static,
    ) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let was_unflushed = match commit {
            Commit::Lazy => false,
            Commit::Durable => {
                self.shared.flushes.fetch_add(1, SeqCst);
                self.shared.unflushed.swap(false, SeqCst)
            }
        };
        let out = self
            .blocking(move |s| s.change_on(fenced, commit, &f))
            .await;
        if out.is_err() && was_unflushed {
            self.shared.unflushed.store(true, SeqCst);
        }
        out
    }

    /// The blocking part of [`PgStore::change_as`].
    fn change_on<T>(
        &self,
        fenced: bool,
        commit: Commit,
        f: &impl Fn(&PgTx) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if !(fenced && self.shared.elected.load(SeqCst)) {
            return self.with_client(|c| self.transact(c, commit, f));
        }
        let mut lease = self.shared.lease.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match lease.as_mut() {
            Some(conn) if self.shared.leader_pid.load(SeqCst) != 0 => conn,
            _ => return Err(StoreError::NotLeader("this daemon is a standby".into())),
        };
        let out = self.transact(conn, commit, f);
        // A session ended by the server answers its last call with an
        // error before the client marks itself closed: after a
        // connection-level error, ask the session whether it is there.
        let ended = conn.client.is_closed()
            || (matches!(out, Err(StoreError::Io(_)))
                && conn.client.simple_query("SELECT 1").is_err());
        if ended {
            self.shared.leader_pid.store(0, SeqCst);
            let gone = lease.take();
            std::thread::spawn(move || drop(gone));
            return Err(StoreError::NotLeader(format!(
                "the leader's database session ended ({})",
                out.err().map(|e| e.to_string()).unwrap_or_default()
            )));
        }
        out
    }

    /// One transaction of `f` on `conn`, committed as `commit` says. A
    /// deadlock or a serialisation failure (two daemons' changes crossing:
    /// a standby's cancel and the leader's run, say) rolled the whole
    /// change back, so it is tried again from the start, as sled retries a
    /// conflicting transaction.
    fn transact<T>(
        &self,
        conn: &mut Conn,
        commit: Commit,
        f: &impl Fn(&PgTx) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        const TRIES: usize = 5;
        let mut tried = 1;
        loop {
            match self.transact_once(conn, commit, f) {
                Err(TxError::Db(e)) if tried < TRIES && retryable(&e) => {
                    tracing::debug!("a change crossed another ({e}); trying it again");
                    tried += 1;
                }
                out => return out.map_err(StoreError::from),
            }
        }
    }

    fn transact_once<T>(
        &self,
        conn: &mut Conn,
        commit: Commit,
        f: &impl Fn(&PgTx) -> Result<T, TxError>,
    ) -> Result<T, TxError> {
        let Conn {
            client, prepared, ..
        } = conn;
        let tx = client.transaction();
        let ptx = PgTx {
            tx: RefCell::new(tx),
            prepared: RefCell::new(prepared),
            schedules: RefCell::default(),
            runs: RefCell::default(),
            jobs: RefCell::default(),
        };
        let durable = || match commit {
            // Queued first, so it goes right behind BEGIN.
            Commit::Durable => ptx.execute("SET LOCAL synchronous_commit = on", &[]),
            Commit::Lazy => Ok(()),
        };
        match durable()
            .and_then(|()| f(&ptx))
            .and_then(|v| ptx.put_jobs().map(|()| v))
        {
            Ok(v) => {
                ptx.tx.into_inner().commit()?;
                if commit == Commit::Lazy {
                    self.shared
                        .unflushed
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Ok(v)
            }
            // Dropping the transaction rolls it back.
            Err(e) => Err(e),
        }
    }
}

impl PgStore {
    /// One look at the leader's lock, on its own session: keep it (the
    /// session still answers), or try to take it.
    fn lead_blocking(&self) -> Result<bool, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.shared.elected.store(true, SeqCst);
        if self.shared.closed.load(SeqCst) {
            self.shared.leader_pid.store(0, SeqCst);
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        let mut lease = self.shared.lease.lock().unwrap_or_else(|e| e.into_inner());
        if lease.is_none() {
            let mut config = self.shared.config.clone();
            // A dead peer is noticed in seconds, on both ends: this side's
            // unacknowledged writes and idle probes, the server's probes (so
            // that it ends a vanished leader's session and frees the lock
            // well within SPEC 7's 15 s).
            config
                .connect_timeout(std::time::Duration::from_secs(5))
                .tcp_user_timeout(std::time::Duration::from_secs(5))
                .keepalives(true)
                .keepalives_idle(std::time::Duration::from_secs(2))
                .keepalives_interval(std::time::Duration::from_secs(1))
                .keepalives_retries(3);
            let mut client = Session::connect(&config, self.shared.tls.clone()).map_err(|e| {
                StoreError::Io(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    self.shared.location
                ))
            })?;
            // The leader's changes run in this session too: the same
            // commit contract as the pool's (see `open_client`).
            client.batch_execute("SET synchronous_commit = off")?;
            // Not every proxy passes these on; the session still works without.
            let _ = client.batch_execute(
                "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3",
            );
            *lease = Some(Conn {
                client,
                prepared: Prepared::default(),
                commit: Commit::Lazy,
            });
        }
        let Some(Conn { client, .. }) = lease.as_mut() else {
            return Ok(false);
        };
        let holding = self.shared.leader_pid.load(SeqCst) != 0;
        let answer = if holding {
            // The lock lasts as long as the session: a session that answers still holds it.
            client.simple_query("SELECT 1").map(|_| None)
        } else {
            client
                .query_one(
                    "SELECT pg_try_advisory_lock($1), pg_backend_pid()",
                    &[&LEADER_LOCK],
                )
                .map(|row| row.get::<_, bool>(0).then(|| row.get::<_, i32>(1)))
        };
        match answer {
            Ok(None) => Ok(holding),
            Ok(Some(pid)) => {
                self.shared.leader_pid.store(pid, SeqCst);
                Ok(true)
            }
            Err(e) => {
                self.shared.leader_pid.store(0, SeqCst);
                let gone = lease.take();
                // Closing a broken session may block on the socket.
                std::thread::spawn(move || drop(gone));
                Err(StoreError::Io(format!(
                    "the leader's session to PostgreSQL at {} ended: {e}",
                    self.shared.location
                )))
            }
        }
    }
}

/// `host:port/database` of a configuration, for messages.
fn location(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// Creates or upgrades the tables: one transaction, under an advisory lock
/// so that daemons starting together do not race.
fn migrate(client: &mut Session) -> Result<(), StoreError> {
    let lock = client.prepare("SELECT pg_advisory_xact_lock($1)")?;
    let mut tx = client.transaction();
    tx.batch_execute("SET LOCAL synchronous_commit = on")?;
    tx.query(&lock, &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS adsched_schema (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    let latest = tx.prepare("SELECT coalesce(max(version), 0) FROM adsched_schema")?;
    let current: i32 = tx.query_opt(&latest, &[])?.map_or(0, |row| row.get(0));
    let record = tx.prepare("INSERT INTO adsched_schema (version) VALUES ($1)")?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        if version > current {
            tx.batch_execute(sql)?;
            tx.execute(&record, &[&version]).map_err(TxError::from)?;
            if version == WAKE_VERSION {
                fill_wake_times(&mut tx)?;
            }
            tracing::info!("PostgreSQL: schema version {version} applied");
        }
    }
    if current > MIGRATIONS.len() as i32 {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than this adsched knows ({}); upgrade adsched",
            MIGRATIONS.len()
        )));
    }
    tx.commit()?;
    Ok(())
}

/// Sets `next_wake` of the rows written before the column existed.
fn fill_wake_times(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    let states = tx.prepare("SELECT state::text FROM scheduled_jobs")?;
    let update = tx.prepare("UPDATE scheduled_jobs SET next_wake = $2 WHERE id = $1")?;
    for row in &tx.query(&states, &[])? {
        let s: ScheduleState = decode(row)?;
        tx.execute(&update, &[&s.id, &crate::scheduler::wake_at(&s)])
            .map_err(TxError::from)?;
    }
    Ok(())
}

/// `adsched migrate`: creates or upgrades the tables at `url`; returns the
/// schema version now in place.
pub fn migrate_only(url: &str) -> Result<usize, StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(super::not_postgres(url));
    }
    PgStore::connect(url)?;
    Ok(MIGRATIONS.len())
}

#[async_trait]
impl RecordStore for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        format!("PostgreSQL {}", self.shared.location)
    }

    fn new_run_id(&self, now: DateTime<Utc>) -> String {
        self.shared.ids.next(now)
    }

    fn failure(&self) -> Option<String> {
        self.shared.failure.get()
    }

    /// A lost connection fails every write until one is opened again.
    fn mark_failed(&self, e: &StoreError) -> bool {
        self.shared.failure.mark_io(e)
    }

    async fn reopen(&self) -> Result<(), StoreError> {
        self.blocking(|s| {
            drop(take_pools(&s.shared.pools));
            let mut client = s.open_client(Commit::Lazy)?;
            // A database first reached now may have no tables yet.
            migrate(&mut client)?;
            s.put_back(Conn {
                client,
                prepared: Prepared::default(),
                commit: Commit::Lazy,
            });
            s.shared
                .closed
                .store(false, std::sync::atomic::Ordering::SeqCst);
            s.shared.failure.clear();
            Ok(())
        })
        .await
    }

    fn flushes(&self) -> u64 {
        self.shared
            .flushes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for the disk once for every change committed since the last flush.
    async fn flush(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.shared.unflushed.swap(false, SeqCst) {
            return Ok(());
        }
        self.shared.flushes.fetch_add(1, SeqCst);
        let flushed = self
            .blocking(|s| {
                s.with_session(Commit::Durable, |c| {
                    // A commit that waits for the disk (it has an xid, so a
                    // commit record) waits for every commit before it in the
                    // log. One round trip.
                    c.client.batch_execute("SELECT txid_current()")?;
                    Ok(())
                })
            })
            .await;
        if flushed.is_err() {
            self.shared.unflushed.store(true, SeqCst);
        }
        flushed
    }

    fn shared(&self) -> bool {
        true
    }

    async fn lead(&self) -> Result<bool, StoreError> {
        self.blocking(|s| s.lead_blocking()).await
    }

    async fn resign(&self) {
        self.shared
            .leader_pid
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let lease = self
            .shared
            .lease
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // Ending the session frees the lock at once.
        let _ = tokio::task::spawn_blocking(move || drop(lease)).await;
    }

    async fn put_image(&self, path: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = path.to_string();
        self.blocking(move |s| {
            s.with_client(|c| {
                let Conn {
                    client, prepared, ..
                } = c;
                let st = prepared.get(
                    "INSERT INTO adsched_images (path, bytes) VALUES ($1, $2)
                     ON CONFLICT (path) DO UPDATE SET bytes = EXCLUDED.bytes",
                    |q| client.prepare(q),
                )?;
                client.execute(&st, &[&path, &bytes])?;
                s.shared
                    .unflushed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
        })
        .await
    }

    async fn image(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self
            .query(
                "SELECT bytes FROM adsched_images WHERE path = $1",
                vec![Box::new(path.to_string())],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.failure.set("the store is closed".into());
        self.shared
            .leader_pid
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let mut clients: Vec<Session> = take_pools(&self.shared.pools);
        clients.extend(
            self.shared
                .lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map(|c| c.client),
        );
        // Closing a connection blocks: not on an async thread.
        tokio::task::spawn_blocking(move || drop(clients))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(())
    }

    async fn schedules(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let rows = self
            .query("SELECT state::text FROM scheduled_jobs ORDER BY id", vec![])
            .await?;
        rows.iter().map(decode).collect()
    }

    /// Filtered in the database: a start does not fetch every state.
    async fn schedules_with_runs(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let rows = self
            .query(
                "SELECT state::text FROM scheduled_jobs
                 WHERE jsonb_typeof(state->'pending_run') = 'string'
                    OR jsonb_typeof(state->'running_run') = 'string'
                 ORDER BY id",
                vec![],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn due_schedules(&self, now: DateTime<Utc>) -> Result<Vec<ScheduleState>, StoreError> {
        let rows = self
            .query(
                "SELECT state::text FROM scheduled_jobs WHERE next_wake <= $1 ORDER BY next_wake, id",
                vec![Box::new(now)],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn next_wake(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self
            .query(
                "SELECT min(next_wake) FROM scheduled_jobs WHERE next_wake > $1",
                vec![Box::new(now)],
            )
            .await?;
        Ok(rows.first().and_then(|r| r.get(0)))
    }

    async fn schedule_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query("SELECT id FROM scheduled_jobs ORDER BY id", vec![])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn applied(&self) -> Result<std::collections::HashMap<String, Option<u64>>, StoreError> {
        let rows = self
            .query("SELECT id, applied_hash FROM scheduled_jobs", vec![])
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let hash: Option<i64> = r.get(1);
                (r.get::<_, String>(0), hash.map(|h| h as u64))
            })
            .collect())
    }

    async fn has_schedules(&self) -> Result<bool, StoreError> {
        let rows = self
            .query("SELECT EXISTS (SELECT 1 FROM scheduled_jobs)", vec![])
            .await?;
        Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
    }

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleState>, StoreError> {
        let rows = self
            .query(
                "SELECT state::text FROM scheduled_jobs WHERE id = $1",
                vec![Box::new(id.to_string())],
            )
            .await?;
        rows.first().map(decode).transpose()
    }

    async fn run(&self, id: &str) -> Result<Option<Run>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM scheduled_job_runs WHERE id = $1",
                vec![Box::new(id.to_string())],
            )
            .await?;
        rows.first().map(decode).transpose()
    }

    async fn runs(&self, q: RunSelect) -> Result<Vec<Run>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM scheduled_job_runs
                 WHERE ($1::text IS NULL OR scheduled_job_id = $1)
                   AND ($2::text[] IS NULL OR scheduled_job_id = ANY($2))
                   AND ($3::text IS NULL OR status = $3)
                   AND ($4::text IS NULL OR trigger = $4)
                   AND ($5::text IS NULL OR id < $5)
                   AND ($6::timestamptz IS NULL OR queued_at >= $6)
                 ORDER BY id DESC
                 LIMIT $7",
                vec![
                    Box::new(q.schedule.clone()),
                    Box::new(q.schedules.clone()),
                    Box::new(q.status.map(|s| s.as_str().to_string())),
                    Box::new(q.trigger.map(|t| enum_name(&t))),
                    Box::new(q.before.clone()),
                    Box::new(q.since),
                    Box::new(q.limit.min(i64::MAX as usize) as i64),
                ],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn first_pending(&self) -> Result<Option<Run>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM scheduled_job_runs WHERE status = 'pending' ORDER BY id LIMIT 1",
                vec![],
            )
            .await?;
        rows.first().map(decode).transpose()
    }

    async fn runs_with_status(&self, status: RunStatus) -> Result<Vec<Run>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM scheduled_job_runs WHERE status = $1 ORDER BY id",
                vec![Box::new(status.as_str().to_string())],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn run_count(&self) -> Result<usize, StoreError> {
        let rows = self
            .query("SELECT count(*) FROM scheduled_job_runs", vec![])
            .await?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) as usize)
    }

    async fn logs(&self, run_id: &str) -> Result<Vec<LogLine>, StoreError> {
        let rows = self
            .query(
                "SELECT time, level, message FROM adsched_run_logs WHERE run_id = $1 ORDER BY seq",
                vec![Box::new(run_id.to_string())],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| LogLine {
                time: r.get(0),
                level: r.get(1),
                message: r.get(2),
            })
            .collect())
    }

    async fn append_logs(&self, lines: Vec<(String, LogLine)>) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        // Its commit waits for the disk, and with it for every commit before
        // it (the log is written in order): those need no flush of their own.
        // A commit that ends after this point marks the store unflushed again.
        let was_unflushed = self.shared.unflushed.swap(false, SeqCst);
        self.shared.flushes.fetch_add(1, SeqCst);
        let written = self
            .blocking(move |s| {
                let batch = LogBatch::of(&lines);
                // One statement, so one implicit transaction and one round trip,
                // on a session whose commit waits for the disk: durable on
                // return, as the trait says (a line shown is never lost).
                s.with_session(Commit::Durable, |c| {
                    let Conn {
                        client, prepared, ..
                    } = c;
                    let st = prepared.get(APPEND_LOGS, |q| client.prepare(q))?;
                    client.execute(&st, &batch.params())?;
                    Ok(())
                })
            })
            .await;
        if written.is_err() && was_unflushed {
            self.shared.unflushed.store(true, SeqCst);
        }
        written
    }

    async fn used_templates(&self, product: &str) -> Result<Vec<Usage>, StoreError> {
        let rows = self
            .query(
                "SELECT product_id, template_storage_name, used_at, ad_run_id, run_id, tenant_id
                 FROM product_template_usage WHERE product_id = $1 ORDER BY template_storage_name",
                vec![Box::new(product.to_string())],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Usage {
                product: r.get(0),
                template: r.get(1),
                used_at: r.get(2),
                ad_run_id: r.get(3),
                run_id: r.get(4),
                tenant_id: r.get(5),
            })
            .collect())
    }

    async fn runs_ended_before(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM scheduled_job_runs
                 WHERE completed_at < $1 AND ($2::text IS NULL OR id > $2)
                 ORDER BY id
                 LIMIT $3",
                vec![
                    Box::new(cutoff),
                    Box::new(after),
                    Box::new(limit.min(i64::MAX as usize) as i64),
                ],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn delete_runs(&self, ids: Vec<String>) -> Result<(), StoreError> {
        self.change(false, move |tx| {
            let prefixes: Vec<String> = ids.iter().map(|id| format!("{id}/%")).collect();
            tx.execute(
                "DELETE FROM adsched_run_logs WHERE run_id = ANY($1)",
                &[&ids],
            )?;
            tx.execute(
                "DELETE FROM adsched_images WHERE path LIKE ANY($1)",
                &[&prefixes],
            )?;
            tx.execute("DELETE FROM scheduled_job_runs WHERE id = ANY($1)", &[&ids])?;
            Ok(())
        })
        .await
    }

    async fn size_bytes(&self) -> Result<u64, StoreError> {
        let rows = self
            .query("SELECT pg_database_size(current_database())", vec![])
            .await?;
        let size: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(size.max(0) as u64)
    }

    async fn runs_awaiting_review(&self) -> Result<Vec<Run>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM scheduled_job_runs
                 WHERE exports @> '[{\"status\": \"awaiting_review\"}]'
                 ORDER BY id",
                vec![],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn audit(
        &self,
        schedule: Option<String>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .query(
                "SELECT record::text FROM adsched_audit
                 WHERE ($1::text IS NULL OR schedule_id = $1)
                 ORDER BY id DESC
                 LIMIT $2",
                vec![
                    Box::new(schedule),
                    Box::new(limit.min(i64::MAX as usize) as i64),
                ],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn apply(&self, action: Action) -> Result<Outcome, StoreError> {
        let ids = self.clone();
        let fenced = action.needs_lead();
        self.change(fenced, move |tx| {
            ops::apply(tx, &action, &|now| ids.new_run_id(now))
        })
        .await
    }

    async fn reconcile_staged(
        &self,
        feed: Arc<super::staged::Feed>,
        now: DateTime<Utc>,
    ) -> Result<super::staged::Staged, StoreError> {
        // One transaction on the leader's session, held until the read
        // ends: no other session sees a staged row before its commit, and
        // a daemon stopped half way leaves nothing behind.
        self.change(true, move |tx| ops::reconcile_staged(tx, &feed, now))
            .await
    }

    async fn begin_next(&self, now: DateTime<Utc>) -> Result<Next, StoreError> {
        let ids = self.clone();
        self.change(true, move |tx| {
            let Some((run_id, used)) = tx.prefetch_next()? else {
                return Ok(Next::Idle);
            };
            let action = Action::BeginRun { run_id, now };
            match ops::apply(tx, &action, &|now| ids.new_run_id(now))? {
                Outcome::Began(Some((state, run))) => Ok(Next::Began(Started { state, run, used })),
                _ => Ok(Next::Skipped),
            }
        })
        .await
    }

    async fn finish_logged(
        &self,
        run_id: &str,
        end: RunEnd,
        lines: Vec<(String, LogLine)>,
        outcome: for<'r> fn(&'r Run) -> LogLine,
    ) -> Result<(Run, Option<ScheduleState>), StoreError> {
        let ids = self.clone();
        let action = Action::FinishRun {
            run_id: run_id.to_string(),
            end,
        };
        let run_id = run_id.to_string();
        // One durable commit for the run's end and its last lines.
        self.change_as(true, Commit::Durable, move |tx| {
            tx.prefetch_run(&run_id)?;
            // Ended already: this is a call again after a commit whose
            // answer was lost, and its lines were committed with the end.
            let ended = tx
                .runs
                .borrow()
                .get(&run_id)
                .is_some_and(|r| r.as_ref().is_some_and(|r| r.status != RunStatus::Running));
            let Outcome::Finished(run, after) =
                ops::apply(tx, &action, &|now| ids.new_run_id(now))?
            else {
                return Err(TxError::Abort(
                    "a store answered another action's outcome".into(),
                ));
            };
            if ended {
                return Ok((run, after));
            }
            let mut lines = lines.clone();
            lines.push((run.id.clone(), outcome(&run)));
            let batch = LogBatch::of(&lines);
            tx.execute(APPEND_LOGS, &batch.params())?;
            Ok((run, after))
        })
        .await
    }
}
