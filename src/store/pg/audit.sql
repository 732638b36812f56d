-- Schema version 3: the audit log of SPEC 8 (who paused, resumed,
-- cancelled, triggered, exported or reviewed what, and why), and the runs
-- whose ads wait for review (SPEC 11). `record` is the entry
-- as adsched reads it back; the other columns are for psql and BI tools.
CREATE TABLE IF NOT EXISTS adsched_audit (
    id          text COLLATE "C" PRIMARY KEY,
    time        timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    schedule_id text COLLATE "C",
    run_id      text COLLATE "C",
    reason      text,
    record      jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS adsched_audit_by_schedule ON adsched_audit (schedule_id, id DESC);

-- The runs waiting for review, found without a scan (the dashboard's first
-- list, the expiry of review windows).
CREATE INDEX IF NOT EXISTS scheduled_job_runs_awaiting_review ON scheduled_job_runs (id)
    WHERE exports @> '[{"status": "awaiting_review"}]';
