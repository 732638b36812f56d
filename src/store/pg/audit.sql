-- Schema version 3: the audit log of SPEC 8 (who paused, resumed,
-- cancelled, triggered or exported what, and why). `record` is the entry
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
