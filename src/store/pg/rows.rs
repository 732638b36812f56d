//! A schedule's `scheduled_jobs` row: the columns of SPEC 7, kept equal to
//! the state adsched reads back, written one row per statement or many rows
//! in one (a reconcile batch writes 256 in one statement instead of 256).

use bytes::BytesMut;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tokio_postgres::types::{IsNull, ToSql, Type};

use super::{PgTx, TxError};
use crate::records::ScheduleState;

/// JSON already serialised, sent as `json` or `jsonb`.
#[derive(Debug)]
pub(super) struct RawJson(Vec<u8>);

impl RawJson {
    fn of<T: serde::Serialize>(v: &T) -> Result<RawJson, TxError> {
        Ok(RawJson(serde_json::to_vec(v)?))
    }
}

impl ToSql for RawJson {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        super::session::json_header(ty, out);
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    tokio_postgres::types::accepts!(JSON, JSONB);
    tokio_postgres::types::to_sql_checked!();
}

/// One `scheduled_jobs` row, its values owned.
pub(super) struct JobRow {
    id: String,
    product_id: String,
    brand_id: String,
    name: String,
    kind: &'static str,
    cron: Option<String>,
    scheduled_at: Option<DateTime<Utc>>,
    next_run_at: Option<DateTime<Utc>>,
    max_runs: Option<i32>,
    runs_completed: i32,
    status: &'static str,
    mode: Option<String>,
    count: Option<i32>,
    ids: Vec<String>,
    tenant_id: Option<String>,
    /// The state; the `spec` and `parameters` columns are taken from it by
    /// the statement, which costs the server less than parsing them again
    /// and the client less than writing them again.
    state: RawJson,
    next_wake: Option<DateTime<Utc>>,
    /// What [`super::Txn::set_applied`] recorded for this row in the same
    /// transaction (None: leave the column as it is).
    applied_hash: Option<i64>,
}

impl JobRow {
    /// The row of `s`.
    pub(super) fn of(s: &ScheduleState) -> Result<JobRow, TxError> {
        let timing = s.spec.get("schedule");
        let once = timing.and_then(|t| t.get("once")).filter(|v| !v.is_null());
        let templates = s.spec.get("templates");
        Ok(JobRow {
            id: s.id.clone(),
            product_id: s.product.id.clone(),
            brand_id: s.brand.id.clone(),
            name: s.name.clone(),
            kind: if once.is_some() {
                "one_time"
            } else {
                "recurring"
            },
            cron: timing
                .and_then(|t| t.get("cron"))
                .and_then(Value::as_str)
                .map(str::to_string),
            scheduled_at: once
                .and_then(|o| o.get("at"))
                .and_then(Value::as_str)
                .and_then(|at| local_instant(at, s.tz())),
            next_run_at: s.next_run_at,
            max_runs: s.max_runs.map(|m| m as i32),
            runs_completed: s.runs_completed as i32,
            status: s.status.as_str(),
            mode: templates
                .and_then(|t| t.get("mode"))
                .and_then(Value::as_str)
                .map(str::to_string),
            count: templates
                .and_then(|t| t.get("count"))
                .and_then(Value::as_i64)
                .map(|n| n as i32),
            ids: templates
                .and_then(|t| t.get("ids").or_else(|| t.get("files")))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            tenant_id: s.tenant_id.clone(),
            state: RawJson::of(s)?,
            next_wake: crate::scheduler::wake_at(s),
            applied_hash: None,
        })
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Records `hash` as the row's `applied_hash`, written with the row
    /// instead of by a second statement that would rewrite the row.
    pub(super) fn set_applied(&mut self, hash: i64) {
        self.applied_hash = Some(hash);
    }

    pub(super) fn applied(&self) -> Option<i64> {
        self.applied_hash
    }
}

/// The columns of a `scheduled_jobs` row adsched writes, in parameter order.
macro_rules! job_columns {
    () => {
        "(id, product_id, brand_id, name, schedule_type, cron_expression, scheduled_at,
          next_run_at, max_runs, runs_completed, status, template_mode, template_count,
          template_ids, parameters, spec, tenant_id, state, next_wake, applied_hash)"
    };
}

/// What writing a row that exists sets: every column adsched writes.
macro_rules! job_upsert {
    () => {
        "ON CONFLICT (id) DO UPDATE SET
             product_id = EXCLUDED.product_id, brand_id = EXCLUDED.brand_id,
             name = EXCLUDED.name, schedule_type = EXCLUDED.schedule_type,
             cron_expression = EXCLUDED.cron_expression, scheduled_at = EXCLUDED.scheduled_at,
             next_run_at = EXCLUDED.next_run_at, max_runs = EXCLUDED.max_runs,
             runs_completed = EXCLUDED.runs_completed, status = EXCLUDED.status,
             template_mode = EXCLUDED.template_mode, template_count = EXCLUDED.template_count,
             template_ids = EXCLUDED.template_ids, parameters = EXCLUDED.parameters,
             spec = EXCLUDED.spec, tenant_id = EXCLUDED.tenant_id, state = EXCLUDED.state,
             next_wake = EXCLUDED.next_wake, updated_at = now(),
             applied_hash = COALESCE(EXCLUDED.applied_hash, scheduled_jobs.applied_hash)"
    };
}

/// Writes `rows` (ids distinct): one statement for one row, one for many.
pub(super) fn put_jobs(tx: &PgTx<'_>, rows: &[JobRow]) -> Result<(), TxError> {
    match rows {
        [] => Ok(()),
        [r] => tx.execute(
            concat!(
                "INSERT INTO scheduled_jobs ",
                job_columns!(),
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                         $15::jsonb -> 'spec' -> 'parameters', $15::jsonb -> 'spec', $16, $15, $17, $18) ",
                job_upsert!()
            ),
            &[
                &r.id,
                &r.product_id,
                &r.brand_id,
                &r.name,
                &r.kind,
                &r.cron,
                &r.scheduled_at,
                &r.next_run_at,
                &r.max_runs,
                &r.runs_completed,
                &r.status,
                &r.mode,
                &r.count,
                &r.ids,
                &r.state,
                &r.tenant_id,
                &r.next_wake,
                &r.applied_hash,
            ],
        ),
        rows => {
            // Arrays of text[] do not unnest row by row: each row's
            // template ids go as a jsonb array and are turned back here;
            // most rows have none, sent as NULL, which skips the subquery.
            let ids: Vec<Option<RawJson>> = rows
                .iter()
                .map(|r| (!r.ids.is_empty()).then(|| RawJson::of(&r.ids)).transpose())
                .collect::<Result<_, _>>()?;
            let col = |f: fn(&JobRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
            tx.execute(
                concat!(
                    "INSERT INTO scheduled_jobs ",
                    job_columns!(),
                    " SELECT v.id, v.product_id, v.brand_id, v.name, v.schedule_type,
                            v.cron_expression, v.scheduled_at, v.next_run_at, v.max_runs,
                            v.runs_completed, v.status, v.template_mode, v.template_count,
                            CASE WHEN v.template_ids IS NULL THEN '{}'::text[]
                                 ELSE ARRAY(SELECT jsonb_array_elements_text(v.template_ids)) END,
                            v.state -> 'spec' -> 'parameters', v.state -> 'spec', v.tenant_id,
                            v.state, v.next_wake, v.applied_hash
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::integer[],
                                 $10::integer[], $11::text[], $12::text[], $13::integer[],
                                 $14::jsonb[], $15::text[], $16::jsonb[], $17::timestamptz[],
                                 $18::bigint[])
                          AS v (id, product_id, brand_id, name, schedule_type, cron_expression,
                                scheduled_at, next_run_at, max_runs, runs_completed, status,
                                template_mode, template_count, template_ids, tenant_id, state,
                                next_wake, applied_hash) ",
                    job_upsert!()
                ),
                &[
                    &col(|r| &r.id),
                    &col(|r| &r.product_id),
                    &col(|r| &r.brand_id),
                    &col(|r| &r.name),
                    &col(|r| r.kind),
                    &rows.iter().map(|r| r.cron.as_deref()).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.scheduled_at).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.next_run_at).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.max_runs).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.runs_completed).collect::<Vec<_>>(),
                    &col(|r| r.status),
                    &rows.iter().map(|r| r.mode.as_deref()).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.count).collect::<Vec<_>>(),
                    &ids,
                    &rows.iter().map(|r| r.tenant_id.as_deref()).collect::<Vec<_>>(),
                    &rows.iter().map(|r| &r.state).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.next_wake).collect::<Vec<_>>(),
                    &rows.iter().map(|r| r.applied_hash).collect::<Vec<_>>(),
                ],
            )
        }
    }
}

/// A `once.at` (local `YYYY-MM-DDTHH:MM[:SS]`) as an instant in `tz`.
fn local_instant(at: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}
