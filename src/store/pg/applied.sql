-- Schema version 5: per schedule, a hash of the documents (the file's
-- schedule and its product, and where they are) that its state was last
-- reconciled to. A daemon that starts, or takes the lead, reads it and
-- compares only the schedules whose files now hash differently; NULL means
-- "compare", so rows from before this version are compared once.
ALTER TABLE scheduled_jobs ADD COLUMN IF NOT EXISTS applied_hash bigint;
