//! A run's log lines as rows of `adsched_run_logs` and as its `logs` text,
//! written in one statement.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use crate::records::LogLine;

/// Appends log lines, in order (`seq`), and each run's lines to its `logs`
/// text: one update of a run's row per statement, not per line.
pub(super) const APPEND_LOGS: &str = "WITH added AS (
         INSERT INTO adsched_run_logs (run_id, time, level, message)
         SELECT l.run_id, l.time, l.level, l.message
         FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[])
              WITH ORDINALITY AS l(run_id, time, level, message, n)
         ORDER BY l.n
     )
     UPDATE scheduled_job_runs r SET logs = r.logs || t.text
     FROM unnest($5::text[], $6::text[]) AS t(id, text)
     WHERE r.id = t.id";

/// The parameters of [`APPEND_LOGS`].
pub(super) struct LogBatch<'a> {
    run_ids: Vec<&'a str>,
    times: Vec<DateTime<Utc>>,
    levels: Vec<&'a str>,
    messages: Vec<&'a str>,
    text_ids: Vec<&'a str>,
    texts: Vec<String>,
}

impl<'a> LogBatch<'a> {
    pub(super) fn of(lines: &'a [(String, LogLine)]) -> LogBatch<'a> {
        let mut text: Vec<(&str, String)> = Vec::new();
        for (run_id, l) in lines {
            let line = format!(
                "{} {} {}\n",
                l.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                l.level,
                l.message
            );
            match text.iter_mut().find(|(id, _)| id == run_id) {
                Some((_, t)) => t.push_str(&line),
                None => text.push((run_id, line)),
            }
        }
        let (text_ids, texts) = text.into_iter().unzip();
        LogBatch {
            run_ids: lines.iter().map(|(id, _)| id.as_str()).collect(),
            times: lines.iter().map(|(_, l)| l.time).collect(),
            levels: lines.iter().map(|(_, l)| l.level.as_str()).collect(),
            messages: lines.iter().map(|(_, l)| l.message.as_str()).collect(),
            text_ids,
            texts,
        }
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.run_ids,
            &self.times,
            &self.levels,
            &self.messages,
            &self.text_ids,
            &self.texts,
        ]
    }
}
