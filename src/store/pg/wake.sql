-- Schema version 4: each schedule's wake time, the instant the scheduler
-- must look at it (its next run, a retry, the end of a pause), indexed so
-- a scheduler tick reads what is due instead of every schedule. adsched
-- keeps it equal to `state` on every write and fills it for the rows
-- already there when this version is applied.
ALTER TABLE scheduled_jobs ADD COLUMN IF NOT EXISTS next_wake timestamptz;
CREATE INDEX IF NOT EXISTS scheduled_jobs_next_wake ON scheduled_jobs (next_wake)
    WHERE next_wake IS NOT NULL;
