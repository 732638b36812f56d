//! A synchronous PostgreSQL session that pipelines a transaction's writes.
//!
//! The store's changes are synchronous functions over [`super::Txn`], run on
//! tokio's blocking pool (as sled's are), so each session blocks on its own
//! small runtime, as the `postgres` crate does. Unlike that crate, a
//! [`Tx`] does not wait for each write: writes are encoded when made and
//! sent together with the next read or with the COMMIT, in one round trip
//! (tokio-postgres pipelines requests that are in flight together). A run's
//! start, for one, costs three round trips instead of six.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_postgres::types::{Format, IsNull, ToSql, Type};
use tokio_postgres::{Client, Error, Row, SimpleQueryMessage, Statement, ToStatement};

type Driver = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// One connection to the server, used from a blocking thread.
pub(super) struct Session {
    client: Client,
    /// The connection's I/O, polled while a call waits; `None` once it ended.
    driver: Option<Driver>,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    /// Connects with `config`; `tls` is used as its `sslmode` says. The
    /// error is the server's message when it gave one.
    pub(super) fn connect(
        config: &tokio_postgres::Config,
        tls: tokio_postgres_rustls::MakeRustlsConnect,
    ) -> Result<Session, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a connection's runtime: {e}"))?;
        let (client, connection) = runtime.block_on(config.connect(tls)).map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        })?;
        Ok(Session {
            client,
            driver: Some(Box::pin(connection)),
            runtime,
        })
    }

    /// Runs `f` on the client to completion, driving the connection meanwhile.
    fn block_on<'a, F: Future + 'a>(&'a mut self, f: impl FnOnce(&'a Client) -> F) -> F::Output {
        let Session {
            client,
            driver,
            runtime,
        } = self;
        let fut = f(client);
        runtime.block_on(async move {
            let mut fut = std::pin::pin!(fut);
            std::future::poll_fn(|cx| {
                if let Some(d) = driver.as_mut() {
                    // An ended connection fails every request still waiting,
                    // so `fut` finishes with that error.
                    if d.as_mut().poll(cx).is_ready() {
                        *driver = None;
                    }
                }
                fut.as_mut().poll(cx)
            })
            .await
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub(super) fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.block_on(|c| c.prepare(sql))
    }

    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.block_on(|c| c.batch_execute(sql))
    }

    pub(super) fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.block_on(|c| c.simple_query(sql))
    }

    pub(super) fn query<T: ?Sized + ToStatement>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.block_on(|c| c.query(st, params))
    }

    pub(super) fn query_one<T: ?Sized + ToStatement>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        self.block_on(|c| c.query_one(st, params))
    }

    pub(super) fn execute<T: ?Sized + ToStatement>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.block_on(|c| c.execute(st, params))
    }

    /// A transaction; BEGIN goes with its first request.
    pub(super) fn transaction(&mut self) -> Tx<'_> {
        Tx {
            session: self,
            begun: false,
            ended: false,
            pending: Vec::new(),
        }
    }
}

/// A parameter encoded when its write was made, sent later.
#[derive(Debug)]
struct Encoded {
    bytes: Option<Bytes>,
    format: Format,
}

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match &self.bytes {
            Some(b) => {
                out.extend_from_slice(b);
                IsNull::No
            }
            None => IsNull::Yes,
        })
    }

    /// Checked against the statement's types when encoded.
    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        self.format
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Starts a `json` or `jsonb` parameter: jsonb's binary format is a version
/// byte, then the text (json's is the text alone).
pub(super) fn json_header(ty: &Type, out: &mut BytesMut) {
    if *ty == Type::JSONB {
        out.put_u8(1);
    }
}

/// A record sent as `json` or `jsonb`, serialised straight from its type:
/// no `serde_json::Value` tree is built (and dropped) per write.
#[derive(Debug)]
pub(super) struct AsJson<'a, T>(pub(super) &'a T);

impl<T: serde::Serialize + std::fmt::Debug> ToSql for AsJson<'_, T> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        json_header(ty, out);
        serde_json::to_writer(out.writer(), self.0)?;
        Ok(IsNull::No)
    }

    tokio_postgres::types::accepts!(JSON, JSONB);
    tokio_postgres::types::to_sql_checked!();
}

/// A write that could not be encoded for its statement (a type mismatch).
#[derive(Debug)]
pub(super) struct EncodeError(pub(super) String);

/// What a transaction's call failed on.
pub(super) enum TxFail {
    Db(Error),
    Encode(EncodeError),
}

impl From<Error> for TxFail {
    fn from(e: Error) -> TxFail {
        TxFail::Db(e)
    }
}

/// One transaction on a [`Session`]. Writes wait in `pending` until the next
/// read or the commit; a transaction dropped without [`Tx::commit`] rolls back.
pub(super) struct Tx<'a> {
    session: &'a mut Session,
    begun: bool,
    ended: bool,
    pending: Vec<(Statement, Vec<Encoded>)>,
}

type Flight<'c> = Pin<Box<dyn Future<Output = Result<Option<Vec<Row>>, Error>> + Send + 'c>>;

/// What ends a flight.
enum Last<'p> {
    Query(&'p Statement, &'p [&'p (dyn ToSql + Sync)]),
    Simple(&'p str),
}

impl Tx<'_> {
    pub(super) fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.session.prepare(sql)
    }

    /// Queues a write; its error, if any, comes with the next read or the commit.
    pub(super) fn execute(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), TxFail> {
        let types = st.params();
        if types.len() != params.len() {
            return Err(TxFail::Encode(EncodeError(format!(
                "a statement takes {} parameters, given {}",
                types.len(),
                params.len()
            ))));
        }
        let mut encoded = Vec::with_capacity(params.len());
        for (p, ty) in params.iter().zip(types) {
            let mut buf = BytesMut::new();
            let is_null = p
                .to_sql_checked(ty, &mut buf)
                .map_err(|e| TxFail::Encode(EncodeError(e.to_string())))?;
            encoded.push(Encoded {
                bytes: matches!(is_null, IsNull::No).then(|| buf.freeze()),
                format: p.encode_format(ty),
            });
        }
        self.pending.push((st.clone(), encoded));
        Ok(())
    }

    /// The rows of `st`, read after every write queued before it.
    pub(super) fn query(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        Ok(self.fly(Last::Query(st, params))?.unwrap_or_default())
    }

    pub(super) fn query_opt(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        Ok(self.query(st, params)?.into_iter().next())
    }

    /// Runs `sql` (simple protocol, no parameters) after the queued writes.
    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.fly(Last::Simple(sql)).map(|_| ())
    }

    /// Sends the queued writes and COMMIT together; an error in any of them
    /// means nothing was committed (the server rolls back an aborted
    /// transaction at COMMIT).
    pub(super) fn commit(mut self) -> Result<(), Error> {
        if !self.begun && self.pending.is_empty() {
            self.ended = true;
            return Ok(());
        }
        let out = self.fly(Last::Simple("COMMIT"));
        self.ended = true;
        out.map(|_| ())
    }

    /// BEGIN (the first time), the queued writes and `last`, in one round
    /// trip; the first error among them, else `last`'s rows.
    fn fly(&mut self, last: Last<'_>) -> Result<Option<Vec<Row>>, Error> {
        let begin = !self.begun;
        self.begun = true;
        let pending = std::mem::take(&mut self.pending);
        self.session.block_on(|c| async move {
            let mut flight: Vec<Flight<'_>> = Vec::with_capacity(pending.len() + 2);
            if begin {
                flight.push(Box::pin(async move {
                    c.batch_execute("BEGIN").await.map(|_| None)
                }));
            }
            for (st, params) in &pending {
                flight.push(Box::pin(async move {
                    c.execute_raw(st, params.iter().map(|p| p as &(dyn ToSql + Sync)))
                        .await
                        .map(|_| None)
                }));
            }
            flight.push(match last {
                Last::Query(st, params) => {
                    Box::pin(async move { c.query(st, params).await.map(Some) })
                }
                Last::Simple(sql) => {
                    Box::pin(async move { c.batch_execute(sql).await.map(|_| None) })
                }
            });
            let mut results = in_order(flight).await;
            let last = results.pop().expect("a flight ends with its last request");
            match results.into_iter().find_map(Result::err) {
                Some(e) => Err(e),
                None => last,
            }
        })
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.begun && !self.ended {
            // After an error, or when the change gave up: a session must
            // not carry a half-made transaction into its next use.
            let _ = self.session.batch_execute("ROLLBACK");
        }
    }
}

/// Awaits every future, polling them in order so that each request is sent
/// in order (tokio-postgres sends a request when its future is first polled).
async fn in_order<T>(mut futs: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}
